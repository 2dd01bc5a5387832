"""Refusing class labels outside [0, C): the one runtime check that needs a backend branch.

`keras.ops.take` on an out-of-range label wraps around (-1 becomes class C-1) or reads out of
bounds (TensorFlow on GPU does not check gather indices), so a bad label would train silently.
Eager values are checked directly. Inside a compiled TensorFlow step the check is a
`tf.debugging` assertion, so the first bad batch stops training with a message that names the
labels. Inside a compiled JAX step there is no such assertion short of a host callback, and a
host callback deadlocked XLA:CPU (measured: `fit` stopped for good at the first step, the
main thread waiting for the step's result while holding the GIL that the callback needs). So
on JAX an out-of-range id becomes `C`, which JAX's gathers fill with NaN: that batch's loss is
NaN, and `keras_ceb.callbacks.TerminateOnNonFinite` (used by `keras-ceb train`) or Keras's
`TerminateOnNaN` stops training there.
"""

import keras
import numpy as np
from keras import ops


def _message(layer_name, num_classes, bad):
    return (
        f"{layer_name}: `labels` must be class ids in [0, {num_classes}). "
        f"Received: labels containing {bad}"
    )


def _check_values(values, num_classes, layer_name):
    values = np.asarray(values)
    bad = values[(values < 0) | (values >= num_classes)]
    if bad.size:
        raise ValueError(_message(layer_name, num_classes, sorted(set(bad.tolist()))[:5]))


def check_label_ids(ids, num_classes, layer_name):
    """Returns `ids` (`[B]` int32), after checking they lie in `[0, num_classes)`.

    Examples:

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
        valid = tf.logical_and(ids >= 0, ids < num_classes)
        check = tf.debugging.Assert(
            tf.reduce_all(valid),
            [
                f"{layer_name}: `labels` must be class ids in [0, {num_classes}). "
                "Received: labels containing",
                tf.boolean_mask(ids, tf.logical_not(valid)),
            ],
            summarize=5,
        )
        with tf.control_dependencies([check]):
            return tf.identity(ids)
    if backend == "jax":
        import jax

        if isinstance(ids, jax.core.Tracer):  # NaN downstream; see the module docstring.
            valid = ops.logical_and(ids >= 0, ids < num_classes)
            return ops.where(valid, ids, ops.cast(num_classes, ids.dtype))
    _check_values(ops.convert_to_numpy(ids), num_classes, layer_name)
    return ids
