"""`RhoScheduler`: anneal rho during training."""

import keras

from keras_ceb import rho as rho_lib
from keras_ceb import validation


class RhoScheduler(keras.callbacks.Callback):
    """Sets the model's rho at the start of every epoch from `schedule(epoch, rho)`.

    rho lives in a non-trainable variable, so the change takes effect without retracing, on
    every backend. The value is logged as `rho`.

    Args:
        schedule: A function `(epoch, current_rho) -> new_rho`, e.g. from `exponential_decay`.
        encoder_name: Only set the encoder with this name (default: all encoders).
        verbose: If 1, print the new rho.

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)), keras_ceb.StochasticEncoder(2),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.random.rand(32, 8).astype("float32"), np.arange(32) % 3
        >>> schedule = keras_ceb.callbacks.linear_anneal(start=4.0, end=0.0, epochs=2)
        >>> history = model.fit(x, y, epochs=3, verbose=0,
        ...                     callbacks=[keras_ceb.callbacks.RhoScheduler(schedule)])
        >>> history.history["rho"]
        [4.0, 2.0, 0.0]
    """

    def __init__(self, schedule, encoder_name=None, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ValueError(f"`schedule` must be callable. Received: schedule={schedule!r}")
        self.schedule = schedule
        self.encoder_name = encoder_name
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        current = rho_lib.get_rho(self.model, self.encoder_name)
        new = self.schedule(epoch, current)
        try:
            new = validation.finite_float(new, "rho")
        except ValueError as error:
            raise ValueError(
                f"The rho schedule returned a bad value at epoch={epoch}: {error}"
            ) from None
        rho_lib.set_rho(self.model, new, self.encoder_name)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: RhoScheduler set rho to {float(new):.4g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["rho"] = rho_lib.get_rho(self.model, self.encoder_name)


def linear_anneal(start, end, epochs):
    """A schedule going linearly from `start` at epoch 0 to `end` at epoch `epochs`, then flat."""
    _check_schedule_args(start, end, epochs)

    def schedule(epoch, _):
        t = min(epoch / epochs, 1.0) if epochs else 1.0
        return start + (end - start) * t

    return schedule


def exponential_anneal(start, end, epochs):
    """A schedule with `rho - end` decaying geometrically from `start - end` to 1% in `epochs`."""
    _check_schedule_args(start, end, epochs)

    def schedule(epoch, _):
        if epochs == 0 or epoch >= epochs:
            return end
        return end + (start - end) * (0.01 ** (epoch / epochs))

    return schedule


def _check_schedule_args(start, end, epochs):
    validation.finite_float(start, "start")
    validation.finite_float(end, "end")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"`epochs` must be a non-negative integer. Received: epochs={epochs!r}")
