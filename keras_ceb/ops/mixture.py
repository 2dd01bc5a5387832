"""Mixture-of-Gaussians log-density on `keras.ops`."""

from keras import ops

from keras_ceb.ops import gaussian


def mixture_log_prob(x, logits, loc, scale_tril=None, scale_diag=None):
    """Log-density of a K-component Gaussian mixture at each point.

    `log m(x) = logsumexp_k [log_softmax(logits)_k + log N(x; loc_k, L_k L_k^T)]`.

    Args:
        x: Points `[N, D]`.
        logits: Unnormalized mixture weights `[K]`.
        loc: Component means `[K, D]`.
        scale_tril: Component scales `[K, D, D]`, or
        scale_diag: `[K, D]`.

    Returns:
        Tensor `[N]`.

    Example:

    >>> mixture_log_prob(z, ops.zeros((240,)), means, scale_tril=scales)  # log m(z)
    """
    logits = ops.convert_to_tensor(logits)
    components = gaussian.pairwise_log_prob(x, loc, scale_tril=scale_tril, scale_diag=scale_diag)
    return ops.logsumexp(components + ops.log_softmax(logits)[None, :], axis=-1)
