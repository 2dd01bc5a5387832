"""Noise functions `X' = f(X, U)` for the denoising CEB autoencoder (Fischer 2020, appendix C.3.1).

Each function here returns a noise function `noise(x, y, rng) -> x_noisy`: NumPy arrays in,
a new array of the shape and dtype of `x` out, with `rng` a `numpy.random.Generator` (the
`U` of the paper). `keras_ceb.datasets.NoisyPairs` draws fresh pairs every epoch with one.

- `identity_noise()`: `X' = X`.
- `gaussian_noise(stddev)`: `X' = clip(X + stddev * N(0, 1))`.
- `masking_noise(rate)`: each feature is replaced by `value` with probability `rate`.
- `oracle_noise()`: the paper's "oracle": `X'` is another example of the same class, drawn
  uniformly (it needs the labels `y`). Then `I(X; X')` is at most `H(Y)`, so a representation
  that keeps only what X and X' share keeps the class and nothing else.

The functions are plain Python callables (NumPy), so they work with every Keras backend.
"""

import numpy as np


def _check_rate(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be a number in [0, 1]. Received: {name}={value!r}")
    return float(value)


def identity_noise():
    """`X' = X`: the pairs are copies.

    Examples:

        >>> x = np.arange(4.0).reshape(2, 2)
        >>> identity_noise()(x, None, np.random.default_rng(0)).tolist()
        [[0.0, 1.0], [2.0, 3.0]]
    """

    def noise(x, y, rng):
        return np.array(x, copy=True)

    noise.__name__ = "identity"
    return noise


def gaussian_noise(stddev, clip=(0.0, 1.0)):
    """Additive Gaussian noise, `X' = clip(X + stddev * eps)`, `eps ~ N(0, 1)` per feature.

    Args:
        stddev: Standard deviation of the noise (>= 0).
        clip: `(low, high)` of the valid range, or `None` for no clipping.

    Examples:

        >>> x = np.full((2, 3), 0.5, "float32")
        >>> x_noisy = gaussian_noise(0.1)(x, None, np.random.default_rng(0))
        >>> in_range = bool(np.all((x_noisy >= 0) & (x_noisy <= 1)))
        >>> x_noisy.dtype, in_range, bool(np.any(x_noisy != x))
        (dtype('float32'), True, True)
    """
    if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or stddev < 0:
        raise ValueError(f"`stddev` must be a number >= 0. Received: stddev={stddev!r}")

    def noise(x, y, rng):
        x = np.asarray(x)
        noisy = x + stddev * rng.standard_normal(x.shape)
        if clip is not None:
            noisy = np.clip(noisy, clip[0], clip[1])
        return noisy.astype(x.dtype)

    noise.__name__ = f"gaussian({stddev:g})"
    return noise


def masking_noise(rate, value=0.0):
    """Masking noise: each feature of each example is set to `value` with probability `rate`.

    Examples:

        >>> x = np.ones((1000, 10), "float32")
        >>> round(float(masking_noise(0.3)(x, None, np.random.default_rng(0)).mean()), 1)
        0.7
    """
    rate = _check_rate(rate, "rate")

    def noise(x, y, rng):
        x = np.asarray(x)
        mask = rng.random(x.shape) < rate
        return np.where(mask, np.asarray(value, x.dtype), x).astype(x.dtype)

    noise.__name__ = f"masking({rate:g})"
    return noise


def oracle_noise(x_pool=None, y_pool=None):
    """The paper's oracle: `X'` is another example of the same class, drawn uniformly.

    With a pool (e.g. the whole training set), each example's partner is drawn from the pool's
    examples of its class; without one, from the other examples of its class in the array the
    noise is called on (itself only when its class has a single example there). Needs integer
    labels `y`.

    Args:
        x_pool: Examples to draw the partners from, or `None`.
        y_pool: Their labels.

    Examples:

        >>> x = np.arange(6.0)[:, None]; y = np.array([0, 1, 0, 1, 0, 1])
        >>> x_noisy = oracle_noise()(x, y, np.random.default_rng(0))
        >>> bool(np.all(y[x_noisy[:, 0].astype(int)] == y)), bool(np.all(x_noisy != x))
        (True, True)
    """
    if (x_pool is None) != (y_pool is None):
        raise ValueError(
            "Give both `x_pool` and `y_pool`, or neither. Received: "
            f"x_pool is None={x_pool is None}, y_pool is None={y_pool is None}"
        )
    if x_pool is not None:
        x_pool, y_pool = np.asarray(x_pool), np.asarray(y_pool).reshape(-1)
        if len(x_pool) != len(y_pool):
            raise ValueError(
                "`x_pool` and `y_pool` must have the same length. Received: "
                f"x_pool.shape={x_pool.shape}, y_pool.shape={y_pool.shape}"
            )
        members_of = {label: np.flatnonzero(y_pool == label) for label in np.unique(y_pool)}

    def noise(x, y, rng):
        if y is None:
            raise ValueError(
                "oracle_noise pairs examples of the same class: it needs the "
                "labels. Received: y=None"
            )
        x, y = np.asarray(x), np.asarray(y).reshape(-1)
        if len(y) != len(x):
            raise ValueError(
                "`x` and `y` must have the same length. Received: "
                f"x.shape={x.shape}, y.shape={y.shape}"
            )
        if x_pool is not None:
            partners = np.empty(len(y), dtype="int64")
            for label in np.unique(y):
                rows = np.flatnonzero(y == label)
                pool = members_of.get(label)
                if pool is None:
                    raise ValueError(
                        f"oracle_noise: the pool has no example of class {label}. "
                        f"Received: y containing {label}"
                    )
                partners[rows] = pool[rng.integers(0, len(pool), size=len(rows))]
            return x_pool[partners].astype(x.dtype)
        partners = np.arange(len(y))
        for label in np.unique(y):
            members = np.flatnonzero(y == label)
            if len(members) < 2:
                continue
            # Uniform among the other members: a shift of 1 .. n-1 places.
            shift = rng.integers(1, len(members), size=len(members))
            partners[members] = members[(np.arange(len(members)) + shift) % len(members)]
        return x[partners]

    noise.__name__ = "oracle"
    return noise
