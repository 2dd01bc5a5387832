"""Training on an existing distribution engine: tf.distribute (TF) and keras.distribution (JAX).

Each check runs in a fresh interpreter, since the device layout (two logical CPUs) must be set
before the backend starts.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

MODEL = """
import json, numpy as np, keras, keras_ceb
rng = np.random.default_rng(0)
y = rng.integers(0, 4, size=512).astype("int32")
x = (rng.normal(size=(4, 16))[y] * 2 + rng.normal(size=(512, 16))).astype("float32")

def build():
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"),
                              keras_ceb.StochasticEncoder(4, marginal=8, seed=1),
                              keras_ceb.BackwardEncoder(4)])
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy", *keras_ceb.metrics.information_metrics()])
    return model
"""

MIRRORED = MODEL + """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = build()
    history = model.fit(x, y, epochs=4, batch_size=64, verbose=0).history
    keras_ceb.set_rho(model, 1.0)
    distributed = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
single = build()
single.set_weights(model.get_weights())
reference = single.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "history": history,
                  "distributed": distributed, "single": reference}))
"""

JAX_DATA_PARALLEL = MODEL + """
import jax
devices = jax.devices()
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
model = build()
history = model.fit(x, y, epochs=4, batch_size=64, verbose=0).history
print(json.dumps({"replicas": len(devices), "history": history,
                  "distributed": model.evaluate(x, y, verbose=0, return_dict=True)}))
"""


def run_script(source, backend, extra_env=None):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", **(extra_env or {})}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(source)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_training(report):
    history = report["history"]
    assert report["replicas"] == 2
    assert history["loss"][-1] < history["loss"][0]
    for name in ("rate", "i_xz_lower", "rex", "i_yz", "accuracy"):
        assert name in report["distributed"], report["distributed"]
    assert report["distributed"]["accuracy"] > 0.8, report


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute is TensorFlow's")
def test_mirrored_strategy_two_replicas():
    report = run_script(MIRRORED, "tensorflow")
    check_training(report)
    # Same weights, same data: the deterministic evaluation loss (encoder mean at inference)
    # must not depend on the replica count, so added losses are scaled correctly.
    assert abs(report["distributed"]["loss"] - report["single"]["loss"]) < 1e-4, report
    assert abs(report["distributed"]["accuracy"] - report["single"]["accuracy"]) < 1e-6


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="keras.distribution runs on JAX here")
def test_jax_data_parallel_two_devices():
    report = run_script(JAX_DATA_PARALLEL, "jax",
                        {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    check_training(report)
