"""Denoising CEB autoencoder (appendix C.3.1): eq. 26 with Y = X', the representation model."""

import keras
import numpy as np

import keras_ceb
from keras_ceb.datasets import noise
from tests.backend_utils import to_numpy
from tests.models.objective_check import bottleneck_outputs
from tests.models.objective_check import catgen_objective


def _model(**kwargs):
    return keras_ceb.models.build_denoising_ceb(
        (6,),
        latent_dim=3,
        seed=0,
        backbone=keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, "relu")]),
        **kwargs,
    )


def test_added_loss_is_eq_26_of_x_and_its_noisy_copy():
    rng = np.random.default_rng(0)
    x = rng.random((24, 6)).astype("float32")
    x_noisy = noise.masking_noise(0.3)(x, None, rng)
    model = _model(rho=-0.4)
    probe = bottleneck_outputs(model, "encoder", "noisy_encoder")
    out = probe({"x": x, "x_noisy": x_noisy}, training=True)
    catgen = model.get_layer("catgen")
    np.testing.assert_allclose(
        float(np.sum(to_numpy(catgen.losses[0]))),
        catgen_objective(out["encoder"], out["noisy_encoder"]),
        rtol=1e-4,
    )
    # One backbone for X and X' by default; the encoders are separate.
    assert model.get_layer("encoder") is not model.get_layer("noisy_encoder")
    assert len([layer for layer in model.layers if isinstance(layer, keras.Sequential)]) == 1


def test_representation_model_is_the_encoder_mean():
    rng = np.random.default_rng(1)
    x = rng.random((16, 6)).astype("float32")
    model = _model()
    representation = keras_ceb.models.representation_model(model)
    z = to_numpy(model({"x": x, "x_noisy": x[::-1]}))  # z_X at the mean, whatever X'
    np.testing.assert_allclose(to_numpy(representation(x)), z, rtol=1e-6)
    assert representation.input_shape == (None, 6)
