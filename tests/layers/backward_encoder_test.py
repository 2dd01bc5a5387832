"""`BackwardEncoder`: logits, the CEB terms it adds, its modes, and its errors."""

import math

import keras
import numpy as np
import pytest
from scipy import special

import keras_ceb
from tests.backend_utils import to_numpy
from tests.layers.harness import run_layer_test


def encoded(rho=0.0, objective="ceb", seed=0, n=16):
    encoder = keras_ceb.StochasticEncoder(
        3, rho=rho, objective=objective, seed=seed, warmup_steps=0
    )
    x = np.random.default_rng(seed).normal(size=(n, 5)).astype("float32")
    return encoder(x, training=True)


def data(n=96, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n).astype("int32")
    x = rng.normal(size=(classes, 6))[y] * 2 + rng.normal(size=(n, 6))
    return x.astype("float32"), y


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_layer_harness_consistent_classifier(covariance, tmp_path):
    x, y = data()

    def build(dtype):
        return keras.Sequential(
            [
                keras.Input((6,)),
                keras.layers.Dense(16, "relu", dtype=dtype),
                keras_ceb.StochasticEncoder(3, covariance=covariance, seed=1, dtype=dtype),
                keras_ceb.BackwardEncoder(
                    4, covariance=covariance, name="under_test", dtype=dtype
                ),
            ]
        )

    run_layer_test(build, x, y, 1, tmp_path)


def test_layer_harness_with_labels_and_bottleneck_output(tmp_path):
    x, y = data()

    def build(dtype):
        features = keras.Input((6,), name="features")
        labels = keras.Input((), dtype="int32", name="labels")
        encoded = keras_ceb.StochasticEncoder(3, seed=1, dtype=dtype)(
            keras.layers.Dense(16, "relu", dtype=dtype)(features)
        )
        encoded = keras_ceb.BackwardEncoder(
            4, output_mode="bottleneck", name="under_test", dtype=dtype
        )(encoded, labels=labels)
        logits = keras.layers.Dense(4, dtype=dtype)(encoded["z"])
        return keras.Model({"features": features, "labels": labels}, logits)

    run_layer_test(build, {"features": x, "labels": y}, y, 1, tmp_path)


