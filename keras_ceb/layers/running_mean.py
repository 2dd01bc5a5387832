"""Training-time estimates kept as layer state and reported through Keras's metric machinery.

The layers estimate information quantities (the rate, the I(X;Z) bound, ...) in `call` when
training, where the values are at hand. An ordinary `keras.metrics.Metric` cannot be updated
there on every backend: the JAX trainer runs `call` statelessly and drops metric updates
(keras-team/keras#21639). Non-trainable variables, by contrast, are carried through `call` by
every trainer, and under `tf.distribute` an `on_read` / `sum` variable is what Keras's own
metrics use. So the layer accumulates a sum and a count in such variables, and a `StateMean`
metric tracked by the layer only reads and resets them; `fit` logs the value under the
metric's name and `History` keeps it. The state is not saved with the model (the layers
leave it out of `save_own_variables`), and only `fit` and `evaluate` change it.

`evaluate` logs the same names, on held-out data: Keras resets every metric when `evaluate`
starts (and when each epoch of `fit` starts), which switches a layer's held-out estimates on
(`RunningMeans.held_out`), and reads the results eagerly when it ends, which switches them off
again. The switch works at two levels. In Python (`RunningMeans.held_out_open`), it decides
what a compiled function holds: Keras traces `evaluate`'s function after resetting the
metrics, so it holds the estimates, while `predict`, attacks and serving, traced outside
`evaluate`, do not hold them at all (compiling them made `predict`'s first call 3-4x slower on
JAX). In the graph (`RunningMeans.held_out`, a variable), it decides whether a function that
holds them computes them, inside a `keras.ops.cond`: a `predict` traced during `evaluate` (by
a callback, say) pays a branch it skips and changes no state. (Should a Keras version stop
reading the results eagerly at the end of `evaluate`, a later `predict` would compute the
estimates too: slower, never wrong.)

On JAX the per-batch value inside a jitted step cannot be read (the state lives outside the
variable while the step runs); the progress bar shows `nan` for it there, while epoch logs and
`History` carry the exact value.
"""

import math
import warnings

import keras
from keras import ops


class StateMean(keras.metrics.Metric):
    """Reports `total / count` held in two variables owned by a layer (NaN while count is 0).

    Args:
        total: The layer's non-trainable sum variable.
        count: The layer's non-trainable count variable.
        name: Name under which `fit` logs the value.
    """

    def __init__(self, total, count, name, dtype="float32", switch=None):
        super().__init__(name=name, dtype=dtype)
        # Bypass attribute tracking: the variables belong to the layer, not to the metric.
        object.__setattr__(self, "_state", (total, count))
        object.__setattr__(self, "_switch", switch)
        object.__setattr__(self, "_floor", None)
        object.__setattr__(self, "_warned", False)

    def warn_below(self, floor, message, category):
        """Warns with `message.format(value=...)` when an eager read finds the mean below
        `floor`: at the end of an epoch of `fit` or of `evaluate`, once per reset (the PyTorch
        trainer reads the metrics eagerly after every batch)."""
        object.__setattr__(self, "_floor", (float(floor), message, category))

    def update_state(self, *args, **kwargs):
        """The owning layer updates the state during `call`; nothing to do here."""

    def reset_state(self):
        object.__setattr__(self, "_warned", False)
        for variable in self._state:
            variable.assign(0.0)
        if self._switch is not None:
            self._switch.open()  # `evaluate` (or an epoch of `fit`) starts.

    def result(self):
        total, count = self._state
        try:
            total, count = ops.convert_to_tensor(total), ops.convert_to_tensor(count)
        except TypeError:
            # JAX: inside a jitted step the state is held outside the variable.
            return ops.convert_to_tensor(math.nan, dtype=self.dtype)
        eager = _is_eager(count)
        if self._switch is not None and eager and _ends_a_loop():
            self._switch.close()  # Read eagerly: `evaluate` (or the epoch) has ended.
        nan = ops.convert_to_tensor(math.nan, dtype=total.dtype)
        value = ops.where(count > 0, total / ops.maximum(count, 1.0), nan)
        if self._floor is not None and eager and not self._warned:
            floor, message, category = self._floor
            try:
                mean = float(ops.convert_to_numpy(value))
            except Exception:  # JAX: a traced value inside a compiled step.
                mean = math.nan
            if mean < floor:  # NaN (nothing recorded) compares False.
                object.__setattr__(self, "_warned", True)
                warnings.warn(message.format(value=mean), category, stacklevel=2)
        return value


