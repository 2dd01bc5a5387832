"""CatGen decoder: a softmax over the examples of the minibatch (equal to InfoNCE / CPC)."""

from keras import ops


def catgen_log_likelihood(pairwise_log_b):
    """`log c(y_i|z_i) = log_softmax_j log b(z_i|y_j)` at `j = i`.

    Each example is its own class among the K examples of the batch, so the bound it gives on
    I(Y;Z) is at most `log K`. The matrix may have more columns than rows (`[N, K]`, `K >= N`):
    the rows are the first `N` examples and the other columns the rest of the batch (under
    `tf.distribute`, the other replicas' examples; see `keras_ceb.layers.cross_replica`).

    Args:
        pairwise_log_b: `[N, K]` matrix with entry `[i, j] = log b(z_i|y_j)`, `K >= N`.

    Returns:
        Tensor `[N]`.

    Examples:

        >>> log_c = catgen_log_likelihood(ops.eye(3) * 100.0)  # each z_i matches only y_i
        >>> [round(float(v), 4) for v in log_c]
        [0.0, 0.0, 0.0]
    """
    return ops.diagonal(ops.log_softmax(ops.convert_to_tensor(pairwise_log_b), axis=-1))
