"""`keras_ceb.ops.gaussian` against scipy.stats.multivariate_normal."""

import numpy as np
import pytest
from keras import ops
from scipy import linalg
from scipy import stats

from keras_ceb.ops import gaussian
from tests.backend_utils import float64_enabled
from tests.backend_utils import to_numpy


def random_tril(rng, batch, dim, log_diag_range=(-1.0, 1.0)):
    tril = np.tril(rng.normal(size=(batch, dim, dim)), -1) * 0.5
    diag = np.exp(rng.uniform(*log_diag_range, size=(batch, dim)))
    return tril + np.einsum("bi,ij->bij", diag, np.eye(dim))


def triangular_log_prob(x, loc, tril):
    """Float64 reference: scipy.linalg's triangular solve (scipy.stats refuses condition 1e12)"""
    out = []
    for xi, mi, li in zip(x, loc, tril):
        white = linalg.solve_triangular(li, xi - mi, lower=True)
        out.append(
            -0.5 * white @ white - np.log(np.diag(li)).sum() - 0.5 * len(xi) * np.log(2 * np.pi)
        )
    return np.array(out)


def scipy_log_prob(x, loc, tril):
    return np.array(
        [
            stats.multivariate_normal(loc[i], tril[i] @ tril[i].T).logpdf(x[i])
            for i in range(len(x))
        ]
    )


@pytest.mark.parametrize("dim", [1, 2, 4, 7, 16])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_prob_full_matches_scipy(dim, dtype):
    rng = np.random.default_rng(dim)
    loc = rng.normal(size=(6, dim))
    tril = random_tril(rng, 6, dim)
    x = loc + rng.normal(size=(6, dim))
    expected = scipy_log_prob(x, loc, tril)
    with float64_enabled():
        dist = gaussian.Gaussian(
            ops.convert_to_tensor(loc.astype(dtype)), ops.convert_to_tensor(tril.astype(dtype))
        )
        got = to_numpy(gaussian.log_prob(dist, ops.convert_to_tensor(x.astype(dtype))))
    assert got.dtype == np.dtype(dtype)
    tol = 1e-10 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("dim", [1, 3, 16])
