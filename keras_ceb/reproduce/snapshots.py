"""`CalibrationSnapshots`: the class probabilities on held-out data at chosen epochs.

The paper (section 3.1.4) shows reliability diagrams at three points of training; this callback
keeps the softmax probabilities of a test subset after each chosen epoch, from which the
report draws the diagrams (5% bins, 90% intervals) and bootstraps the ECE.
"""

import keras
import numpy as np

from keras_ceb import validation


class CalibrationSnapshots(keras.callbacks.Callback):
    """Keeps `softmax(model(x))` after each epoch of `epochs` (1-based).

    Args:
        x: Held-out inputs in the format the model takes (a dict for a model that also takes
            the labels: any labels do, the logits do not depend on them).
        epochs: The 1-based epochs after which to take a snapshot.
        batch_size: Batch size of the predictions.

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

    def __init__(self, x, epochs, batch_size=256):
        super().__init__()
        self.x = x
        self.epochs = tuple(sorted({validation.positive_int(e, "epochs") for e in epochs}))
        self.batch_size = validation.positive_int(batch_size, "batch_size")
        self.probabilities = {}

    def on_train_begin(self, logs=None):
        self.probabilities = {}

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 not in self.epochs:
            return
        logits = np.asarray(self.model.predict(self.x, batch_size=self.batch_size, verbose=0),
                            "float64")
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = shifted / shifted.sum(axis=-1, keepdims=True)
        self.probabilities[epoch + 1] = probs.astype("float32")
