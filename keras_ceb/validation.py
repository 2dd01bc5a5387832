"""Argument checks shared by the package: each error names the argument and the value it got."""

import math
import numbers

# The largest finite float32, 3.4028234663852886e38: a larger magnitude is finite in Python but
# becomes inf in a float32 variable (rho, a learning rate), so it is refused as not finite.
FLOAT32_MAX = 3.4028234663852886e38
# The three training objectives, defined once here at the bottom of the import graph.
OBJECTIVES = ("ceb", "vib", "determ")
# keras_ceb.datasets.DATASET_NAMES, kept here without Keras (tests/cli checks they are equal).
DATASET_NAMES = ("fashion_mnist", "mnist", "cifar10", "cifar10_1")


def positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def non_negative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"`{name}` must be an integer >= 0. Received: {name}={value!r}")
    return int(value)


def positive_float(value, name):
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive finite number. Received: {name}={value!r}")
    return float(value)


def non_negative_float(value, name):
    if not _is_real(value) or not math.isfinite(float(value)) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value!r}")
    return finite_float(value, name)


def finite_float(value, name):
    if not _is_real(value) or not math.isfinite(float(value)):
        raise ValueError(f"`{name}` must be a finite number. Received: {name}={value!r}")
    if abs(float(value)) > FLOAT32_MAX:
        raise ValueError(
            f"`{name}` must be finite in float32 (|{name}| <= {FLOAT32_MAX:.4g}). "
            f"Received: {name}={value!r}"
        )
    return float(value)


def one_of(value, choices, name):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}. Received: {name}={value!r}")
    return value


def check_rank(shape, rank, layer_name, name="input_shape"):
    """Raises unless `shape` has `rank` dimensions."""
    if shape is None or len(shape) != rank:
        raise ValueError(
            f"{layer_name} expects inputs of rank {rank} (batch, features); flatten or pool "
            f"the features first. Received: {name}={tuple(shape) if shape is not None else None}"
        )


def _is_real(value):
    # A string is refused even when it spells a number (`rho="0"`): every other argument
    # refuses strings, and a number that arrives as text is usually a bug upstream.
    if isinstance(value, (bool, str, bytes)):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
