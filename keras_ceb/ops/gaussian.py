"""Multivariate Gaussians on `keras.ops`: the structure, log-densities, sampling, entropy.

A Gaussian is a `Gaussian(loc, scale)` value: `loc` is `[..., D]` and `scale` is either
lower-triangular `[..., D, D]` (full covariance `L L^T`, TensorFlow Probability's
`MultivariateNormalTriL`) or diagonal `[..., D]` (covariance `diag(scale**2)`,
`MultivariateNormalDiag`); the rank of `scale` tells which. It is a plain `NamedTuple` of
tensors, so it passes through `jax.jit`, `tf.function` and `keras.tree` unchanged, and every
function here runs on the TensorFlow, JAX and PyTorch backends. Densities use triangular
solves, never inverses.
"""

import math
from typing import NamedTuple

import numpy as np
from keras import ops

from keras_ceb.ops import triangular

COVARIANCE_TYPES = ("full", "diag")
LOG_2PI = math.log(2.0 * math.pi)


class Gaussian(NamedTuple):
    """A (batch of) multivariate Gaussian(s) `N(loc, scale scale^T)`.

    Attributes:
        loc: Means `[..., D]`.
        scale: Lower-triangular scales `[..., D, D]` (full covariance) or positive diagonal
            scales `[..., D]` (diagonal covariance).

    Examples:

        >>> dist = Gaussian(ops.zeros((2,)), ops.ones((2,)))
        >>> dist.covariance_type, dist.dim
        ('diag', 2)
    """

    loc: object
    scale: object

    @property
    def is_full(self):
        """Whether `scale` is a full lower-triangular matrix (else diagonal)."""
        return len(self.scale.shape) == len(self.loc.shape) + 1

    @property
    def covariance_type(self):
        """`"full"` or `"diag"`."""
        return "full" if self.is_full else "diag"

    @property
    def dim(self):
        """The event dimension D."""
        return self.loc.shape[-1]


def check_covariance(covariance):
    """Validates a covariance kind, `"full"` or `"diag"`."""
    if covariance not in COVARIANCE_TYPES:
        raise ValueError(
            f"`covariance` must be one of {COVARIANCE_TYPES}. Received: covariance={covariance!r}"
        )
    return covariance


def num_scale_params(dim, covariance="full"):
    """Number of unconstrained scale parameters for a `dim`-dimensional Gaussian.

    `dim * (dim + 1) // 2` for a full (lower-triangular) scale, `dim` for a diagonal one.

    Examples:

        >>> num_scale_params(4, "full"), num_scale_params(4, "diag")
        (10, 4)
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

    The diagonal is `softplus(p + log(e - 1)) + min_scale` (so `p = 0` gives a scale near 1);
    the strictly lower part of a full scale is the raw parameters.

    Args:
        params: Tensor `[..., num_scale_params(dim, covariance)]`.
        dim: Event dimension D.
        covariance: `"full"` (returns `[..., D, D]`) or `"diag"` (returns `[..., D]`).
        min_scale: Lower bound on every diagonal entry; keeps densities finite.

    Returns:
        The scale of a `Gaussian`.

    Examples:

        >>> scale = scale_from_params(ops.zeros((3,)), dim=2)  # a 2x2 tril close to I
        >>> tuple(scale.shape)
        (2, 2)
    """
    check_covariance(covariance)
    params = ops.convert_to_tensor(params)
    offset = math.log(math.e - 1.0)
    if covariance == "diag":
        return ops.softplus(params + offset) + min_scale
    zero = ops.zeros_like(params[..., :1])
    flat = ops.take(ops.concatenate([params, zero], axis=-1), _fill_tril_indices(dim), axis=-1)
    tril = ops.reshape(flat, tuple(ops.shape(params)[:-1]) + (dim, dim))
    eye = ops.eye(dim, dtype=tril.dtype)
    diag = ops.softplus(ops.diagonal(tril, axis1=-2, axis2=-1) + offset) + min_scale
    return tril * (1.0 - eye) + ops.expand_dims(diag, -1) * eye


def as_gaussian(dist):
    """`dist` with its fields converted to backend tensors."""
    return Gaussian(ops.convert_to_tensor(dist.loc), ops.convert_to_tensor(dist.scale))


def cast(dist, dtype):
    """`dist` with both fields cast to `dtype` (e.g. float32 for the information math)."""
    return Gaussian(ops.cast(dist.loc, dtype), ops.cast(dist.scale, dtype))


