"""The Carlini & Wagner L2 attack, following the cleverhans implementation."""

import numpy as np
from keras import ops

from keras_ceb.attacks import gradients

_BETA_1, _BETA_2, _ADAM_EPSILON = 0.9, 0.999, 1e-8


def carlini_wagner_l2(
    model,
    x,
    y,
    *,
    targeted=False,
    binary_search_steps=5,
    max_iterations=1000,
    learning_rate=5e-3,
    initial_const=1e-2,
    confidence=0.0,
    abort_early=True,
    clip_min=0.0,
    clip_max=1.0,
    batch_size=128,
    seed=None,
    training=None,
):
    """Carlini & Wagner (2017) L2 attack, with the defaults of cleverhans.

    The adversarial example is `x' = (tanh(w) + 1) / 2 * (clip_max - clip_min) +
    clip_min`, so it always lies in the valid box. Adam (beta 0.9/0.999,
    epsilon 1e-8, state reset at every binary-search step) minimizes
    `||x' - x||_2^2 + c * f(x')` over `w`, where `f` is the margin loss f6 of
    the paper on logits `Z`: `max(Z_y - max_{i != y} Z_i + confidence, 0)`
    untargeted, `max(max_{i != t} Z_i - Z_t + confidence, 0)` targeted.

    Per example, a binary search over the constant `c` (starting at
    `initial_const`; multiplied by 10 while no adversarial example has been
    found, bisected once one has) runs `binary_search_steps` optimizations of
    at most `max_iterations` Adam steps. With `abort_early`, an optimization
    stops when its loss (summed over the batch) has not decreased by 0.01%
    over the last `max_iterations // 10` steps. Every iterate counts: per
    example the successful one with the smallest L2 distance is returned;
    examples never attacked successfully are returned unchanged.

    Like cleverhans 3 and Carlini's code, the binary search looks at successes
    of the current optimization, and `confidence` is applied to the logit of
    the label when checking success.

    Args:
        model: Keras model mapping inputs in `[clip_min, clip_max]` to logits.
        x: Clean inputs, batch first. Never modified.
        y: Integer (or one-hot) labels: true classes, or the target classes
            when `targeted=True`; one integer is one class for every example.
        targeted: Whether `y` holds target classes.
        binary_search_steps: Number of values of the constant tried.
        max_iterations: Adam steps per value of the constant.
        learning_rate: Adam learning rate.
        initial_const: First value of the constant `c`.
        confidence: Required logit margin of an adversarial example (kappa).
        abort_early: Whether to stop an optimization that no longer improves.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.
        batch_size: Examples optimized together (the early-abort test uses
            the batch's summed loss, as cleverhans does).
        seed: Integer seed of the model's own random draws during the attack
            (none for a model whose encoders use their mean at inference, the
            default); `None` draws fresh entropy. As for `pgd_attack`, the
            model's random state is restored afterwards.
        training: Deprecated, as in `pgd_attack`: attacks run the model at
            inference (`training=False`).

    Returns:
        NumPy array with the shape of `x` (and its dtype when floating-point).

    Examples:

        ```python
        x_adv = carlini_wagner_l2(model, x_test[:100], y_test[:100])
        l2 = np.linalg.norm((x_adv - x_test[:100]).reshape(100, -1), axis=1)
        ```

    References:
        Carlini and Wagner. Towards Evaluating the Robustness of Neural
        Networks. IEEE Symposium on Security and Privacy, 2017.
        Papernot et al. Technical Report on the CleverHans v2.1.0 Adversarial
        Examples Library. arXiv:1610.00768.
    """
    training = gradients.deprecated_training(training)
    gradients.check_seed(seed)
    for name, value in (
        ("binary_search_steps", binary_search_steps),
        ("max_iterations", max_iterations),
        ("batch_size", batch_size),
    ):
        gradients.check_positive_int(value, name)
    for name, value in (("learning_rate", learning_rate), ("initial_const", initial_const)):
        if not value > 0:
            raise ValueError(f"Argument `{name}` must be positive. Received: {name}={value}")
    if not confidence >= 0:
        raise ValueError(
            f"Argument `confidence` must be non-negative. Received: confidence={confidence}"
        )
    x, labels, out_dtype, num_classes = gradients.prepare_inputs(
        model, x, y, clip_min, clip_max, targeted=targeted
    )
    if len(x) == 0:
        return x.astype(out_dtype)

    settings = dict(
        binary_search_steps=int(binary_search_steps),
        max_iterations=int(max_iterations),
        abort_early=bool(abort_early),
        hyper=tuple(np.float32(v) for v in (learning_rate, confidence, clip_min, clip_max)),
        initial_const=initial_const,
        clip=(clip_min, clip_max),
    )
    y_onehot = np.eye(num_classes, dtype="float32")[labels]
    valid = np.ones(len(x), "float32")
    x_adv = np.empty_like(x)
    with gradients.attack_scope(model, seed=seed):
        run = gradients.compiled_loop(
            model,
            ("carlini_wagner_l2", bool(targeted)),
            _cw_body(bool(targeted)),
            training=training,
        )
        for rows, (xb, yb, vb) in gradients.batches(len(x), batch_size, x, y_onehot, valid):
            vb[len(rows) :] = 0.0  # padding rows do not count in the loss
            x_adv[rows] = _attack_batch(run, xb, yb, vb, **settings)[: len(rows)]
    return x_adv.astype(out_dtype, copy=False)


