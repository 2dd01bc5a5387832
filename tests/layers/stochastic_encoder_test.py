"""`StochasticEncoder`: arguments, outputs per objective, training terms, estimates, saving."""

import math

import keras
import numpy as np
import pytest
from scipy import special

import keras_ceb
from keras_ceb.layers import bottleneck
from keras_ceb.ops import gaussian
from keras_ceb.ops import information
from tests.backend_utils import to_numpy
from tests.layers.harness import run_layer_test

FEATURES = 6


def data(n=96, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n).astype("int32")
    x = rng.normal(size=(classes, FEATURES))[y] * 2 + rng.normal(size=(n, FEATURES))
    return x.astype("float32"), y


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


@pytest.mark.parametrize(
    "objective,marginal,num_losses",
    [
        ("ceb", None, 0),
        ("ceb", 4, 1),
        ("vib", None, 1),
        ("vib", 4, 1),
        ("determ", 4, 1),
    ],
)
@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_layer_harness(objective, marginal, num_losses, covariance, tmp_path):
    x, y = data()

    def build(dtype):
        inputs = keras.Input((FEATURES,))
        encoded = keras_ceb.StochasticEncoder(
            3,
            objective=objective,
            covariance=covariance,
            marginal=marginal,
            seed=1,
            name="under_test",
            dtype=dtype,
        )(keras.layers.Dense(16, "relu", dtype=dtype)(inputs))
        if objective == "vib":
            logits = keras.layers.Dense(3, dtype=dtype)(encoded)
        else:
            logits = keras_ceb.BackwardEncoder(3, covariance=covariance, dtype=dtype)(encoded)
        return keras.Model(inputs, logits)

    run_layer_test(build, x, y, num_losses, tmp_path)


def test_ceb_returns_the_bottleneck_in_float32():
    layer = keras_ceb.StochasticEncoder(3, seed=0, warmup_steps=0)
    x, _ = data(5)
    out = layer(x, training=True)
    assert bottleneck.is_bottleneck(out)
    assert tuple(out["z"].shape) == (5, 3) and tuple(out["scale"].shape) == (5, 3, 3)
    dist = bottleneck.distribution(out)
    np.testing.assert_allclose(
        to_numpy(out["log_prob"]),
        to_numpy(gaussian.log_prob(dist, out["z"])),
        rtol=1e-4,
        atol=1e-4,
    )
    np.testing.assert_allclose(to_numpy(out["rho"]), np.zeros(5))
    for key in bottleneck.KEYS:
        assert keras.backend.standardize_dtype(out[key].dtype) == "float32"


def test_vib_and_determ_return_z():
    x, _ = data(4)
    for objective in ("vib", "determ"):
        z = keras_ceb.StochasticEncoder(2, objective=objective)(x)
        assert tuple(z.shape) == (4, 2)


def test_inference_mean_is_deterministic_and_sample_is_not():
    x, _ = data(4)
    mean_layer = keras_ceb.StochasticEncoder(2, seed=0)
    a, b = to_numpy(mean_layer(x)["z"]), to_numpy(mean_layer(x)["z"])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, to_numpy(mean_layer.distribution(x).loc), rtol=1e-6)
    log_e = to_numpy(mean_layer(x)["log_prob"])
    np.testing.assert_allclose(
        log_e, to_numpy(gaussian.log_prob_at_mean(mean_layer.distribution(x)))
    )
    sample_layer = keras_ceb.StochasticEncoder(2, seed=0, inference="sample")
    assert not np.allclose(to_numpy(sample_layer(x)["z"]), to_numpy(sample_layer(x)["z"]))


def test_same_seed_same_samples():
    x = np.ones((3, 5), "float32")
    first = keras_ceb.StochasticEncoder(2, seed=7, kernel_initializer="ones")
    second = keras_ceb.StochasticEncoder(2, seed=7, kernel_initializer="ones")
    np.testing.assert_allclose(
        to_numpy(first(x, training=True)["z"]), to_numpy(second(x, training=True)["z"])
    )


