"""Model-based OoD scores: the rate, the classifier entropy, Monte Carlo averaging."""

import warnings

import keras
import numpy as np
import pytest

import keras_ceb
from tests.scenarios_test import blobs
from tests.scenarios_test import scenario_a
from tests.scenarios_test import scenario_b


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    x, y = blobs(512)
    model = scenario_a()
    model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    return model, x, y


def test_rate_separates_far_inputs(trained):
    model, x, _ = trained
    rate_in = keras_ceb.evaluation.rate_scores(model, x[:200])
    rate_out = keras_ceb.evaluation.rate_scores(model, x[:200] * 8.0)
    assert rate_in.shape == (200,) and np.all(np.isfinite(rate_in))
    metrics = keras_ceb.evaluation.ood_metrics(rate_in, rate_out, higher_is_in_distribution=False)
    assert metrics["auroc"] > 0.9, metrics


def test_rate_at_the_mean_is_deterministic_and_the_default(trained):
    model, x, _ = trained
    first = keras_ceb.evaluation.rate_scores(model, x[:64])
    np.testing.assert_array_equal(first, keras_ceb.evaluation.rate_scores(model, x[:64]))
    np.testing.assert_array_equal(
        first, keras_ceb.evaluation.rate_scores(model, x[:64], estimator="mean")
    )


def test_averaging_over_samples_reduces_variance(trained):
    model, x, _ = trained
    one = [keras_ceb.evaluation.rate_scores(model, x[:64], estimator="sample") for _ in range(4)]
    many = [keras_ceb.evaluation.rate_scores(model, x[:64], num_samples=16) for _ in range(4)]
    assert 0 < np.mean(np.var(many, axis=0)) < np.mean(np.var(one, axis=0))


def test_entropy_follows_the_same_estimator(trained):
    model, x, _ = trained
    at_mean = keras_ceb.evaluation.ood_scores(model, x[:32])
    np.testing.assert_array_equal(
        at_mean["entropy"], keras_ceb.evaluation.ood_scores(model, x[:32])["entropy"]
    )
    sampled = keras_ceb.evaluation.ood_scores(model, x[:32], estimator="sample")
    assert not np.allclose(sampled["entropy"], at_mean["entropy"])
    rows = keras_ceb.evaluation.evaluate_ood(model, x[:32], {"far": x[32:64] * 8.0}, num_samples=2)
    assert {r["estimator"] for r in rows} == {"sample"}


def test_ood_scores_and_report(trained):
    model, x, _ = trained
    scores = keras_ceb.evaluation.ood_scores(model, x[:100], num_samples=2)
    assert set(scores) == {"rate", "entropy", "max_softmax", "max_logit", "energy"}
    assert np.all(scores["entropy"] >= 0) and np.all(scores["entropy"] <= np.log(4) + 1e-9)
    rows = keras_ceb.evaluation.evaluate_ood(model, x[:100], {"far": x[100:200] * 8.0})
    assert {r["score"] for r in rows} == {"rate", "entropy", "max_softmax", "max_logit", "energy"}
    assert all(0.0 <= r["auroc"] <= 1.0 for r in rows)


def test_sampling_at_inference_restores_mode(trained):
    model, x, _ = trained
    encoder = keras_ceb.rho.encoders(model)[0]
    with keras_ceb.inference.sampling_at_inference(model):
        assert encoder.inference == "sample"
        a, b = model(x[:8]), model(x[:8])
        assert not np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert encoder.inference == "mean"


def test_rate_needs_a_marginal():
    model = keras.Sequential(
        [keras.Input((16,)), keras_ceb.StochasticEncoder(2), keras_ceb.BackwardEncoder(4)]
    )
    with pytest.raises(ValueError, match="no CEB or VIB StochasticEncoder with a marginal"):
        keras_ceb.evaluation.rate_scores(model, np.zeros((4, 16), "float32"))
    # Without a marginal, ood_scores simply has no rate.
    assert "rate" not in keras_ceb.evaluation.ood_scores(model, np.zeros((4, 16), "float32"))


def test_vib_model_has_a_rate():
    model = scenario_b()
    rate = keras_ceb.evaluation.rate_scores(model, blobs(32)[0])
    assert rate.shape == (32,) and np.all(np.isfinite(rate))


def test_bad_num_samples(trained):
    model, x, _ = trained
    with pytest.raises(ValueError, match="num_samples=0"):
        keras_ceb.evaluation.rate_scores(model, x[:4], num_samples=0)


def test_a_score_that_separates_the_wrong_way_is_warned_about_in_one_line(trained):
    model, x, _ = trained
    # In-distribution inputs scored against themselves scaled down: the rate ranks the
    # shrunken set as more in-distribution than the real one.
    with pytest.warns(keras_ceb.evaluation.InvertedScoreWarning) as caught:
        rows = keras_ceb.evaluation.evaluate_ood(
            model, x[:100] * 8.0, {"inside": x[:100]}, scores=["rate"]
        )
    assert rows[0]["auroc"] < 0.5
    message = str(caught[0].message)
    assert "\n" not in message and "'rate'" in message and "'inside'" in message, message
    with warnings.catch_warnings():
        warnings.simplefilter("error", keras_ceb.evaluation.InvertedScoreWarning)
        keras_ceb.evaluation.evaluate_ood(model, x[:100], {"far": x[:100] * 8.0}, scores=["rate"])


def test_tune_objective_warns_too(trained):
    model, x, y = trained
    from keras_ceb.tuning import objectives

    with pytest.warns(keras_ceb.evaluation.InvertedScoreWarning):
        scores = objectives.held_out_scores(
            model, x[:64] * 8.0, y[:64], ood_x=x[:64], batch_size=32
        )
    assert scores["ood_auroc"] < 0.5


def _image_model(*preprocessing):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            *preprocessing,
            keras.layers.Flatten(),
            keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )


def test_raw_pixels_are_warned_about_unless_the_model_rescales():
    pixels = np.random.default_rng(0).integers(0, 256, (8, 4, 4, 1)).astype("uint8")
    model = _image_model()
    with pytest.warns(keras_ceb.evaluation.RawPixelsWarning, match=r"`x`.*uint8.*255"):
        keras_ceb.evaluation.rate_scores(model, pixels)
    with pytest.warns(keras_ceb.evaluation.RawPixelsWarning, match=r"ood_sets\['raw'\]"):
        keras_ceb.evaluation.evaluate_ood(
            model, pixels / 255.0, {"raw": pixels * 1.0}, scores=["rate"]
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", keras_ceb.evaluation.RawPixelsWarning)
        warnings.simplefilter("ignore", keras_ceb.evaluation.InvertedScoreWarning)
        keras_ceb.evaluation.ood_scores(model, pixels / 255.0)
        rescaling = _image_model(keras.layers.Rescaling(1 / 255))
        keras_ceb.evaluation.rate_scores(rescaling, pixels)
        standardized = np.random.default_rng(1).normal(size=(8, 4, 4, 1)).astype("float32")
        keras_ceb.evaluation.rate_scores(model, standardized * 3)
