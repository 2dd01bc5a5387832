"""The user scenarios of docs/guide/layers.md ("The scenarios"), end to end with `model.fit`.

Each fits a few epochs on small separable data and checks that the loss falls, that the
information metrics are logged under their names and finite, that `.keras` saving round-trips
with `safe_mode=True` and no `custom_objects`, and (TensorFlow) that the SavedModel export
serves logits and the rate.
"""

import math

import keras
import numpy as np
import pytest

import keras_ceb
from keras_ceb import export
from tests.backend_utils import to_numpy

NUM_CLASSES = 4
FEATURES = 16


def blobs(n=512, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, NUM_CLASSES, size=n).astype("int32")
    centers = rng.normal(size=(NUM_CLASSES, FEATURES)) * 2.0
    x = (centers[y] + rng.normal(size=(n, FEATURES))).astype("float32")
    return x, y


def ce_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def scenario_a(objective="ceb"):
    """Sequential CEB with the consistent classifier (E: the same with objective='determ')."""
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(32, activation="relu")])
    model.add(keras_ceb.StochasticEncoder(4, objective=objective, marginal=8, seed=1))
    model.add(keras_ceb.BackwardEncoder(NUM_CLASSES))
    model.compile(
        keras.optimizers.Adam(1e-2),
        ce_loss(),
        metrics=["accuracy", *keras_ceb.metrics.information_metrics()],
    )
    return model


def scenario_b():
    """Sequential VIB with the mixture marginal and a plain classifier head."""
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(32, activation="relu"),
            keras_ceb.StochasticEncoder(
                4, objective="vib", marginal=keras_ceb.MixtureMarginal(8), seed=1
            ),
            keras.layers.Dense(NUM_CLASSES),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-2),
        ce_loss(),
        metrics=["accuracy", keras_ceb.metrics.IYZLowerBound()],
    )
    return model


def scenario_c():
    """Functional CEB with a separate MLP classifier c(y|z) and b(z|y) fed by the labels."""
    image = keras.Input((FEATURES,), name="image")
    label = keras.Input((), dtype="int32", name="label")
    h = keras.layers.Dense(32, activation="relu")(image)
    bottleneck = keras_ceb.StochasticEncoder(4, marginal=8, seed=1)(h)
    bottleneck = keras_ceb.BackwardEncoder(NUM_CLASSES, output_mode="bottleneck", name="backward")(
        bottleneck, labels=label
    )
    logits = keras.layers.Dense(NUM_CLASSES, name="classifier")(
        keras.layers.Dense(32, activation="elu")(bottleneck["z"])
    )
    model = keras.Model({"image": image, "label": label}, logits)
    model.compile(
        keras.optimizers.Adam(1e-2),
        loss=ce_loss(),
        metrics=["accuracy", keras_ceb.metrics.IYZLowerBound()],
    )
    return model


def scenario_d():
    """Functional bidirectional CatGen CEB with class labels (the paper's CIFAR-10 setup)."""
    image = keras.Input((FEATURES,), name="image")
    label = keras.Input((), dtype="int32", name="label")
    bottleneck = keras_ceb.StochasticEncoder(4, marginal=8, seed=1)(
        keras.layers.Dense(32, activation="relu")(image)
    )
    logits = keras_ceb.CatGenHead(num_classes=NUM_CLASSES, seed=2)([bottleneck, label])
    model = keras.Model({"image": image, "label": label}, logits)
    model.compile(keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    return model


def fit_data(name, x, y):
    if name in ("c", "d"):
        return {"image": x, "label": y}, y
    return x, y


SCENARIOS = {
    "a": (scenario_a, ["rex", "i_yz", "rate", "i_xz_lower"]),
    "b": (scenario_b, ["i_yz", "rate", "i_xz_lower"]),
    "c": (scenario_c, ["rex", "i_yz", "rate", "i_xz_lower"]),
    "d": (scenario_d, ["rex", "i_yz", "rate", "i_xz_lower"]),
    "e": (lambda: scenario_a("determ"), ["i_yz"]),
}


def predictions(model, inputs):
    return model.predict(inputs, verbose=0)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_trains_logs_and_saves(name, tmp_path):
    keras.utils.set_random_seed(0)
    build, metric_names = SCENARIOS[name]
    x, y = blobs()
    inputs, targets = fit_data(name, x, y)
    model = build()
    history = model.fit(inputs, targets, epochs=8, batch_size=64, verbose=0).history
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    for metric in metric_names:
        assert metric in history, sorted(history)
        assert all(math.isfinite(v) for v in history[metric]), (metric, history[metric])
    evaluated = model.evaluate(inputs, targets, verbose=0, return_dict=True)
    assert math.isfinite(evaluated["loss"])
    assert evaluated["accuracy"] > 0.6, evaluated

    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        predictions(restored, inputs), predictions(model, inputs), rtol=1e-5, atol=1e-5
    )

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        served = tf.saved_model.load(export.export_saved_model(model, tmp_path / "exported"))
        feed = (
            {k: tf.constant(v) for k, v in inputs.items()}
            if isinstance(inputs, dict)
            else tf.constant(inputs)
        )
        logits = served.serve(feed)
        np.testing.assert_allclose(
            logits.numpy(), predictions(model, inputs), rtol=1e-4, atol=1e-4
        )
        if name == "e":  # Determ has no rate.
            assert not hasattr(served, "rate")
        else:
            rate = served.rate(feed).numpy()
            assert rate.shape == (len(x),) and np.all(np.isfinite(rate))


