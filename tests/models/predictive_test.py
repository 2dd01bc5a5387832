"""Predictive CEB (appendix C.2): wiring, eq. 26 with X the past and Y the future, training."""

import math

import keras
import numpy as np
import pytest

import keras_ceb
from tests.backend_utils import to_numpy
from tests.models.objective_check import bottleneck_outputs
from tests.models.objective_check import catgen_objective


def _model(**kwargs):
    return keras_ceb.models.build_predictive_ceb(6, 4, hidden_units=(16,), seed=0, **kwargs)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_added_loss_is_eq_26_of_past_and_future(bidirectional):
    x = keras_ceb.datasets.ar1_sequences(32, 10, 0.8, seed=0)
    inputs = {"past": x[:, :6], "future": x[:, 6:]}
    model = _model(rho=0.7, bidirectional=bidirectional)
    for encoder in keras_ceb.rho.encoders(model):
        encoder.set_warmup(0.0, 0)  # The objective at rho itself.
    probe = bottleneck_outputs(model, "past_encoder", "future_encoder")
    out = probe(inputs, training=True)
    past, future = out["past_encoder"], out["future_encoder"]
    catgen = model.get_layer("catgen")
    assert len(catgen.losses) == 1
    np.testing.assert_allclose(
        float(np.sum(to_numpy(catgen.losses[0]))),
        catgen_objective(past, future, bidirectional),
        rtol=1e-4,
    )
    assert np.allclose(to_numpy(past["rho"]), 0.7)


def test_z_depends_on_the_past_only_and_training_finds_information():
    keras.utils.set_random_seed(0)
    x = keras_ceb.datasets.ar1_sequences(2048, 10, 0.9, seed=1)
    model = _model(rho=3.0)  # little compression: information shows up in a few steps
    z = to_numpy(model({"past": x[:64, :6], "future": x[:64, 6:]}))
    shuffled = to_numpy(model({"past": x[:64, :6], "future": x[64:128, 6:]}))
    np.testing.assert_array_equal(z, shuffled)  # at inference z is the mean of e(z|x_<t)
    model.compile(keras.optimizers.Adam(1e-2))
    history = model.fit(
        {"past": x[:, :6], "future": x[:, 6:]}, batch_size=128, epochs=4, verbose=0
    ).history
    assert {"past_i_xz_lower", "past_rate", "future_i_xz_lower", "i_yz", "rex"} <= set(history)
    # The CatGen bound on I(Z; future) grows, and stays below log(batch).
    assert history["i_yz"][-1] > history["i_yz"][0] and history["i_yz"][-1] > 0.2, history
    assert max(history["i_yz"]) <= math.log(128)