def take(dist, indices):
    """The Gaussians at `indices` along the first batch axis (e.g. one class per example).

    Examples:

        >>> classes = Gaussian(ops.zeros((3, 2)), ops.ones((3, 2)))
        >>> tuple(take(classes, [2, 0, 0, 1]).loc.shape)
        (4, 2)
    """
    return Gaussian(ops.take(dist.loc, indices, axis=0), ops.take(dist.scale, indices, axis=0))


def _diagonal(dist):
    return ops.diagonal(dist.scale, axis1=-2, axis2=-1) if dist.is_full else dist.scale


def log_det_scale(dist):
    """`log|det scale|`, the sum of the log of the diagonal of the scale, `[...]`."""
    return ops.sum(ops.log(_diagonal(as_gaussian(dist))), axis=-1)


def log_prob_at_mean(dist):
    """`log N(loc; loc, L L^T) = -log|det L| - D/2 log 2 pi`, the density at the mode, `[...]`.

    Examples:

        >>> float(log_prob_at_mean(Gaussian(ops.zeros((2,)), ops.ones((2,)))))  # -log(2 pi)
        -1.837877...
    """
    dist = as_gaussian(dist)
    return -log_det_scale(dist) - 0.5 * dist.dim * LOG_2PI


def log_prob(dist, x):
    """Log-density of `dist` at `x`, broadcasting over leading dimensions.

    Args:
        dist: A `Gaussian` with batch shape `[...]`.
        x: Points `[..., D]`.

    Returns:
        Tensor `[...]` of log-densities.

    Examples:

        >>> float(log_prob(Gaussian(ops.zeros((2,)), ops.ones((2,))), ops.zeros((2,))))
        -1.837877...
    """
    dist = as_gaussian(dist)
    x = ops.convert_to_tensor(x)
    diff = x - dist.loc
    if dist.is_full:
        diff, scale_tril = _broadcast_for_solve(diff, dist.scale)
        white = ops.squeeze(
            triangular.solve_lower_triangular(scale_tril, ops.expand_dims(diff, -1)), -1
        )
    else:
        white = diff / dist.scale
    return -0.5 * ops.sum(ops.square(white), axis=-1) + log_prob_at_mean(dist)


def _broadcast_for_solve(diff, scale_tril):
    """Gives `diff [..., D]` and `scale_tril [..., D, D]` the same batch shape.

    Adding zeros broadcasts with dynamic shapes on every backend; batched triangular solves
    do not broadcast on all of them.
    """
    diff_b = diff + ops.zeros_like(scale_tril[..., 0])
    scale_b = scale_tril + ops.expand_dims(ops.zeros_like(diff), -1)
    return diff_b, scale_b


def pairwise_log_prob(x, dist):
    """The matrix `log N(x_i; loc_j, L_j L_j^T)` for every point `i` and Gaussian `j`.

    The one kernel behind the mixture marginal (points against K components), the
    class-conditional backward encoder (points against C classes), CatGen and the minibatch
    I(X;Z) bound (points against the B Gaussians of the batch). Each Gaussian solves one
    triangular system against all N points: O(M N D^2), no inverse.

    Args:
        x: Points `[N, D]`.
        dist: A `Gaussian` with `loc` `[M, D]`.

    Returns:
        Tensor `[N, M]`.

    Examples:

        >>> classes = Gaussian(ops.zeros((3, 2)), ops.ones((3, 2)))
        >>> tuple(pairwise_log_prob(ops.ones((5, 2)), classes).shape)
        (5, 3)
    """
    dist = as_gaussian(dist)
    x = ops.convert_to_tensor(x)
    # diff[j, i, :] = x_i - loc_j
    diff = ops.expand_dims(x, 0) - ops.expand_dims(dist.loc, 1)  # [M, N, D]
    if dist.is_full:
        # Solve L_j W_j = diff_j^T, with the N points as columns.
        white = triangular.solve_lower_triangular(dist.scale, ops.transpose(diff, (0, 2, 1)))
        squared = ops.sum(ops.square(white), axis=-2)  # [M, N]
    else:
        squared = ops.sum(ops.square(diff / ops.expand_dims(dist.scale, 1)), axis=-1)
    return ops.transpose(-0.5 * squared + ops.expand_dims(log_prob_at_mean(dist), -1))