def _ends_a_loop():
    """Whether an eager read of the results ends `evaluate`. On PyTorch the trainer reads them
    after every batch too, inside `test_step`, which runs under `torch.no_grad()`; the read that
    ends `evaluate` runs outside it."""
    if keras.backend.backend() != "torch":
        return True
    import torch

    return torch.is_grad_enabled()


def _is_eager(tensor):
    try:
        ops.convert_to_numpy(tensor)
    except Exception:  # A symbolic tensor inside a compiled step.
        return False
    return True


class RunningMeans:
    """The running means a layer logs, by name: create in `build`, update in `call`.

    Examples:

        >>> means = RunningMeans(keras.layers.Layer(), ["rate"])
        >>> means.update("rate", ops.ones((4,)))
        >>> float(means.metrics[0].result())
        1.0
    """

    def __init__(self, layer, names):
        self.names = tuple(names)
        self.variables = {}
        self.metrics = []
        # 1 (True) while `evaluate` runs (see the module docstring); never saved.
        self.held_out = keras.Variable(
            0.0, dtype="float32", trainable=False, name="held_out_estimates", autocast=False
        )
        self.held_out_open = False
        for name in self.names:
            total = _state_variable(layer, f"{name}_total")
            count = _state_variable(layer, f"{name}_count")
            self.variables[name] = (total, count)
            self.metrics.append(StateMean(total, count, name=name, switch=self))
        # Tracked by the layer so that `model.metrics` (and the logs) include them.
        layer.running_mean_metrics = self.metrics
        layer.held_out_estimates = self.held_out

    def open(self):
        """Switches the held-out estimates on (a metric reset: `evaluate` starts)."""
        self.held_out_open = True
        self.held_out.assign(1.0)

    def close(self):
        """Switches them off (an eager read of the results: `evaluate` has ended)."""
        self.held_out_open = False
        self.held_out.assign(0.0)

    def records_held_out(self, training):
        """Whether a call at `training` should hold the held-out estimates: at inference, while
        traced (or run eagerly) inside `evaluate`."""
        return not training and self.held_out_open

    def update(self, name, values, weight=1.0):
        """Adds a batch of per-example `values` (`[B]`) to the running mean `name`.

        `weight` (a scalar, 0 or 1) multiplies the batch's contribution: the held-out
        estimates pass `held_out`, so that a batch computed while they are off adds nothing.
        """
        total, count = self.variables[name]
        values = ops.cast(ops.stop_gradient(values), "float32")
        total.assign_add(weight * ops.sum(values))
        count.assign_add(weight * ops.cast(ops.shape(values)[0], "float32"))

    def held_out_values(self, compute, like):
        """`compute()` while the held-out estimates are on, else zeros shaped like `like`.

        Inside a `keras.ops.cond`, so that `predict` skips the computation. `compute` returns
        a list of `[B]` tensors, one per entry of `like`; it must draw no random numbers from
        a `SeedGenerator` (no state may change inside the condition): use an integer seed.
        """
        zeros = [ops.zeros_like(t) for t in like]
        return ops.cond(ops.convert_to_tensor(self.held_out) > 0.5, compute, lambda: zeros)

    def __contains__(self, name):
        return name in self.variables

    def is_state(self, variable):
        """Whether `variable` is one of these running-mean variables (not a weight)."""
        return any(variable is v for pair in self.variables.values() for v in pair)


def _state_variable(layer, name):
    variable = keras.Variable(
        0.0,
        dtype="float32",
        trainable=False,
        name=name,
        synchronization="on_read",
        aggregation="sum",
    )
    setattr(layer, name, variable)  # Tracked as the layer's (non-trainable) state.
    return variable


def save_weights(store, weights):
    """Saves `weights` (the layer's own weights, running means excluded) into `store`."""
    for i, variable in enumerate(weights):
        store[str(i)] = variable


def load_weights(layer, store, weights):
    """Loads what `save_weights` saved; a count mismatch is an error naming the layer."""
    if len(store.keys()) != len(weights):
        raise ValueError(
            f"Layer {layer.name!r} expected {len(weights)} saved variables. "
            f"Received: {len(store.keys())} variables"
        )
    for i, variable in enumerate(weights):
        variable.assign(store[str(i)])
