"""`keras_ceb.ops.triangular` against scipy.linalg, and the JAX CPU deadlock it avoids."""

import os
import queue
import subprocess
import sys
import textwrap
import threading

import keras
import numpy as np
import pytest
from keras import ops
from scipy import linalg

from keras_ceb.ops import triangular
from tests.backend_utils import to_numpy

jax_only = pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's LAPACK calls")


def random_problem(seed, batch, dim, columns):
    rng = np.random.default_rng(seed)
    tril = np.tril(rng.normal(size=(batch, dim, dim)), -1) * 0.5 / np.sqrt(dim)  # well conditioned
    tril += np.einsum("bi,ij->bij", np.exp(rng.uniform(-1, 1, size=(batch, dim))), np.eye(dim))
    return tril.astype("float32"), rng.normal(size=(batch, dim, columns)).astype("float32")


def scipy_solve(tril, rhs):
    return np.stack([linalg.solve_triangular(a, b, lower=True) for a, b in zip(tril, rhs)])


# (batch, dim, columns): one piece, and batches above jaxlib's splitting threshold.
SHAPES = [(3, 4, 1), (128, 4, 128), (300, 16, 5), (2, 64, 64)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_solve_matches_scipy(shape):
    tril, rhs = random_problem(0, *shape)
    got = to_numpy(
        triangular.solve_lower_triangular(ops.convert_to_tensor(tril), ops.convert_to_tensor(rhs))
    )
    np.testing.assert_allclose(got, scipy_solve(tril, rhs), rtol=2e-4, atol=2e-4)


def test_solve_keeps_several_batch_dimensions():
    tril, rhs = random_problem(1, 24, 3, 2)
    got = to_numpy(
        triangular.solve_lower_triangular(tril.reshape(4, 6, 3, 3), rhs.reshape(4, 6, 3, 2))
    )
    np.testing.assert_allclose(got.reshape(24, 3, 2), scipy_solve(tril, rhs), rtol=2e-4, atol=2e-4)


@jax_only
@pytest.mark.parametrize("shape", SHAPES[1:], ids=str)
def test_pieces_give_the_same_values_and_gradients_as_one_call(shape):
    import jax
    from jax.scipy.linalg import solve_triangular

    tril, rhs = random_problem(2, *shape)

    def loss(solve):
        return lambda a, b: (solve(a, b) ** 2).sum()

    pieces = triangular._solve_in_unsplit_pieces
    one_call = lambda a, b: solve_triangular(a, b, lower=True)  # noqa: E731
    np.testing.assert_allclose(pieces(tril, rhs), one_call(tril, rhs), rtol=1e-5, atol=1e-5)
    for got, expected in zip(
        jax.grad(loss(pieces), (0, 1))(tril, rhs), jax.grad(loss(one_call), (0, 1))(tril, rhs)
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@jax_only
def test_pieces_stay_below_jaxlibs_splitting_threshold():
    """Every LAPACK call in the compiled solve is too small for jaxlib to split."""
    import jax

    tril, rhs = random_problem(3, 512, 8, 128)  # 512 x 8,192 flops: far above the threshold.
    hlo = jax.jit(triangular._solve_in_unsplit_pieces).lower(tril, rhs).as_text()
    batches = [
        int(line.split("tensor<")[1].split("x")[0])
        for line in hlo.splitlines()
        if "lapack_strsm" in line and "tensor<" in line
    ]
    assert batches, "no LAPACK triangular solve in the program"
    assert all(b * 8 * 8 * 128 < triangular.LAPACK_MIN_WORK_PER_TASK for b in batches), batches


# A deadlock shows as no new line from the subprocess for this long (one solve takes ~50 ms,
# importing JAX and compiling a few seconds).
STALL_SECONDS = 300


@jax_only
def test_concurrent_large_solves_finish():
    """Regression for the deadlock: two independent large solves in one program, run on XLA's
    CPU pool limited to 2 threads (the process runs on 2 CPUs), 100 times. With a plain batched
    solve on jaxlib 0.10.2 this stopped for good in 3 of 3 runs; here it must finish.

    A deadlock makes no progress at all, so the test watches progress, not the clock: the
    subprocess prints a line per solve, and only `STALL_SECONDS` without a new line counts as a
    hang. A slow or loaded machine still passes."""
    cpus = sorted(os.sched_getaffinity(0))[:2]
    script = textwrap.dedent(f"""
        import os
        os.sched_setaffinity(0, {cpus})  # Before XLA sizes its thread pool.
        import numpy as np, jax
        from keras_ceb.ops.triangular import solve_lower_triangular
        rng = np.random.default_rng(0)
        a = np.tril(rng.normal(size=(256, 8, 8))).astype("float32")
        a = a + 8 * np.eye(8, dtype="float32")
        b = rng.normal(size=(256, 8, 256)).astype("float32")
        f = jax.jit(lambda a, b, c: (solve_lower_triangular(a, b).sum(),
                                     solve_lower_triangular(a, c).sum()))
        for i in range(100):
            jax.block_until_ready(f(a, b, 2 * b))
            print(i, flush=True)
        print("finished", flush=True)
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, KERAS_BACKEND="jax"),
    )
    lines = queue.Queue()

    def read():
        for line in process.stdout:
            lines.put(line.strip())
        lines.put(None)  # the end of the output

    threading.Thread(target=read, daemon=True).start()
    last = None
    while True:
        try:
            line = lines.get(timeout=STALL_SECONDS)
        except queue.Empty:
            process.kill()
            pytest.fail(f"no progress for {STALL_SECONDS} s after {last!r}: a deadlock")
        if line is None:
            break
        last = line
    process.wait()
    assert last == "finished", process.stderr.read()[-2000:]
