"""Stable log-sum-exp and log-softmax on NumPy arrays, for the scores computed on the host."""

import numpy as np


def logsumexp(values, axis=-1, keepdims=False):
    """`log(sum(exp(values)))` over `axis`, shifted by the largest value so it never overflows.

    Examples:

        >>> round(float(logsumexp(np.array([1000.0, 1000.0]))), 4)
        1000.6931
    """
    values = np.asarray(values)
    peak = values.max(axis=axis, keepdims=True)
    total = peak + np.log(np.sum(np.exp(values - peak), axis=axis, keepdims=True))
    return total if keepdims else np.squeeze(total, axis=axis)


def log_softmax(logits):
    """Log-softmax over the last axis: the largest shifted logit is 0, so the sum is >= 1.

    Examples:

        >>> np.exp(log_softmax(np.array([[0.0, 0.0]]))).tolist()
        [[0.5, 0.5]]
    """
    logits = np.asarray(logits)
    return logits - logsumexp(logits, axis=-1, keepdims=True)
