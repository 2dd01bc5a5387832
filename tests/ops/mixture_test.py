"""`keras_ceb.ops.mixture` against a direct scipy computation."""

import numpy as np
import pytest
from scipy import special
from scipy import stats

from keras_ceb.ops import gaussian
from keras_ceb.ops import mixture
from tests.backend_utils import float64_enabled
from tests.backend_utils import to_numpy
from tests.ops.gaussian_test import random_tril


def reference(x, logits, loc, tril):
    log_w = logits - special.logsumexp(logits)
    comps = np.stack(
        [
            stats.multivariate_normal(loc[k], tril[k] @ tril[k].T).logpdf(x)
            for k in range(len(loc))
        ],
        axis=-1,
    ).reshape(len(x), len(loc))
    return special.logsumexp(comps + log_w, axis=-1)


@pytest.mark.parametrize("k,dim", [(1, 1), (3, 2), (240, 4), (17, 16)])
def test_mixture_matches_scipy(k, dim):
    rng = np.random.default_rng(k + dim)
    x = rng.normal(size=(32, dim)) * 2
    logits, loc, tril = rng.normal(size=k), rng.normal(size=(k, dim)), random_tril(rng, k, dim)
    with float64_enabled():
        got = to_numpy(mixture.mixture_log_prob(x, logits, gaussian.Gaussian(loc, tril)))
    np.testing.assert_allclose(got, reference(x, logits, loc, tril), rtol=1e-9)


def test_mixture_float32_far_from_all_components_is_finite():
    """logsumexp keeps points 1e3 standard deviations away finite."""
    rng = np.random.default_rng(1)
    loc = rng.normal(size=(240, 4)).astype("float32")
    tril = random_tril(rng, 240, 4).astype("float32")
    x = np.full((4, 4), 1e3, "float32")
    got = to_numpy(
        mixture.mixture_log_prob(x, np.zeros(240, "float32"), gaussian.Gaussian(loc, tril))
    )
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(
        got,
        reference(x.astype(float), np.zeros(240), loc.astype(float), tril.astype(float)),
        rtol=1e-4,
    )


def test_single_component_equals_gaussian():
    rng = np.random.default_rng(2)
    x, loc, tril = rng.normal(size=(5, 3)), rng.normal(size=(1, 3)), random_tril(rng, 1, 3)
    expected = stats.multivariate_normal(loc[0], tril[0] @ tril[0].T).logpdf(x)
    got = to_numpy(
        mixture.mixture_log_prob(
            x.astype("float32"),
            np.zeros(1, "float32"),
            gaussian.Gaussian(loc.astype("float32"), tril.astype("float32")),
        )
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5)
