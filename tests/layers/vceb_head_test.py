"""`VCEBHead`: the shared layer checks, the Determ and inference terms, errors (eq. 15 itself,
level by level, is checked against NumPy in tests/models/hierarchical_test.py)."""

import keras
import numpy as np
import pytest
from scipy import special

import keras_ceb
from tests.backend_utils import to_numpy
from tests.layers.harness import run_layer_test

D, C = 3, 4


def test_layer_harness(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, C, size=96).astype("int32")
    x = (rng.normal(size=(C, 6))[y] * 2 + rng.normal(size=(96, 6))).astype("float32")

    def build(dtype):
        features = keras.Input((6,), name="features")
        labels = keras.Input((), dtype="int32", name="labels")
        encoded = keras_ceb.StochasticEncoder(D, seed=1, dtype=dtype)(
            keras.layers.Dense(16, "relu", dtype=dtype)(features)
        )
        logits = keras_ceb.VCEBHead(C, name="under_test", dtype=dtype)([encoded, labels])
        return keras.Model({"features": features, "labels": labels}, logits)

    model = run_layer_test(
        build, {"features": x, "labels": y}, y, 1, tmp_path, loss=None, inference_num_losses=1
    )
    assert {"rex", "i_yz"} <= {m.name for m in model.metrics}


def test_determ_and_inference_add_the_cross_entropy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 6)).astype("float32")
    labels = np.arange(12) % C
    for encoder in (
        keras_ceb.StochasticEncoder(D, objective="determ"),
        keras_ceb.StochasticEncoder(D),
    ):
        encoded = encoder(x, training=False)
        head = keras_ceb.VCEBHead(C)
        logits = np.asarray(to_numpy(head([encoded, labels], training=True)), "float64")
        if encoder.objective == "ceb":  # at inference: the mean, and only the cross-entropy
            head = keras_ceb.VCEBHead(C)
            logits = np.asarray(to_numpy(head([encoded, labels], training=False)), "float64")
        log_c = (logits - special.logsumexp(logits, axis=1, keepdims=True))[np.arange(12), labels]
        assert len(head.losses) == 1
        np.testing.assert_allclose(
            float(np.sum(to_numpy(head.losses[0]))), -log_c.mean(), rtol=1e-4
        )


def test_errors():
    x = np.zeros((4, 6), "float32")
    encoded = keras_ceb.StochasticEncoder(D)(x)
    with pytest.raises(ValueError, match="two inputs"):
        keras_ceb.VCEBHead(C)(encoded)
    with pytest.raises(ValueError, match="labels_shape"):
        keras_ceb.VCEBHead(C)([encoded, np.zeros((4, 2, 2), "int32")])
    with pytest.raises(ValueError, match=r"Received: num_classes=1$"):
        keras_ceb.VCEBHead(1)
    with pytest.raises(ValueError, match=r"Received: metric_prefix=3$"):
        keras_ceb.VCEBHead(C, metric_prefix=3)
