"""FAB-T, the targeted Fast Adaptive Boundary attack (Croce and Hein 2020), in AutoAttack."""

import numpy as np
from keras import ops

from keras_ceb.attacks import apgd
from keras_ceb.attacks import gradients

NORMS = ("linf", "l2")
# The authors' settings (AutoAttack's FAB-T): the largest weight of the original point in each
# step, the overshoot past the linearized boundary, and the step back towards the original
# point once an adversarial point is found.
ALPHA_MAX, ETA, BETA = 0.1, 1.05, 0.9
# Bisection steps of the box-constrained projection (the L-inf radius to 2^-30 of the range;
# the L2 multiplier to a ratio of 1 + 1e-9 over the searched span).
BISECTION_STEPS = 30


def fab_t_attack(
    model,
    x,
    y,
    *,
    eps,
    norm="linf",
    num_targets=9,
    steps=100,
    restarts=1,
    clip_min=0.0,
    clip_max=1.0,
    batch_size=256,
    seed=None,
):
    """FAB-T: the smallest perturbation that FAB finds towards each of the top other classes.

    A minimum-norm attack (Croce and Hein, "Minimally distorted adversarial examples with a
    fast adaptive boundary attack", ICML 2020), targeted as in AutoAttack's standard version.
    For each of the `num_targets` classes the model ranks highest after the true one (on the
    clean input), each step linearizes the boundary `f_t(x) = f_y(x)` at the current point,
    projects both the current point and the original one onto it inside the box `[clip_min,
    clip_max]` (the exact box-constrained minimum-norm projection, found by bisection), and
    moves to a convex combination of the two projections, overshooting by `ETA = 1.05`, with
    the original point's weight `min(|d1| / (|d1| + |d2|), ALPHA_MAX = 0.1)`; once the point
    is misclassified it steps back towards the original by `BETA = 0.9`. An example counts as
    broken when the smallest misclassified point found is within `eps` of it (in `norm`); the
    first restart starts at the clean input, later ones from a random point at `eps / 2`.

    Only the examples the model classifies correctly are attacked; later targets (and
    restarts) run only on the examples not yet broken. The model's forward pass must be
    deterministic (AutoAttack's `rand` version, for models that sample z, leaves FAB out).

    Args:
        model: Keras model mapping inputs in `[clip_min, clip_max]` to logits.
        x: Clean inputs, batch first. Never modified.
        y: True integer (or one-hot) labels.
        eps: Radius that counts as broken: a finite number >= 0 or one per example.
        norm: `"linf"` or `"l2"`.
        num_targets: Target classes (AutoAttack: 9), at most the classes less one.
        steps: Steps of each run (AutoAttack: 100).
        restarts: Runs per target (AutoAttack's standard version: 1).
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.
        batch_size: Examples per compiled call.
        seed: Non-negative integer seed of the random restarts; `None` draws fresh entropy.

    Returns:
        NumPy array shaped like `x`: for a broken example the smallest misclassified point
        found (within `eps`), otherwise the clean input.

    Examples:

        ```python
        x_adv = fab_t_attack(model, x_test, y_test, eps=0.1, seed=0)
        accuracy_under_attack(model, x_adv, y_test)
        ```

    References:
        Croce and Hein. Minimally distorted adversarial examples with a fast adaptive boundary
        attack. ICML 2020.
    """
    if norm not in NORMS:
        raise ValueError(f"Argument `norm` must be one of {NORMS}. Received: norm={norm!r}")
    for value, name in ((steps, "steps"), (restarts, "restarts"), (batch_size, "batch_size")):
        gradients.check_positive_int(value, name)
    gradients.check_seed(seed)
    x, labels, out_dtype, num_classes = gradients.prepare_inputs(model, x, y, clip_min, clip_max)
    eps = gradients.per_example(eps, len(x), "eps").astype("float32")
    if len(x) == 0:
        return x.astype(out_dtype)
    gradients.check_positive_int(num_targets, "num_targets")
    if num_targets > num_classes - 1:
        raise ValueError(
            "Argument `num_targets` must be at most the number of classes less one "
            f"({num_classes - 1}). Received: num_targets={num_targets}"
        )
    rng = np.random.default_rng(seed)
    eye = np.eye(num_classes, dtype="float32")
    x_adv = x.copy()
    with gradients.attack_scope(model, seed=seed):
        clean = gradients.predict_logits(model, x, batch_size=batch_size, seed=seed)
        correct = clean.argmax(axis=1) == labels
        clean[np.arange(len(x)), labels] = -np.inf
        targets = np.argsort(-clean, axis=1, kind="stable")[:, : int(num_targets)]
        broken = np.zeros(len(x), bool)
        run = gradients.compiled_loop(model, ("fab-t", norm), _fab_body(norm))
        for target_index in range(int(num_targets)):
            for restart in range(int(restarts)):
                active = np.flatnonzero(correct & ~broken)
                if not len(active):
                    break
                start = x[active]
                if restart:
                    start = apgd.surface_start(
                        start, 0.5 * eps[active], norm, rng, clip_min, clip_max
                    )
                found, distance = _run(
                    run,
                    x[active],
                    start,
                    eye[labels[active]],
                    eye[targets[active, target_index]],
                    int(steps),
                    batch_size,
                    clip_min,
                    clip_max,
                )
                fooled = distance <= eps[active]
                x_adv[active[fooled]] = found[fooled]
                broken[active[fooled]] = True
    return x_adv.astype(out_dtype, copy=False)