def test_logits_are_minus_residual_information():
    out = encoded()
    backward = keras_ceb.BackwardEncoder(4)
    logits = to_numpy(backward(out))
    log_b = to_numpy(backward.class_log_prob(out["z"]))
    log_e = to_numpy(out["log_prob"])
    np.testing.assert_allclose(logits, log_b - log_e[:, None], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(special.softmax(logits, -1), special.softmax(log_b, -1), atol=1e-6)


@pytest.mark.parametrize("rho", [-1.0, 0.0, 3.0])
def test_consistent_classifier_objective_is_scaled_vceb(rho):
    """add_loss + cross-entropy on the logits equals VCEB (eq. 15) / (1 + exp(-rho))."""
    out = encoded(rho=rho)
    backward = keras_ceb.BackwardEncoder(4)
    logits = to_numpy(backward(out, training=True))
    labels = np.random.default_rng(1).integers(0, 4, size=16)
    log_b = to_numpy(backward.class_log_prob(out["z"]))
    log_e = to_numpy(out["log_prob"])
    log_b_y = log_b[np.arange(16), labels]
    log_c = log_b_y - special.logsumexp(log_b, axis=-1)
    vceb = np.mean(math.exp(-rho) * (log_e - log_b_y) - log_c)
    cross_entropy = -np.mean(special.log_softmax(logits, -1)[np.arange(16), labels])
    total = float(np.sum(to_numpy(backward.losses[0]))) + cross_entropy
    np.testing.assert_allclose(total, vceb / (1 + math.exp(-rho)), rtol=1e-4)


def test_labels_mode_adds_exact_rex_term_and_logs_rex():
    out = encoded(rho=0.7)
    backward = keras_ceb.BackwardEncoder(4)
    labels = np.array([0, 1, 2, 3] * 4)
    logits = to_numpy(backward(out, labels=labels, training=True))
    rex = -logits[np.arange(16), labels]
    np.testing.assert_allclose(
        float(np.sum(to_numpy(backward.losses[0]))), math.exp(-0.7) * rex.mean(), rtol=1e-5
    )
    total, count = (to_numpy(v) for v in backward.running_means.variables["rex"])
    np.testing.assert_allclose(total / count, rex.mean(), rtol=1e-5)
    backward(out, labels=np.eye(4)[labels], training=True)
    np.testing.assert_allclose(
        float(np.sum(to_numpy(backward.losses[0]))), math.exp(-0.7) * rex.mean(), rtol=1e-5
    )


def test_nothing_added_at_inference():
    backward = keras_ceb.BackwardEncoder(4)
    backward(encoded(), training=False)
    assert not backward.losses


@pytest.mark.parametrize("objective", ["determ", "vib"])
def test_plain_z_is_a_gaussian_classifier(objective):
    z = encoded(objective=objective)
    backward = keras_ceb.BackwardEncoder(4)
    logits = to_numpy(backward(z, training=True))
    np.testing.assert_allclose(logits, to_numpy(backward.class_log_prob(z)), rtol=1e-6)
    assert not backward.losses


def test_bottleneck_mode_returns_its_input():
    out = encoded()
    backward = keras_ceb.BackwardEncoder(4, output_mode="bottleneck")
    passed = backward(out, labels=np.zeros(16, "int32"), training=True)
    for key in out:
        np.testing.assert_array_equal(to_numpy(passed[key]), to_numpy(out[key]))
    assert len(backward.losses) == 1


def test_wrong_inputs_are_errors():
    with pytest.raises(ValueError, match=r"Received: a dict with keys \['a'\]"):
        keras_ceb.BackwardEncoder(4)({"a": keras.Input((3,))})
    with pytest.raises(ValueError, match="z_shape"):
        keras_ceb.BackwardEncoder(4)(np.zeros((2, 3, 3), "float32"))


def test_bad_label_rank():
    features = keras.Input((5,))
    labels = keras.Input((2, 3))
    with pytest.raises(ValueError, match=r"labels_shape=\(None, 2, 3\)"):
        keras_ceb.BackwardEncoder(4)(keras_ceb.StochasticEncoder(3)(features), labels=labels)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": "ten"}, "num_classes"),
        ({"num_classes": 3, "output_mode": "z"}, "output_mode='z'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_ceb.BackwardEncoder(**kwargs)


def labelled_model(num_classes=4):
    features = keras.Input((6,), name="features")
    labels = keras.Input((), dtype="int32", name="labels")
    encoded = keras_ceb.StochasticEncoder(3, seed=1)(features)
    encoded = keras_ceb.BackwardEncoder(num_classes, output_mode="bottleneck")(
        encoded, labels=labels
    )
    model = keras.Model(
        {"features": features, "labels": labels}, keras.layers.Dense(num_classes)(encoded["z"])
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("bad", [-1, 4, 12])
def test_labels_outside_the_classes_stop_training_at_the_first_batch(bad):
    """-1 would silently be class 3 (take wraps around); 12 reads out of bounds on a GPU."""
    x, y = data(64)
    labels = y.copy()
    labels[5] = bad
    model = labelled_model()
    if keras.backend.backend() == "jax":  # No assertion in a JAX step: the loss is NaN.
        history = model.fit(
            {"features": x, "labels": labels},
            y,
            epochs=1,
            batch_size=64,
            verbose=0,
            callbacks=[keras.callbacks.TerminateOnNaN()],
        )
        assert np.isnan(history.history["loss"][0])
        return
    with pytest.raises(Exception, match=r"labels` must be class ids in \[0, 4\)"):
        model.fit({"features": x, "labels": labels}, y, epochs=1, batch_size=64, verbose=0)


def test_labels_checked_in_eager_calls():
    out = encoded()
    with pytest.raises(ValueError, match=r"Received: labels containing \[-1\]"):
        keras_ceb.BackwardEncoder(4)(out, labels=np.full(16, -1, "int32"), training=True)


def test_float_class_ids_are_refused():
    out = encoded()
    with pytest.raises(ValueError, match="labels of dtype float32"):
        keras_ceb.BackwardEncoder(4)(out, labels=np.full(16, 1.5, "float32"), training=True)
