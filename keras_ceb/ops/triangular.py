"""`solve_lower_triangular`: batched triangular solves that cannot deadlock JAX on CPU.

It is `keras.ops.solve_triangular(scale_tril, rhs, lower=True)` on every backend, with one
exception: jaxlib 0.10.0 to 0.11.0 on CPU.

**Why.** Those jaxlib releases split one batched LAPACK call (`trsm`, here) into pieces on
XLA's intra-op thread pool, and the pool thread that made the call blocks until the pieces
finish. A call is split when `batch x cost >= 200,000` flops, where `cost` is
`D * D * columns` per matrix (jaxlib's `GetLapackBatchChunkSize`). If as many split calls run
at once as the pool has threads, every thread waits for pieces that no thread is free to run,
and the program stops for good. On 2 cores, a CEB `fit` runs the encoder's and the backward
encoder's solves side by side, so 2 calls suffice.

This was the hang of `fit` on JAX CPU that stopped CI. On 2 cores, CEB with the MLP head hung
in 5 of 6 runs. gdb showed both `tf_XLAEigen` threads in `jax::ParallelBatchMap` under
`lapack_strsm_ffi`, each waiting in `absl::BlockingCounter::Wait`. Upstream stopped splitting
LAPACK calls in open-source builds after jax 0.11.0 (jax-ml/jax#36927).

**The workaround.** On an affected jaxlib on CPU, the solve maps over the batch with
`jax.lax.map(..., batch_size=n)`, where `n` keeps each call below the threshold. So no call
is split, and the result and its gradients are the same. The extra cost is a short loop when
the batch is large (two iterations for the I(X;Z) bound of a batch of 128 in 4 dimensions).
"""

import functools
import math

import keras
from keras import ops

# jaxlib's `kMinWorkPerTask`: a call whose batch x per-matrix cost is below it runs in one
# piece on the calling thread.
LAPACK_MIN_WORK_PER_TASK = 200_000
# jaxlib releases that split LAPACK calls over the intra-op pool: [first, fixed).
SPLITTING_JAXLIB = ((0, 10, 0), (0, 11, 1))


def solve_lower_triangular(scale_tril, rhs):
    """Solves `scale_tril @ x = rhs` for `x`, batched over the leading dimensions.

    Args:
        scale_tril: Lower-triangular matrices `[..., D, D]`.
        rhs: Right-hand sides `[..., D, K]`, with the same batch shape as `scale_tril`.

    Returns:
        `x`, shaped like `rhs`.

    Examples:

        >>> x = solve_lower_triangular(2.0 * ops.eye(2)[None], ops.ones((1, 2, 1)))
        >>> [float(v) for v in ops.reshape(x, (-1,))]
        [0.5, 0.5]
    """
    if _jax_splits_lapack_calls() and not keras.utils.is_keras_tensor(scale_tril):
        return _solve_in_unsplit_pieces(scale_tril, rhs)
    return ops.solve_triangular(scale_tril, rhs, lower=True)


def _solve_in_unsplit_pieces(scale_tril, rhs):
    import jax
    from jax.scipy.linalg import solve_triangular

    dim, columns = rhs.shape[-2], rhs.shape[-1]
    cost_per_matrix = dim * dim * columns
    batch = math.prod(rhs.shape[:-2])
    # Pieces of `piece` matrices cost less than the threshold, so jaxlib does not split them;
    # a single matrix is never split, whatever its cost.
    piece = max(1, (LAPACK_MIN_WORK_PER_TASK - 1) // max(cost_per_matrix, 1))
    if batch <= piece:
        return solve_triangular(scale_tril, rhs, lower=True)
    flat = jax.lax.map(
        lambda pair: solve_triangular(pair[0], pair[1], lower=True),
        (ops.reshape(scale_tril, (batch, dim, dim)), ops.reshape(rhs, (batch, dim, columns))),
        batch_size=piece,
    )
    return ops.reshape(flat, rhs.shape)


@functools.cache
def _jax_splits_lapack_calls():
    """Whether this process runs JAX on CPU with a jaxlib that splits LAPACK calls."""
    if keras.backend.backend() != "jax":
        return False
    import jax
    import jaxlib.version

    first, fixed = SPLITTING_JAXLIB
    version = tuple(jaxlib.version.__version_info__[:3])
    return first <= version < fixed and jax.default_backend() == "cpu"