def sample_and_log_prob(dist, seed=None):
    """A reparameterized sample `loc + L eps` and its log-density, without a triangular solve.

    At `z = loc + L eps` the density is `-|eps|^2 / 2 - log|det L| - D/2 log 2 pi` exactly,
    which stays accurate (and its gradient finite) however ill-conditioned L becomes; solving
    `L w = z - loc` would lose `cond(L)` in precision.

    Args:
        dist: A `Gaussian`.
        seed: A `keras.random.SeedGenerator` (or an int) for `keras.random.normal`.

    Returns:
        `(z [..., D], log_prob [...])`.

    Examples:

        >>> z, log_e = sample_and_log_prob(Gaussian(ops.zeros((8, 2)), ops.ones((8, 2))), seed=0)
        >>> tuple(z.shape), tuple(log_e.shape)
        ((8, 2), (8,))
    """
    import keras

    dist = as_gaussian(dist)
    eps = keras.random.normal(ops.shape(dist.loc), dtype=dist.loc.dtype, seed=seed)
    if dist.is_full:
        z = dist.loc + ops.squeeze(ops.matmul(dist.scale, ops.expand_dims(eps, -1)), -1)
    else:
        z = dist.loc + dist.scale * eps
    return z, -0.5 * ops.sum(ops.square(eps), axis=-1) + log_prob_at_mean(dist)


def sample(dist, seed=None):
    """A reparameterized sample of `dist`; differentiable in its parameters."""
    return sample_and_log_prob(dist, seed)[0]


def entropy(dist):
    """Differential entropy in nats: `D/2 (1 + log 2 pi) + log|det L|`, `[...]`.

    Examples:

        >>> round(float(entropy(Gaussian(ops.zeros((1,)), ops.ones((1,))))), 4)
        1.4189
    """
    dist = as_gaussian(dist)
    return 0.5 * dist.dim * (1.0 + LOG_2PI) + log_det_scale(dist)


def covariance(dist):
    """The covariance matrix `L L^T`, `[..., D, D]`."""
    dist = as_gaussian(dist)
    if dist.is_full:
        return ops.matmul(dist.scale, ops.swapaxes(dist.scale, -1, -2))
    return ops.expand_dims(ops.square(dist.scale), -1) * ops.eye(dist.dim, dtype=dist.scale.dtype)


def kl_divergence(p, q):
    """`KL(p || q)` between two Gaussians of the same family, in nats, `[...]`.

    `0.5 (|L_q^-1 L_p|_F^2 + |L_q^-1 (loc_q - loc_p)|^2 - D) + log|det L_q| - log|det L_p|`:
    the expectation over `z ~ p` of `log p(z) - log q(z)`, in closed form (one triangular
    solve per pair, no inverse). Batch shapes broadcast.

    Examples:

        >>> p = Gaussian(ops.zeros((1,)), ops.ones((1,)))
        >>> q = Gaussian(ops.ones((1,)), 2.0 * ops.ones((1,)))
        >>> round(float(kl_divergence(p, q)), 4)  # log 2 + (1 + 1) / 8 - 1/2
        0.4431
    """
    p, q = as_gaussian(p), as_gaussian(q)
    if p.is_full != q.is_full:
        raise ValueError(
            "`p` and `q` must both be full or both be diagonal Gaussians. "
            f"Received: p.scale.shape={tuple(p.scale.shape)}, q.scale.shape={tuple(q.scale.shape)}"
        )
    diff = q.loc - p.loc
    if p.is_full:
        # One solve for both terms: L_q W = [L_p | loc_q - loc_p], batch shapes broadcast.
        q_scale = q.scale + ops.zeros_like(p.scale)
        p_scale = p.scale + ops.zeros_like(q.scale)
        diff = diff + ops.zeros_like(q_scale[..., 0])
        white = triangular.solve_lower_triangular(
            q_scale, ops.concatenate([p_scale, ops.expand_dims(diff, -1)], axis=-1)
        )
        trace = ops.sum(ops.square(white[..., :-1]), axis=(-2, -1))
        mahalanobis = ops.sum(ops.square(white[..., -1]), axis=-1)
    else:
        trace = ops.sum(ops.square(p.scale / q.scale), axis=-1)
        mahalanobis = ops.sum(ops.square(diff / q.scale), axis=-1)
    return 0.5 * (trace + mahalanobis - p.dim) + log_det_scale(q) - log_det_scale(p)