def test_determ_returns_mean_even_in_training_and_has_no_scale():
    layer = keras_ceb.StochasticEncoder(2, objective="determ", seed=0)
    x, _ = data(4)
    z = to_numpy(layer(x, training=True))
    np.testing.assert_allclose(z, to_numpy(layer.loc_projection(x)), rtol=1e-6)
    assert not layer.losses
    assert not hasattr(layer, "scale_projection")
    with pytest.raises(ValueError, match="no distribution"):
        layer.distribution(x)


def test_vib_adds_weighted_rate_and_logs_it():
    layer = keras_ceb.StochasticEncoder(2, objective="vib", rho=1.5, seed=0, warmup_steps=0)
    x, _ = data(16)
    z = layer(x, training=True)
    assert len(layer.losses) == 1
    # Recompute the same draw: the layer's term is the mean rate / (exp(rho) + 1).
    total, count = (to_numpy(v) for v in layer.running_means.variables["rate"])
    rate = total / count
    np.testing.assert_allclose(
        float(np.sum(to_numpy(layer.losses[0]))), rate / (math.exp(1.5) + 1.0), rtol=1e-5
    )
    assert z.shape == (16, 2)


def test_ceb_marginal_loss_has_zero_value():
    """Under CEB the marginal trains on stop_gradient(z) and adds nothing to the loss value."""
    layer = keras_ceb.StochasticEncoder(2, marginal=3, seed=0)
    layer(np.ones((4, 5), "float32"), training=True)
    assert len(layer.losses) == 1
    assert abs(float(np.sum(to_numpy(layer.losses[0])))) < 1e-6


def test_training_estimates_match_their_formulas():
    """The logged i_xz_lower is the minibatch bound of the batch; the rate log e - log m."""
    layer = keras_ceb.StochasticEncoder(3, marginal=4, seed=0)
    x, _ = data(32)
    out = layer(x, training=True)
    dist = bottleneck.distribution(out)
    bound = to_numpy(information.minibatch_i_xz_lower_bound(out["z"], dist, out["log_prob"]))
    total, count = (to_numpy(v) for v in layer.running_means.variables["i_xz_lower"])
    np.testing.assert_allclose(total / count, bound.mean(), rtol=1e-4)
    assert total / count <= math.log(32) + 1e-5
    rate = to_numpy(out["log_prob"]) - to_numpy(layer.marginal(out["z"]))
    total, count = (to_numpy(v) for v in layer.running_means.variables["rate"])
    np.testing.assert_allclose(total / count, rate.mean(), rtol=1e-4)


def test_no_estimates_at_inference_outside_evaluate():
    """A plain inference call (predict, attacks, serving) computes and records nothing."""
    layer = keras_ceb.StochasticEncoder(2, marginal=3, seed=0)
    x, _ = data(8)
    layer(x, training=False)
    layer(x, training=False)
    for total, count in layer.running_means.variables.values():
        assert float(to_numpy(count)) == 0.0


def test_held_out_estimates_while_evaluate_runs():
    """Switched on (as Keras's reset of the metrics does), inference records the estimates."""
    layer = keras_ceb.StochasticEncoder(3, marginal=4, seed=0)
    x, _ = data(32)
    layer(x, training=False)
    for metric in layer.running_means.metrics:
        metric.reset_state()  # What `evaluate` does first.
    out = layer(x, training=False)
    dist = bottleneck.distribution(out)
    total, count = (to_numpy(v) for v in layer.running_means.variables["rate"])
    assert float(count) == 32.0
    # The same estimator as training's, at a draw of z (with a fixed, stateless seed).
    from keras_ceb.layers.stochastic_encoder import HELD_OUT_SEED

    z, log_e = gaussian.sample_and_log_prob(dist, seed=HELD_OUT_SEED)
    expected = to_numpy(information.rate(log_e, layer.marginal(z)))
    np.testing.assert_allclose(total / count, expected.mean(), rtol=1e-4)
    results = {m.name: float(to_numpy(m.result())) for m in layer.running_means.metrics}
    assert all(math.isfinite(v) for v in results.values()), results
    # Read eagerly, as at the end of `evaluate`: switched off again.
    assert float(to_numpy(layer.held_out_estimates)) == 0.0
    layer(x, training=False)
    assert float(to_numpy(layer.running_means.variables["rate"][1])) == 32.0


