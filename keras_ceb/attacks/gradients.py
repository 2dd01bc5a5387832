"""Loss gradients with respect to a model's input: the per-backend part of the attacks.

Everything else in `keras_ceb.attacks` is written with `keras.ops`. This module
supplies what `keras.ops` cannot: the gradient of an objective with respect to
an input tensor, and a compiled loop that runs an attack step many times.

- TensorFlow: `tf.GradientTape` inside a `tf.function` compiled for one step,
  called from a Python loop.
- JAX: `jax.value_and_grad` under `jax.jit`, calling the model through
  `Model.stateless_call` so that the weights are arguments (never baked-in
  constants); the steps run in a `jax.lax.fori_loop`, and random-seed state
  is threaded through it and written back to the model afterwards.
- PyTorch: `torch.autograd.grad` in an eager Python loop.

Compiled loops are cached per model (weakly, so the cache dies with the model)
and per attack configuration; tensors of a fixed batch shape and scalar
hyper-parameters passed as tensors mean one trace serves every batch and every
epsilon.

The module also holds the input checks and the batching shared by the attacks.
"""

import weakref

import keras
import numpy as np
from keras import ops

_LOOPS = weakref.WeakKeyDictionary()


class _TensorFlowContext:
    """Calls the model and takes gradients inside a `tf.function`."""

    def __init__(self, model, training):
        self.model = model
        self.training = training

    def logits(self, x):
        return self.model(x, training=self.training)

    def value_and_grad(self, fn, v, *args):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(v)
            value, aux = fn(v, *args)
        return value, aux, tape.gradient(value, v)


class _JaxContext:
    """Calls the model statelessly, threading its non-trainable state."""

    def __init__(self, model, training, trainable, non_trainable):
        self.model = model
        self.training = training
        self.trainable = trainable
        self.non_trainable = non_trainable

    def logits(self, x):
        out, self.non_trainable = self.model.stateless_call(
            self.trainable, self.non_trainable, x, training=self.training
        )
        return out

    def value_and_grad(self, fn, v, *args):
        import jax

        def inner(v, non_trainable):
            outer_state = self.non_trainable
            self.non_trainable = non_trainable
            value, aux = fn(v, *args)
            new_state = self.non_trainable
            self.non_trainable = outer_state
            return value, (aux, new_state)

        (value, (aux, new_state)), grad = jax.value_and_grad(inner, has_aux=True)(
            v, self.non_trainable
        )
        self.non_trainable = new_state
        return value, aux, grad


class _TorchContext:
    """Calls the model and takes gradients eagerly with `torch.autograd`."""

    def __init__(self, model, training):
        self.model = model
        self.training = training

    def logits(self, x):
        return self.model(x, training=self.training)

    def value_and_grad(self, fn, v, *args):
        import torch

        v = v.detach().requires_grad_(True)
        with torch.enable_grad():
            value, aux = fn(v, *args)
        (grad,) = torch.autograd.grad(value, v)
        aux = keras.tree.map_structure(lambda t: t.detach(), aux)
        return value.detach(), aux, grad


def _tensorflow_loop(model_ref, body, training):
    import tensorflow as tf

    def step(state, consts):
        return tuple(body(_TensorFlowContext(model_ref(), training), state, consts))

    # One compiled step called from Python: on CPU, grappler's fused kernels
    # make this about twice as fast as a `tf.while_loop` of the same step, and
    # the call overhead (~0.1 ms) is small against a forward and backward pass.
    # XLA (`jit_compile=True`) was slower still for convolutional models on CPU.
    compiled = tf.function(step, reduce_retracing=True)

    def call(state, consts, num_iters):
        state = tuple(tf.convert_to_tensor(s) for s in state)
        consts = tuple(tf.convert_to_tensor(c) for c in consts)
        for _ in range(num_iters):
            state = compiled(state, consts)
        return state

    return call


