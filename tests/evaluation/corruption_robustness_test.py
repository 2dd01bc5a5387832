"""Tests of `evaluate_corruptions`, `mean_corruption_error` and the report: the severity order
on a plain trained model, the mCE against hand-computed values, and the shift AUROC."""

import math

import keras
import numpy as np
import pytest

import keras_ceb
from keras_ceb import evaluation
from keras_ceb.datasets import load_mnist_test


@pytest.fixture(scope="module")
def mnist_model():
    """Logistic regression on 6,000 MNIST test images (the copy shipped with keras_ceb), and
    1,000 held-out images to corrupt."""
    x, y = load_mnist_test(download=False)
    x = np.asarray(x, "float32").reshape(-1, 28, 28, 1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model.compile(
        keras.optimizers.Adam(0.005),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x[:6000], y[:6000], epochs=3, batch_size=128, verbose=0)
    return model, x[9000:], np.asarray(y[9000:])


@pytest.mark.long
def test_a_stronger_severity_lowers_a_plain_models_accuracy(mnist_model):
    """The mean over corruptions falls at every severity, and every corruption at severity 5
    costs accuracy against severity 1, but two: the elastic transform, whose CIFAR-10-C
    parameters shrink the affine warp as severity grows (measured: 0.680 at severity 1, 0.802
    at 5), and shot noise, which leaves MNIST's black background black (Poisson(0) = 0) and
    saturated strokes near 1 (measured: 0.861 at both)."""
    model, x, y = mnist_model
    result = evaluation.evaluate_corruptions(model, x, y, seed=0)
    mean = np.mean(list(result["accuracy"].values()), axis=0)
    assert np.all(np.diff(mean) < 0), mean
    assert mean[0] < result["clean_accuracy"]
    for name, accuracy in result["accuracy"].items():
        if name == "shot_noise":
            assert abs(accuracy[4] - accuracy[0]) <= 0.01, accuracy
        elif name != "elastic_transform":
            assert accuracy[4] < accuracy[0], (name, accuracy)
    # The classifier's confidence sees the stronger shifts better.
    shift = result["mean_shift_auroc"]["max_softmax"]
    assert shift[4] > shift[0] > 0.5


def test_evaluate_corruptions_result(mnist_model):
    model, x, y = mnist_model
    x, y = x[:200], y[:200]
    one_hot = keras.utils.to_categorical(y, 10)
    result = evaluation.evaluate_corruptions(
        model, x, one_hot, seed=3, corruptions=["contrast", "fog"], severities=[1, 5]
    )
    assert result["corruptions"] == ["contrast", "fog"] and result["severities"] == [1, 5]
    assert result["num_examples"] == 200 and result["seed"] == 3
    predicted = np.argmax(model.predict(x, verbose=0), axis=-1)
    assert result["clean_accuracy"] == pytest.approx(np.mean(predicted == y))
    fog = evaluation.corrupt(x, "fog", 5, seed=3)
    fog_accuracy = np.mean(np.argmax(model.predict(fog, verbose=0), axis=-1) == y)
    assert result["accuracy"]["fog"][1] == pytest.approx(fog_accuracy)
    assert result["mean_accuracy"] == pytest.approx(
        np.mean(result["accuracy"]["contrast"] + result["accuracy"]["fog"])
    )
    assert set(result["shift_auroc"]) == {"entropy", "max_softmax", "max_logit", "energy"}
    for per_corruption in result["shift_auroc"].values():
        assert all(0 <= a <= 1 for values in per_corruption.values() for a in values)
    assert result["mean_shift_auroc"]["entropy"][1] == pytest.approx(
        np.mean([result["shift_auroc"]["entropy"][c][1] for c in ("contrast", "fog")])
    )


def test_the_rate_is_followed_for_a_ceb_model():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )
    x = np.random.default_rng(0).random((32, 8, 8, 1), dtype="float32")
    result = evaluation.evaluate_corruptions(
        model, x, np.zeros(32, int), seed=0, corruptions=["contrast"], scores=["rate"]
    )
    assert list(result["shift_auroc"]) == ["rate"]
    assert 0 <= result["shift_auroc"]["rate"]["contrast"][0] <= 1
    assert "rate AUROC s1" in evaluation.format_corruption_report(result)