def count_traces(model, x, y, callbacks):
    """Fits `model` and counts how often Python runs the encoder's `call` (once per trace)."""
    encoder = model.layers[1]
    traces = []
    original_call = encoder.call

    def counting_call(*args, **kwargs):
        traces.append(1)
        return original_call(*args, **kwargs)

    encoder.call = counting_call
    history = model.fit(x, y, epochs=4, batch_size=64, verbose=0, callbacks=callbacks).history
    return len(traces), history


def test_rho_changes_without_retracing():
    """A rho callback changes the objective mid-fit without tracing the step again."""
    keras.utils.set_random_seed(0)
    x, y = blobs(256)
    baseline_traces, _ = count_traces(scenario_a(), x, y, callbacks=[])
    schedule = keras_ceb.callbacks.linear_anneal(start=5.0, end=0.0, epochs=3)
    model = scenario_a()
    traces, history = count_traces(model, x, y, [keras_ceb.callbacks.RhoScheduler(schedule)])
    np.testing.assert_allclose(history["rho"], [5.0, 10 / 3, 5 / 3, 0.0], rtol=1e-6)
    assert keras_ceb.get_rho(model) == 0.0
    assert traces == baseline_traces, (traces, baseline_traces)


def test_rho_is_used_by_the_training_loss():
    """The same weights and batch give a different training loss at a different rho."""
    x, y = blobs(64)
    model = scenario_a()
    model.fit(x, y, epochs=1, verbose=0)
    losses = []
    for rho in (0.0, 8.0):
        keras_ceb.set_rho(model, rho)
        model(x, training=True)
        losses.append(sum(float(np.sum(to_numpy(v))) for v in model.losses))
    assert abs(losses[0] - losses[1]) > 1e-3, losses


def test_set_rho_errors():
    model = scenario_b()
    with pytest.raises(ValueError, match="rho=nan"):
        keras_ceb.set_rho(model, float("nan"))
    with pytest.raises(ValueError, match="named 'nope'"):
        keras_ceb.set_rho(model, 1.0, name="nope")
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no StochasticEncoder"):
        keras_ceb.get_rho(plain)


def test_no_nan_after_2000_steps_at_high_learning_rate():
    """lr 1e-2 for 2,000 steps on random data: loss and weights stay finite."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000 * 8, FEATURES)).astype("float32") * 3
    y = rng.integers(0, NUM_CLASSES, size=len(x)).astype("int32")
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(32, activation="relu"),
            keras_ceb.StochasticEncoder(4, marginal=16, seed=2),
            keras_ceb.BackwardEncoder(NUM_CLASSES),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-2), ce_loss(), metrics=keras_ceb.metrics.information_metrics()
    )
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert all(math.isfinite(v) for values in history.values() for v in values), history
    for weight in model.weights:
        assert np.all(np.isfinite(to_numpy(weight))), weight.path


def test_ceb_learns_fashion_mnist_subset(fashion_mnist):
    """CEB at rho = 0 on 6,000 real Fashion-MNIST images: far above chance after a short fit."""
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = fashion_mnist
    x_train, y_train = x_train[:6000], y_train[:6000]
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras_ceb.StochasticEncoder(4, marginal=16, seed=0),
            keras_ceb.BackwardEncoder(10),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-3),
        ce_loss(),
        metrics=["accuracy", *keras_ceb.metrics.information_metrics()],
    )
    model.fit(x_train, y_train, epochs=5, batch_size=128, verbose=0)
    result = model.evaluate(x_test[:2000], y_test[:2000], verbose=0, return_dict=True)
    assert result["accuracy"] > 0.7, result
    assert 0.0 < result["i_yz"] <= math.log(10) + 1e-6, result


def test_high_rho_with_full_covariance_stays_finite(fashion_mnist):
    """rho = 10 lets the encoder's scale collapse (diagonal near min_scale, large off-diagonal
    entries): log e(z|x) at the sample comes from the noise, not a triangular solve, so the loss,
    the metrics and the I(X;Z) bound (at most log B) stay finite."""
    keras.utils.set_random_seed(0)
    (x, y), _ = fashion_mnist
    model = keras_ceb.models.compile_classifier(
        keras_ceb.models.build_classifier("ceb", rho=10.0, seed=0), learning_rate=1e-3
    )
    history = model.fit(x[:20000], y[:20000], epochs=1, batch_size=128, verbose=0).history
    assert all(math.isfinite(v[0]) for v in history.values()), history
    assert history["i_xz_lower"][0] <= math.log(128) + 1e-4