def test_log_prob_diag_matches_scipy(dim):
    rng = np.random.default_rng(0)
    loc, x = rng.normal(size=(5, dim)), rng.normal(size=(5, dim))
    scale = np.exp(rng.uniform(-1, 1, size=(5, dim)))
    expected = [
        stats.multivariate_normal(loc[i], np.diag(scale[i] ** 2)).logpdf(x[i]) for i in range(5)
    ]
    got = to_numpy(
        gaussian.log_prob(
            gaussian.Gaussian(loc.astype("float32"), scale.astype("float32")), x.astype("float32")
        )
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_log_prob_ill_conditioned_float64():
    """Scales spanning six orders of magnitude: the triangular solve stays exact in float64."""
    rng = np.random.default_rng(3)
    dim = 8
    tril = random_tril(rng, 4, dim, log_diag_range=(np.log(1e-3), np.log(1e3)))
    loc = rng.normal(size=(4, dim))
    x = loc + np.einsum("bij,bj->bi", tril, rng.normal(size=(4, dim)))
    expected = triangular_log_prob(x, loc, tril)
    with float64_enabled():
        got = to_numpy(
            gaussian.log_prob(
                gaussian.Gaussian(ops.convert_to_tensor(loc), ops.convert_to_tensor(tril)),
                ops.convert_to_tensor(x),
            )
        )
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_log_prob_ill_conditioned_float32_is_finite_and_close():
    """Scales over four orders of magnitude in float32.

    A triangular solve's forward error grows like cond(L) * eps (1e4 * 6e-8 here), so the
    tolerance is set by float32 itself; float64 is exact (test above).
    """
    rng = np.random.default_rng(4)
    dim = 6
    tril = random_tril(rng, 16, dim, log_diag_range=(np.log(1e-2), np.log(1e2)))
    loc = rng.normal(size=(16, dim))
    x = loc + np.einsum("bij,bj->bi", tril, rng.normal(size=(16, dim)))
    x, loc, tril = x.astype("float32"), loc.astype("float32"), tril.astype("float32")
    # Reference on the same float32 inputs, so only the computation's own error is measured.
    expected = triangular_log_prob(*(a.astype("float64") for a in (x, loc, tril)))
    got = to_numpy(gaussian.log_prob(gaussian.Gaussian(loc, tril), x))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("covariance", ["full", "diag"])
@pytest.mark.parametrize("n,m,dim", [(1, 1, 1), (9, 5, 4), (3, 240, 4), (7, 2, 16)])
def test_pairwise_log_prob_matches_scipy(covariance, n, m, dim):
    rng = np.random.default_rng(n * 100 + m)
    x, loc = rng.normal(size=(n, dim)), rng.normal(size=(m, dim))
    if covariance == "full":
        tril = random_tril(rng, m, dim)
        scale = tril
    else:
        diag = np.exp(rng.uniform(-1, 1, size=(m, dim)))
        tril = np.einsum("bi,ij->bij", diag, np.eye(dim))
        scale = diag
    expected = np.array(
        [
            [stats.multivariate_normal(loc[j], tril[j] @ tril[j].T).logpdf(x[i]) for j in range(m)]
            for i in range(n)
        ]
    )
    got = to_numpy(
        gaussian.pairwise_log_prob(
            x.astype("float32"), gaussian.Gaussian(loc.astype("float32"), scale.astype("float32"))
        )
    )
    assert got.shape == (n, m)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


def test_pairwise_equals_broadcast_log_prob():
    rng = np.random.default_rng(5)
    x, loc = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    tril = random_tril(rng, 4, 3).astype("float32")
    pairwise = to_numpy(
        gaussian.pairwise_log_prob(
            x.astype("float32"), gaussian.Gaussian(loc.astype("float32"), tril)
        )
    )
    broadcast = to_numpy(
        gaussian.log_prob(
            gaussian.Gaussian(loc[None].astype("float32"), tril[None]),
            x[:, None].astype("float32"),
        )
    )
    np.testing.assert_allclose(pairwise, broadcast, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_scale_from_params_is_valid(covariance):
    dim = 5
    params = (
        np.random.default_rng(0).normal(size=(7, gaussian.num_scale_params(dim, covariance))) * 5
    )
    scale = to_numpy(
        gaussian.scale_from_params(params.astype("float32"), dim, covariance, min_scale=1e-4)
    )
    if covariance == "full":
        assert scale.shape == (7, dim, dim)
        np.testing.assert_array_equal(np.triu(scale, 1), 0.0)
        diag = np.diagonal(scale, axis1=-2, axis2=-1)
    else:
        assert scale.shape == (7, dim)
        diag = scale
    assert np.all(diag >= 1e-4)


def test_scale_from_zero_params_is_identity():
    scale = to_numpy(gaussian.scale_from_params(np.zeros((10,), "float32"), 4, min_scale=0.0))
    np.testing.assert_allclose(scale, np.eye(4), atol=1e-6)


def test_scale_from_params_fills_rows_in_order():
    # 3x3 tril from (d0, l10, d1, l20, l21, d2) in row-major tril order.
    params = np.array([0.0, 2.0, 0.0, 3.0, 4.0, 0.0], "float32")
    scale = to_numpy(gaussian.scale_from_params(params, 3, min_scale=0.0))
    np.testing.assert_allclose(scale[np.tril_indices(3, -1)], [2.0, 3.0, 4.0])


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_sample_moments(covariance):
    """Mean and covariance of 10^5 reparameterized samples, within ~5 standard errors."""
    rng = np.random.default_rng(6)
    dim, n = 3, 100_000
    loc = rng.normal(size=(dim,)).astype("float32")
    if covariance == "full":
        tril = random_tril(rng, 1, dim)[0].astype("float32")
        scale = np.broadcast_to(tril, (n, dim, dim))
        cov = tril @ tril.T
    else:
        diag = np.exp(rng.uniform(-1, 1, size=dim)).astype("float32")
        scale = np.broadcast_to(diag, (n, dim))
        cov = np.diag(diag**2)
    samples = to_numpy(
        gaussian.sample(gaussian.Gaussian(np.broadcast_to(loc, (n, dim)), scale), seed=1)
    )
    std_err = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(samples.mean(0) - loc) < 5 * std_err)
    # Var of a sample covariance entry is (s_ii s_jj + s_ij^2) / n.
    cov_se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(np.cov(samples.T) - cov) < 5 * cov_se)


def test_entropy_matches_scipy():
    rng = np.random.default_rng(7)
    tril = random_tril(rng, 3, 4)
    expected = [stats.multivariate_normal(np.zeros(4), t @ t.T).entropy() for t in tril]
    dist = gaussian.Gaussian(np.zeros((3, 4), "float32"), tril.astype("float32"))
    np.testing.assert_allclose(to_numpy(gaussian.entropy(dist)), expected, rtol=1e-5)


def test_covariance():
    tril = random_tril(np.random.default_rng(8), 2, 3).astype("float32")
    np.testing.assert_allclose(
        to_numpy(gaussian.covariance(gaussian.Gaussian(np.zeros((2, 3), "float32"), tril))),
        tril @ np.swapaxes(tril, -1, -2),
        rtol=1e-5,
    )
    diag = np.array([[1.0, 2.0, 3.0]], "float32")
    np.testing.assert_allclose(
        to_numpy(gaussian.covariance(gaussian.Gaussian(np.zeros((1, 3), "float32"), diag))),
        np.diag([1.0, 4.0, 9.0])[None],
        rtol=1e-6,
    )