def _attack_batch(
    run,
    x,
    y_onehot,
    valid,
    *,
    binary_search_steps,
    max_iterations,
    abort_early,
    hyper,
    initial_const,
    clip,
):
    clip_min, clip_max = clip
    n = len(x)
    unit = np.clip((x.astype("float64") - clip_min) / (clip_max - clip_min), 0.0, 1.0)
    x_tanh = np.arctanh((unit * 2.0 - 1.0) * 0.999999)
    x_back = (np.tanh(x_tanh) + 1.0) / 2.0 * (clip_max - clip_min) + clip_min
    x_tanh, x_back = x_tanh.astype("float32"), x_back.astype("float32")

    lower = np.zeros(n)
    upper = np.full(n, 1e10)
    const = np.full(n, float(initial_const))
    best_l2, best_attack = np.full(n, 1e10, "float32"), x.copy()
    chunk = (max_iterations // 10) or 1
    for outer in range(binary_search_steps):
        if binary_search_steps >= 10 and outer == binary_search_steps - 1:
            const = upper.copy()  # cleverhans repeats the search at the upper bound
        zeros = np.zeros_like(x)
        state = (
            zeros,
            zeros,
            zeros,
            np.float32(0.0),
            np.full(n, 1e10, "float32"),
            np.full(n, -1, "int32"),
            best_l2,
            best_attack,
            np.float32(0.0),
            np.bool_(False),
        )
        consts = (x_tanh, x_back, y_onehot, const.astype("float32"), valid)
        prev = never = np.float32(np.inf)
        if not abort_early:
            state = run(state, consts + (never,) + hyper, max_iterations)
        for done in range(0, max_iterations if abort_early else 0, chunk):
            # A check every `chunk` iterations, as in cleverhans: the iterate is
            # dropped and the search stops if the loss has not improved enough.
            state = run(state, consts + (prev,) + hyper, 1)
            if bool(ops.convert_to_numpy(state[9])):
                break
            prev = np.float32(ops.convert_to_numpy(state[8]))
            state = run(state, consts + (never,) + hyper, min(chunk, max_iterations - done) - 1)
        best_l2, best_attack = state[6], state[7]
        success = ops.convert_to_numpy(state[5]) != -1
        upper = np.where(success, np.minimum(upper, const), upper)
        lower = np.where(success, lower, np.maximum(lower, const))
        const = np.where(upper < 1e9, (lower + upper) / 2.0, np.where(success, const, const * 10))
    return ops.convert_to_numpy(best_attack)


def _cw_body(targeted):
    def body(ctx, state, consts):
        w, m, v, t, step_l2, step_label, best_l2, best_attack, _, _ = state
        (
            x_tanh,
            x_back,
            y_onehot,
            const,
            valid,
            prev,
            learning_rate,
            confidence,
            clip_min,
            clip_max,
        ) = consts
        axes = tuple(range(1, len(w.shape)))

        def objective(w):
            x_new = (ops.tanh(w + x_tanh) + 1.0) / 2.0 * (clip_max - clip_min) + clip_min
            logits = ops.cast(ctx.logits(x_new), "float32")
            l2 = ops.sum(ops.square(x_new - x_back), axis=axes)
            real = ops.sum(y_onehot * logits, axis=-1)
            other = ops.max((1.0 - y_onehot) * logits - y_onehot * 10000.0, axis=-1)
            margin = other - real if targeted else real - other
            per_example = const * ops.maximum(margin + confidence, 0.0) + l2
            return ops.sum(valid * per_example), (x_new, logits, l2)

        loss, (x_new, logits, l2), grad = ctx.value_and_grad(objective, w)
        grad = ops.cast(grad, "float32")

        # Early abort: the loss at this iterate is no better than `prev`.
        abort = loss > prev * 0.9999
        active = ops.logical_not(abort)

        # Adam, as tf.compat.v1.train.AdamOptimizer.
        t = t + 1.0
        m = _BETA_1 * m + (1.0 - _BETA_1) * grad
        v = _BETA_2 * v + (1.0 - _BETA_2) * ops.square(grad)
        rate = (
            learning_rate * ops.sqrt(1.0 - ops.power(_BETA_2, t)) / (1.0 - ops.power(_BETA_1, t))
        )
        w = w - rate * m / (ops.sqrt(v) + _ADAM_EPSILON)

        label = ops.argmax(y_onehot, axis=-1)
        shift = -confidence if targeted else confidence
        judged = ops.argmax(logits + shift * y_onehot, axis=-1)
        success = ops.equal(judged, label) if targeted else ops.not_equal(judged, label)
        success = ops.logical_and(success, active)
        prediction = ops.cast(ops.argmax(logits, axis=-1), "int32")
        better = ops.logical_and(success, l2 < step_l2)
        step_l2 = ops.where(better, l2, step_l2)
        step_label = ops.where(better, prediction, step_label)
        better = ops.logical_and(success, l2 < best_l2)
        best_l2 = ops.where(better, l2, best_l2)
        mask = ops.reshape(better, (-1,) + (1,) * len(axes))
        best_attack = ops.where(mask, x_new, best_attack)
        return (
            ops.cast(w, "float32"),
            ops.cast(m, "float32"),
            ops.cast(v, "float32"),
            ops.cast(t, "float32"),
            ops.cast(step_l2, "float32"),
            ops.cast(step_label, "int32"),
            ops.cast(best_l2, "float32"),
            ops.cast(best_attack, "float32"),
            ops.cast(loss, "float32"),
            abort,
        )

    return body
