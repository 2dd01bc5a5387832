"""`NoisyPairs`: batches of pairs `(X, X' = f(X, U))` with fresh noise every epoch."""

import math

import keras
import numpy as np


class NoisyPairs(keras.utils.PyDataset):
    """Batches `{"x": X, "x_noisy": f(X, U)}` for the denoising CEB autoencoder, on any backend.

    Every epoch reshuffles the examples (with `shuffle=True`) and draws new noise: batch `i`
    of epoch `e` uses `numpy.random.default_rng([seed, e, i])`, so a seed fixes the whole
    sequence of epochs whatever order the batches are read in. The batches carry no targets:
    the denoising model's layers add the whole objective.

    Args:
        x: Examples, batch first.
        y: Labels, needed by `oracle_noise` (else optional).
        noise: A noise function `noise(x, y, rng) -> x_noisy` (`keras_ceb.datasets.noise`).
        batch_size: Examples per batch.
        shuffle: Reshuffle every epoch.
        seed: Integer seed.
        keys: Names of the two inputs, default `("x", "x_noisy")`.
        **kwargs: `keras.utils.PyDataset` arguments (`workers`, ...).

    Examples:

        >>> x, y = np.random.rand(10, 4).astype("float32"), np.arange(10) % 2
        >>> pairs = NoisyPairs(x, y, keras_ceb.datasets.noise.oracle_noise(), batch_size=4, seed=0)
        >>> len(pairs), sorted(pairs[0][0]), pairs[2][0]["x_noisy"].shape
        (3, ['x', 'x_noisy'], (2, 4))
    """

    def __init__(
        self,
        x,
        y=None,
        noise=None,
        batch_size=128,
        shuffle=True,
        seed=0,
        keys=("x", "x_noisy"),
        **kwargs,
    ):
        super().__init__(**kwargs)
        if noise is None or not callable(noise):
            raise ValueError(f"`noise` must be a noise function. Received: noise={noise!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"`seed` must be an integer >= 0. Received: seed={seed!r}")
        self.x = np.asarray(x)
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(
                "`x` and `y` must have the same length. Received: "
                f"x.shape={self.x.shape}, y.shape={self.y.shape}"
            )
        self.noise, self.batch_size, self.shuffle, self.seed = noise, batch_size, shuffle, seed
        self.keys = tuple(keys)
        self.epoch = 0
        self.order = self._order()

    def _order(self):
        if not self.shuffle:
            return np.arange(len(self.x))
        return np.random.default_rng([self.seed, self.epoch, 2**31]).permutation(len(self.x))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.x[rows]
        y = None if self.y is None else self.y[rows]
        x_noisy = self.noise(x, y, np.random.default_rng([self.seed, self.epoch, index]))
        return ({self.keys[0]: x, self.keys[1]: x_noisy},)

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order()
