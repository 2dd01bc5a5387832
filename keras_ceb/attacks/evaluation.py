"""Success measures of attacks: accuracy under attack, targeted success, sweeps, transfer.

The measures follow the CEB paper (Fischer, 2020, section 3): untargeted
attacks are scored by the accuracy under attack; targeted attacks by the
fraction of examples driven to the target class, counted only over examples
that the model classifies correctly when clean and whose true label is not
the target.
"""

import math
import numbers

import numpy as np

from keras_ceb.attacks import gradients
from keras_ceb.attacks.carlini_wagner import carlini_wagner_l2
from keras_ceb.attacks.pgd import pgd_attack

ATTACKS = {"pgd": pgd_attack, "carlini_wagner_l2": carlini_wagner_l2}


def predict_classes(model, x, *, batch_size=256):
    """Arg-max class of `model`'s logits (called with `training=False`) for each example."""
    x = np.asarray(x, "float32")
    if len(x) == 0:
        return np.zeros(0, "int64")
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return np.argmax(logits, axis=-1)


def accuracy_under_attack(model, x_adv, y, *, batch_size=256):
    """Accuracy of `model` on adversarial examples: the untargeted attack's score.

    Args:
        model: Keras model mapping inputs to logits.
        x_adv: Adversarial examples.
        y: True integer (or one-hot) labels, or one integer class for every example.
        batch_size: Examples per forward pass.

    Returns:
        Float, the fraction of `x_adv` classified as `y` (lower is a stronger attack).

    Examples:

        ```python
        x_adv = pgd_attack(model, x_test, y_test, eps=0.1)
        accuracy_under_attack(model, x_adv, y_test)
        ```
    """
    labels = gradients.labels_from(y, x_adv)
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(predict_classes(model, x_adv, batch_size=batch_size) == labels))


def untargeted_success_rate(model, x_clean, x_adv, y_true, *, batch_size=256):
    """Fraction of clean-correct examples that the attack makes misclassified.

    Args:
        model: Keras model mapping inputs to logits.
        x_clean: Clean inputs.
        x_adv: Adversarial examples crafted from `x_clean`.
        y_true: True integer (or one-hot) labels.
        batch_size: Examples per forward pass.

    Returns:
        `(rate, count)`: the success rate and the number of clean-correct
        examples it is computed over (`rate` is NaN when `count` is 0).

    Examples:

        ```python
        rate, count = untargeted_success_rate(model, x_test, x_adv, y_test)
        ```
    """
    labels = gradients.labels_from(y_true, x_clean, name="y_true")
    gradients.labels_from(y_true, x_adv, name="y_true")
    clean = predict_classes(model, x_clean, batch_size=batch_size) == labels
    fooled = predict_classes(model, x_adv, batch_size=batch_size) != labels
    return _rate(fooled, clean)


def targeted_success_rate(model, x_clean, x_adv, y_true, target, *, batch_size=256):
    """Targeted success as in the CEB paper.

    Among the examples that `model` classifies correctly when clean and whose
    true label differs from the target, the fraction whose adversarial example
    is classified as the target.

    Args:
        model: Keras model mapping inputs to logits.
        x_clean: Clean inputs.
        x_adv: Adversarial examples crafted from `x_clean` towards `target`.
        y_true: True integer (or one-hot) labels.
        target: Target classes, integers (or one-hot), or one integer class
            for every example.
        batch_size: Examples per forward pass.

    Returns:
        `(rate, count)`: the success rate and the number of examples it is
        computed over (`rate` is NaN when `count` is 0).

    Examples:

        ```python
        x_adv = pgd_attack(model, x_test, 1, eps=0.1, targeted=True)  # all towards class 1
        rate, count = targeted_success_rate(model, x_test, x_adv, y_test, 1)
        ```

    References:
        Fischer. The Conditional Entropy Bottleneck. Entropy 22(9), 2020.
    """
    labels = gradients.labels_from(y_true, x_clean, name="y_true")
    gradients.labels_from(y_true, x_adv, name="y_true")
    target = gradients.labels_from(target, x_clean, name="target")
    clean = predict_classes(model, x_clean, batch_size=batch_size) == labels
    hit = predict_classes(model, x_adv, batch_size=batch_size) == target
    return _rate(hit, clean & (labels != target))


