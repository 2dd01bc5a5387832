"""The OoD baselines: max-logit, energy, Mahalanobis and KNN, checked against independent
computations (scipy, scikit-learn) on fixed data, and wired into `evaluate_ood`."""

import keras
import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.covariance import EmpiricalCovariance
from sklearn.neighbors import NearestNeighbors

import keras_ceb
from keras_ceb.evaluation import FeatureDetectors
from keras_ceb.evaluation import KNNDetector
from keras_ceb.evaluation import MahalanobisDetector
from tests.scenarios_test import blobs
from tests.scenarios_test import scenario_a


def data(seed=0, n=600, d=6, classes=4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(scale=3.0, size=(classes, d))
    mixing = rng.normal(size=(d, d))
    return centres[labels] + rng.normal(size=(n, d)) @ mixing, labels, rng


def test_logit_scores_match_scipy():
    logits = np.random.default_rng(0).normal(scale=4.0, size=(50, 7))
    np.testing.assert_allclose(keras_ceb.evaluation.max_logit_score(logits), logits.max(1))
    np.testing.assert_allclose(keras_ceb.evaluation.energy_score(logits), logsumexp(logits, 1))
    np.testing.assert_allclose(
        keras_ceb.evaluation.energy_score(logits, temperature=2.5),
        2.5 * logsumexp(logits / 2.5, 1),
    )
    # Stable where a naive exp overflows.
    big = np.array([[1000.0, 999.0]])
    np.testing.assert_allclose(
        keras_ceb.evaluation.energy_score(big), [1000 + np.log1p(np.exp(-1.0))]
    )
    with pytest.raises(ValueError, match="temperature=0"):
        keras_ceb.evaluation.energy_score(logits, temperature=0)


def test_mahalanobis_matches_sklearn():
    train, labels, rng = data()
    test = rng.normal(scale=3.0, size=(80, 6))
    detector = MahalanobisDetector().fit(train, labels)
    # The oracle: one EmpiricalCovariance on the class-centred features, scikit-learn's
    # `mahalanobis` (squared distances) to each class mean.
    means = np.stack([train[labels == c].mean(0) for c in range(4)])
    oracle = EmpiricalCovariance(assume_centered=True).fit(train - means[labels])
    expected = -np.min([oracle.mahalanobis(test - m) for m in means], axis=0)
    np.testing.assert_allclose(detector.score(test), expected, rtol=1e-8)


@pytest.mark.parametrize("k", [1, 10])
def test_knn_matches_sklearn(k):
    train, _, rng = data(1)
    test = rng.normal(scale=3.0, size=(70, 6))
    detector = KNNDetector(k=k, chunk=16).fit(train)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    distances, _ = NearestNeighbors(n_neighbors=k).fit(unit(train)).kneighbors(unit(test))
    np.testing.assert_allclose(detector.score(test), -distances[:, -1], atol=1e-6)


def test_detectors_refuse_to_score_unfitted_and_save_round_trip(tmp_path):
    train, labels, _ = data()
    for detector in (MahalanobisDetector(), KNNDetector(k=3)):
        with pytest.raises(ValueError, match="fit"):
            detector.score(train[:2])
        detector.fit(train, labels)
        path = tmp_path / f"{type(detector).__name__}.npz"
        detector.save(path)
        loaded = type(detector).load(path)
        np.testing.assert_array_equal(loaded.score(train[:20]), detector.score(train[:20]))
        with pytest.raises(ValueError, match="dimensions"):
            detector.score(train[:2, :3])
    with pytest.raises(ValueError, match="not a saved KNNDetector"):
        KNNDetector.load(tmp_path / "MahalanobisDetector.npz")
    with pytest.raises(ValueError, match="k=700"):
        KNNDetector(k=700).fit(train)
    with pytest.raises(ValueError, match="labels"):
        MahalanobisDetector().fit(train, labels.astype(float))


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    x, y = blobs(512)
    model = scenario_a()
    model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    return model, x, y


def test_feature_detectors_on_a_model(trained):
    model, x, y = trained
    detectors = FeatureDetectors(k=10).fit(model, x[:400], y[:400])
    arrays = keras_ceb.evaluation.feature_arrays(model, x[400:])
    scores = detectors.scores(model, x[400:])
    assert set(scores) == set(FeatureDetectors.SCORES)
    np.testing.assert_allclose(
        scores["knn_z"],
        KNNDetector(10)
        .fit(keras_ceb.evaluation.feature_arrays(model, x[:400])["z"])
        .score(arrays["z"]),
    )
    # Far inputs: another region of input space (scaling x would not do: KNN normalizes).
    far = detectors.scores(
        model, np.random.default_rng(1).normal(3.0, 1.0, size=x[400:].shape).astype("float32")
    )
    for name in FeatureDetectors.SCORES:
        metrics = keras_ceb.evaluation.ood_metrics(
            scores[name], far[name], higher_is_in_distribution=True
        )
        assert metrics["auroc"] > 0.9, (name, metrics)


def test_evaluate_ood_reports_every_score(trained):
    model, x, y = trained
    rows = keras_ceb.evaluation.evaluate_ood(
        model, x[400:], {"far": x[400:] * 8.0}, reference=(x[:400], y[:400])
    )
    assert {r["score"] for r in rows} == set(keras_ceb.evaluation.SCORE_DIRECTIONS)
    assert all({"fpr_at_95_tpr", "auroc", "aupr_in", "aupr_out"} <= set(r) for r in rows)
    with pytest.raises(ValueError, match="reference=None"):
        keras_ceb.evaluation.evaluate_ood(
            model, x[400:], {"far": x[400:] * 8.0}, scores=["rate", "knn"]
        )
    only = keras_ceb.evaluation.evaluate_ood(
        model, x[400:], {"far": x[400:] * 8.0}, scores=["energy"]
    )
    assert [r["score"] for r in only] == ["energy"]
    with pytest.raises(ValueError, match="scores="):
        keras_ceb.evaluation.evaluate_ood(model, x[400:], {"far": x}, scores=["odin"])


def test_sampled_logit_scores_average_the_draws(trained):
    model, x, _ = trained
    mean = keras_ceb.evaluation.ood_scores(model, x[:64])
    sampled = keras_ceb.evaluation.ood_scores(model, x[:64], num_samples=16)
    for name in ("max_logit", "energy"):
        assert np.all(np.isfinite(sampled[name]))
        assert not np.allclose(sampled[name], mean[name])
        # The average over draws of z tracks the value at the mean.
        assert np.corrcoef(sampled[name], mean[name])[0, 1] > 0.5


def test_standard_sets_and_groups():
    x = np.random.default_rng(0).uniform(size=(10, 28, 28, 1)).astype("float32")
    sets = keras_ceb.evaluation.standard_ood_sets(
        x, seed=0, mnist_x=np.zeros((5, 28, 28), "uint8")
    )
    assert list(sets) == ["vertical_flip", "rotate_90", "mnist", "uniform_noise", "gaussian_noise"]
    np.testing.assert_array_equal(sets["rotate_90"][:, :, :, 0], np.rot90(x[..., 0], 1, (1, 2)))
    noise = sets["gaussian_noise"]
    assert noise.min() >= 0 and noise.max() <= 1 and abs(noise.mean() - x.mean()) < 0.05
    assert abs(np.corrcoef(noise.ravel(), sets["uniform_noise"].ravel())[0, 1]) < 0.05
    rows = [{"ood_set": name, "score": "rate", "auroc": float(i)} for i, name in enumerate(sets)]
    groups = keras_ceb.evaluation.group_averages(rows, metrics=("auroc",))
    assert groups == [
        {"group": "near", "score": "rate", "num_sets": 2, "auroc": 0.5},
        {"group": "far", "score": "rate", "num_sets": 3, "auroc": 3.0},
    ]
    with pytest.raises(ValueError, match="square"):
        keras_ceb.evaluation.rotate_90(np.zeros((2, 3, 4, 1)))
