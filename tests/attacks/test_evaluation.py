"""Tests of the success measures, the epsilon sweep and transfer attacks."""

import keras
import numpy as np
import pytest

from keras_ceb.attacks import accuracy_under_attack
from keras_ceb.attacks import epsilon_sweep
from keras_ceb.attacks import pgd_attack
from keras_ceb.attacks import predict_classes
from keras_ceb.attacks import targeted_success_rate
from keras_ceb.attacks import transfer_attack
from keras_ceb.attacks import untargeted_success_rate


@pytest.fixture(scope="module")
def identity_model():
    """Logits equal to the input: the predicted class of a one-hot input is its hot index."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
    model.layers[-1].set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])
    return model


def one_hot(classes):
    return np.eye(3, dtype="float32")[classes]


def test_measures_on_known_predictions(identity_model):
    y_true = np.array([0, 0, 0, 2, 1])
    target = np.array([1, 2, 2, 2, 0])
    x_clean = one_hot([0, 0, 1, 2, 1])  # example 2 is misclassified when clean
    x_adv = one_hot([1, 1, 2, 2, 0])
    # Counted: 0 (hit), 1 (miss), 4 (hit); 2 is clean-wrong, 3 has target == label.
    assert targeted_success_rate(identity_model, x_clean, x_adv, y_true, target) == (2 / 3, 3)
    # Clean-correct: 0, 1, 3, 4; fooled: 0, 1, 4.
    assert untargeted_success_rate(identity_model, x_clean, x_adv, y_true) == (0.75, 4)
    assert accuracy_under_attack(identity_model, x_adv, y_true) == pytest.approx(0.2)
    # One-hot labels are accepted too.
    assert accuracy_under_attack(identity_model, x_adv, one_hot(y_true)) == pytest.approx(0.2)


def test_no_counted_example_gives_nan(identity_model):
    rate, count = targeted_success_rate(identity_model, one_hot([0]), one_hot([1]), [0], [0])
    assert count == 0 and np.isnan(rate)


def test_epsilon_sweep_rows(small_model, fashion_mnist):
    _, _, x_test, y_test = fashion_mnist
    x, y = x_test[:200], y_test[:200]
    rows = epsilon_sweep(small_model, x, y, [0.0, 0.02, 0.1], norm="linf", steps=5, seed=0)
    assert [row["eps"] for row in rows] == [0.0, 0.02, 0.1]
    assert rows[0]["accuracy"] == pytest.approx(np.mean(predict_classes(small_model, x) == y))
    assert rows[0]["untargeted_success"] == 0.0
    accuracies = [row["accuracy"] for row in rows]
    assert accuracies[0] > accuracies[1] > accuracies[2]
    assert all(row["norm"] == "linf" and not row["targeted"] for row in rows)
    assert rows[2]["untargeted_count"] == rows[0]["untargeted_count"]

    target = (y + 1) % 10
    targeted = epsilon_sweep(small_model, x, y, [0.1], norm="l2", target=target, seed=0)
    assert targeted[0]["targeted"] and "targeted_success" in targeted[0]
    x_adv = pgd_attack(small_model, x, target, eps=0.1, norm="l2", targeted=True, seed=0)
    expected = targeted_success_rate(small_model, x, x_adv, y, target)
    assert (targeted[0]["targeted_success"], targeted[0]["targeted_count"]) == expected


def test_transfer_attack(small_model, fashion_mnist):
    x_train, y_train, x_test, y_test = fashion_mnist
    keras.utils.set_random_seed(1)
    other = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10),
    ])
    other.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    other.fit(x_train, y_train, batch_size=64, epochs=2, verbose=0)
    x, y = x_test[:300], y_test[:300]

    result = transfer_attack(small_model, other, x, y, eps=0.1, seed=0)
    assert result["x_adv"].shape == x.shape
    np.testing.assert_array_equal(result["x_adv"], pgd_attack(small_model, x, y, eps=0.1, seed=0))
    assert result["target"]["accuracy"] == accuracy_under_attack(other, result["x_adv"], y)
    # The white-box attack hurts its own model more than the one it transfers to,
    # and the transferred examples still hurt.
    clean_other = np.mean(predict_classes(other, x) == y)
    assert result["source"]["accuracy"] < result["target"]["accuracy"] < clean_other

    def shift(model, x, labels):
        return np.clip(x + 0.5, 0.0, 1.0)

    custom = transfer_attack(small_model, other, x, y, attack=shift)
    assert custom["target"]["accuracy"] < clean_other
    with pytest.raises(ValueError, match="Received: attack=fgsm$"):
        transfer_attack(small_model, other, x, y, attack="fgsm")
