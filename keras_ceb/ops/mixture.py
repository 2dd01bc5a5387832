"""Mixture-of-Gaussians log-density on `keras.ops`."""

from keras import ops

from keras_ceb.ops import gaussian


def mixture_log_prob(x, logits, components):
    """Log-density of a K-component Gaussian mixture at each point.

    `log m(x) = logsumexp_k [log_softmax(logits)_k + log N(x; loc_k, L_k L_k^T)]`.

    Args:
        x: Points `[N, D]`.
        logits: Unnormalized mixture weights `[K]`.
        components: A `Gaussian` with `loc` `[K, D]`.

    Returns:
        Tensor `[N]`.

    Examples:

        >>> components = gaussian.Gaussian(ops.zeros((3, 2)), ops.ones((3, 2)))
        >>> log_m = mixture_log_prob(ops.zeros((5, 2)), ops.zeros((3,)), components)
        >>> round(float(log_m[0]), 4)  # three identical standard normals: -log(2 pi)
        -1.8379
    """
    logits = ops.convert_to_tensor(logits)
    log_components = gaussian.pairwise_log_prob(x, components)
    return ops.logsumexp(log_components + ops.log_softmax(logits)[None, :], axis=-1)
