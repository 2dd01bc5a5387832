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

Compiled loops are cached per model (weakly, so the cache dies with the model),
per attack configuration and per inference mode of the model's encoders (a
`StochasticEncoder` reads its `inference` attribute when traced, so a trace
made at the mean is never reused while the encoders sample). Tensors of a fixed
batch shape and hyper-parameters passed as tensors mean one trace serves every
batch and every epsilon.

The module also holds the input checks, the batching, and the handling of the
model's randomness (`attack_scope`) shared by the attacks.
"""

import contextlib
import math
import numbers
import warnings
import weakref

import keras
import numpy as np
from keras import ops

from keras_ceb import inference
from keras_ceb import rho as rho_lib
from keras_ceb import validation

_LOOPS = weakref.WeakKeyDictionary()
# Keras names the state variable of every `keras.random.SeedGenerator` so.
_SEED_STATE_NAME = "seed_generator_state"


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

    The cache also keys on the backend, `training` and the current `inference`
    mode of every `StochasticEncoder` of `model` (see `attack_scope`).

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
    modes = tuple(encoder.inference for encoder in rho_lib.encoders(model))
    full_key = (backend, training, modes, key)
    if full_key not in loops:
        loops[full_key] = _LOOP_BUILDERS[backend](weakref.ref(model), body, training)
    return loops[full_key]


def eot_logits(ctx, x, num_samples):
    """Float32 logits of `num_samples` forward passes of `x`, stacked: `[num_samples, batch, C]`.

    The passes are one call on `x` repeated along the batch axis, so each row
    of each pass gets its own draw of z when the encoders sample.
    """
    if num_samples == 1:
        return ops.expand_dims(ops.cast(ctx.logits(x), "float32"), 0)
    logits = ops.cast(ctx.logits(ops.concatenate([x] * num_samples, axis=0)), "float32")
    return ops.reshape(logits, (num_samples, -1, ops.shape(logits)[-1]))


def eot_crossentropy(ctx, x, y_onehot, num_samples):
    """Per-example cross-entropy of `y_onehot`, averaged over `num_samples` passes (EOT)."""
    logp = ops.log_softmax(eot_logits(ctx, x, num_samples), axis=-1)
    return -ops.mean(ops.sum(y_onehot * logp, axis=-1), axis=0)


def _crossentropy_body(num_samples):
    def body(ctx, state, consts):
        x, y_onehot = consts

        def objective(x):
            losses = eot_crossentropy(ctx, x, y_onehot, num_samples)
            return ops.sum(losses), losses

        _, losses, grad = ctx.value_and_grad(objective, x)
        return losses, ops.cast(grad, "float32")

    return body


def loss_gradient(model, x, y, *, num_samples=1, seed=None, batch_size=256, training=None):
    """Cross-entropy of `model`'s logits and its gradient with respect to `x`.

    With `num_samples > 1` both are averaged over that many draws of z per
    example (expectation over transformation): the model's `StochasticEncoder`s
    sample z while the gradient is taken (see `pgd_attack`).

    Args:
        model: Keras model mapping inputs to class logits.
        x: Array of inputs, batch first.
        y: Integer labels of shape `(n,)`, one-hot labels of shape `(n, classes)`,
            or one integer class for every example.
        num_samples: Draws of z averaged per example. A value above 1 needs a
            model with a `StochasticEncoder` that samples (objective `"ceb"` or
            `"vib"`), else a `ValueError` is raised.
        seed: Integer seed of the model's random draws (see `pgd_attack`);
            `None` draws fresh entropy.
        batch_size: Examples per compiled call.
        training: Deprecated; see `pgd_attack`.

    Returns:
        `(losses, gradient)`: NumPy arrays of shape `(n,)` and `x.shape`, where
        `gradient[i]` is the gradient of `losses[i]` with respect to `x[i]`.

    Examples:

        ```python
        losses, grad = loss_gradient(model, x_test[:8], y_test[:8])
        ```
    """
    training = deprecated_training(training)
    check_positive_int(num_samples, "num_samples")
    check_positive_int(batch_size, "batch_size")
    x = np.asarray(x, dtype="float32")
    labels = labels_from(y, x, name="y")
    num_classes = num_classes_of(model, x) if len(x) else 1
    check_classes(labels, num_classes)
    y_onehot = np.eye(num_classes, dtype="float32")[labels]
    losses = np.empty(len(x), "float32")
    grads = np.empty_like(x)
    with attack_scope(model, seed=seed, num_samples=num_samples):
        run = compiled_loop(
            model,
            ("crossentropy", int(num_samples)),
            _crossentropy_body(int(num_samples)),
            training=training,
        )
        for rows, (xb, yb) in batches(len(x), batch_size, x, y_onehot):
            init = (np.zeros(len(xb), "float32"), np.zeros_like(xb))
            loss_b, grad_b = run(init, (xb, yb), 1)
            losses[rows] = ops.convert_to_numpy(loss_b)[: len(rows)]
            grads[rows] = ops.convert_to_numpy(grad_b)[: len(rows)]
    return losses, grads


# The model's randomness during an attack.


def sampling_encoders(model):
    """The `StochasticEncoder`s of `model` whose z can be sampled (objective not `"determ"`)."""
    return [e for e in rho_lib.encoders(model) if e.objective != "determ"]


def check_seed(seed):
    if seed is not None:
        validation.non_negative_int(seed, "seed")


def check_num_samples(model, num_samples):
    """Checks that `num_samples > 1` has draws of z to average over."""
    check_positive_int(num_samples, "num_samples")
    if num_samples > 1 and not sampling_encoders(model):
        raise ValueError(
            "Argument `num_samples` > 1 averages the attack over draws of z, but the model "
            "has no StochasticEncoder that samples z (objective 'ceb' or 'vib'; Determ uses "
            "z = mu(x)), so there is nothing to draw. Use num_samples=1. "
            f"Received: num_samples={num_samples}"
        )


@contextlib.contextmanager
def attack_scope(model, *, seed, num_samples=1):
    """The model's randomness during an attack: seeded, sampled for EOT, restored afterwards.

    Inside the block:

    - with `num_samples > 1`, every `StochasticEncoder` of `model` samples z at
      inference (`keras_ceb.inference.sampling_at_inference`); a model without
      one that samples is a `ValueError`;
    - the state of every `keras.random.SeedGenerator` of `model` is set from
      `seed` (fresh entropy for `None`), so the draws of z, like the random
      start, are reproducible.

    On exit every non-trainable variable of `model` (the random-seed states
    among them) gets back the value it had on entry: an attack leaves the model
    as it found it, and its later draws are those it would have made anyway.
    """
    check_seed(seed)
    check_num_samples(model, num_samples)
    variables = list(model.non_trainable_variables)
    saved = [np.array(ops.convert_to_numpy(v.value)) for v in variables]
    states = [v for v in variables if v.name == _SEED_STATE_NAME and tuple(v.shape) == (2,)]
    # A stream independent of the random start's `numpy.random.default_rng(seed)`.
    sequence = np.random.SeedSequence(seed).spawn(1)[0]
    values = np.random.default_rng(sequence).integers(0, 2**31 - 1, size=len(states))
    for state, value in zip(states, values):
        state.assign(np.array([value, 0], dtype=state.dtype))
    sampling = (
        inference.sampling_at_inference(model) if num_samples > 1 else contextlib.nullcontext()
    )
    try:
        with sampling:
            yield model
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)


def deprecated_training(training):
    """`training` of the attacks: `None` (the default) means `False`; any value is deprecated."""
    if training is None:
        return False
    warnings.warn(
        "The `training` argument of the attacks is deprecated and will be removed: attacks "
        "run the model at inference (training=False). For expectation over z use "
        "`num_samples > 1`, which samples z without the training-time losses and updates.",
        DeprecationWarning,
        stacklevel=3,
    )
    return bool(training)


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
        raise ValueError(f"Argument `{name}` must be a positive integer. Received: {name}={value}")


def check_clip(x, clip_min, clip_max):
    """Checks `clip_min < clip_max` and that `x` lies inside `[clip_min, clip_max]`."""
    if not clip_min < clip_max:
        raise ValueError(
            "Argument `clip_min` must be smaller than `clip_max`. "
            f"Received: clip_min={clip_min}, clip_max={clip_max}"
        )
    if x.size and (x.min() < clip_min or x.max() > clip_max):
        hint = (
            " (raw 0..255 pixels? divide by 255, as the model's training data was)"
            if x.max() > 2 and clip_max <= 1
            else ""
        )
        raise ValueError(
            f"Argument `x` must lie inside [clip_min, clip_max] = "
            f"[{clip_min}, {clip_max}]{hint}. Received: min(x)={x.min()}, max(x)={x.max()}"
        )


def labels_from(y, x, *, name="y"):
    """Integer labels from integer or one-hot `y`, or one class for all, checked against `len(x)`.

    A scalar `y` (a Python or NumPy integer) is broadcast to every example of `x`.
    """
    y = np.asarray(y)
    if y.dtype == bool:
        raise ValueError(
            f"Argument `{name}` must hold integer class labels, not booleans. "
            f"Received: {name}={y.tolist()!r}"
        )
    if y.ndim == 0:
        y = np.full(len(x), y)
    elif y.ndim == 2:
        y = np.argmax(y, axis=-1)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"Arguments `x` and `{name}` must hold the same number of examples. "
            f"Received: len(x)={len(x)}, {name}.shape={y.shape}"
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or not np.all(y == np.round(y)):
            raise ValueError(
                f"Argument `{name}` must hold integer class labels. "
                f"Received: {name}.dtype={y.dtype}"
            )
    return y.astype("int64")


def check_classes(labels, num_classes, name="y", what="classes"):
    """Checks that every label lies in `[0, num_classes)`; `what` names them in the message."""
    bad = (labels < 0) | (labels >= num_classes)
    if np.any(bad):
        raise ValueError(
            f"Argument `{name}` must hold {what} in [0, {num_classes}), the "
            f"model's number of logits. Received: {name}={labels[bad][0]}"
        )


def per_example(value, n, name):
    """A finite, non-negative number or `[n]` array of them, as a float64 array of shape `[n]`.

    Used for `eps` and `step_size`: a scalar applies to every example.
    """
    if isinstance(value, bool) or (
        isinstance(value, numbers.Number) and not isinstance(value, numbers.Real)
    ):
        raise ValueError(f"Argument `{name}` must be a real number. Received: {name}={value!r}")
    try:
        array = np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(
            f"Argument `{name}` must be a number or an array of one number per example. "
            f"Received: {name}={value!r}"
        ) from None
    if array.ndim == 0:
        if not (math.isfinite(array) and array >= 0):
            raise ValueError(
                f"Argument `{name}` must be a finite number >= 0. Received: {name}={array.item()}"
            )
        return np.full(n, float(array))
    if array.shape != (n,):
        raise ValueError(
            f"Argument `{name}` must be a number or an array of shape [N], one value per "
            f"example (N={n}). Received: {name}.shape={array.shape}"
        )
    bad = ~(np.isfinite(array) & (array >= 0))
    if np.any(bad):
        raise ValueError(
            f"Argument `{name}` must hold finite numbers >= 0. "
            f"Received: {name}[{int(np.argmax(bad))}]={array[bad][0]}"
        )
    return array


def num_classes_of(model, x):
    """The number of logits `model` produces, from its output shape or one call."""
    try:
        shape = model.output_shape
    except (AttributeError, ValueError):
        shape = None
    if isinstance(shape, tuple) and shape and isinstance(shape[-1], int):
        return shape[-1]
    return int(ops.shape(model(x[:1], training=False))[-1])


def prepare_inputs(model, x, y, clip_min, clip_max, targeted=False):
    """Validates an attack's inputs; returns `(x as float32, labels, output dtype, num_classes)`.

    `y` may be one class for every example (broadcast). `num_classes` is `None`
    for an empty `x` (the model is not called).
    """
    x_in = np.asarray(x)
    x = x_in.astype("float32")
    check_clip(x, clip_min, clip_max)
    labels = labels_from(y, x)
    out_dtype = x_in.dtype if np.issubdtype(x_in.dtype, np.floating) else "float32"
    if len(x) == 0:
        return x, labels, out_dtype, None
    num_classes = num_classes_of(model, x)
    check_classes(labels, num_classes, what="target classes" if targeted else "classes")
    return x, labels, out_dtype, num_classes


# Logits by direct calls (a compiled `model.predict` keeps the encoder mode it was traced with).


def _logits_body(num_samples):
    def body(ctx, state, consts):
        (x,) = consts
        logits = eot_logits(ctx, x, num_samples)
        if num_samples == 1:
            return (logits[0],)
        return (ops.log(ops.mean(ops.softmax(logits, axis=-1), axis=0) + 1e-30),)

    return body


def logits_function(model, num_samples=1):
    """`f(x_batch) -> float32 NumPy logits` of `model` called with `training=False`, compiled.

    Under `keras_ceb.inference.sampling_at_inference` every call draws z (a compiled
    `model.predict` keeps the encoder mode it was traced with); with `num_samples > 1` it returns
    the log of the softmax averaged over that many draws. Call it inside `attack_scope` for
    seeded draws and a model left as it was found.
    """
    run = compiled_loop(model, ("logits", int(num_samples)), _logits_body(int(num_samples)))
    num_classes = []

    def call(xb):
        if not num_classes:
            num_classes.append(num_classes_of(model, xb))
        (logits,) = run((np.zeros((len(xb), num_classes[0]), "float32"),), (xb,), 1)
        return np.asarray(ops.convert_to_numpy(logits))

    return call


def predict_logits(model, x, *, batch_size=256, seed=None, num_samples=1):
    """Float32 logits of `model` by direct calls, seeded, the model's state restored after.

    With `num_samples > 1` (a model whose encoders sample z), the log of the mean softmax over
    that many draws (see `logits_function`).

    Examples:

        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> predict_logits(model, np.zeros((5, 3), "float32")).shape
        (5, 2)
    """
    x = np.asarray(x, "float32")
    check_positive_int(batch_size, "batch_size")
    if len(x) == 0:
        return np.zeros(
            (0, num_classes_of(model, np.zeros((1,) + x.shape[1:], "float32"))), "float32"
        )
    out = None
    with attack_scope(model, seed=seed, num_samples=num_samples):
        forward = logits_function(model, num_samples)
        for rows, (xb,) in batches(len(x), batch_size, x):
            logits = forward(xb)
            if out is None:
                out = np.zeros((len(x), logits.shape[-1]), "float32")
            out[rows] = logits[: len(rows)]
    return out
