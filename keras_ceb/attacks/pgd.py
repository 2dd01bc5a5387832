"""Projected gradient descent (PGD) in the L-infinity and L2 norms."""

import math

import numpy as np
from keras import ops

from keras_ceb.attacks import gradients

NORMS = ("linf", "l2")
# Largest default step, as a fraction of the input range per feature (see `default_step_size`).
STEP_CAP = 0.03


def pgd_attack(
    model,
    x,
    y,
    *,
    eps,
    norm="linf",
    steps=7,
    step_size=None,
    targeted=False,
    random_start=True,
    clip_min=0.0,
    clip_max=1.0,
    num_samples=1,
    batch_size=256,
    seed=None,
    training=None,
):
    """Projected gradient descent attack of Madry et al. (2018).

    Each step moves every example along the gradient of the cross-entropy of
    `model`'s logits: the sign of the gradient for `norm="linf"`, the gradient
    divided by its L2 norm for `norm="l2"`. The example is then projected back
    onto the `eps` ball around the clean input and clipped to
    `[clip_min, clip_max]`. Untargeted attacks increase the cross-entropy to the
    true label; targeted attacks decrease the cross-entropy to the target.

    The default step size is `min(2.5 * eps / steps, cap)` (`default_step_size`):
    Madry et al.'s rule while the ball is small, and at most 3% of the input
    range per feature (`0.03 * (clip_max - clip_min)` in L-inf, times
    `sqrt(features per example)` in L2). Without the cap, 7-step targeted
    success fell as eps grew (from 41% at L-inf eps 0.2 to 16% at 0.5 on a
    small Fashion-MNIST convnet); with it, success grew with eps on every model
    and norm measured (`benchmarks/README.md`, "PGD step size").

    The random start is drawn with `numpy.random.default_rng(seed)` on the whole
    of `x` at once: for `"linf"`, `rng.uniform(-eps, eps, x.shape)` is added to
    `x`; for `"l2"`, a direction `d = rng.standard_normal(x.shape)` is
    normalized per example and scaled by a radius `eps * u ** (1 / dim)` with
    `u = rng.uniform(size=len(x))` and `dim` the number of features per example
    (a uniform draw from the L2 ball). The start is then clipped to
    `[clip_min, clip_max]`.

    Expectation over transformation (EOT, Athalye et al., 2018): with
    `num_samples > 1`, every `StochasticEncoder` of `model` samples z at
    inference during the attack (`keras_ceb.inference.sampling_at_inference`),
    and each step averages the loss, hence its gradient, over `num_samples`
    forward passes, each with its own draw of z per example. No training-time
    losses or statistics are involved. A model without an encoder that samples
    z (no `StochasticEncoder`, or only `objective="determ"` ones) has nothing
    to average over: `num_samples > 1` is then a `ValueError`. With
    `num_samples=1` the encoders keep their mode (the mean, by default).

    Randomness and `seed`: the random start, and every draw the model makes
    during the attack (z under EOT), come from `seed`, so one seed gives
    bit-identical examples on a given backend. The model's random-seed states
    are set from `seed` for the attack, and every non-trainable variable of
    the model is restored afterwards: an attack leaves the model as it found
    it, and its later draws are those it would have made anyway.

    The attack runs as one compiled loop per batch (`tf.function` on
    TensorFlow, `jax.jit` on JAX). The last batch is padded, so the loop is
    traced once per model, configuration and encoder mode, and reused across
    batches, calls and values of `eps` and `step_size`.

    Args:
        model: Keras model mapping inputs in `[clip_min, clip_max]` to logits.
        x: Clean inputs, batch first. Never modified.
        y: Integer (or one-hot) labels: the true classes for untargeted attacks,
            the target classes when `targeted=True`. One integer (e.g.
            `y=1`) is one class for every example.
        eps: Radius of the perturbation ball, in the metric `norm`: a finite
            number >= 0, or an array of shape `[N]` with one radius per example.
        norm: `"linf"` or `"l2"`.
        steps: Number of gradient steps.
        step_size: Length of each step in the metric `norm`, a finite number
            >= 0 or an array of shape `[N]`. Defaults to `default_step_size`
            (see above).
        targeted: Whether `y` holds target classes.
        random_start: Whether to start at a uniform random point of the ball
            (see above) rather than at `x`.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.
        num_samples: Draws of z averaged per gradient (EOT). Defaults to 1.
        batch_size: Examples per compiled call.
        seed: Non-negative integer seed of the random start and of the model's
            draws; `None` draws fresh entropy.
        training: Deprecated, and will be removed. Passed to the model's
            `call`; `True` once served to sample z, which also added the
            training losses and updated training statistics. Use
            `num_samples` instead.

    Returns:
        NumPy array of adversarial examples with the shape of `x` (and its
        dtype when floating-point, else float32).

    Examples:

        ```python
        x_adv = pgd_attack(model, x_test, y_test, eps=0.1, norm="linf", seed=0)
        accuracy_under_attack(model, x_adv, y_test)
        # Targeted towards class 1 for every example, gradients averaged over 8 draws of z:
        x_adv = pgd_attack(ceb_model, x_test, 1, eps=2.0, norm="l2", targeted=True,
                           num_samples=8, seed=0)
        ```

    References:
        Madry, Makelov, Schmidt, Tsipras and Vladu. Towards Deep Learning
        Models Resistant to Adversarial Attacks. ICLR 2018.
        Athalye, Carlini and Wagner. Obfuscated Gradients Give a False Sense of
        Security. ICML 2018.
    """
    training = gradients.deprecated_training(training)
    if norm not in NORMS:
        raise ValueError(f"Argument `norm` must be one of {NORMS}. Received: norm={norm}")
    gradients.check_positive_int(steps, "steps")
    gradients.check_positive_int(batch_size, "batch_size")
    gradients.check_seed(seed)
    gradients.check_num_samples(model, num_samples)
    x, labels, out_dtype, num_classes = gradients.prepare_inputs(
        model, x, y, clip_min, clip_max, targeted=targeted
    )
    eps = gradients.per_example(eps, len(x), "eps")
    if step_size is None:
        step_size = default_step_size(
            eps, steps, norm, int(np.prod(x.shape[1:])), clip_min, clip_max
        )
    step_size = gradients.per_example(step_size, len(x), "step_size")
    if len(x) == 0:
        return x.astype(out_dtype)

    start = x
    if random_start:
        start = _random_start(x, eps, norm, np.random.default_rng(seed), clip_min, clip_max)
    y_onehot = np.eye(num_classes, dtype="float32")[labels]
    eps32, step32 = eps.astype("float32"), step_size.astype("float32")
    box = (np.float32(clip_min), np.float32(clip_max))
    x_adv = np.empty_like(x)
    with gradients.attack_scope(model, seed=seed, num_samples=num_samples):
        run = gradients.compiled_loop(
            model,
            ("pgd", norm, bool(targeted), int(num_samples)),
            _pgd_body(norm, bool(targeted), int(num_samples)),
            training=training,
        )
        for rows, (xb, sb, yb, eb, tb) in gradients.batches(
            len(x), batch_size, x, start, y_onehot, eps32, step32
        ):
            (out,) = run((sb,), (xb, yb, eb, tb) + box, int(steps))
            x_adv[rows] = ops.convert_to_numpy(out)[: len(rows)]
    return x_adv.astype(out_dtype, copy=False)