def _jax_loop(model_ref, body, training):
    import jax
    import jax.numpy as jnp

    def pure(trainable, non_trainable, state, consts, num_iters):
        model = model_ref()

        def step(_, carry):
            state, non_trainable = carry
            ctx = _JaxContext(model, training, trainable, non_trainable)
            state = tuple(body(ctx, state, consts))
            return state, ctx.non_trainable

        return jax.lax.fori_loop(0, num_iters, step, (tuple(state), list(non_trainable)))

    jitted = jax.jit(pure)

    def call(state, consts, num_iters):
        model = model_ref()
        variables = model.non_trainable_variables
        state, new_values = jitted(
            [v.value for v in model.trainable_variables],
            [v.value for v in variables],
            tuple(state),
            tuple(consts),
            jnp.int32(num_iters),
        )
        for variable, value in zip(variables, new_values):
            variable.assign(value)  # e.g. advanced random-seed state
        return state

    return call


def _torch_loop(model_ref, body, training):
    import torch

    def call(state, consts, num_iters):
        ctx = _TorchContext(model_ref(), training)
        state = tuple(ops.convert_to_tensor(s) for s in state)
        consts = tuple(ops.convert_to_tensor(c) for c in consts)
        with torch.no_grad():  # gradients only inside `value_and_grad`
            for _ in range(num_iters):
                state = tuple(body(ctx, state, consts))
        return state

    return call


_LOOP_BUILDERS = {
    "tensorflow": _tensorflow_loop,
    "jax": _jax_loop,
    "torch": _torch_loop,
}


def compiled_loop(model, key, body, *, training=False):
    """A compiled `state -> body(ctx, state, consts)` loop, cached per model and `key`.

    Args:
        model: The Keras model that `ctx.logits` calls.
        key: Hashable description of everything `body` closes over.
        body: `body(ctx, state, consts) -> state`, written with `keras.ops`.
            `ctx.logits(x)` calls the model; `ctx.value_and_grad(fn, v, *args)`
            returns `(value, aux, d value / d v)` for `fn(v, *args) -> (value, aux)`.
        training: Passed to every model call.

    Returns:
        `run(state, consts, num_iters) -> state`, taking and returning tuples of
        tensors. Shapes and dtypes of `state` must not change inside the loop.
    """
    backend = keras.backend.backend()
    if backend not in _LOOP_BUILDERS:
        raise ValueError(
            "Attacks need gradients, which the active Keras backend does not "
            f"provide. Use tensorflow, jax or torch. Received: backend={backend}"
        )
    loops = _LOOPS.setdefault(model, {})
    full_key = (backend, training, key)
    if full_key not in loops:
        loops[full_key] = _LOOP_BUILDERS[backend](
            weakref.ref(model), body, training
        )
    return loops[full_key]


def _crossentropy_body(ctx, state, consts):
    x, y_onehot = consts

    def objective(x):
        logp = ops.log_softmax(ops.cast(ctx.logits(x), "float32"), axis=-1)
        losses = -ops.sum(y_onehot * logp, axis=-1)
        return ops.sum(losses), losses

    _, losses, grad = ctx.value_and_grad(objective, x)
    return losses, ops.cast(grad, "float32")


def loss_gradient(model, x, y, *, training=False, batch_size=256):
    """Cross-entropy of `model`'s logits and its gradient with respect to `x`.

    Args:
        model: Keras model mapping inputs to class logits.
        x: Array of inputs, batch first.
        y: Integer labels of shape `(n,)` or one-hot labels of shape `(n, classes)`.
        training: Passed to the model's `call`.
        batch_size: Examples per compiled call.

    Returns:
        `(losses, gradient)`: NumPy arrays of shape `(n,)` and `x.shape`, where
        `gradient[i]` is the gradient of `losses[i]` with respect to `x[i]`.

    Example:

    ```python
    losses, grad = loss_gradient(model, x_test[:8], y_test[:8])
    ```
    """
    x = np.asarray(x, dtype="float32")
    labels = labels_from(y, x, name="y")
    y_onehot = np.eye(num_classes_of(model, x), dtype="float32")[labels]
    run = compiled_loop(model, ("crossentropy",), _crossentropy_body, training=training)
    losses = np.empty(len(x), "float32")
    grads = np.empty_like(x)
    for rows, (xb, yb) in batches(len(x), batch_size, x, y_onehot):
        init = (np.zeros(len(xb), "float32"), np.zeros_like(xb))
        loss_b, grad_b = run(init, (xb, yb), 1)
        losses[rows] = ops.convert_to_numpy(loss_b)[: len(rows)]
        grads[rows] = ops.convert_to_numpy(grad_b)[: len(rows)]
    return losses, grads


