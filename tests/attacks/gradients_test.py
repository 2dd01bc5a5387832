"""Tests of `loss_gradient` and of the compiled-loop cache."""

import gc

import keras
import numpy as np

from keras_ceb.attacks import gradients
from keras_ceb.attacks import loss_gradient
from keras_ceb.attacks import pgd_attack


def test_crossentropy_gradient_of_linear_model(linear_problem):
    model, weights, bias, x, y = linear_problem
    labels = 1 - y  # a larger loss than the predicted class
    losses, grad = loss_gradient(model, x, labels, batch_size=24)  # 64 = 24 + 24 + 16 padded

    logits = x.astype("float64") @ weights + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected_losses = -np.log(p[np.arange(len(x)), labels])
    expected_grad = (p - np.eye(2)[labels]) @ weights.T
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-4, atol=1e-6)


def test_loop_cache_dies_with_the_model(linear_problem):
    _, weights, bias, x, y = linear_problem
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(2)])
    model.layers[-1].set_weights([weights.astype("float32"), bias.astype("float32")])
    pgd_attack(model, x, y, eps=0.1, seed=0)
    pgd_attack(model, x, y, eps=0.2, norm="l2", seed=0)
    assert len(gradients._LOOPS[model]) == 2  # one compiled loop per configuration
    gc.collect()  # models of earlier tests that are already unreachable
    before = len(gradients._LOOPS)
    del model
    gc.collect()
    assert len(gradients._LOOPS) == before - 1
