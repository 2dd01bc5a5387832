"""The keras-tuner search over rho."""

import keras
import keras_tuner as kt
import numpy as np
import pytest

import keras_ceb
from keras_ceb import tuning


def build(rho):
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras_ceb.StochasticEncoder(2, rho=rho, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n).astype("int32")
    return (np.eye(3, 8)[y] * 3 + rng.normal(size=(n, 8))).astype("float32"), y


@pytest.mark.long  # `make test-long` (CI runs it): over 15 s on 2 cores.
def test_grid_search_tries_every_rho(tmp_path):
    x, y = data(128, 0)
    tuner = tuning.search_rho(
        build,
        x,
        y,
        data(64, 1),
        rho_values=[0.0, 4.0],
        epochs=1,
        directory=str(tmp_path),
        verbose=0,
    )
    tried = sorted(t.hyperparameters["rho"] for t in tuner.oracle.trials.values())
    assert tried == [0.0, 4.0]
    scores = [t.score for t in tuner.oracle.trials.values()]
    assert all(s is not None and 0.0 <= s <= 1.0 for s in scores), scores
    best_model = tuner.get_best_models(1)[0]
    assert keras_ceb.get_rho(best_model) == tuner.get_best_hyperparameters()[0]["rho"]


def test_interval_space_sets_model_rho():
    hypermodel = tuning.RhoHyperModel(build, rho_min=1.0, rho_max=2.0)
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert 1.0 <= keras_ceb.get_rho(model) <= 2.0
    assert keras_ceb.get_rho(model) == hp.get("rho")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"rho_values": []}, "rho_values"),
        ({"rho_values": [0.0, float("nan")]}, "rho_values"),
        ({"rho_min": 3.0, "rho_max": 1.0}, "rho_min=3.0"),
    ],
)
def test_bad_search_space(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tuning.RhoHyperModel(build, **kwargs)


def test_model_without_encoder_is_an_error():
    hypermodel = tuning.RhoHyperModel(
        lambda rho: keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), rho_values=[0.0]
    )
    with pytest.raises(ValueError, match="no StochasticEncoder"):
        hypermodel.build(kt.HyperParameters())