def _rate(success, counted):
    count = int(np.sum(counted))
    rate = float(np.mean(success[counted])) if count else float("nan")
    return rate, count


def epsilon_sweep(
    model,
    x,
    y,
    epsilons,
    *,
    norm="linf",
    target=None,
    step_size=None,
    cumulative=False,
    batch_size=256,
    **pgd_kwargs,
):
    """PGD at each of several radii, scored by the measures above.

    Each radius is attacked independently, with the same `seed` (so the same
    random start, scaled to the radius). A fixed-step attack can do worse at a
    larger radius (a larger step overshoots), so the success of the sweep need
    not grow with eps; `cumulative=True` measures instead the best over the
    radii up to eps (see below). Both are upper bounds on the robustness at
    eps, and say which one they are in the rows.

    Args:
        model: Keras model mapping inputs to logits.
        x: Clean inputs.
        y: True integer (or one-hot) labels.
        epsilons: Iterable of attack radii (finite numbers >= 0).
        norm: `"linf"` or `"l2"`.
        target: Optional target classes (per example, or one integer for all):
            if given, the attacks are targeted and each row also holds the
            targeted success rate.
        step_size: Step size of the attack at each radius: `None` for the
            default of `pgd_attack` (a function of eps and `steps`), a number
            used at every radius, or a function `step_size(eps) -> number`.
        cumulative: If `False` (the default), each row scores the attack at
            its own eps. If `True`, an example counts as attacked successfully
            at eps when the attack at eps or at any smaller radius of the
            sweep succeeded (an adversarial example within a smaller ball lies
            within the larger one), so success is non-decreasing in eps by
            construction. Success means reaching the target for a targeted
            sweep, any wrong class otherwise; every measure of the row is then
            computed on the chosen example.
        batch_size: Examples per compiled call and per forward pass.
        **pgd_kwargs: Further arguments of `pgd_attack` (`steps`, `seed`,
            `num_samples`, ...).

    Returns:
        A list with one dict per epsilon, in the order of `epsilons`, with keys
        `eps`, `norm`, `step_size` (the number used, `None` for the default),
        `cumulative`, `targeted`, `accuracy` (under attack),
        `untargeted_success`, `untargeted_count` and, when `target` is given,
        `targeted_success` and `targeted_count`.

    Examples:

        ```python
        rows = epsilon_sweep(model, x_test, y_test, [0.0, 0.05, 0.1], seed=0)
        [round(row["accuracy"], 3) for row in rows]
        rows = epsilon_sweep(model, x_test, y_test, [1.0, 2.0, 3.0], norm="l2", target=1,
                             steps=7, cumulative=True, seed=0)
        ```
    """
    if "targeted" in pgd_kwargs:
        raise ValueError(
            "Argument `targeted` is set by `target` in `epsilon_sweep`. "
            f"Received: targeted={pgd_kwargs['targeted']}"
        )
    if "eps" in pgd_kwargs:
        raise ValueError(
            "Argument `eps` is set by `epsilons` in `epsilon_sweep`. "
            f"Received: eps={pgd_kwargs['eps']}"
        )
    epsilons = _check_epsilons(epsilons)
    if not (step_size is None or callable(step_size)):
        gradients.per_example(step_size, 1, "step_size")
    x = np.asarray(x)
    labels = gradients.labels_from(y, x)
    targets = None if target is None else _check_target(model, x, target)
    clean = predict_classes(model, x, batch_size=batch_size)
    rows = {}
    best = None  # per example, the prediction kept so far (cumulative)
    for i in sorted(range(len(epsilons)), key=lambda i: epsilons[i]):
        eps = epsilons[i]
        step = step_size(eps) if callable(step_size) else step_size
        attacked = labels if targets is None else targets
        x_adv = pgd_attack(
            model,
            x,
            attacked,
            eps=eps,
            norm=norm,
            step_size=step,
            targeted=targets is not None,
            batch_size=batch_size,
            **pgd_kwargs,
        )
        adv = predict_classes(model, x_adv, batch_size=batch_size)
        if cumulative and best is not None:
            # Keep a success from a smaller radius where this radius failed.
            adv = np.where(
                _succeeded(best, labels, targets) & ~_succeeded(adv, labels, targets), best, adv
            )
        best = adv
        row = _scores_from_predictions(clean, adv, labels, targets)
        rows[i] = {
            "eps": eps,
            "norm": norm,
            "step_size": None if step is None else float(step),
            "cumulative": bool(cumulative),
            **row,
        }
    return [rows[i] for i in range(len(epsilons))]


