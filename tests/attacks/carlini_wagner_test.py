"""Tests of `carlini_wagner_l2` on the small Fashion-MNIST model."""

import numpy as np
import pytest

from keras_ceb.attacks import carlini_wagner_l2
from keras_ceb.attacks import pgd_attack
from keras_ceb.attacks import predict_classes


def l2_distances(x_adv, x):
    return np.linalg.norm((x_adv.astype("float64") - x).reshape(len(x), -1), axis=1)


@pytest.fixture(scope="module")
def clean_correct(small_model, fashion_mnist):
    """200 test images the small model classifies correctly, with labels."""
    _, _, x_test, y_test = fashion_mnist
    correct = predict_classes(small_model, x_test) == y_test
    return x_test[correct][:200], y_test[correct][:200]


def test_smaller_perturbations_than_pgd_l2(small_model, clean_correct):
    x, y = clean_correct
    x_cw = carlini_wagner_l2(small_model, x, y, max_iterations=100)
    x_pgd = pgd_attack(small_model, x, y, eps=1.5, norm="l2", steps=20, seed=0)
    cw_success = predict_classes(small_model, x_cw) != y
    pgd_success = predict_classes(small_model, x_pgd) != y

    assert cw_success.mean() >= pgd_success.mean() - 0.05
    cw_l2 = np.median(l2_distances(x_cw, x)[cw_success])
    pgd_l2 = np.median(l2_distances(x_pgd, x)[pgd_success])
    assert cw_l2 < 0.85 * pgd_l2
    assert x_cw.min() >= 0.0 and x_cw.max() <= 1.0


def test_unsuccessful_examples_are_returned_unchanged(small_model, clean_correct):
    x, y = clean_correct
    x_copy = x.copy()
    x_cw = carlini_wagner_l2(small_model, x, y, max_iterations=30, binary_search_steps=3)
    np.testing.assert_array_equal(x, x_copy)
    unchanged = np.all(x_cw == x, axis=(1, 2, 3))
    predicted = predict_classes(small_model, x_cw)
    assert 0 < unchanged.sum() < len(x)  # a budget where some attacks fail
    np.testing.assert_array_equal(predicted[unchanged], y[unchanged])
    assert np.mean(predicted[~unchanged] != y[~unchanged]) > 0.99


def test_confidence_sets_the_logit_margin(small_model, clean_correct):
    x, y = clean_correct[0][:100], clean_correct[1][:100]
    x_cw = carlini_wagner_l2(
        small_model, x, y, max_iterations=100, learning_rate=2e-2, confidence=2.0
    )
    logits = small_model.predict(x_cw, verbose=0)
    changed = np.any(x_cw != x, axis=(1, 2, 3))
    assert changed.mean() > 0.5
    true_logit = logits[np.arange(len(y)), y]
    others = np.where(np.eye(10, dtype=bool)[y], -np.inf, logits).max(axis=1)
    assert np.all(others[changed] - true_logit[changed] >= 2.0 - 1e-3)


def test_targeted(small_model, clean_correct):
    x, y = clean_correct[0][:100], clean_correct[1][:100]
    target = (y + 3) % 10
    x_cw = carlini_wagner_l2(
        small_model, x, target, targeted=True, max_iterations=100, learning_rate=2e-2
    )
    changed = np.any(x_cw != x, axis=(1, 2, 3))
    predicted = predict_classes(small_model, x_cw)
    assert np.mean(predicted == target) > 0.7
    assert np.mean(predicted[changed] == target[changed]) > 0.99


def test_without_early_abort_finds_a_superset(small_model, clean_correct):
    # Examples are optimized independently, and an optimization that does not
    # abort follows the aborted one's path, then goes on: it finds at least as much.
    x, y = clean_correct[0][:50], clean_correct[1][:50]
    settings = dict(max_iterations=50, binary_search_steps=2, learning_rate=2e-2)
    early = carlini_wagner_l2(small_model, x, y, abort_early=True, **settings)
    full = carlini_wagner_l2(small_model, x, y, abort_early=False, **settings)
    found_early = np.any(early != x, axis=(1, 2, 3))
    found_full = np.any(full != x, axis=(1, 2, 3))
    assert np.all(found_full[found_early])
    assert found_early.sum() > 0


def test_scalar_target_is_broadcast(linear_problem):
    model, _, _, x, y = linear_problem  # every y is 1
    settings = dict(
        targeted=True,
        max_iterations=50,
        binary_search_steps=1,
        learning_rate=0.05,
        initial_const=10.0,
    )
    scalar = carlini_wagner_l2(model, x, 0, **settings)
    np.testing.assert_array_equal(
        scalar, carlini_wagner_l2(model, x, np.zeros(len(x), "int64"), **settings)
    )
    assert np.any(predict_classes(model, scalar) == 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(binary_search_steps=0), "Received: binary_search_steps=0$"),
        (dict(max_iterations=-5), "Received: max_iterations=-5$"),
        (dict(learning_rate=0.0), "Received: learning_rate=0.0$"),
        (dict(confidence=-1.0), "Received: confidence=-1.0$"),
        (dict(y=np.full(64, 3)), "Received: y=3$"),
        (dict(y=2, targeted=True), r"target classes in \[0, 2\).*Received: y=2$"),
        (dict(seed=-1), "Received: seed=-1$"),
        (dict(clip_min=0.5, clip_max=0.5), "Received: clip_min=0.5, clip_max=0.5$"),
        (dict(x=np.full((64, 20), -0.5, "float32")), r"Received: min\(x\)=-0.5, max\(x\)=-0.5$"),
    ],
)
def test_bad_arguments_raise(linear_problem, kwargs, message):
    model, _, _, x, y = linear_problem
    arguments = dict(x=x, y=y)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        carlini_wagner_l2(model, **arguments)
