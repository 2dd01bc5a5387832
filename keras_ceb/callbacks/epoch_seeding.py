"""`EpochSeeding`: the model's random draws of an epoch depend only on the seed and the epoch."""

import keras
import numpy as np


class EpochSeeding(keras.callbacks.Callback):
    """Re-seeds every `SeedGenerator` of the model at the start of each epoch from `(seed, epoch)`.

    `keras.callbacks.BackupAndRestore` saves the weights and the optimizer, not the states of
    the seed generators (they are in `model.variables`, not in `model.weights`), so a resumed
    run would draw the encoder's z with other noise than an uninterrupted one. With this
    callback the noise of epoch `e` depends only on `seed` and `e`, and a resumed run repeats
    the uninterrupted run's draws. Within an epoch the generators advance as usual.

    Args:
        seed: Integer seed.

    Examples:

        >>> model.fit(x, y, epochs=10, callbacks=[
        ...     keras_ceb.callbacks.EpochSeeding(seed=0),
        ...     keras.callbacks.BackupAndRestore("backup")])  # doctest: +SKIP
    """

    def __init__(self, seed):
        super().__init__()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"`seed` must be an integer >= 0. Received: seed={seed!r}")
        self.seed = int(seed)

    def on_epoch_begin(self, epoch, logs=None):
        self.seed_epoch(epoch)

    def seed_epoch(self, epoch):
        """Sets the seed generators as at the start of `epoch` (also after `fit`: pass the
        number of epochs to make a final `evaluate` reproducible)."""
        weights = {id(w) for w in self.model.weights}
        states = [v for v in self.model.variables if id(v) not in weights]
        for index, state in enumerate(states):
            value = keras.ops.convert_to_numpy(state)
            if value.shape != (2,) or not np.issubdtype(value.dtype, np.integer):
                continue  # Not a seed generator's [seed, counter] state.
            rng = np.random.default_rng([self.seed, epoch, index])
            state.assign(np.array([rng.integers(1, 2**31 - 1), 0], dtype=value.dtype))