# Input handling shared by the attacks.


def batches(n, batch_size, *arrays):
    """Yields `(rows, padded_arrays)` in batches of `min(batch_size, n)` rows.

    The last batch is padded by repeating its last row, so every batch has the
    same shape and a compiled function is traced once.
    """
    if n == 0:
        return
    size = int(min(batch_size, n))
    for start in range(0, n, size):
        rows = np.arange(start, min(start + size, n))
        pad = np.concatenate([rows, np.full(size - len(rows), rows[-1])])
        yield rows, tuple(a[pad] for a in arrays)


def check_positive_int(value, name):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value}"
        )


def check_clip(x, clip_min, clip_max):
    """Checks `clip_min < clip_max` and that `x` lies inside `[clip_min, clip_max]`."""
    if not clip_min < clip_max:
        raise ValueError(
            "Argument `clip_min` must be smaller than `clip_max`. "
            f"Received: clip_min={clip_min}, clip_max={clip_max}"
        )
    if x.size and (x.min() < clip_min or x.max() > clip_max):
        raise ValueError(
            f"Argument `x` must lie inside [clip_min, clip_max] = "
            f"[{clip_min}, {clip_max}]. Received: min(x)={x.min()}, max(x)={x.max()}"
        )


def labels_from(y, x, *, name="y"):
    """Integer labels from integer or one-hot `y`, checked against `len(x)`."""
    y = np.asarray(y)
    if y.ndim == 2:
        y = np.argmax(y, axis=-1)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"Arguments `x` and `{name}` must hold the same number of examples. "
            f"Received: len(x)={len(x)}, {name}.shape={y.shape}"
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(y == np.round(y)):
            raise ValueError(
                f"Argument `{name}` must hold integer class labels. "
                f"Received: {name}.dtype={y.dtype}"
            )
    return y.astype("int64")


def check_classes(labels, num_classes, name="y"):
    """Checks that every label lies in `[0, num_classes)`."""
    bad = (labels < 0) | (labels >= num_classes)
    if np.any(bad):
        raise ValueError(
            f"Argument `{name}` must hold classes in [0, {num_classes}), the "
            f"model's number of logits. Received: {name}={labels[bad][0]}"
        )


def num_classes_of(model, x):
    """The number of logits `model` produces, from its output shape or one call."""
    try:
        shape = model.output_shape
    except (AttributeError, ValueError):
        shape = None
    if isinstance(shape, tuple) and shape and isinstance(shape[-1], int):
        return shape[-1]
    return int(ops.shape(model(x[:1], training=False))[-1])


def prepare_inputs(model, x, y, clip_min, clip_max):
    """Validates an attack's inputs; returns `(x as float32, labels, output dtype, num_classes)`.

    `num_classes` is `None` for an empty `x` (the model is not called).
    """
    x_in = np.asarray(x)
    x = x_in.astype("float32")
    check_clip(x, clip_min, clip_max)
    labels = labels_from(y, x)
    out_dtype = x_in.dtype if np.issubdtype(x_in.dtype, np.floating) else "float32"
    if len(x) == 0:
        return x, labels, out_dtype, None
    num_classes = num_classes_of(model, x)
    check_classes(labels, num_classes)
    return x, labels, out_dtype, num_classes