def test_covariance_type_follows_the_rank_of_scale():
    full = gaussian.Gaussian(np.zeros((5, 3), "float32"), np.zeros((5, 3, 3), "float32"))
    diag = gaussian.Gaussian(np.zeros((5, 3), "float32"), np.ones((5, 3), "float32"))
    assert (full.covariance_type, diag.covariance_type, full.dim) == ("full", "diag", 3)


def test_log_prob_at_mean_is_the_density_at_loc():
    rng = np.random.default_rng(10)
    loc, tril = rng.normal(size=(4, 3)).astype("float32"), random_tril(rng, 4, 3).astype("float32")
    dist = gaussian.Gaussian(loc, tril)
    np.testing.assert_allclose(
        to_numpy(gaussian.log_prob_at_mean(dist)), scipy_log_prob(loc, loc, tril), rtol=1e-5
    )


def test_take_gathers_per_example_gaussians():
    classes = gaussian.Gaussian(
        np.arange(6, dtype="float32").reshape(3, 2), np.ones((3, 2), "float32")
    )
    picked = gaussian.take(classes, np.array([2, 0, 2]))
    np.testing.assert_array_equal(to_numpy(picked.loc), [[4, 5], [0, 1], [4, 5]])


def test_unknown_covariance():
    with pytest.raises(ValueError, match="covariance='banana'"):
        gaussian.num_scale_params(3, "banana")


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_sample_and_log_prob_agrees_with_log_prob(covariance):
    rng = np.random.default_rng(9)
    loc = rng.normal(size=(64, 3)).astype("float32")
    if covariance == "full":
        scale = random_tril(rng, 64, 3).astype("float32")
    else:
        scale = np.exp(rng.uniform(-1, 1, size=(64, 3))).astype("float32")
    dist = gaussian.Gaussian(loc, scale)
    z, log_p = gaussian.sample_and_log_prob(dist, seed=3)
    np.testing.assert_allclose(
        to_numpy(log_p), to_numpy(gaussian.log_prob(dist, z)), rtol=1e-4, atol=1e-4
    )


def test_sample_log_prob_stays_finite_when_ill_conditioned():
    """Diagonal 1e-4 beside off-diagonal 1e2: no solve, so the log-density stays exact."""
    tril = np.array([[1e-4, 0.0], [1e2, 1e-4]], "float32")[None].repeat(16, 0)
    z, log_p = gaussian.sample_and_log_prob(
        gaussian.Gaussian(np.zeros((16, 2), "float32"), tril), seed=0
    )
    log_p = to_numpy(log_p)
    assert np.all(np.isfinite(log_p))
    assert np.all(log_p > -2 * np.log(1e-4) - np.log(2 * np.pi) - 50)


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_kl_divergence_matches_the_closed_form_in_numpy(covariance):
    rng = np.random.default_rng(0)
    dim = 3
    if covariance == "full":
        tril_p, tril_q = random_tril(rng, 5, dim), random_tril(rng, 5, dim)
    else:
        tril_p, tril_q = (
            np.apply_along_axis(np.diag, -1, np.exp(rng.uniform(-1, 1, (5, dim))))
            for _ in range(2)
        )
    loc_p, loc_q = rng.normal(size=(5, dim)), rng.normal(size=(5, dim))
    expected = []
    for lp, lq, mp, mq in zip(tril_p, tril_q, loc_p, loc_q):
        sp, sq = lp @ lp.T, lq @ lq.T
        diff = mq - mp
        expected.append(
            0.5
            * (
                np.trace(np.linalg.solve(sq, sp))
                + diff @ np.linalg.solve(sq, diff)
                - dim
                + np.log(np.linalg.det(sq) / np.linalg.det(sp))
            )
        )

    def as_gaussian(loc, tril):
        scale = tril if covariance == "full" else np.diagonal(tril, axis1=-2, axis2=-1)
        return gaussian.Gaussian(
            ops.convert_to_tensor(loc, "float32"),
            ops.convert_to_tensor(np.ascontiguousarray(scale), "float32"),
        )

    kl = to_numpy(gaussian.kl_divergence(as_gaussian(loc_p, tril_p), as_gaussian(loc_q, tril_q)))
    np.testing.assert_allclose(kl, expected, rtol=1e-4, atol=1e-5)
    # KL(p || p) = 0, and a full p against a diagonal q is refused.
    same = to_numpy(gaussian.kl_divergence(as_gaussian(loc_p, tril_p), as_gaussian(loc_p, tril_p)))
    np.testing.assert_allclose(same, 0.0, atol=1e-4)
    mixed = gaussian.Gaussian(
        ops.zeros((5, dim)),
        ops.ones((5, dim)) if covariance == "full" else ops.ones((5, dim, dim)),
    )
    with pytest.raises(ValueError, match="both be full or both be diagonal"):
        gaussian.kl_divergence(as_gaussian(loc_p, tril_p), mixed)
