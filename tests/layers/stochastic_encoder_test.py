"""`StochasticEncoder`: arguments, sampling, losses, metrics, serialization."""

import math

import keras
import numpy as np
import pytest

import keras_ceb
from keras_ceb.layers.bottleneck_sample import find_sample
from keras_ceb.ops import gaussian
from tests.backend_utils import to_numpy


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"latent_dim": 0}, "latent_dim=0"),
        ({"latent_dim": -3}, "latent_dim=-3"),
        ({"latent_dim": 2.5}, "latent_dim=2.5"),
        ({"latent_dim": 4, "covariance": "spherical"}, "covariance='spherical'"),
        ({"latent_dim": 4, "objective": "mine"}, "objective='mine'"),
        ({"latent_dim": 4, "rho": float("nan")}, "rho=nan"),
        ({"latent_dim": 4, "rho": float("inf")}, "rho=inf"),
        ({"latent_dim": 4, "inference": "mode"}, "inference='mode'"),
        ({"latent_dim": 4, "marginal": 0}, "marginal=0"),
        ({"latent_dim": 4, "marginal": "gauss"}, "marginal='gauss'"),
        ({"latent_dim": 4, "metric_prefix": 3}, "metric_prefix=3"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_ceb.StochasticEncoder(**kwargs)


def test_wrong_input_rank_fails_at_build():
    with pytest.raises(ValueError, match=r"input_shape=\(None, 7, 7, 3\)"):
        keras.Sequential([keras.Input((7, 7, 3)), keras_ceb.StochasticEncoder(4)])


def test_output_shape_and_attached_distribution():
    layer = keras_ceb.StochasticEncoder(3, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    z = layer(x, training=True)
    assert tuple(z.shape) == (5, 3)
    sample = find_sample(z)
    assert sample is not None and sample.encoder is layer
    expected = gaussian.log_prob(z, sample.loc, scale_tril=sample.scale)
    np.testing.assert_allclose(to_numpy(sample.log_prob), to_numpy(expected), rtol=1e-5)


def test_inference_mean_is_deterministic_and_sample_is_not():
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    mean_layer = keras_ceb.StochasticEncoder(2, seed=0)
    a, b = to_numpy(mean_layer(x)), to_numpy(mean_layer(x))
    np.testing.assert_array_equal(a, b)
    loc, _ = mean_layer.distribution(x)
    np.testing.assert_allclose(a, to_numpy(loc), rtol=1e-6)
    sample_layer = keras_ceb.StochasticEncoder(2, seed=0, inference="sample")
    assert not np.allclose(to_numpy(sample_layer(x)), to_numpy(sample_layer(x)))


def test_same_seed_same_samples():
    x = np.ones((3, 5), "float32")
    first = keras_ceb.StochasticEncoder(2, seed=7, kernel_initializer="ones")
    second = keras_ceb.StochasticEncoder(2, seed=7, kernel_initializer="ones")
    np.testing.assert_allclose(to_numpy(first(x, training=True)), to_numpy(second(x, training=True)))


def test_determ_returns_mean_even_in_training():
    layer = keras_ceb.StochasticEncoder(2, objective="determ", seed=0)
    x = np.random.default_rng(2).normal(size=(4, 6)).astype("float32")
    loc, _ = layer.distribution(x)
    np.testing.assert_allclose(to_numpy(layer(x, training=True)), to_numpy(loc), rtol=1e-6)
    assert not layer.losses


def test_vib_adds_weighted_rate():
    layer = keras_ceb.StochasticEncoder(2, objective="vib", rho=1.5, seed=0)
    x = np.random.default_rng(3).normal(size=(16, 6)).astype("float32")
    z = layer(x, training=True)
    assert len(layer.losses) == 1
    sample = find_sample(z)
    log_m = gaussian.log_prob(z, np.zeros((16, 2), "float32"), scale_diag=np.ones((16, 2), "float32"))
    rate = to_numpy(sample.log_prob) - to_numpy(log_m)
    expected = rate.mean() / (math.exp(1.5) + 1.0)
    np.testing.assert_allclose(float(to_numpy(layer.losses[0])), expected, rtol=1e-5)


def test_ceb_marginal_loss_has_zero_value():
    """Under CEB the marginal trains on stop_gradient(z) and adds nothing to the loss value."""
    layer = keras_ceb.StochasticEncoder(2, marginal=3, seed=0)
    layer(np.ones((4, 5), "float32"), training=True)
    assert len(layer.losses) == 1
    assert abs(float(to_numpy(layer.losses[0]))) < 1e-6


def test_rate_requires_marginal():
    layer = keras_ceb.StochasticEncoder(2)
    layer.build((None, 3))
    with pytest.raises(ValueError, match="marginal=None"):
        layer.rate(np.ones((2, 3), "float32"))


def test_rate_with_marginal():
    layer = keras_ceb.StochasticEncoder(2, marginal=5, seed=0)
    layer.build((None, 3))
    rate = to_numpy(layer.rate(np.ones((6, 3), "float32")))
    assert rate.shape == (6,) and np.all(np.isfinite(rate))


def test_set_rho_validates_and_assigns():
    layer = keras_ceb.StochasticEncoder(2, rho=1.0)
    assert layer.rho == 1.0
    layer.set_rho(-2.0)
    assert layer.rho == -2.0
    with pytest.raises(ValueError, match="rho=nan"):
        layer.set_rho(float("nan"))


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_config_round_trip(covariance):
    layer = keras_ceb.StochasticEncoder(3, covariance=covariance, objective="vib", rho=2.0,
                                        marginal=7, inference="sample", seed=3, name="enc",
                                        metric_prefix="x_")
    config = layer.get_config()
    clone = keras_ceb.StochasticEncoder.from_config(config)
    assert clone.get_config() == config
    assert clone.marginal.num_components == 7


def unpaired_ceb_model():
    return keras.Sequential([keras.Input((5,)), keras_ceb.StochasticEncoder(2),
                             keras.layers.Dense(3)])


def test_ceb_encoder_without_partner_fails_in_training():
    model = unpaired_ceb_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="must feed a BackwardEncoder"):
        model.fit(np.ones((4, 5), "float32"), np.zeros(4), verbose=0)


def test_ceb_encoder_without_partner_predicts():
    """Inference adds no term, so it is allowed (e.g. to look at embeddings)."""
    assert unpaired_ceb_model().predict(np.ones((2, 5), "float32"), verbose=0).shape == (2, 3)


def test_vib_and_determ_encoders_need_no_partner():
    for objective in ("vib", "determ"):
        model = keras.Sequential([keras.Input((5,)), keras_ceb.StochasticEncoder(2, objective=objective),
                                  keras.layers.Dense(3)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(np.ones((4, 5), "float32"), np.zeros(4), verbose=0).history
        assert np.isfinite(history["loss"][0])
