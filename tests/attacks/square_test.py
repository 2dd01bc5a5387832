"""Tests of `square_attack`: a linear model's optimum as a bound, constraints, ART."""

import importlib.util

import keras
import numpy as np
import pytest

from keras_ceb.attacks import accuracy_under_attack
from keras_ceb.attacks import apgd_attack
from keras_ceb.attacks import square
from keras_ceb.attacks import square_attack


def linear_image_model(seed=0):
    """A linear 3-class model on 6x6x1 images, and 200 images in [0.3, 0.7] it classifies."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(36, 3))
    model = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    model.layers[-1].set_weights([weights.astype("float32"), np.zeros(3, "float32")])
    x = rng.uniform(0.3, 0.7, size=(200, 6, 6, 1)).astype("float32")
    y = np.argmax(x.reshape(200, -1) @ weights, axis=1)
    return model, weights, x, y


def linf_distance(weights, x, y):
    logits = x.reshape(len(x), -1).astype("float64") @ weights
    rows = np.arange(len(x))
    out = np.full((len(x), 3), np.inf)
    for j in range(3):
        gap = logits[rows, y] - logits[:, j]
        dual = np.abs(weights[:, y] - weights[:, [j]]).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):  # j == y: 0 / 0, replaced
            out[:, j] = np.where(y == j, np.inf, gap / dual)
    return out.min(axis=1)


def test_linear_model_linf_is_bounded_by_the_optimum_and_near_it():
    model, weights, x, y = linear_image_model()
    distance = linf_distance(weights, x, y)
    eps = float(np.median(distance))  # the radius splits the examples in half
    x_adv = square_attack(model, x, y, eps=eps, queries=2000, seed=0)
    assert np.abs(x_adv - x).max() <= eps + 1e-6
    broken = np.argmax(x_adv.reshape(len(x), -1) @ weights, axis=1) != y
    assert not np.any(broken & (distance > eps * 1.001))  # no attack beats the optimum
    # The optimum is a vertex of the ball, which random search over +-eps windows reaches:
    # at most 3% of the examples left unbroken that are breakable.
    assert np.mean(~broken & (distance < eps)) <= 0.03


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 1.5)])
def test_stays_in_ball_and_box(small_model, fashion_mnist, norm, eps):
    _, _, x_test, y_test = fashion_mnist
    x, y = x_test[:100], y_test[:100]
    x_adv = square_attack(small_model, x, y, eps=eps, norm=norm, queries=200, seed=0)
    delta = (x_adv.astype("float64") - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert np.all(size <= eps * (1 + 1e-5))
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    clean = accuracy_under_attack(small_model, x, y)
    assert accuracy_under_attack(small_model, x_adv, y) < clean - 0.1  # it found something
    again = square_attack(small_model, x, y, eps=eps, norm=norm, queries=200, seed=0)
    np.testing.assert_array_equal(x_adv, again)


def test_gradient_free_does_not_beat_apgd_by_much(small_model, fashion_mnist):
    """Carlini et al.'s check: on a model without masked gradients Square is weaker."""
    _, _, x_test, y_test = fashion_mnist
    x, y = x_test[:200], y_test[:200]
    sq = accuracy_under_attack(
        small_model, square_attack(small_model, x, y, eps=0.03, queries=500, seed=0), y
    )
    ap = accuracy_under_attack(small_model, apgd_attack(small_model, x, y, eps=0.03, seed=0), y)
    assert ap <= sq + 0.02


def test_pseudo_gaussian_square_and_schedule():
    rng = np.random.default_rng(0)
    for side in (1, 2, 3, 6, 7):
        window = square.pseudo_gaussian_square(side, rng)
        assert window.shape == (side, side) and np.isfinite(window).all()
        assert abs((window**2).sum() - 1.0) < 1e-9
    fractions = [square.window_fraction(0.8, q, 5000) for q in range(5000)]
    assert fractions[0] == 0.8 and fractions[-1] == 0.8 / 512
    assert all(a >= b for a, b in zip(fractions, fractions[1:]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(norm="l1"), "norm='l1'"),
        (dict(queries=0), "queries=0"),
        (dict(p_init=1.5), "p_init=1.5"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    model, _, x, y = linear_image_model()
    with pytest.raises(ValueError, match=message):
        square_attack(model, x[:4], y[:4], **{"eps": 0.1, **kwargs})


def test_needs_images():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"x.shape=\(4, 5\)"):
        square_attack(model, np.zeros((4, 5), "float32"), np.zeros(4, "int64"), eps=0.1)


@pytest.mark.skipif(importlib.util.find_spec("art") is None, reason="ART is not installed")
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="ART's TF2 estimator")
def test_linf_agrees_with_art(small_model, fashion_mnist):
    """Ours and ART 1.20's SquareAttack, L-inf, 300 queries, the same 300 images; tolerance
    0.05 (about 2.5 standard errors of the difference of two independent searches)."""
    import tensorflow as tf
    from art.attacks.evasion import SquareAttack
    from art.estimators.classification import TensorFlowV2Classifier

    _, _, x_test, y_test = fashion_mnist
    x, y = x_test[:300], y_test[:300]
    classifier = TensorFlowV2Classifier(
        model=small_model,
        nb_classes=10,
        input_shape=(28, 28, 1),
        clip_values=(0.0, 1.0),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    art = SquareAttack(
        classifier,
        norm=np.inf,
        eps=0.05,
        max_iter=300,
        nb_restarts=1,
        batch_size=300,
        verbose=False,
    )
    theirs = accuracy_under_attack(small_model, art.generate(x, y=y), y)
    ours = accuracy_under_attack(
        small_model, square_attack(small_model, x, y, eps=0.05, queries=300, seed=0), y
    )
    assert 0.1 < ours < 0.9
    assert abs(ours - theirs) <= 0.05, (ours, theirs)
