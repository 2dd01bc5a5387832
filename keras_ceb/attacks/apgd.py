"""Auto-PGD (APGD) of Croce and Hein (2020), untargeted and targeted, cross-entropy and DLR."""

import numpy as np
from keras import ops

from keras_ceb.attacks import gradients

NORMS = ("linf", "l2")
LOSSES = ("ce", "dlr")
MOMENTUM = 0.75  # alpha of the paper's momentum step
OSCILLATION = 0.75  # rho: halve the step where fewer than this share of steps raised the loss
# The checkpoints, as fractions of `steps` (the authors' code): the first after 22% of the
# steps, each later interval 3% shorter, none shorter than 6%.
FIRST_CHECKPOINT, CHECKPOINT_DECREASE, SHORTEST_INTERVAL = 0.22, 0.03, 0.06


def apgd_attack(
    model,
    x,
    y,
    *,
    eps,
    norm="linf",
    loss="ce",
    targeted=False,
    num_targets=9,
    steps=100,
    restarts=1,
    num_samples=1,
    clip_min=0.0,
    clip_max=1.0,
    batch_size=256,
    seed=None,
):
    """Auto-PGD: PGD with momentum and a step size that adapts itself (Croce & Hein, 2020).

    The attack of AutoAttack. It starts from a random point of the `eps` ball with the step
    `2 * eps`, steps with momentum (`MOMENTUM = 0.75`; the first step without), and halves an
    example's step at a checkpoint (after 22% of `steps`, then at intervals 3% shorter, at least
    6%) when the loss rose on at most 75% of the steps since the last one, or when neither the
    step nor the best loss changed since then; the example then restarts from its best point.
    Its aim is misclassification: an example counts as broken as soon as it is misclassified.

    - `loss="ce"`: the cross-entropy of the true class, maximized (APGD-CE).
    - `loss="dlr"`: the Difference of Logits Ratio, `-(z_y - max_{i != y} z_i) /
      (z_pi1 - z_pi3)` with `z_pi` the sorted logits (APGD-DLR; 3 classes or more). It does not
      change when the logits are scaled or shifted, so it is not fooled by a saturated softmax.
    - `targeted=True`: APGD-T. For each of the `num_targets` classes that the model ranks
      highest after the true one (on the clean input), one run per restart towards it,
      with the targeted DLR `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)` (4 classes or more)
      or the cross-entropy of the target (`loss="ce"`), minimized. Every run is still scored by
      misclassification, not by reaching the target.

    Restarts (and targets) run only on the examples not yet broken. With `num_samples > 1`
    every `StochasticEncoder` of the model samples z during the attack and each step averages
    the loss over that many draws (expectation over transformation, EOT, as in AutoAttack's
    `rand` version and `pgd_attack`); an example is then broken when the prediction of the
    averaged probabilities is wrong. The model is left as it was found (see `pgd_attack`).

    Args:
        model: Keras model mapping inputs in `[clip_min, clip_max]` to logits.
        x: Clean inputs, batch first. Never modified.
        y: True integer (or one-hot) labels.
        eps: Radius of the ball in the metric `norm`: a finite number >= 0 or one per example.
        norm: `"linf"` or `"l2"`.
        loss: `"ce"` or `"dlr"`.
        targeted: Whether to run APGD-T over the top `num_targets` other classes.
        num_targets: Target classes of APGD-T (AutoAttack: 9), at most the classes less one.
        steps: Steps of each run (AutoAttack: 100).
        restarts: Runs from fresh random starts (per target with `targeted=True`).
        num_samples: Draws of z averaged per step (EOT). Defaults to 1.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.
        batch_size: Examples per compiled call.
        seed: Non-negative integer seed of the random starts and of the model's draws; `None`
            draws fresh entropy.

    Returns:
        NumPy array shaped like `x`: for a broken example its misclassified point, otherwise
        the point of highest loss found.

    Examples:

        ```python
        x_adv = apgd_attack(model, x_test, y_test, eps=0.1, seed=0)  # APGD-CE
        accuracy_under_attack(model, x_adv, y_test)
        x_adv = apgd_attack(model, x_test, y_test, eps=0.1, loss="dlr", targeted=True, seed=0)
        ```

    References:
        Croce and Hein. Reliable evaluation of adversarial robustness with an ensemble of
        diverse parameter-free attacks. ICML 2020.
    """
    if norm not in NORMS:
        raise ValueError(f"Argument `norm` must be one of {NORMS}. Received: norm={norm!r}")
    if loss not in LOSSES:
        raise ValueError(f"Argument `loss` must be one of {LOSSES}. Received: loss={loss!r}")
    for value, name in ((steps, "steps"), (restarts, "restarts"), (batch_size, "batch_size")):
        gradients.check_positive_int(value, name)
    gradients.check_seed(seed)
    gradients.check_num_samples(model, num_samples)
    x, labels, out_dtype, num_classes = gradients.prepare_inputs(model, x, y, clip_min, clip_max)
    eps = gradients.per_example(eps, len(x), "eps").astype("float32")
    if len(x) == 0:
        return x.astype(out_dtype)
    if targeted:
        gradients.check_positive_int(num_targets, "num_targets")
        if num_targets > num_classes - 1:
            raise ValueError(
                f"Argument `num_targets` must be at most the number of classes less one "
                f"({num_classes - 1}). Received: num_targets={num_targets}"
            )
    needed = (4 if targeted else 3) if loss == "dlr" else 2
    if num_classes < needed:
        raise ValueError(
            f"The {'targeted ' if targeted else ''}{loss.upper()} loss needs at least {needed} "
            f"classes. Received: a model with {num_classes} logits"
        )

    rng = np.random.default_rng(seed)
    y_onehot = np.eye(num_classes, dtype="float32")[labels]
    if targeted:
        clean = gradients.predict_logits(model, x, batch_size=batch_size, seed=seed)
        clean[np.arange(len(x)), labels] = -np.inf
        targets = np.argsort(-clean, axis=1, kind="stable")[:, : int(num_targets)]
    x_adv = x.copy()
    broken = np.zeros(len(x), bool)
    runs = [(t, r) for t in range(int(num_targets) if targeted else 1) for r in range(restarts)]
    with gradients.attack_scope(model, seed=seed, num_samples=num_samples):
        run = gradients.compiled_loop(
            model,
            ("apgd", norm, loss, bool(targeted), int(num_samples)),
            _apgd_body(norm, loss, bool(targeted), int(num_samples)),
        )
        for target_index, _ in runs:
            active = np.flatnonzero(~broken)
            if not len(active):
                break
            start = surface_start(x[active], eps[active], norm, rng, clip_min, clip_max)
            target = (
                y_onehot[active]
                if not targeted
                else np.eye(num_classes, dtype="float32")[targets[active, target_index]]
            )
            found, fooled = _run(
                run,
                x[active],
                start,
                y_onehot[active],
                target,
                eps[active],
                int(steps),
                batch_size,
                clip_min,
                clip_max,
            )
            x_adv[active] = found
            broken[active] = fooled
    return x_adv.astype(out_dtype, copy=False)


