"""The AR(1) process, its predictive information (against the Gaussian log-determinant formula)
and the exact CEB optimum (against a numerical minimum)."""

import math

import numpy as np
import pytest
from scipy import optimize

from keras_ceb.datasets import ar1_information_bottleneck
from keras_ceb.datasets import ar1_predictive_information
from keras_ceb.datasets import ar1_sequences


def _gaussian_mi(covariance, split):
    """I(X_<t; X_>=t) = 1/2 log(det S_past det S_future / det S) for a Gaussian vector."""
    logdet = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    return 0.5 * (
        logdet(covariance[:split, :split])
        + logdet(covariance[split:, split:])
        - logdet(covariance)
    )


@pytest.mark.parametrize("coefficient", [0.3, -0.6, 0.9])
def test_closed_form_equals_the_log_determinant_formula(coefficient):
    lags = np.abs(np.subtract.outer(np.arange(12), np.arange(12)))
    covariance = coefficient**lags  # the stationary, standardized AR(1)
    for split in (1, 5, 11):
        assert math.isclose(
            _gaussian_mi(covariance, split), ar1_predictive_information(coefficient), rel_tol=1e-9
        )


@pytest.mark.parametrize("coefficient, rho", [(0.9, 0.0), (0.9, 4.0), (-0.5, 1.0), (0.3, 0.0)])
def test_ceb_optimum_minimizes_the_objective(coefficient, rho):
    """The closed form against a numerical minimum of I(X;Z) - (1 + gamma) I(Y;Z) over the
    squared correlation u of z with x_{t-1}."""
    a2, gamma = coefficient**2, math.exp(rho)

    def objective(u):
        return -0.5 * math.log(1 - u) + (1 + gamma) * 0.5 * math.log(1 - a2 * u)

    best = optimize.minimize_scalar(
        objective, bounds=(0.0, 1 - 1e-9), method="bounded", options={"xatol": 1e-12}
    )
    u = best.x if objective(best.x) < objective(0.0) else 0.0
    optimum = ar1_information_bottleneck(coefficient, rho)
    assert math.isclose(optimum["i_xz"], -0.5 * math.log(1 - u), abs_tol=1e-5)
    assert math.isclose(optimum["i_yz"], -0.5 * math.log(1 - a2 * u), abs_tol=1e-5)
    assert optimum["i_yz"] <= ar1_predictive_information(coefficient) <= 1e9
    assert ar1_information_bottleneck(coefficient, 30.0)["i_yz"] == pytest.approx(
        ar1_predictive_information(coefficient), abs=1e-6
    )


def test_sequences_have_the_stationary_statistics():
    x = ar1_sequences(50000, 8, 0.7, seed=0)
    assert x.shape == (50000, 8) and x.dtype == np.float32
    empirical = np.cov(x, rowvar=False)
    lags = np.abs(np.subtract.outer(np.arange(8), np.arange(8)))
    np.testing.assert_allclose(empirical, 0.7**lags, atol=0.03)
    assert abs(_gaussian_mi(empirical, 4) - ar1_predictive_information(0.7)) < 0.02
    raw = ar1_sequences(50000, 3, 0.7, noise_std=2.0, seed=0, standardize=False)
    assert abs(raw.var() - 4.0 / (1 - 0.49)) < 0.2


@pytest.mark.parametrize(
    "call, received",
    [
        (lambda: ar1_predictive_information(1.0), "coefficient=1.0"),
        (lambda: ar1_sequences(10, 0, 0.5), "length=0"),
        (lambda: ar1_sequences(10, 4, 0.5, noise_std=0), "noise_std=0"),
    ],
)
def test_argument_validation(call, received):
    with pytest.raises(ValueError, match=f"Received: {received}$"):
        call()
