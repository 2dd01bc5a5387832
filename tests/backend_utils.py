"""Helpers for tests that must run under every Keras backend."""

import contextlib

import keras
import numpy as np
import pytest


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@contextlib.contextmanager
def float64_enabled():
    """On JAX, float64 needs x64 mode; elsewhere a no-op."""
    if keras.backend.backend() == "jax":
        import jax

        previous = jax.config.jax_enable_x64
        jax.config.update("jax_enable_x64", True)
        try:
            yield
        finally:
            jax.config.update("jax_enable_x64", previous)
    else:
        yield


# jaxlib 0.10.2 on CPU: `fit` of a model with a sampled z feeding a Dense head (the paper's MLP
# head under CEB or VIB, the CatGen denoising autoencoder) stops for good at its first steps:
# every thread idle on a futex, the main thread waiting in XLA's `Execute` (a lost wake-up).
# Measured with scripts that fit `build_classifier(..., head="mlp")` on 512 images, 1 epoch:
# CEB-MLP 5 of 6 runs hung, VIB-MLP 2 of 2, Determ-MLP 0 of 2, CEB-consistent 0 of 2. The
# TensorFlow run of the same tests covers them; README "Known problems" has the details.
jax_cpu_hang = pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="XLA:CPU (jaxlib 0.10.2) hangs in fit of sampled-z + Dense-head models on CPU; "
    "see tests/backend_utils.py and README 'Known problems'",
)