def checkpoints(steps):
    """The 0-based steps after which APGD may halve its step size (the authors' schedule).

    Examples:

        >>> checkpoints(100)
        [21, 40, 56, 69, 79, 86, 92, 98]
    """
    first = max(int(FIRST_CHECKPOINT * steps), 1)
    decrease = max(int(CHECKPOINT_DECREASE * steps), 1)
    shortest = max(int(SHORTEST_INTERVAL * steps), 1)
    points, interval, at = [], first, first
    while at <= steps:
        points.append(at - 1)
        interval = max(interval - decrease, shortest)
        at += interval
    return points


def surface_start(x, eps, norm, rng, clip_min, clip_max):
    """AutoAttack's start: a random direction scaled to the radius `eps` (the ball's surface
    in L2, a point with one coordinate at `eps` in L-inf), clipped to the box. FAB's restarts
    use it at `eps / 2`."""
    column = (-1,) + (1,) * (x.ndim - 1)
    flat = len(x), -1
    if norm == "linf":
        t = rng.uniform(-1.0, 1.0, size=x.shape)
        t /= np.maximum(np.abs(t.reshape(flat)).max(axis=1), 1e-12).reshape(column)
    else:
        t = rng.standard_normal(size=x.shape)
        t /= np.maximum(np.linalg.norm(t.reshape(flat), axis=1), 1e-12).reshape(column)
    return np.clip(x + eps.reshape(column) * t, clip_min, clip_max).astype("float32")


