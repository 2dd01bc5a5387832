"""`keras_ceb.ops.information` and `catgen`: hard-coded and NumPy-computed expected values."""

import math

import numpy as np
import pytest
from scipy import special
from scipy import stats

from keras_ceb.ops import catgen
from keras_ceb.ops import gaussian
from keras_ceb.ops import information
from tests.backend_utils import to_numpy
from tests.ops.gaussian_test import random_tril


def numpy_minibatch_bound(z, loc, tril, log_e):
    """The bound from the full B x B matrix of scipy densities (the diagonal replaced by log_e)."""
    b = len(z)
    pairwise = np.array(
        [
            [stats.multivariate_normal(loc[j], tril[j] @ tril[j].T).logpdf(z[i]) for j in range(b)]
            for i in range(b)
        ]
    )
    pairwise[np.arange(b), np.arange(b)] = log_e
    return log_e - special.logsumexp(pairwise, axis=1) + np.log(b)


def batch(rng, b, dim=3):
    loc = rng.normal(size=(b, dim)).astype("float32")
    tril = random_tril(rng, b, dim).astype("float32")
    dist = gaussian.Gaussian(loc, tril)
    z, log_e = gaussian.sample_and_log_prob(dist, seed=int(rng.integers(1000)))
    return dist, to_numpy(z), to_numpy(log_e)


def test_minibatch_bound_matches_numpy():
    rng = np.random.default_rng(0)
    dist, z, log_e = batch(rng, 12)
    expected = numpy_minibatch_bound(z, dist.loc, dist.scale, log_e)
    got = to_numpy(information.minibatch_i_xz_lower_bound(z, dist, log_e))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("b,block", [(13, 4), (16, 4), (9, 1), (5, 64)])
def test_minibatch_bound_in_blocks_equals_the_full_matrix(b, block):
    """Blocks of Gaussians (the last one shifted back, overlap masked) give the same bound."""
    rng = np.random.default_rng(b)
    dist, z, log_e = batch(rng, b)
    full = to_numpy(information.minibatch_i_xz_lower_bound(z, dist, log_e, block_size=10_000))
    blocks = to_numpy(information.minibatch_i_xz_lower_bound(z, dist, log_e, block_size=block))
    np.testing.assert_allclose(blocks, full, rtol=1e-5, atol=1e-5)


def test_minibatch_bound_limits():
    """Perfectly separated encoders give log B; identical encoders give 0."""
    b = 8
    separated = gaussian.Gaussian(np.eye(b, dtype="float32") * 100.0, np.ones((b, b), "float32"))
    log_e = to_numpy(gaussian.log_prob(separated, separated.loc))
    np.testing.assert_allclose(
        to_numpy(information.minibatch_i_xz_lower_bound(separated.loc, separated, log_e)),
        np.full(b, math.log(b)),
        rtol=1e-5,
    )
    same = gaussian.Gaussian(np.zeros((b, 2), "float32"), np.ones((b, 2), "float32"))
    z = np.random.default_rng(1).normal(size=(b, 2)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(
            information.minibatch_i_xz_lower_bound(z, same, to_numpy(gaussian.log_prob(same, z)))
        ),
        np.zeros(b),
        atol=1e-5,
    )


def test_catgen_matches_numpy_and_is_bounded():
    pairwise = np.random.default_rng(1).normal(size=(6, 6)) * 2
    expected = np.diag(pairwise - special.logsumexp(pairwise, axis=1, keepdims=True))
    got = to_numpy(catgen.catgen_log_likelihood(pairwise.astype("float32")))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.all(got <= 1e-6)


def test_i_yz_and_consistency():
    log_c = np.log(np.array([0.5, 0.25], "float32"))
    np.testing.assert_allclose(
        to_numpy(information.i_yz_lower_bound(log_c, 10)), np.log(10) + log_c, rtol=1e-6
    )
    log_b = np.array([1.0, 2.0], "float32")
    log_m = np.array([0.0, 0.0], "float32")
    expected = abs(1.5 - (np.log(10) + log_c.mean()))
    assert math.isclose(
        float(to_numpy(information.consistency(log_b, log_m, log_c, 10))), expected, rel_tol=1e-5
    )
