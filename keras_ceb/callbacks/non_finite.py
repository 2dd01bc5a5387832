"""`TerminateOnNonFinite`: stop training with an error when the loss or a weight is not finite."""

import math

import keras
import numpy as np


class NonFiniteTrainingError(RuntimeError):
    """Training produced a non-finite loss or weight.

    Attributes:
        epoch: The epoch it happened in, counted from 1.
        batch: The batch, counted from 1, or `None` when found at the end of the epoch.
        what: What is not finite, in words (e.g. `"the loss is nan"`).
    """

    def __init__(self, epoch, batch, what):
        self.epoch, self.batch, self.what = epoch, batch, what
        where = f"epoch {epoch}" + ("" if batch is None else f", batch {batch}")
        super().__init__(f"{what} at {where}")

    def __reduce__(self):
        return type(self), (self.epoch, self.batch, self.what)


class TerminateOnNonFinite(keras.callbacks.Callback):
    """Raises `NonFiniteTrainingError` as soon as the loss or a weight is not finite.

    `keras.callbacks.TerminateOnNaN` watches the loss only and stops quietly. A NaN input can
    turn a kernel into NaN while the loss stays finite, so this callback also checks every
    weight of the model at the end of each epoch, and it raises instead of setting
    `stop_training`: put it before `keras.callbacks.BackupAndRestore` or `ModelCheckpoint`
    and they never save the non-finite state, so the last checkpoint is the last finite one.

    Examples:

        >>> model.fit(x, y, epochs=10, callbacks=[
        ...     keras_ceb.callbacks.TerminateOnNonFinite(),
        ...     keras.callbacks.BackupAndRestore("backup")])  # doctest: +SKIP
    """

    def on_train_begin(self, logs=None):
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteTrainingError(self._epoch + 1, batch + 1, f"the loss is {float(loss)}")

    def on_epoch_end(self, epoch, logs=None):
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(float(value)):
                raise NonFiniteTrainingError(epoch + 1, None, f"the {key} is {float(value)}")
        for weight in self.model.weights:
            value = keras.ops.convert_to_numpy(weight.value)
            if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
                raise NonFiniteTrainingError(
                    epoch + 1, None, f"the weight {weight.path} is not finite"
                )
