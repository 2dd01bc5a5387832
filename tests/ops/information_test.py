"""`keras_ceb.ops.information` and `catgen`: hard-coded and NumPy-computed expected values."""

import math

import numpy as np
from scipy import special

from keras_ceb.ops import catgen
from keras_ceb.ops import information
from tests.backend_utils import to_numpy


def test_minibatch_bound_identity_matrix_limits():
    # Perfectly separated encoders: log e(z_i|x_j) = 0 on the diagonal, -inf-ish elsewhere.
    b = 8
    pairwise = np.where(np.eye(b), 0.0, -1e4).astype("float32")
    np.testing.assert_allclose(to_numpy(information.minibatch_i_xz_lower_bound(pairwise)),
                               np.full(b, math.log(b)), rtol=1e-6)
    # Identical encoders: the bound is zero.
    np.testing.assert_allclose(
        to_numpy(information.minibatch_i_xz_lower_bound(np.zeros((b, b), "float32"))),
        np.zeros(b), atol=1e-6)


def test_minibatch_bound_matches_numpy():
    pairwise = np.random.default_rng(0).normal(size=(5, 5)) * 3
    expected = np.diag(pairwise) - special.logsumexp(pairwise, axis=1) + np.log(5)
    np.testing.assert_allclose(to_numpy(information.minibatch_i_xz_lower_bound(pairwise.astype("float32"))),
                               expected, rtol=1e-5, atol=1e-5)


def test_catgen_matches_numpy_and_is_bounded():
    pairwise = np.random.default_rng(1).normal(size=(6, 6)) * 2
    expected = np.diag(pairwise - special.logsumexp(pairwise, axis=1, keepdims=True))
    got = to_numpy(catgen.catgen_log_likelihood(pairwise.astype("float32")))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.all(got + math.log(6) <= math.log(6) + 1e-6)


def test_objectives():
    log_e, log_b, log_m, log_c = 1.0, -0.5, -2.0, -0.1
    for rho in (-1.0, 0.0, 2.5):
        ceb = float(to_numpy(information.ceb_loss(log_e, log_b, log_c, rho)))
        assert math.isclose(ceb, math.exp(-rho) * (log_e - log_b) - log_c, rel_tol=1e-6)
        vib = float(to_numpy(information.vib_loss(log_e, log_m, log_c, rho)))
        assert math.isclose(vib, (log_e - log_m) / (math.exp(rho) + 1) - log_c, rel_tol=1e-6)


def test_i_yz_and_consistency():
    log_c = np.log(np.array([0.5, 0.25], "float32"))
    np.testing.assert_allclose(to_numpy(information.i_yz_lower_bound(log_c, 10)),
                               np.log(10) + log_c, rtol=1e-6)
    log_b = np.array([1.0, 2.0], "float32")
    log_m = np.array([0.0, 0.0], "float32")
    expected = abs(1.5 - (np.log(10) + log_c.mean()))
    assert math.isclose(float(to_numpy(information.consistency(log_b, log_m, log_c, 10))), expected,
                        rel_tol=1e-5)
