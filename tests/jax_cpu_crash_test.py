"""The JAX CPU crash of issue 10, and keras_ceb's workaround (`keras_ceb/xla_cpu.py`).

On the JAX backend on CPU (jaxlib 0.10.2), a Wide-ResNet in `fit` / `evaluate` aborted with
`free(): invalid pointer` or `double free or corruption (!prev)` inside XLA:CPU's YNNPACK
fusions (`slinky::evaluator` on two `XLAEigen` worker threads at once), or hung at 0% CPU.
It happens with plain Keras layers and with TensorFlow blocked from the process, so neither
keras_ceb's layers nor TensorFlow are needed for it. keras_ceb turns those fusions off when it is
imported on JAX.

The reproduction trains WRN-16-4 on 1024 random CIFAR-shaped images (batch 64) and evaluates
and predicts, twice; it takes minutes of CPU, so it runs only with
`KERAS_CEB_JAX_CPU_CRASH_REPRO=1` (with the check that
`--xla_cpu_experimental_ynn_fusion_type=+dot` in `$XLA_FLAGS` brings the fusions back, which
the `on` case uses):

    KERAS_CEB_JAX_CPU_CRASH_REPRO=1 KERAS_BACKEND=jax python3 -m pytest tests/jax_cpu_crash_test.py

Without the workaround (the fusions on, as XLA has them) it crashed in the first `fit` or
`evaluate` in 4 runs out of 4 on 2 CPU cores (2 with TensorFlow loaded, 2 without; 2 with
keras_ceb's CEB head, 2 with a plain Dense head); with it, the runs completed. The default suite
checks that the workaround is in effect.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

from tests import distribution_test

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="XLA:CPU under the JAX backend"
)

FLAG = "--xla_cpu_experimental_ynn_fusion_type="

# How many YNNPACK fusions XLA puts in a jitted convolution after `import keras_ceb`.
COUNT_FUSIONS = """
import json, os
import keras_ceb
import jax, jax.numpy as jnp
conv = lambda x, w: jax.lax.conv_general_dilated(
    x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")).sum()
text = jax.jit(conv).lower(jnp.ones((8, 32, 32, 16)), jnp.ones((3, 3, 16, 32))).compile().as_text()
print(json.dumps({"xla_flags": os.environ.get("XLA_FLAGS", ""),
                  "ynn_fusions": text.count("ynn_fusion")}))
"""

# WRN-16-4 with a plain Dense head (no keras_ceb layer), TensorFlow unimportable.
REPRODUCTION = (
    distribution_test.WITHOUT_TENSORFLOW.split("sys.argv =")[0]
    + """
import time
import numpy as np
import keras_ceb  # The workaround, unless $XLA_FLAGS sets the flag.
import keras
from keras_ceb.models.backbones import wide_resnet
rng = np.random.default_rng(0)
x = rng.random((1024, 32, 32, 3), dtype=np.float32)
y = rng.integers(0, 10, 1024)
for repetition in range(2):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(10)(wide_resnet((32, 32, 3), 16, 4)(inputs)))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    model.evaluate(x, y, batch_size=64, verbose=0)
    model.predict(x, batch_size=64, verbose=0)
    print("repetition", repetition, "done", flush=True)
print(json.dumps({"tensorflow_loaded": "tensorflow" in sys.modules}))
"""
)


def run(source, xla_flags=None, timeout=300):
    env = distribution_test.subprocess_env(KERAS_BACKEND="jax")
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    return subprocess.run(
        [sys.executable, "-c", source], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_importing_keras_ceb_turns_the_ynnpack_fusions_off():
    result = run(COUNT_FUSIONS)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert FLAG in report["xla_flags"].split()
    assert report["ynn_fusions"] == 0


REPRODUCE = pytest.mark.skipif(
    not os.environ.get("KERAS_CEB_JAX_CPU_CRASH_REPRO"),
    reason="minutes of CPU: set KERAS_CEB_JAX_CPU_CRASH_REPRO=1",
)


@REPRODUCE
def test_the_users_own_setting_wins():
    result = run(COUNT_FUSIONS, xla_flags=FLAG + "+dot")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["xla_flags"] == FLAG + "+dot"
    assert report["ynn_fusions"] > 0  # XLA's default list of fusions (plus dot) is back.


@REPRODUCE
@pytest.mark.parametrize("fusions", ["off", "on"])
def test_wide_resnet_fit_evaluate_predict(fusions):
    """With the workaround the reproduction completes; with XLA's fusions on it crashed or
    hung (`on` asserts that it still does, to show the test can catch it)."""
    try:
        result = run(
            REPRODUCTION, xla_flags=None if fusions == "off" else FLAG + "+dot", timeout=1800
        )
        completed = result.returncode == 0
        output = result.stdout + result.stderr
    except subprocess.TimeoutExpired:
        completed, output = False, "timed out after 1800 s (hung)"
    if fusions == "off":
        assert completed, output[-3000:]
        assert '{"tensorflow_loaded": false}' in output
    else:
        assert not completed, "XLA's YNNPACK fusions did not crash this time: " + output[-500:]
