"""Per-example information estimates, in nats (docs/guide/layers.md, "Information metrics").

Functions take log-densities already evaluated at a sample `z ~ e(z|x)` (or at the encoder
mean) and return per-example values; callers average over the batch. The objectives built
from them live in `keras_ceb.losses`.
"""

import math

from keras import ops

from keras_ceb.ops import gaussian

# Gaussians compared at once in the minibatch I(X;Z) bound: memory grows as B * block.
DEFAULT_BLOCK_SIZE = 512


def residual_information(log_e, log_b):
    """`ReX = log e(z|x) - log b(z|y)`, an upper bound on I(X;Z|Y) in expectation.

    Examples:

        >>> float(residual_information(1.5, 0.5))
        1.0
    """
    return ops.convert_to_tensor(log_e) - ops.convert_to_tensor(log_b)


def rate(log_e, log_m):
    """`R = log e(z|x) - log m(z)`, an upper bound on I(X;Z) in expectation; the OoD score.

    Examples:

        >>> float(rate(-1.0, -3.0))
        2.0
    """
    return ops.convert_to_tensor(log_e) - ops.convert_to_tensor(log_m)


def i_yz_lower_bound(log_c, num_classes):
    """`H(Y) + log c(y|z)` with `H(Y) = log C` (balanced classes): a lower bound on I(Y;Z).

    Examples:

        >>> round(float(i_yz_lower_bound(0.0, 10)), 4)  # a perfect classifier: log 10
        2.3026
    """
    return math.log(num_classes) + ops.convert_to_tensor(log_c)


def minibatch_i_xz_lower_bound(z, dist, log_e, block_size=DEFAULT_BLOCK_SIZE):
    """Per-example terms of the minibatch lower bound on I(X;Z), with memory linear in B.

    `log e(z_i|x_i) - log((1/B) sum_j e(z_i|x_j))` (Poole et al. 2019, "InfoNCE with a
    tractable encoder"); its batch mean is at most `log B`. The diagonal `e(z_i|x_i)` is
    `log_e`, known exactly from the sampling noise. The B x B matrix is never formed: the
    Gaussians `j` are taken `block_size` at a time and the log-sum-exp is accumulated, so
    memory grows as `B * block_size`, not `B^2`.

    `dist` may hold more Gaussians than there are samples (`M >= N`): the first `N` are the
    samples' own encoders and the others are further examples of the batch (under
    `tf.distribute`, the other replicas' rows, see `keras_ceb.layers.cross_replica`). The sum
    then runs over all `M` (and the bound is at most `log M`) for the `N` rows given.

    Args:
        z: Samples `[N, D]`, `z_i ~ e(z|x_i)`.
        dist: The batch's encoder distributions, a `Gaussian` with `loc` `[M, D]`, `M >= N`,
            whose first `N` are the samples' own.
        log_e: `log e(z_i|x_i)`, `[N]`.
        block_size: Gaussians per block.

    Returns:
        Tensor `[N]`.

    Examples:

        >>> far_apart = gaussian.Gaussian(ops.eye(4) * 100.0, ops.ones((4, 4)))
        >>> z = far_apart.loc
        >>> bound = minibatch_i_xz_lower_bound(z, far_apart, gaussian.log_prob(far_apart, z))
        >>> round(float(ops.mean(bound)), 4)  # perfectly separated: log 4
        1.3863
    """
    z = ops.convert_to_tensor(z)
    log_e = ops.convert_to_tensor(log_e)
    dist = gaussian.as_gaussian(dist)
    columns = ops.shape(dist.loc)[0]
    log_columns = ops.log(ops.cast(columns, z.dtype))
    if isinstance(columns, int) and columns <= block_size:
        rows = ops.arange(ops.shape(z)[0])
        pairwise = gaussian.pairwise_log_prob(z, dist)
        pairwise = ops.where(
            rows[:, None] == ops.arange(columns)[None, :], log_e[:, None], pairwise
        )
        return log_e - ops.logsumexp(pairwise, axis=-1) + log_columns
    return log_e - _blockwise_logsumexp(z, dist, log_e, block_size) + log_columns


def _blockwise_logsumexp(z, dist, log_e, block_size):
    """`logsumexp_j log e(z_i|x_j)` over blocks of Gaussians (the diagonal replaced by log_e)."""
    batch = ops.shape(z)[0]
    total = ops.shape(dist.loc)[0]
    rows = ops.arange(batch)
    num_blocks = (total + block_size - 1) // block_size
    very_negative = ops.cast(-1e30, z.dtype)

    def body(k, state):
        running_max, running_sum = state
        first = k * block_size
        # The last block is shifted back to stay inside the Gaussians; the columns an earlier
        # block already counted are masked out.
        start = ops.minimum(first, ops.maximum(total - block_size, 0))
        size = min(block_size, total) if isinstance(total, int) else ops.minimum(block_size, total)
        block = gaussian.Gaussian(
            ops.slice(dist.loc, [start, 0], [size, dist.dim]),
            ops.slice(
                dist.scale,
                [start] + [0] * (len(dist.scale.shape) - 1),
                [size] + list(dist.scale.shape[1:]),
            ),
        )
        columns = start + ops.arange(size)
        values = gaussian.pairwise_log_prob(z, block)
        values = ops.where(rows[:, None] == columns[None, :], log_e[:, None], values)
        values = ops.where(columns[None, :] >= first, values, very_negative)
        new_max = ops.maximum(running_max, ops.max(values, axis=-1))
        running_sum = running_sum * ops.exp(running_max - new_max) + ops.sum(
            ops.exp(values - new_max[:, None]), axis=-1
        )
        return new_max, running_sum

    init = (ops.full((batch,), -1e30, dtype=z.dtype), ops.zeros((batch,), dtype=z.dtype))
    running_max, running_sum = ops.fori_loop(0, num_blocks, body, init)
    return running_max + ops.log(running_sum)


def consistency(log_b, log_m, log_c, num_classes):
    """`C = |(H(Z) - H(Z|Y)) - (H(Y) - H(Y|Z))|`, the gap between two estimates of I(Y;Z).

    Uses `<log b(z|y) - log m(z)>` for the first and `log C + <log c(y|z)>` for the second;
    returns a scalar (batch means inside the absolute value).

    Examples:

        >>> round(float(consistency([1.0, 2.0], [0.0, 0.0], [0.0, 0.0], 10)), 4)  # |1.5 - log 10|
        0.8026
    """
    generative = ops.mean(ops.convert_to_tensor(log_b) - ops.convert_to_tensor(log_m))
    discriminative = ops.mean(i_yz_lower_bound(log_c, num_classes))
    return ops.abs(generative - discriminative)
