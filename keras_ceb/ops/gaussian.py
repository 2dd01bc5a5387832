"""Multivariate Gaussian math on `keras.ops`: parameters, log-density, sampling, entropy.

A Gaussian is given by `loc` (`[..., D]`) and either `scale_tril` (`[..., D, D]`, lower
triangular with a positive diagonal, covariance `L L^T`) or `scale_diag` (`[..., D]`, positive,
covariance `diag(scale_diag**2)`), as TensorFlow Probability's `MultivariateNormalTriL` and
`MultivariateNormalDiag`. Every function here works on the TensorFlow, JAX and PyTorch backends.
Densities use triangular solves, never matrix inverses.
"""

import math

import numpy as np
from keras import ops

COVARIANCE_TYPES = ("full", "diag")
LOG_2PI = math.log(2.0 * math.pi)


def check_covariance(covariance):
    """Validates a covariance kind, `"full"` or `"diag"`."""
    if covariance not in COVARIANCE_TYPES:
        raise ValueError(
            f"`covariance` must be one of {COVARIANCE_TYPES}. Received: covariance={covariance!r}"
        )
    return covariance


def scale_kwargs(scale, covariance):
    """`{"scale_tril": scale}` or `{"scale_diag": scale}` for the functions of this module."""
    return {"scale_tril": scale} if check_covariance(covariance) == "full" else {"scale_diag": scale}


def num_scale_params(dim, covariance="full"):
    """Number of unconstrained scale parameters for a `dim`-dimensional Gaussian.

    `dim * (dim + 1) // 2` for a full (lower-triangular) scale, `dim` for a diagonal one.
    """
    check_covariance(covariance)
    return dim * (dim + 1) // 2 if covariance == "full" else dim


def _fill_tril_indices(dim):
    """Gather indices that place `dim*(dim+1)/2` values row by row into a `dim x dim` tril.

    Index `n` (one past the last value) points at an appended zero.
    """
    n = dim * (dim + 1) // 2
    index = np.full((dim, dim), n, dtype="int32")
    rows, cols = np.tril_indices(dim)
    index[rows, cols] = np.arange(n)
    return index.reshape(-1)


def scale_from_params(params, dim, covariance="full", min_scale=1e-5):
    """Maps unconstrained parameters to a valid scale.

    The diagonal is `softplus(p) + min_scale` (shifted so that `p = 0` gives a scale near 1);
    the strictly lower part of a full scale is the raw parameters.

    Args:
        params: Tensor `[..., num_scale_params(dim, covariance)]`.
        dim: Event dimension D.
        covariance: `"full"` (returns `scale_tril`, `[..., D, D]`) or `"diag"` (returns
            `scale_diag`, `[..., D]`).
        min_scale: Lower bound on every diagonal entry; keeps densities finite.

    Returns:
        `scale_tril` or `scale_diag`.

    Example:

    >>> scale = scale_from_params(keras.ops.zeros((3,)), dim=2)  # a 2x2 tril close to I
    """
    check_covariance(covariance)
    params = ops.convert_to_tensor(params)
    # softplus(x + log(e - 1)) is 1 at x = 0.
    offset = math.log(math.e - 1.0)
    if covariance == "diag":
        return ops.softplus(params + offset) + min_scale
    zero = ops.zeros_like(params[..., :1])
    flat = ops.take(ops.concatenate([params, zero], axis=-1), _fill_tril_indices(dim), axis=-1)
    tril = ops.reshape(flat, tuple(ops.shape(params)[:-1]) + (dim, dim))
    eye = ops.eye(dim, dtype=tril.dtype)
    diag = ops.softplus(ops.diagonal(tril, axis1=-2, axis2=-1) + offset) + min_scale
    return tril * (1.0 - eye) + ops.expand_dims(diag, -1) * eye


def _tensors(*values):
    """Backend tensors for array-like arguments (`None` stays `None`)."""
    return tuple(None if v is None else ops.convert_to_tensor(v) for v in values)


def _check_scale(scale_tril, scale_diag):
    if (scale_tril is None) == (scale_diag is None):
        raise ValueError(
            "Pass exactly one of `scale_tril` and `scale_diag`. Received: "
            f"scale_tril={'a tensor' if scale_tril is not None else None}, "
            f"scale_diag={'a tensor' if scale_diag is not None else None}"
        )


def _tril_diag(scale_tril):
    return ops.diagonal(scale_tril, axis1=-2, axis2=-1)


def log_det_scale(scale_tril=None, scale_diag=None):
    """`log|det L|`, the sum of the log of the diagonal of the scale."""
    _check_scale(scale_tril, scale_diag)
    scale_tril, scale_diag = _tensors(scale_tril, scale_diag)
    diag = scale_diag if scale_diag is not None else _tril_diag(scale_tril)
    return ops.sum(ops.log(diag), axis=-1)


def log_prob(x, loc, scale_tril=None, scale_diag=None):
    """Log-density of `N(loc, L L^T)` at `x`, broadcasting over leading dimensions.

    Args:
        x: Tensor `[..., D]`.
        loc: Tensor `[..., D]`.
        scale_tril: Lower-triangular scale `[..., D, D]` (full covariance), or
        scale_diag: Diagonal scale `[..., D]` (diagonal covariance).

    Returns:
        Tensor `[...]` of log-densities.

    Example:

    >>> log_prob(ops.zeros((2,)), ops.zeros((2,)), scale_diag=ops.ones((2,)))  # -log(2 pi)
    """
    _check_scale(scale_tril, scale_diag)
    x, loc, scale_tril, scale_diag = _tensors(x, loc, scale_tril, scale_diag)
    dim = x.shape[-1]
    diff = x - loc
    if scale_diag is not None:
        white = diff / scale_diag
    else:
        diff, scale_tril = _broadcast_for_solve(diff, scale_tril)
        white = ops.squeeze(
            ops.solve_triangular(scale_tril, ops.expand_dims(diff, -1), lower=True), -1
        )
    return (
        -0.5 * ops.sum(ops.square(white), axis=-1)
        - log_det_scale(scale_tril, scale_diag)
        - 0.5 * dim * LOG_2PI
    )