def test_evaluate_corruptions_errors(mnist_model):
    model, x, y = mnist_model
    with pytest.raises(ValueError, match=r"`y` must hold one label .* \(1000\)"):
        evaluation.evaluate_corruptions(model, x, y[:10], seed=0)
    with pytest.raises(ValueError, match=r"`scores` must name scores this model has"):
        evaluation.evaluate_corruptions(model, x[:10], y[:10], seed=0, scores=["rate"])
    with pytest.raises(ValueError, match="`severity` must be an int in 1..5"):
        evaluation.evaluate_corruptions(model, x[:10], y[:10], seed=0, severities=[0])


def _result(clean, accuracy, severities=(1, 2)):
    return {
        "corruptions": list(accuracy),
        "severities": list(severities),
        "clean_accuracy": clean,
        "accuracy": accuracy,
    }


def test_mean_corruption_error_by_hand():
    model = _result(0.9, {"fog": [0.8, 0.6], "snow": [0.85, 0.85]})
    determ = _result(0.95, {"fog": [0.7, 0.5], "snow": [0.9, 0.8]})
    errors = evaluation.mean_corruption_error(model, determ)
    # fog: (0.2 + 0.4) / (0.3 + 0.5); snow: (0.15 + 0.15) / (0.1 + 0.2)
    assert errors["ce"] == pytest.approx({"fog": 75.0, "snow": 100.0})
    assert errors["mce"] == pytest.approx(87.5)
    # relative: fog (0.1 + 0.3) / (0.25 + 0.45); snow (0.05 + 0.05) / (0.05 + 0.15)
    assert errors["relative_ce"] == pytest.approx({"fog": 400 / 7, "snow": 50.0})
    assert errors["relative_mce"] == pytest.approx((400 / 7 + 50) / 2)
    same = evaluation.mean_corruption_error(determ, determ)
    assert same["mce"] == pytest.approx(100) and same["relative_mce"] == pytest.approx(100)
    # A reference that loses nothing to a corruption has no relative CE.
    flat = _result(0.9, {"fog": [0.9, 0.9]})
    assert math.isnan(evaluation.mean_corruption_error(flat, flat)["relative_ce"]["fog"])
    # The relative mCE averages the corruptions where it is defined, and names the others.
    mixed = _result(0.9, {"fog": [0.8, 0.6], "snow": [0.9, 0.95]})
    reference = _result(0.9, {"fog": [0.7, 0.5], "snow": [0.9, 0.9]})
    errors = evaluation.mean_corruption_error(mixed, reference)
    assert errors["relative_undefined"] == ["snow"]
    assert errors["relative_mce"] == pytest.approx(errors["relative_ce"]["fog"])


def test_mean_corruption_error_needs_the_same_sets():
    with pytest.raises(ValueError, match="same corruptions"):
        evaluation.mean_corruption_error(
            _result(0.9, {"fog": [0.8, 0.6]}), _result(0.9, {"snow": [0.8, 0.6]})
        )
    with pytest.raises(ValueError, match="same severities"):
        evaluation.mean_corruption_error(
            _result(0.9, {"fog": [0.8, 0.6]}), _result(0.9, {"fog": [0.8, 0.6]}, (1, 5))
        )


def test_report_with_a_reference():
    model = {
        **_result(0.9, {"fog": [0.8, 0.6]}),
        "mean_accuracy": 0.7,
        "shift_auroc": {"entropy": {"fog": [0.6, 0.7]}},
        "mean_shift_auroc": {"entropy": [0.6, 0.7]},
    }
    reference = _result(0.95, {"fog": [0.7, 0.5]})
    text = evaluation.format_corruption_report(model, reference)
    assert "entropy AUROC s2" in text and "| CE | relative CE |" in text
    assert "| fog | 0.8000 | 0.6000 | 0.7000 | 0.600 | 0.700 | 75.0 | 57.1 |" in text


def test_plot_corruptions_draws_a_grid():
    x = np.random.default_rng(0).random((28, 28, 1), dtype="float32")
    figure = evaluation.plot_corruptions(x, seed=0, corruptions=["fog", "contrast"])
    assert len(figure.axes) == 2 * 6