def default_step_size(eps, steps, norm="linf", num_features=1, clip_min=0.0, clip_max=1.0):
    """The default step size of `pgd_attack`: `min(2.5 * eps / steps, cap)`.

    `2.5 * eps / steps` is Madry et al.'s rule: a path can reach the edge of the
    ball from any point inside it. `cap` bounds the step at large eps, where a
    step that long overshoots and success falls as eps grows (see
    `benchmarks/README.md`, "PGD step size"): `STEP_CAP = 0.03` of the input
    range per feature, i.e. `0.03 * (clip_max - clip_min)` for `"linf"` and
    `0.03 * (clip_max - clip_min) * sqrt(num_features)` (the L2 length of that
    L-inf step) for `"l2"`.

    Args:
        eps: Radius, a number or an array of one radius per example.
        steps: Number of steps.
        norm: `"linf"` or `"l2"`.
        num_features: Features per example (e.g. 784 for a 28x28x1 image).
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.

    Returns:
        The step size, a float64 NumPy value or array shaped like `eps`.

    Examples:

        >>> float(default_step_size(0.05, 7))  # 2.5 * 0.05 / 7, under the cap
        0.017857142857142856
        >>> float(default_step_size(0.3, 7))  # capped
        0.03
        >>> float(default_step_size(5.0, 7, norm="l2", num_features=784))  # 0.03 * sqrt(784)
        0.84
    """
    scale = 1.0 if norm == "linf" else math.sqrt(num_features)
    cap = STEP_CAP * (clip_max - clip_min) * scale
    return np.minimum(2.5 * np.asarray(eps, "float64") / steps, cap)


