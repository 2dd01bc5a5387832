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
    other = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
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


def test_scalar_targets_and_labels(identity_model):
    x_clean = one_hot([0, 0, 1, 2])
    x_adv = one_hot([2, 1, 2, 2])
    per_example = targeted_success_rate(
        identity_model, x_clean, x_adv, [0, 0, 1, 2], np.full(4, 2)
    )
    assert targeted_success_rate(identity_model, x_clean, x_adv, [0, 0, 1, 2], 2) == per_example
    assert per_example == (2 / 3, 3)
    assert accuracy_under_attack(identity_model, x_adv, 2) == 0.75
    assert accuracy_under_attack(identity_model, x_adv, np.int64(2)) == 0.75


def test_epsilon_sweep_scalar_target_and_step_size(linear_problem):
    model, _, _, x, y = linear_problem  # every y is 1: class 0 is a target for all
    zeros = np.zeros(len(x), "int64")
    settings = dict(norm="l2", steps=20, random_start=False)
    scalar = epsilon_sweep(model, x, y, [1.0, 1.25], target=0, **settings)
    per_example = epsilon_sweep(model, x, y, [1.0, 1.25], target=zeros, **settings)
    assert scalar == per_example
    assert [row["step_size"] for row in scalar] == [None, None]
    assert 0.0 < scalar[1]["targeted_success"] < 1.0 and scalar[1]["targeted_count"] == len(x)

    # A step-size function of eps, and a fixed number, reach the attack.
    rows = epsilon_sweep(
        model, x, y, [1.0, 1.25], target=0, step_size=lambda eps: eps / 2, **settings
    )
    assert [row["step_size"] for row in rows] == pytest.approx([0.5, 0.625])
    x_adv = pgd_attack(model, x, zeros, eps=1.25, step_size=0.625, targeted=True, **settings)
    assert rows[1]["targeted_success"] == targeted_success_rate(model, x, x_adv, y, 0)[0]
    fixed = epsilon_sweep(model, x, y, [1.25], target=0, step_size=0.625, **settings)
    assert fixed[0]["targeted_success"] == rows[1]["targeted_success"]


class Band(keras.layers.Layer):
    """Two logits of a scalar input: class 1 wins in the band (0.4, 0.6), class 0 elsewhere."""

    def call(self, x):
        d = (x - 0.5) / 0.1
        return keras.ops.concatenate([keras.ops.zeros_like(x), 1.0 - d * d], axis=-1)


def test_epsilon_sweep_cumulative_is_monotone():
    model = keras.Sequential([keras.Input((1,)), Band()])
    x = np.array([[0.3], [0.33], [0.1]], "float32")
    y = np.zeros(3, "int64")
    # One step of length eps towards the band: a long step jumps over it.
    epsilons = [0.45, 0.05, 0.15, 0.2]  # any order; the rows keep it
    settings = dict(norm="linf", target=1, steps=1, step_size=lambda eps: eps, random_start=False)
    plain = epsilon_sweep(model, x, y, epsilons, **settings)
    best = epsilon_sweep(model, x, y, epsilons, cumulative=True, **settings)

    assert [row["eps"] for row in best] == epsilons
    assert [row["cumulative"] for row in plain + best] == [False] * 4 + [True] * 4
    # 0.3 -> 0.35, 0.45, 0.5, 0.75; 0.33 -> 0.38, 0.48, 0.53, 0.78; 0.1 -> ..., 0.55.
    assert [row["targeted_success"] for row in plain] == pytest.approx([1 / 3, 0, 2 / 3, 2 / 3])
    assert [row["targeted_success"] for row in best] == pytest.approx([1, 0, 2 / 3, 2 / 3])
    assert [row["accuracy"] for row in best] == pytest.approx([0, 1, 1 / 3, 1 / 3])
    assert all(row["targeted_count"] == 3 for row in best)


def test_transfer_attack_scalar_target(linear_problem):
    model, _, _, x, y = linear_problem
    result = transfer_attack(model, model, x, y, target=0, eps=0.2, seed=0)
    expected = pgd_attack(model, x, np.zeros(len(x), "int64"), eps=0.2, targeted=True, seed=0)
    np.testing.assert_array_equal(result["x_adv"], expected)
    assert result["target"]["targeted_success"] == result["source"]["targeted_success"]

    seen = {}

    def custom(model, x, labels, targeted):
        seen["labels"], seen["targeted"] = labels, targeted
        return x

    transfer_attack(model, model, x, y, attack=custom, target=0)
    np.testing.assert_array_equal(seen["labels"], np.zeros(len(x)))
    assert seen["targeted"] is True


@pytest.mark.parametrize(
    "function, kwargs, message",
    [
        ("sweep", dict(epsilons=[0.1, np.inf]), r"Received: epsilons=\[0.1, inf\]$"),
        ("sweep", dict(epsilons=[-0.1]), r"Received: epsilons=\[-0.1\]$"),
        (
            "sweep",
            dict(epsilons=[0.1], target=2),
            r"target classes in \[0, 2\).*Received: target=2$",
        ),
        ("sweep", dict(epsilons=[0.1], target=-1), "Received: target=-1$"),
        (
            "sweep",
            dict(epsilons=[0.1], target=np.ones(3, "int64")),
            r"Received: len\(x\)=64, target.shape=\(3,\)$",
        ),
        ("sweep", dict(epsilons=[0.1], step_size=np.inf), "Received: step_size=inf$"),
        ("sweep", dict(epsilons=[0.1], eps=0.1), "Received: eps=0.1$"),
        ("transfer", dict(target=5, eps=0.1), "Received: target=5$"),
        ("transfer", dict(target=1, targeted=False, eps=0.1), "Received: targeted=False$"),
        ("transfer", dict(eps=np.inf), "Received: eps=inf$"),
    ],
)
def test_bad_arguments_raise(linear_problem, function, kwargs, message):
    model, _, _, x, y = linear_problem
    with pytest.raises(ValueError, match=message):
        if function == "sweep":
            epsilon_sweep(model, x, y, **kwargs)
        else:
            transfer_attack(model, model, x, y, **kwargs)
