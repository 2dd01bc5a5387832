"""`BackwardEncoder`: logits, the CEB terms it adds, and its errors."""

import math

import keras
import numpy as np
import pytest
from scipy import special

import keras_ceb
from keras_ceb.layers.bottleneck_sample import find_sample
from tests.backend_utils import to_numpy


def encoder_and_z(rho=0.0, objective="ceb", seed=0):
    encoder = keras_ceb.StochasticEncoder(3, rho=rho, objective=objective, seed=seed)
    x = np.random.default_rng(seed).normal(size=(16, 5)).astype("float32")
    return encoder, encoder(x, training=True)


def test_logits_are_minus_residual_information():
    encoder, z = encoder_and_z()
    backward = keras_ceb.BackwardEncoder(4)
    logits = to_numpy(backward(z))
    log_b = to_numpy(backward.class_log_prob(z))
    log_e = to_numpy(find_sample(z).log_prob)
    np.testing.assert_allclose(logits, log_b - log_e[:, None], rtol=1e-5, atol=1e-5)
    # The softmax is the consistent classifier softmax(log b(z|y)) for a uniform prior.
    np.testing.assert_allclose(special.softmax(logits, -1), special.softmax(log_b, -1), atol=1e-6)


@pytest.mark.parametrize("rho", [-1.0, 0.0, 3.0])
def test_consistent_classifier_objective_is_scaled_vceb(rho):
    """add_loss + cross-entropy on the logits equals VCEB (eq. 15) / (1 + exp(-rho))."""
    encoder, z = encoder_and_z(rho=rho)
    backward = keras_ceb.BackwardEncoder(4)
    logits = to_numpy(backward(z))
    labels = np.random.default_rng(1).integers(0, 4, size=16)
    log_b = to_numpy(backward.class_log_prob(z))
    log_e = to_numpy(find_sample(z).log_prob)
    log_b_y = log_b[np.arange(16), labels]
    log_c = log_b_y - special.logsumexp(log_b, axis=-1)
    vceb = np.mean(math.exp(-rho) * (log_e - log_b_y) - log_c)
    cross_entropy = -np.mean(special.log_softmax(logits, -1)[np.arange(16), labels])
    total = float(to_numpy(backward.losses[0])) + cross_entropy
    np.testing.assert_allclose(total, vceb / (1 + math.exp(-rho)), rtol=1e-4)


def test_labels_mode_adds_exact_rex_term():
    encoder, z = encoder_and_z(rho=0.7)
    backward = keras_ceb.BackwardEncoder(4)
    labels = np.array([0, 1, 2, 3] * 4)
    logits = to_numpy(backward(z, labels=labels))
    rex = -logits[np.arange(16), labels]
    np.testing.assert_allclose(float(to_numpy(backward.losses[0])), math.exp(-0.7) * rex.mean(),
                               rtol=1e-5)
    one_hot = np.eye(4)[labels]
    backward(z, labels=one_hot)
    np.testing.assert_allclose(float(to_numpy(backward.losses[0])), math.exp(-0.7) * rex.mean(),
                               rtol=1e-5)


def test_determ_adds_nothing():
    _, z = encoder_and_z(objective="determ")
    backward = keras_ceb.BackwardEncoder(4)
    backward(z)
    assert not backward.losses


def test_vib_encoder_is_an_error():
    _, z = encoder_and_z(objective="vib")
    with pytest.raises(ValueError, match="objective='vib'"):
        keras_ceb.BackwardEncoder(4)(z)


def test_plain_tensor_is_an_error():
    with pytest.raises(ValueError, match="StochasticEncoder"):
        keras_ceb.BackwardEncoder(4)(np.zeros((2, 3), "float32"))


def test_bad_label_rank():
    encoder = keras_ceb.StochasticEncoder(3)
    z_in = keras.Input((5,))
    labels = keras.Input((2, 3))
    with pytest.raises(ValueError, match=r"labels_shape=\(None, 2, 3\)"):
        keras_ceb.BackwardEncoder(4)(encoder(z_in), labels=labels)


@pytest.mark.parametrize("num_classes", [0, 1, "ten"])
def test_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        keras_ceb.BackwardEncoder(num_classes)