def _run(run, x, start, y_onehot, target_onehot, eps, steps, batch_size, clip_min, clip_max):
    """One APGD run from `start` on every example; returns `(points, broken)`."""
    points, broken = np.empty_like(x), np.zeros(len(x), bool)
    points_at = set(checkpoints(steps))
    for rows, (xb, sb, yb, tb, eb) in gradients.batches(
        len(x), batch_size, x, start, y_onehot, target_onehot, eps
    ):
        n = len(xb)
        zeros = np.zeros(n, "float32")
        eta = 2.0 * eb
        # The state: current point, previous point, its gradient, best point, its gradient,
        # best loss, last loss, count of steps that raised the loss, last misclassified point,
        # whether misclassified.
        state = (
            sb,
            sb,
            np.zeros_like(sb),
            sb,
            np.zeros_like(sb),
            zeros - np.inf,
            zeros - np.inf,
            zeros,
            sb,
            zeros,
        )
        box = (np.float32(clip_min), np.float32(clip_max))
        # A step of size 0 evaluates the start (loss, gradient, misclassified) without moving.
        state = list(run(state, (xb, yb, tb, eb, zeros, np.float32(1.0)) + box, 1))
        state[7] = zeros  # count the raising steps from the start on
        reduced_last, best_last = np.ones(n, bool), ops.convert_to_numpy(state[5]).copy()
        step, interval_start = 0, 0
        while step < steps:
            alpha = np.float32(1.0 if step == 0 else MOMENTUM)
            stop = (
                step + 1 if step == 0 else min([c + 1 for c in points_at if c >= step] + [steps])
            )
            state = run(state, (xb, yb, tb, eb, eta, alpha) + box, stop - step)
            step = stop
            if step - 1 in points_at and step < steps:
                values = [np.array(ops.convert_to_numpy(s)) for s in state]
                best_loss, count = values[5], values[7]
                oscillating = count <= OSCILLATION * (step - interval_start)
                stalled = ~reduced_last & (best_last >= best_loss)
                reduce = oscillating | stalled
                reduced_last, best_last = reduce, best_loss.copy()
                eta = np.where(reduce, eta / 2.0, eta).astype("float32")
                column = (-1,) + (1,) * (x.ndim - 1)
                back = reduce.reshape(column)
                values[0] = np.where(back, values[3], values[0])  # restart from the best point
                values[2] = np.where(back, values[4], values[2])  # with its gradient
                values[7] = zeros
                state = tuple(values)
                interval_start = step
        values = [ops.convert_to_numpy(s) for s in state]
        fooled = values[9][: len(rows)] > 0.5
        column = (-1,) + (1,) * (x.ndim - 1)
        points[rows] = np.where(
            fooled.reshape(column), values[8][: len(rows)], values[3][: len(rows)]
        )
        broken[rows] = fooled
    return points, broken


def _per_example_norm(t):
    axes = tuple(range(1, len(t.shape)))
    return ops.sqrt(ops.sum(ops.square(t), axis=axes, keepdims=True))


