"""Workarounds for a crash and a hang of JAX on CPU (jaxlib 0.10.2) that keras_ceb applies on import.

`apply()` (called by `import keras_ceb`) does both; each leaves a user's own setting alone and
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

**The hang.** With JAX's asynchronous dispatch on CPU, `model.fit` sometimes stopped for good
on 2 cores: every thread waiting on a futex, Keras's callback threads in `np.array(logs)`, no
XLA thread running (seen in a tutorial's `fit` under the test suite, and in CI). That is
jax-ml/jax#25861 (open: "JAX getting stuck with asynchronous dispatching (CPU backend)"), whose
workaround is `jax_cpu_enable_async_dispatch=False`: computations on CPU then run inline. It
applies to CPU computations only (GPU and TPU dispatch is unchanged) and costs the overlap of
Python with XLA on CPU. `disable_cpu_async_dispatch` sets it in `jax.config` when keras_ceb is
imported after Keras, or else as soon as Keras is imported (it must come before JAX's CPU
client is made, at the first computation). Set `KERAS_CEB_JAX_CPU_ASYNC_DISPATCH=1` to keep
JAX's default.
"""

import json
import os
import sys

FLAG_NAME = "xla_cpu_experimental_ynn_fusion_type"
FLAG = f"--{FLAG_NAME}="


KEEP_ASYNC_DISPATCH_VARIABLE = "KERAS_CEB_JAX_CPU_ASYNC_DISPATCH"


def apply(environ=None):
    """Both workarounds, on the JAX backend: YNNPACK fusions off, CPU async dispatch off.

    `import keras_ceb` calls it, and again once Keras (which imports JAX) is imported.
    """
    disable_ynn_fusion(environ)
    disable_cpu_async_dispatch(environ)


def disable_cpu_async_dispatch(environ=None):
    """Turns JAX's asynchronous dispatch on CPU off (jax-ml/jax#25861), on the JAX backend.

    It sets `jax_cpu_enable_async_dispatch` in `jax.config`, so JAX must be imported (Keras
    imports it) and must not have run a computation yet (the CPU client reads the option when
    it is made).

    Args:
        environ: The environment to read (default `os.environ`).

    Returns:
        Whether it was turned off (`False`: another backend, JAX not imported yet, or
        `$KERAS_CEB_JAX_CPU_ASYNC_DISPATCH=1`, which keeps JAX's default).

    Example:

    >>> disable_cpu_async_dispatch({"KERAS_BACKEND": "jax", "KERAS_CEB_JAX_CPU_ASYNC_DISPATCH": "1"})
    False
    """
    environ = os.environ if environ is None else environ
    if configured_backend(environ) != "jax":
        return False
    if environ.get(KEEP_ASYNC_DISPATCH_VARIABLE, "").strip().lower() in ("1", "true", "yes"):
        return False
    jax = sys.modules.get("jax")
    if jax is None or not hasattr(jax, "config"):
        return False
    try:
        jax.config.update("jax_cpu_enable_async_dispatch", False)
    except (AttributeError, KeyError, ValueError):  # A JAX without the option.
        return False
    return True


def disable_ynn_fusion(environ=None):
    """Adds `--xla_cpu_experimental_ynn_fusion_type=` to `XLA_FLAGS` on the JAX backend.

    Args:
        environ: The environment to change (default `os.environ`).

    Returns:
        Whether the flag was added.

    Example:

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