@pytest.mark.parametrize("objective", ["ceb", "vib"])
def test_rate_estimators(objective):
    layer = keras_ceb.StochasticEncoder(2, objective=objective, marginal=5, seed=0)
    x, _ = data(6)
    at_mean = to_numpy(layer.rate(x))
    np.testing.assert_array_equal(at_mean, to_numpy(layer.rate(x)))  # deterministic
    dist = layer.distribution(x)
    expected = to_numpy(gaussian.log_prob_at_mean(dist)) - to_numpy(layer.marginal(dist.loc))
    np.testing.assert_allclose(at_mean, expected, rtol=1e-5)
    sampled = to_numpy(layer.rate(x, estimator="sample", num_samples=400))
    one_draw = to_numpy(layer.rate(x, estimator="sample"))
    assert sampled.shape == one_draw.shape == (6,)
    assert not np.allclose(one_draw, to_numpy(layer.rate(x, estimator="sample")))
    with pytest.raises(ValueError, match="estimator='mode'"):
        layer.rate(x, estimator="mode")


def test_rate_requires_a_marginal():
    layer = keras_ceb.StochasticEncoder(2)
    layer.build((None, 3))
    with pytest.raises(ValueError, match="marginal=None"):
        layer.rate(np.ones((2, 3), "float32"))


def test_set_rho_validates_and_assigns():
    layer = keras_ceb.StochasticEncoder(2, rho=1.0)
    assert layer.rho == 1.0
    layer.set_rho(-2.0)
    assert layer.rho == -2.0
    with pytest.raises(ValueError, match="rho=nan"):
        layer.set_rho(float("nan"))


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_config_round_trip(covariance):
    layer = keras_ceb.StochasticEncoder(
        3,
        covariance=covariance,
        objective="vib",
        rho=2.0,
        marginal=7,
        inference="sample",
        seed=3,
        name="enc",
        metric_prefix="x_",
    )
    config = layer.get_config()
    clone = keras_ceb.StochasticEncoder.from_config(config)
    assert clone.get_config() == config
    assert clone.marginal.num_components == 7


