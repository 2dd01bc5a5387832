"""`CalibrationSnapshots`: the class probabilities on held-out data at chosen epochs.

The paper (section 3.1.4) shows reliability diagrams at three points of training; this callback
keeps the softmax probabilities of a test subset after each chosen epoch, from which the
report draws the diagrams (5% bins, 90% intervals) and bootstraps the ECE.
"""

import keras
import numpy as np

from benchmarks.paper import storage
from keras_ceb import validation


class CalibrationSnapshots(keras.callbacks.Callback):
    """Keeps `softmax(model(x))` after each epoch of `epochs` (1-based).

    Args:
        x: Held-out images.
        epochs: The 1-based epochs after which to take a snapshot.
        batch_size: Batch size of the predictions.
        path: Optional `.npz` file: each snapshot is saved there as it is taken, and the ones
            already there are loaded when training starts, so that a resumed run keeps the
            snapshots of the epochs it does not repeat.

    Attributes:
        probabilities: Dict `{epoch: float32 array [N, C]}`, filled during `fit`.

    Examples:

        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 3
        >>> snapshots = CalibrationSnapshots(x, epochs=(1, 3))
        >>> history = model.fit(x, y, epochs=3, verbose=0, callbacks=[snapshots])
        >>> sorted(snapshots.probabilities), snapshots.probabilities[3].shape
        ([1, 3], (32, 3))
    """

    def __init__(self, x, epochs, batch_size=256, path=None):
        super().__init__()
        self.x = x
        self.epochs = tuple(sorted({validation.positive_int(e, "epochs") for e in epochs}))
        self.batch_size = validation.positive_int(batch_size, "batch_size")
        self.path = path
        self.probabilities = {}

    def on_train_begin(self, logs=None):
        self.probabilities = {}
        if self.path is not None:
            try:
                with np.load(self.path, allow_pickle=False) as saved:
                    self.probabilities = {
                        int(key.split("_")[1]): saved[key] for key in saved.files
                    }
            except (OSError, ValueError, EOFError):
                pass  # None saved yet.

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 not in self.epochs:
            return
        logits = np.asarray(
            self.model.predict(self.x, batch_size=self.batch_size, verbose=0), "float64"
        )
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = shifted / shifted.sum(axis=-1, keepdims=True)
        self.probabilities[epoch + 1] = probs.astype("float32")
        if self.path is not None:
            storage.write_arrays(
                self.path, {f"epoch_{e}": p for e, p in self.probabilities.items()}
            )
