"""Refusing class labels outside [0, C): the one runtime check that needs a backend branch.

`keras.ops.take` on an out-of-range label wraps around (-1 becomes class C-1) or reads out of
bounds (TensorFlow on GPU does not check gather indices), so a bad label would train silently.
Eager values are checked directly; inside a compiled step the check becomes an assertion of
the backend (TensorFlow `tf.debugging`, JAX `jax.debug.callback`), so the first bad batch stops
training with a message that names the labels.
"""

import keras
import numpy as np
from keras import ops


def _message(layer_name, num_classes, bad):
    return (f"{layer_name}: `labels` must be class ids in [0, {num_classes}). "
            f"Received: labels containing {bad}")


def _check_values(values, num_classes, layer_name):
    values = np.asarray(values)
    bad = values[(values < 0) | (values >= num_classes)]
    if bad.size:
        raise ValueError(_message(layer_name, num_classes, sorted(set(bad.tolist()))[:5]))


def check_label_ids(ids, num_classes, layer_name):
    """Returns `ids` (`[B]` int32), after checking they lie in `[0, num_classes)`.

    Example:

    >>> check_label_ids(np.array([0, 2], "int32"), 3, "layer").tolist()
    [0, 2]
    >>> check_label_ids(np.array([0, 3], "int32"), 3, "layer")
    Traceback (most recent call last):
    ...
    ValueError: layer: `labels` must be class ids in [0, 3). Received: labels containing [3]
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.executing_eagerly():
            _check_values(ids.numpy() if hasattr(ids, "numpy") else ids, num_classes, layer_name)
            return ids
        message = f"{layer_name}: `labels` must be class ids in [0, {num_classes})"
        checks = [tf.debugging.assert_non_negative(ids, message=message),
                  tf.debugging.assert_less(ids, tf.cast(num_classes, ids.dtype), message=message)]
        with tf.control_dependencies(checks):
            return tf.identity(ids)
    if backend == "jax":
        import jax

        if isinstance(ids, jax.core.Tracer):
            jax.debug.callback(lambda v: _check_values(v, num_classes, layer_name), ids)
            return ids
    _check_values(ops.convert_to_numpy(ids), num_classes, layer_name)
    return ids
