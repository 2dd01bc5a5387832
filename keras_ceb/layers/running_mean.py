"""Running means kept as layer state and reported through Keras's metric machinery.

A layer that estimates an information quantity (the rate, the I(X;Z) bound, ...) during `call`
cannot update an ordinary `keras.metrics.Metric` there on every backend: the JAX trainer runs
`call` statelessly and drops metric updates (keras-team/keras#21639). Non-trainable variables,
by contrast, are carried through `call` by every trainer, and under `tf.distribute` an
`on_read` / `sum` variable is what Keras's own metrics use. So the layer accumulates a sum and a
count in such variables, and a `StateMean` metric, tracked by the layer, only reads and resets
them. `fit` and `evaluate` then log the value under the metric's name, and `History` keeps it.

On JAX the per-batch value inside a jitted step cannot be read (the state lives outside the
variable while the step runs); the progress bar shows `nan` for it there, while epoch logs,
`History` and `evaluate` carry the exact value.
"""

import math

import keras
from keras import ops


class StateMean(keras.metrics.Metric):
    """Reports `total / count` held in two variables owned by a layer.

    Args:
        total: The layer's non-trainable sum variable.
        count: The layer's non-trainable count variable.
        name: Name under which `fit` and `evaluate` log the value.
    """

    def __init__(self, total, count, name, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        # Bypass attribute tracking: the variables belong to the layer, not to the metric.
        object.__setattr__(self, "_state", (total, count))

    def update_state(self, *args, **kwargs):
        """The owning layer updates the state during `call`; nothing to do here."""

    def reset_state(self):
        for variable in self._state:
            variable.assign(0.0)

    def result(self):
        total, count = self._state
        try:
            total, count = ops.convert_to_tensor(total), ops.convert_to_tensor(count)
        except TypeError:
            # JAX: inside a jitted step the state is held outside the variable.
            return ops.convert_to_tensor(math.nan, dtype=self.dtype)
        return ops.divide_no_nan(total, count)


def add_running_mean(layer, name):
    """Creates the state variables and the `StateMean` metric for `name` on `layer`.

    Returns:
        `(total, count, metric)`.
    """
    total = keras.Variable(
        0.0, dtype="float32", trainable=False, name=f"{name}_total",
        synchronization="on_read", aggregation="sum",
    )
    count = keras.Variable(
        0.0, dtype="float32", trainable=False, name=f"{name}_count",
        synchronization="on_read", aggregation="sum",
    )
    return total, count, StateMean(total, count, name=name)


def update_running_mean(total, count, values):
    """Adds a batch of per-example `values` (`[B]`) to the running mean."""
    values = ops.cast(ops.stop_gradient(values), "float32")
    total.assign_add(ops.sum(values))
    count.assign_add(ops.cast(ops.shape(values)[0], "float32"))