def losses_of(logits, y_onehot, target_onehot, loss, targeted):
    """Per-example APGD objective (to maximize) of float32 `logits` `[batch, C]`.

    Examples:

        >>> logits = np.array([[3.0, 1.0, 0.0, -1.0]], "float32")
        >>> y = np.eye(4, dtype="float32")[[0]]
        >>> float(keras.ops.convert_to_numpy(losses_of(logits, y, y, "dlr", False))[0])
        -0.6666...
    """
    if loss == "ce":
        logp = ops.log_softmax(logits, axis=-1)
        if targeted:
            return ops.sum(target_onehot * logp, axis=-1)
        return -ops.sum(y_onehot * logp, axis=-1)
    top = ops.top_k(logits, k=4 if targeted else 3, sorted=True)[0]
    z_y = ops.sum(y_onehot * logits, axis=-1)
    if targeted:
        z_t = ops.sum(target_onehot * logits, axis=-1)
        return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)
    other = ops.max(logits - 1e9 * y_onehot, axis=-1)
    return -(z_y - other) / (top[:, 0] - top[:, 2] + 1e-12)


def _apgd_body(norm, loss, targeted, num_samples):
    def body(ctx, state, consts):
        (x_adv, x_prev, grad, x_best, grad_best, best_loss, last_loss, count, x_broken, broken) = (
            state
        )
        x0, y_onehot, target_onehot, eps, eta, alpha, clip_min, clip_max = consts
        column = (-1,) + (1,) * (len(x0.shape) - 1)
        eps, eta = ops.reshape(eps, column), ops.reshape(eta, column)

        def project(v):
            if norm == "linf":
                v = ops.minimum(ops.maximum(v, x0 - eps), x0 + eps)
            else:
                delta = v - x0
                v = x0 + delta * ops.minimum(
                    1.0, eps / ops.maximum(_per_example_norm(delta), 1e-12)
                )
            return ops.minimum(ops.maximum(v, clip_min), clip_max)

        if norm == "linf":
            direction = ops.sign(grad)
        else:
            axes = tuple(range(1, len(grad.shape)))
            scaled = grad / ops.maximum(ops.max(ops.abs(grad), axis=axes, keepdims=True), 1e-30)
            direction = scaled / ops.maximum(_per_example_norm(scaled), 1e-12)
        z = project(x_adv + eta * direction)
        x_new = project(x_adv + alpha * (z - x_adv) + (1.0 - alpha) * (x_adv - x_prev))

        def objective(v):
            logits = gradients.eot_logits(ctx, v, num_samples)
            values = ops.mean(
                ops.stack(
                    [
                        losses_of(logits[i], y_onehot, target_onehot, loss, targeted)
                        for i in range(num_samples)
                    ]
                ),
                axis=0,
            )
            probabilities = ops.mean(ops.softmax(logits, axis=-1), axis=0)
            return ops.sum(values), (values, probabilities)

        _, (values, probabilities), new_grad = ctx.value_and_grad(objective, x_new)
        new_grad = ops.cast(new_grad, "float32")
        wrong = ops.cast(
            ops.argmax(probabilities, axis=-1) != ops.argmax(y_onehot, axis=-1), "float32"
        )
        improved = values > best_loss
        keep = ops.reshape(improved, column)
        x_best = ops.where(keep, x_new, x_best)
        grad_best = ops.where(keep, new_grad, grad_best)
        best_loss = ops.where(improved, values, best_loss)
        count = count + ops.cast(values > last_loss, "float32")
        x_broken = ops.where(ops.reshape(wrong > 0.5, column), x_new, x_broken)
        broken = ops.maximum(broken, wrong)
        return (
            ops.cast(x_new, "float32"),
            x_adv,
            new_grad,
            x_best,
            grad_best,
            best_loss,
            values,
            count,
            x_broken,
            broken,
        )

    return body
