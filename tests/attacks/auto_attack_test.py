"""Tests of `auto_attack`: the ensemble's bookkeeping, its versions and its strength."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_ceb
from keras_ceb.attacks import accuracy_under_attack
from keras_ceb.attacks import apgd_attack
from keras_ceb.attacks import auto_attack
from keras_ceb.attacks import predict_classes


def test_standard_version_bookkeeping(small_model, fashion_mnist):
    _, _, x_test, y_test = fashion_mnist
    x, y = x_test[:150], y_test[:150]
    result = auto_attack(small_model, x, y, eps=0.03, steps=20, num_targets=3, queries=100, seed=0)
    assert result.version == "standard"
    assert result.attacks == ("apgd-ce", "apgd-t", "fab-t", "square")
    clean = predict_classes(small_model, x) == y
    np.testing.assert_array_equal(result.broken_by == "clean", ~clean)
    np.testing.assert_array_equal(result.robust, result.broken_by == "")
    # What each attack broke is misclassified; what nothing broke is the clean image.
    adv = predict_classes(small_model, result.x_adv)
    broken = np.isin(result.broken_by, result.attacks)
    assert np.all(adv[broken] != y[broken])
    np.testing.assert_array_equal(result.x_adv[result.robust], x[result.robust])
    assert result.robust_accuracy == pytest.approx(
        accuracy_under_attack(small_model, result.x_adv, y)
    )
    assert result.clean_accuracy == pytest.approx(clean.mean())
    counts = result.broken_counts()
    assert sum(counts.values()) + result.robust.sum() == len(x)
    assert counts["apgd-ce"] > 0
    # The ensemble is at least as strong as its first member alone.
    alone = accuracy_under_attack(
        small_model, apgd_attack(small_model, x, y, eps=0.03, steps=20, seed=0), y
    )
    assert result.robust_accuracy <= alone


def _ceb_model(inference):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras_ceb.StochasticEncoder(3, seed=0, inference=inference),
            keras_ceb.BackwardEncoder(4),
        ]
    )


def test_rand_version_for_a_model_that_samples():
    assert keras_ceb.attacks.auto_attack_default_version(_ceb_model("mean")) == "standard"
    model = _ceb_model("sample")
    assert keras_ceb.attacks.auto_attack_default_version(model) == "rand"
    x = np.random.default_rng(0).uniform(size=(24, 4, 4, 1)).astype("float32")
    y = np.argmax(ops.convert_to_numpy(_ceb_model("mean")(x)), axis=1)
    before = [np.array(ops.convert_to_numpy(v.value)) for v in model.non_trainable_variables]
    result = auto_attack(model, x, y, eps=0.2, steps=5, num_samples=3, seed=0)
    again = auto_attack(model, x, y, eps=0.2, steps=5, num_samples=3, seed=0)
    assert result.version == "rand" and result.attacks == ("apgd-ce", "apgd-dlr")
    np.testing.assert_array_equal(result.x_adv, again.x_adv)
    for b, v in zip(before, model.non_trainable_variables):
        np.testing.assert_array_equal(b, ops.convert_to_numpy(v.value))


def test_bad_version_is_refused(small_model, fashion_mnist):
    _, _, x_test, y_test = fashion_mnist
    with pytest.raises(ValueError, match="version='plus'"):
        auto_attack(small_model, x_test[:4], y_test[:4], eps=0.1, version="plus")


def test_empty_input(small_model):
    result = auto_attack(
        small_model, np.zeros((0, 28, 28, 1), "float32"), np.zeros(0, "int64"), eps=0.1
    )
    assert result.x_adv.shape == (0, 28, 28, 1) and np.isnan(result.robust_accuracy)