def test_running_means_are_not_saved(tmp_path):
    """The saved model holds weights and rho, not training statistics."""
    x, y = data()
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras_ceb.StochasticEncoder(2, marginal=3, rho=0.5, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    encoder = reloaded.layers[0]
    assert encoder.rho == 0.5
    for total, count in encoder.running_means.variables.values():
        assert float(to_numpy(count)) == 0.0


def test_evaluate_reports_every_estimate_that_fit_logs():
    x, y = data()
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras_ceb.StochasticEncoder(2, marginal=3, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=keras_ceb.metrics.information_metrics(),
    )
    history = model.fit(x, y, epochs=2, verbose=0, validation_split=0.25).history
    for name in ("rate", "i_xz_lower", "rex", "i_yz"):
        assert all(math.isfinite(v) for v in history[name] + history[f"val_{name}"]), name
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert all(math.isfinite(v) for v in result.values()), result
    # predict pays for none of it and changes no state.
    before = [to_numpy(v).copy() for v in model.variables]
    model.predict(x, verbose=0)
    for a, v in zip(before, model.variables):
        np.testing.assert_array_equal(a, to_numpy(v))


def test_early_stopping_on_val_rate():
    x, y = data()
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras_ceb.StochasticEncoder(2, marginal=3, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    stop = keras.callbacks.EarlyStopping(monitor="val_rate", mode="min", patience=1)
    history = model.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[stop])
    assert all(math.isfinite(v) for v in history.history["val_rate"])


def test_warmup_starts_at_rho_plus_warmup_rho_and_ends_at_rho():
    layer = keras_ceb.StochasticEncoder(2, rho=0.5, warmup_rho=3.0, warmup_steps=4, seed=0)
    x, _ = data(8)
    seen = [float(to_numpy(layer(x, training=True)["rho"])[0]) for _ in range(6)]
    np.testing.assert_allclose(seen, [3.5, 2.75, 2.0, 1.25, 0.5, 0.5], rtol=1e-6)
    assert layer.rho == 0.5 and not layer.warming_up
    # Inference reports the encoder's rho, never the warm-up's.
    assert float(to_numpy(layer(x)["rho"])[0]) == 0.5


def test_warmup_off_and_set_warmup():
    x, _ = data(8)
    off = keras_ceb.StochasticEncoder(2, rho=1.0, warmup_steps=0)
    assert float(to_numpy(off(x, training=True)["rho"])[0]) == 1.0 and not off.warming_up
    layer = keras_ceb.StochasticEncoder(2, rho=1.0)
    assert layer.warming_up  # The default: rho + 3 over 2,000 steps.
    assert float(to_numpy(layer(x, training=True)["rho"])[0]) == 4.0
    layer.set_warmup(1.0, 2)
    assert [float(to_numpy(layer(x, training=True)["rho"])[0]) for _ in range(3)] == [
        2.0,
        1.5,
        1.0,
    ]
    for bad in (dict(warmup_rho=-1.0), dict(warmup_steps=-1), dict(warmup_steps=1.5)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            keras_ceb.StochasticEncoder(2, **bad)


def test_warmup_is_saved_with_the_model(tmp_path):
    x, y = data()
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras_ceb.StochasticEncoder(2, warmup_steps=100, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    encoder = reloaded.layers[0]
    assert encoder.warmup_steps == 100 and encoder.warmup_rho == 3.0
    assert float(to_numpy(encoder.warmup_step)) == math.ceil(len(x) / 32)


def test_a_file_saved_before_the_warmup_loads_without_one():
    """keras_ceb 0.1.0 saved rho alone and no warm-up in the config: loaded, no warm-up."""
    layer = keras_ceb.StochasticEncoder(2, rho=1.0)
    config = layer.get_config()
    del config["warmup_rho"], config["warmup_steps"]
    old = keras_ceb.StochasticEncoder.from_config(config)
    assert old.warmup_steps == 0 and not old.warming_up
    old.build((None, FEATURES))
    old.load_own_variables({"0": np.float32(2.0)})
    assert old.rho == 2.0 and not old.warming_up


def test_consistent_softmax_ignores_the_log_e_shift():
    x, _ = data(8)
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras_ceb.StochasticEncoder(2, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )
    logits = to_numpy(model(x))
    head = model.layers[1]
    encoded = model.layers[0](x)
    log_b = to_numpy(head.class_log_prob(encoded["z"]))
    np.testing.assert_allclose(special.softmax(logits, -1), special.softmax(log_b, -1), atol=1e-5)


def test_large_batch_never_forms_the_batch_by_batch_matrix(monkeypatch):
    """Memory linear in the batch: the I(X;Z) bound compares at most 512 Gaussians at once."""
    shapes = []
    original = gaussian.pairwise_log_prob

    def recording(x, dist):
        out = original(x, dist)
        shapes.append(tuple(out.shape))
        return out

    monkeypatch.setattr(gaussian, "pairwise_log_prob", recording)
    batch = 2048
    x = np.random.default_rng(0).normal(size=(batch, 4)).astype("float32")
    layer = keras_ceb.StochasticEncoder(2, seed=0)
    layer(x, training=True)
    assert shapes and all(s[1] <= information.DEFAULT_BLOCK_SIZE for s in shapes), shapes
    total, count = (to_numpy(v) for v in layer.running_means.variables["i_xz_lower"])
    assert count == batch and 0.0 <= total / count <= math.log(batch) + 1e-4


def test_evaluates_estimates_cover_every_batch_and_predict_none():
    # The PyTorch trainer reads the metrics after every batch: the held-out switch must stay
    # on until `evaluate` ends there too.
    x, y = np.random.rand(64, 8).astype("float32"), np.arange(64) % 3
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras_ceb.StochasticEncoder(2, marginal=3, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.evaluate(x, y, batch_size=16, verbose=0)
    _, count = model.layers[0].running_means.variables["i_xz_lower"]
    assert float(keras.ops.convert_to_numpy(count)) == 64.0
    model.predict(x, batch_size=16, verbose=0)
    assert float(keras.ops.convert_to_numpy(count)) == 64.0
