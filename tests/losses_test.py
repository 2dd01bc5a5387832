"""`keras_ceb.losses`: each objective against the paper's equations, computed in NumPy."""

import math

import numpy as np
import pytest
from scipy import special

from keras_ceb import losses
from tests.backend_utils import to_numpy

RHOS = (-1.0, 0.0, 2.5)


@pytest.mark.parametrize("rho", RHOS)
def test_vceb_and_vib_are_eq_15_and_18(rho):
    log_e, log_b, log_m, log_c = 1.0, -0.5, -2.0, -0.1
    assert math.isclose(
        float(to_numpy(losses.vceb(log_e, log_b, log_c, rho))),
        math.exp(-rho) * (log_e - log_b) - log_c,
        rel_tol=1e-6,
    )
    assert math.isclose(
        float(to_numpy(losses.vib(log_e, log_m, log_c, rho))),
        (log_e - log_m) / (math.exp(rho) + 1) - log_c,
        rel_tol=1e-6,
    )


@pytest.mark.parametrize("rho", RHOS)
def test_consistent_classifier_term_plus_cross_entropy_is_scaled_vceb(rho):
    """sigmoid(-rho) (log e - lse log b) + CE(softmax log b) = VCEB / (1 + exp(-rho))."""
    rng = np.random.default_rng(0)
    log_e = rng.normal(size=16)
    class_log_b = rng.normal(size=(16, 5)) * 3
    labels = rng.integers(0, 5, size=16)
    log_b_y = class_log_b[np.arange(16), labels]
    log_c = log_b_y - special.logsumexp(class_log_b, axis=-1)
    vceb = math.exp(-rho) * (log_e - log_b_y) - log_c
    term = to_numpy(
        losses.consistent_classifier_term(
            log_e.astype("float32"), class_log_b.astype("float32"), rho
        )
    )
    np.testing.assert_allclose(term - log_c, vceb / (1 + math.exp(-rho)), rtol=1e-4, atol=1e-4)


def test_residual_and_rate_terms():
    np.testing.assert_allclose(
        to_numpy(losses.residual_term(2.0, 0.5, 1.0)), math.exp(-1) * 1.5, rtol=1e-6
    )
    np.testing.assert_allclose(
        to_numpy(losses.rate_term(3.0, 1.0, 1.0)), 2 / (math.e + 1), rtol=1e-6
    )


@pytest.mark.parametrize("rho", RHOS)
def test_catgen_term_is_one_direction_of_eq_26(rho):
    rng = np.random.default_rng(1)
    log_e = rng.normal(size=6)
    pairwise_b = rng.normal(size=(6, 6)) * 2
    log_c = np.diag(pairwise_b - special.logsumexp(pairwise_b, axis=1, keepdims=True))
    expected = math.exp(-rho) * (log_e - np.diag(pairwise_b)) - log_c
    got = to_numpy(losses.catgen_term(log_e.astype("float32"), pairwise_b.astype("float32"), rho))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_per_example_rho_broadcasts():
    rho = np.array([0.0, 1.0], "float32")
    np.testing.assert_allclose(
        to_numpy(losses.residual_term(np.ones(2, "float32"), np.zeros(2, "float32"), rho)),
        np.exp(-rho),
        rtol=1e-6,
    )


def test_gradient_only_has_zero_value():
    assert float(to_numpy(losses.gradient_only(np.float32(3.0)))) == 0.0