def _random_start(x, eps, norm, rng, clip_min, clip_max):
    """A uniform random point of the `eps` ball around each example (see `pgd_attack`).

    `eps` is a number or an array of one radius per example.
    """
    x64 = x.astype("float64")
    eps = np.asarray(eps, "float64")
    if norm == "linf":
        radius = eps.reshape((-1,) + (1,) * (x.ndim - 1)) if eps.ndim else eps
        noise = rng.uniform(-radius, radius, size=x.shape)
    else:
        direction = rng.standard_normal(size=x.shape).reshape(len(x), -1)
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        radius = eps * rng.uniform(size=len(x)) ** (1.0 / direction.shape[1])
        noise = (radius[:, None] * direction).reshape(x.shape)
    return np.clip(x64 + noise, clip_min, clip_max).astype("float32")


def _per_example_norm(t):
    axes = tuple(range(1, len(t.shape)))
    return ops.sqrt(ops.sum(ops.square(t), axis=axes, keepdims=True))


def _pgd_body(norm, targeted, num_samples):
    sign = -1.0 if targeted else 1.0

    def body(ctx, state, consts):
        (x_adv,) = state
        x0, y_onehot, eps, step_size, clip_min, clip_max = consts
        # One radius and one step size per example, broadcast over its features.
        column = (-1,) + (1,) * (len(x0.shape) - 1)
        eps, step_size = ops.reshape(eps, column), ops.reshape(step_size, column)

        def objective(x_adv):
            # Cross-entropy summed over the batch, averaged over `num_samples`
            # forward passes (each with its own draws of z under EOT).
            losses = gradients.eot_crossentropy(ctx, x_adv, y_onehot, num_samples)
            return ops.sum(losses), ()

        _, _, grad = ctx.value_and_grad(objective, x_adv)
        grad = ops.cast(grad, "float32")
        if norm == "linf":
            x_adv = x_adv + sign * step_size * ops.sign(grad)
            x_adv = ops.minimum(ops.maximum(x_adv, x0 - eps), x0 + eps)
        else:
            # Scale by the largest entry first so tiny gradients do not underflow.
            axes = tuple(range(1, len(grad.shape)))
            grad = grad / ops.maximum(ops.max(ops.abs(grad), axis=axes, keepdims=True), 1e-30)
            grad = grad / ops.maximum(_per_example_norm(grad), 1e-12)
            delta = x_adv + sign * step_size * grad - x0
            delta = delta * ops.minimum(1.0, eps / ops.maximum(_per_example_norm(delta), 1e-12))
            x_adv = x0 + delta
        x_adv = ops.minimum(ops.maximum(x_adv, clip_min), clip_max)
        return (ops.cast(x_adv, "float32"),)

    return body