def _broadcast_for_solve(diff, scale_tril):
    """Gives `diff [..., D]` and `scale_tril [..., D, D]` the same batch shape.

    Adding zeros broadcasts with dynamic shapes on every backend; batched triangular solves
    do not broadcast on all of them.
    """
    diff_b = diff + ops.zeros_like(scale_tril[..., 0])
    scale_b = scale_tril + ops.expand_dims(ops.zeros_like(diff), -1)
    return diff_b, scale_b


def pairwise_log_prob(x, loc, scale_tril=None, scale_diag=None):
    """The matrix `log N(x_i; loc_j, L_j L_j^T)` for every point `i` and Gaussian `j`.

    This is the one kernel behind the mixture marginal (points against K components), the
    consistent classifier (points against C class-conditional Gaussians), CatGen and the
    minibatch bound (points against the B Gaussians of the batch). Each Gaussian solves
    one triangular system against all N points: O(M N D^2), no inverse.

    Args:
        x: Points `[N, D]`.
        loc: Means `[M, D]`.
        scale_tril: `[M, D, D]`, or
        scale_diag: `[M, D]`.

    Returns:
        Tensor `[N, M]`.

    Example:

    >>> pairwise_log_prob(z, loc=class_means, scale_diag=class_scales)  # [batch, classes]
    """
    _check_scale(scale_tril, scale_diag)
    x, loc, scale_tril, scale_diag = _tensors(x, loc, scale_tril, scale_diag)
    dim = x.shape[-1]
    # diff[j, i, :] = x_i - loc_j
    diff = ops.expand_dims(x, 0) - ops.expand_dims(loc, 1)  # [M, N, D]
    if scale_diag is not None:
        white = diff / ops.expand_dims(scale_diag, 1)
        sq = ops.sum(ops.square(white), axis=-1)  # [M, N]
    else:
        # Solve L_j W_j = diff_j^T, with the N points as columns.
        white = ops.solve_triangular(scale_tril, ops.transpose(diff, (0, 2, 1)), lower=True)
        sq = ops.sum(ops.square(white), axis=-2)  # [M, N]
    log_norm = log_det_scale(scale_tril, scale_diag) + 0.5 * dim * LOG_2PI  # [M]
    return ops.transpose(-0.5 * sq - ops.expand_dims(log_norm, -1))


def sample(loc, scale_tril=None, scale_diag=None, seed=None):
    """Reparameterized sample `loc + L eps`, `eps ~ N(0, I)`; differentiable in the parameters.

    Args:
        loc: `[..., D]`.
        scale_tril: `[..., D, D]`, or
        scale_diag: `[..., D]`.
        seed: A `keras.random.SeedGenerator` (or an int) for `keras.random.normal`.

    Returns:
        A sample with the shape of `loc`.
    """
    return sample_and_log_prob(loc, scale_tril, scale_diag, seed)[0]


def sample_and_log_prob(loc, scale_tril=None, scale_diag=None, seed=None):
    """A reparameterized sample and its log-density, without a triangular solve.

    At `z = loc + L eps` the density is `-|eps|^2 / 2 - log|det L| - D/2 log 2 pi` exactly,
    which stays accurate (and its gradient finite) however ill-conditioned L becomes; solving
    `L w = z - loc` would lose `cond(L)` in precision.

    Returns:
        `(z [..., D], log_prob [...])`.
    """
    import keras

    _check_scale(scale_tril, scale_diag)
    loc, scale_tril, scale_diag = _tensors(loc, scale_tril, scale_diag)
    eps = keras.random.normal(ops.shape(loc), dtype=loc.dtype, seed=seed)
    if scale_diag is not None:
        z = loc + scale_diag * eps
    else:
        z = loc + ops.squeeze(ops.matmul(scale_tril, ops.expand_dims(eps, -1)), -1)
    log_prob = (
        -0.5 * ops.sum(ops.square(eps), axis=-1)
        - log_det_scale(scale_tril, scale_diag)
        - 0.5 * loc.shape[-1] * LOG_2PI
    )
    return z, log_prob


def entropy(scale_tril=None, scale_diag=None):
    """Differential entropy in nats: `D/2 (1 + log 2 pi) + log|det L|`."""
    _check_scale(scale_tril, scale_diag)
    scale_tril, scale_diag = _tensors(scale_tril, scale_diag)
    scale = scale_diag if scale_diag is not None else scale_tril
    dim = scale.shape[-1]
    return 0.5 * dim * (1.0 + LOG_2PI) + log_det_scale(scale_tril, scale_diag)


def covariance(scale_tril=None, scale_diag=None):
    """The covariance matrix `L L^T` (`[..., D, D]`)."""
    _check_scale(scale_tril, scale_diag)
    scale_tril, scale_diag = _tensors(scale_tril, scale_diag)
    if scale_diag is not None:
        return ops.expand_dims(ops.square(scale_diag), -1) * ops.eye(scale_diag.shape[-1])
    return ops.matmul(scale_tril, ops.swapaxes(scale_tril, -1, -2))
