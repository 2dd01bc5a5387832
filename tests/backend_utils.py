"""Helpers for tests that must run under every Keras backend."""

import contextlib

import keras
import numpy as np


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
