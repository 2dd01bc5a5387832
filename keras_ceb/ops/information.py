"""Per-example information estimates and the CEB / VIB objectives (DESIGN.md sections 1-2).

All quantities are in nats. Functions take log-densities already evaluated at a sample
`z ~ e(z|x)` and return per-example values; callers average over the batch.
"""

import math

from keras import ops


def residual_information(log_e, log_b):
    """`ReX = log e(z|x) - log b(z|y)`, an upper bound on I(X;Z|Y) in expectation."""
    return log_e - log_b


def rate(log_e, log_m):
    """`R = log e(z|x) - log m(z)`, an upper bound on I(X;Z) in expectation; the OoD score."""
    return log_e - log_m


def i_yz_lower_bound(log_c, num_classes):
    """`H(Y) + log c(y|z)` with `H(Y) = log C` (balanced classes): a lower bound on I(Y;Z)."""
    return math.log(num_classes) + log_c


def minibatch_i_xz_lower_bound(pairwise_log_e):
    """Per-example terms of the minibatch lower bound on I(X;Z).

    `log e(z_i|x_i) - log((1/B) sum_j e(z_i|x_j))` (Poole et al. 2019, "InfoNCE with a tractable
    encoder"); the batch mean is at most `log B`.

    Args:
        pairwise_log_e: `[B, B]` matrix with entry `[i, j] = log e(z_i|x_j)`.

    Returns:
        Tensor `[B]`.
    """
    pairwise_log_e = ops.convert_to_tensor(pairwise_log_e)
    batch = ops.cast(ops.shape(pairwise_log_e)[0], pairwise_log_e.dtype)
    diag = ops.diagonal(pairwise_log_e)
    return diag - ops.logsumexp(pairwise_log_e, axis=-1) + ops.log(batch)


def consistency(log_b, log_m, log_c, num_classes):
    """`C = |(H(Z) - H(Z|Y)) - (H(Y) - H(Y|Z))|`, the gap between two estimates of I(Y;Z).

    Uses `<log b(z|y) - log m(z)>` for the first and `log C + <log c(y|z)>` for the second;
    returns a scalar (batch means inside the absolute value).
    """
    generative = ops.mean(log_b - log_m)
    discriminative = ops.mean(i_yz_lower_bound(log_c, num_classes))
    return ops.abs(generative - discriminative)


def ceb_weight(rho):
    """`gamma^-1 = exp(-rho)`, the weight on ReX in the per-example VCEB objective."""
    return ops.exp(-rho)


def vib_weight(rho):
    """`1 / beta_IB = 1 / (exp(rho) + 1)`, the weight on the rate in the per-example VIB objective."""
    return 1.0 / (ops.exp(rho) + 1.0)


def ceb_loss(log_e, log_b, log_c, rho):
    """Per-example VCEB (Fischer 2020, eq. 15): `exp(-rho) * ReX - log c(y|z)`."""
    return ceb_weight(rho) * residual_information(log_e, log_b) - log_c


def vib_loss(log_e, log_m, log_c, rho):
    """Per-example VIB (Alemi et al. 2017; Fischer 2020, eq. 18): `R / (exp(rho) + 1) - log c(y|z)`."""
    return vib_weight(rho) * rate(log_e, log_m) - log_c