def _run(run, x, start, y_onehot, target_onehot, steps, batch_size, clip_min, clip_max):
    """One FAB run of `steps` steps; returns `(smallest adversarial points, their distances)`,
    the distance `inf` where none was found."""
    points = np.empty_like(x)
    distances = np.empty(len(x), "float32")
    box = (np.float32(clip_min), np.float32(clip_max))
    for rows, (xb, sb, yb, tb) in gradients.batches(
        len(x), batch_size, x, start, y_onehot, target_onehot
    ):
        state = (sb, xb, np.full(len(xb), np.inf, "float32"))
        state = run(state, (xb, yb, tb) + box, steps)
        found, distance = (ops.convert_to_numpy(s) for s in state[1:])
        points[rows] = found[: len(rows)]
        distances[rows] = distance[: len(rows)]
    return points, distances


def _sum(t):
    return ops.sum(t, axis=tuple(range(1, len(t.shape))))


def _norm(t, norm):
    if norm == "linf":
        return ops.max(ops.abs(t), axis=tuple(range(1, len(t.shape))))
    return ops.sqrt(_sum(ops.square(t)))


def project(w, c, point, clip_min, clip_max, norm):
    """The smallest `delta` (in `norm`) with `sum(w * delta) = c` and `point + delta` in the
    box, per example; where no such `delta` exists, the box point that comes closest.

    With `s = sign(c)`, the solution is `clip(s * t * sign(w), lo, hi)` for the smallest `t`
    that reaches `c` (L-inf) and `clip(s * t * w, lo, hi)` (L2: the KKT conditions), `lo, hi`
    the room to the box; `t` is found by bisection (linear for L-inf, in log space for L2).

    Examples:

        >>> w = np.array([[1.0, 2.0]], "float32"); p = np.full((1, 2), 0.5, "float32")
        >>> d = project(w, np.array([0.3], "float32"), p, 0.0, 1.0, "linf")
        >>> np.round(keras.ops.convert_to_numpy(d), 4)  # t = 0.3 / (|1| + |2|)
        array([[0.1, 0.1]], dtype=float32)
        >>> d = project(w, np.array([0.5], "float32"), p, 0.0, 1.0, "l2")
        >>> np.round(keras.ops.convert_to_numpy(d), 4)  # w * 0.5 / |w|^2
        array([[0.1, 0.2]], dtype=float32)
    """
    column = (-1,) + (1,) * (len(w.shape) - 1)
    sign = ops.reshape(ops.sign(c), column)
    target = ops.abs(c)
    low, high = clip_min - point, clip_max - point
    direction = sign * (ops.sign(w) if norm == "linf" else w)

    def delta(t):
        return ops.minimum(ops.maximum(ops.reshape(t, column) * direction, low), high)

    if norm == "linf":
        lower = ops.zeros_like(target)
        upper = ops.zeros_like(target) + (clip_max - clip_min)
        for _ in range(BISECTION_STEPS):
            middle = 0.5 * (lower + upper)
            reached = _sum(sign * w * delta(middle)) >= target
            lower = ops.where(reached, lower, middle)
            upper = ops.where(reached, middle, upper)
        return delta(upper)
    squared = ops.maximum(_sum(ops.square(w)), 1e-30)
    smallest = ops.abs(w) + ops.cast(ops.abs(w) <= 1e-30, w.dtype)
    lower = ops.log(ops.maximum(target / squared, 1e-30))
    upper = ops.log(
        ops.max(ops.reshape((clip_max - clip_min) / smallest, (ops.shape(w)[0], -1)), axis=1)
    )
    upper = ops.maximum(upper, lower)
    for _ in range(2 * BISECTION_STEPS):
        middle = 0.5 * (lower + upper)
        reached = _sum(sign * w * delta(ops.exp(middle))) >= target
        lower = ops.where(reached, lower, middle)
        upper = ops.where(reached, middle, upper)
    return delta(ops.exp(upper))


def _fab_body(norm):
    def body(ctx, state, consts):
        x1, best, best_distance = state
        x0, y_onehot, target_onehot, clip_min, clip_max = consts
        column = (-1,) + (1,) * (len(x0.shape) - 1)

        def objective(v):
            logits = ops.cast(ctx.logits(v), "float32")
            gap = ops.sum((target_onehot - y_onehot) * logits, axis=-1)
            return ops.sum(gap), gap

        _, gap, grad = ctx.value_and_grad(objective, x1)
        grad = ops.cast(grad, "float32")
        # The linearized boundary {v : gap + grad . (v - x1) = 0}, reached from x1 and from x0.
        d1 = project(grad, -gap, x1, clip_min, clip_max, norm)
        d2 = project(grad, -gap - _sum(grad * (x0 - x1)), x0, clip_min, clip_max, norm)
        a1, a2 = _norm(d1, norm), _norm(d2, norm)
        alpha = ops.minimum(ops.maximum(a1 / ops.maximum(a1 + a2, 1e-12), 0.0), ALPHA_MAX)
        alpha = ops.reshape(alpha, column)
        x_new = (x1 + ETA * d1) * (1.0 - alpha) + (x0 + ETA * d2) * alpha
        x_new = ops.minimum(ops.maximum(x_new, clip_min), clip_max)
        logits = ops.cast(ctx.logits(x_new), "float32")
        wrong = ops.argmax(logits, axis=-1) != ops.argmax(y_onehot, axis=-1)
        distance = _norm(x_new - x0, norm)
        better = ops.logical_and(wrong, distance < best_distance)
        best = ops.where(ops.reshape(better, column), x_new, best)
        best_distance = ops.where(better, distance, best_distance)
        x_next = ops.where(ops.reshape(wrong, column), x0 + (x_new - x0) * BETA, x_new)
        return ops.cast(x_next, "float32"), best, best_distance

    return body
