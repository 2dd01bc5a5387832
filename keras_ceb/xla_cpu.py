"""The workaround for a crash of JAX on CPU (jaxlib 0.10.2) that keras_ceb applies on import.

`apply()` (called by `import keras_ceb`) applies it; it leaves a user's own setting alone and
does nothing on other backends.

**The crash.**

On the JAX backend on CPU, XLA compiles convolutions into YNNPACK fusions that run on its
slinky thread pool. Training a Wide-ResNet there aborted with `free(): invalid pointer` or
`double free or corruption` inside `slinky::evaluator` on two XLA worker threads at once (or
hung at 0% CPU), with or without TensorFlow in the process, with or without keras_ceb's layers
(`tests/jax_cpu_crash_test.py` keeps the reproduction). The same runs complete with YNNPACK
fusions turned off, which this module does by adding `--xla_cpu_experimental_ynn_fusion_type=`
(an empty list) to `$XLA_FLAGS` before JAX starts its backend.

It changes nothing when `$XLA_FLAGS` already sets `xla_cpu_experimental_ynn_fusion_type` (your
own choice wins: `--xla_cpu_experimental_ynn_fusion_type=dot,...` turns the fusions back on),
on other backends, or on GPUs and TPUs (the flag is XLA:CPU's). XLA reads the flags once, when
JAX first uses a device, so import keras_ceb before any JAX computation (the `keras-ceb`
command does).

The hang of `fit` on JAX CPU that an earlier version blamed on JAX's asynchronous dispatch
(jax-ml/jax#25861) was a deadlock in jaxlib's LAPACK kernels; `keras_ceb.ops.triangular`
avoids it, and asynchronous dispatch is left as JAX sets it.
"""

import json
import os
import sys

FLAG_NAME = "xla_cpu_experimental_ynn_fusion_type"
FLAG = f"--{FLAG_NAME}="


def apply(environ=None):
    """The workaround, on the JAX backend: YNNPACK fusions off. `import keras_ceb` calls it."""
    disable_ynn_fusion(environ)


def disable_ynn_fusion(environ=None):
    """Adds `--xla_cpu_experimental_ynn_fusion_type=` to `XLA_FLAGS` on the JAX backend.

    Args:
        environ: The environment to change (default `os.environ`).

    Returns:
        Whether the flag was added.

    Examples:

        >>> env = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot"}
        >>> disable_ynn_fusion(env), env["XLA_FLAGS"]  # the user's own setting is kept
        (False, '--xla_cpu_experimental_ynn_fusion_type=dot')
    """
    environ = os.environ if environ is None else environ
    if configured_backend(environ) != "jax":
        return False
    flags = environ.get("XLA_FLAGS", "")
    if FLAG_NAME in flags:
        return False
    environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
    return True


def configured_backend(environ=None):
    """The Keras backend this process uses or will use, found without importing Keras.

    Keras's own answer when Keras is imported; else Keras's rule: `$KERAS_BACKEND`, then the
    `"backend"` of `$KERAS_HOME/keras.json` (default `~/.keras/keras.json`), then
    `"tensorflow"`.
    """
    keras_module = sys.modules.get("keras")
    backend = getattr(getattr(keras_module, "backend", None), "backend", None)
    if callable(backend):
        return backend()
    environ = os.environ if environ is None else environ
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"]
    home = environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"