def _check_epsilons(epsilons):
    values = list(epsilons)
    for eps in values:
        if (
            isinstance(eps, bool)
            or not isinstance(eps, numbers.Real)
            or not (math.isfinite(eps) and eps >= 0)
        ):
            shown = [v.item() if isinstance(v, np.generic) else v for v in values]
            raise ValueError(
                f"Argument `epsilons` must hold finite numbers >= 0. Received: epsilons={shown!r}"
            )
    return [float(eps) for eps in values]


def _check_target(model, x, target):
    """Target classes of `x` (one integer broadcast), checked against the model's logits."""
    targets = gradients.labels_from(target, x, name="target")
    if len(x):
        gradients.check_classes(
            targets, gradients.num_classes_of(model, x), name="target", what="target classes"
        )
    return targets


def _succeeded(predicted, labels, targets):
    return predicted != labels if targets is None else predicted == targets


def _scores_from_predictions(clean, adv, labels, targets):
    correct = clean == labels
    rate, count = _rate(adv != labels, correct)
    row = {
        "targeted": targets is not None,
        "accuracy": float(np.mean(adv == labels)) if len(labels) else float("nan"),
        "untargeted_success": rate,
        "untargeted_count": count,
    }
    if targets is not None:
        row["targeted_success"], row["targeted_count"] = _rate(
            adv == targets, correct & (labels != targets)
        )
    return row


def _scores(model, x, x_adv, labels, targets):
    return _scores_from_predictions(
        predict_classes(model, x), predict_classes(model, x_adv), labels, targets
    )


def transfer_attack(
    source_model, target_model, x, y, *, attack="pgd", target=None, **attack_kwargs
):
    """Crafts adversarial examples on `source_model` and scores them on `target_model`.

    Args:
        source_model: Keras model the attack differentiates.
        target_model: Keras model the examples are scored on.
        x: Clean inputs.
        y: True integer (or one-hot) labels.
        attack: `"pgd"`, `"carlini_wagner_l2"`, or a function
            `attack(model, x, labels, **attack_kwargs)` returning adversarial examples.
        target: Optional target classes (per example, or one integer for
            all); the attack is then targeted. A function `attack` receives
            them as an array of one class per example, with `targeted=True`.
        **attack_kwargs: Arguments of the attack (e.g. `eps`, `norm`, `seed`).

    Returns:
        A dict with `source` and `target`, each the scores of `epsilon_sweep`
        rows (`accuracy`, `untargeted_success`, ...) on that model, and
        `x_adv`, the adversarial examples.

    Examples:

        ```python
        result = transfer_attack(determ_model, ceb_model, x_test, y_test, eps=0.1)
        result["target"]["accuracy"]
        ```
    """
    attack_fn = ATTACKS.get(attack, attack) if isinstance(attack, str) else attack
    if not callable(attack_fn):
        raise ValueError(
            f"Argument `attack` must be one of {tuple(ATTACKS)} or a function. "
            f"Received: attack={attack}"
        )
    if "targeted" in attack_kwargs:
        raise ValueError(
            "Argument `targeted` is set by `target` in `transfer_attack`. "
            f"Received: targeted={attack_kwargs['targeted']}"
        )
    x = np.asarray(x)
    labels = gradients.labels_from(y, x)
    targets = None
    if target is not None:
        targets = _check_target(source_model, x, target)
        attack_kwargs["targeted"] = True
    x_adv = attack_fn(source_model, x, labels if targets is None else targets, **attack_kwargs)
    return {
        "source": _scores(source_model, x, x_adv, labels, targets),
        "target": _scores(target_model, x, x_adv, labels, targets),
        "x_adv": x_adv,
    }
