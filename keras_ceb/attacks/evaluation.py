"""Success measures of attacks: accuracy under attack, targeted success, sweeps, transfer.

The measures follow the CEB paper (Fischer, 2020, section 3): untargeted
attacks are scored by the accuracy under attack; targeted attacks by the
fraction of examples driven to the target class, counted only over examples
that the model classifies correctly when clean and whose true label is not
the target.
"""

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
        y: True integer (or one-hot) labels.
        batch_size: Examples per forward pass.

    Returns:
        Float, the fraction of `x_adv` classified as `y` (lower is a stronger attack).

    Example:

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

    Example:

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
        target: Target classes, integers (or one-hot).
        batch_size: Examples per forward pass.

    Returns:
        `(rate, count)`: the success rate and the number of examples it is
        computed over (`rate` is NaN when `count` is 0).

    Example:

    ```python
    target = (y_test + 1) % 10
    x_adv = pgd_attack(model, x_test, target, eps=0.1, targeted=True)
    rate, count = targeted_success_rate(model, x_test, x_adv, y_test, target)
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


def epsilon_sweep(model, x, y, epsilons, *, norm="linf", target=None, **pgd_kwargs):
    """PGD at each of several radii, scored by the measures above.

    Args:
        model: Keras model mapping inputs to logits.
        x: Clean inputs.
        y: True integer (or one-hot) labels.
        epsilons: Iterable of attack radii.
        norm: `"linf"` or `"l2"`.
        target: Optional target classes: if given, the attacks are targeted
            and each row also holds the targeted success rate.
        **pgd_kwargs: Further arguments of `pgd_attack` (`steps`, `seed`, ...).

    Returns:
        A list with one dict per epsilon, with keys `eps`, `norm`,
        `targeted`, `accuracy` (under attack), `untargeted_success`,
        `untargeted_count` and, when `target` is given, `targeted_success`
        and `targeted_count`.

    Example:

    ```python
    rows = epsilon_sweep(model, x_test, y_test, [0.0, 0.05, 0.1], seed=0)
    [round(row["accuracy"], 3) for row in rows]
    ```
    """
    if "targeted" in pgd_kwargs:
        raise ValueError(
            "Argument `targeted` is set by `target` in `epsilon_sweep`. "
            f"Received: targeted={pgd_kwargs['targeted']}"
        )
    labels = gradients.labels_from(y, x)
    rows = []
    for eps in epsilons:
        attacked = labels if target is None else target
        x_adv = pgd_attack(model, x, attacked, eps=eps, norm=norm,
                           targeted=target is not None, **pgd_kwargs)
        row = _scores(model, x, x_adv, labels, target)
        rows.append({"eps": float(eps), "norm": norm, **row})
    return rows


def _scores(model, x, x_adv, labels, target):
    rate, count = untargeted_success_rate(model, x, x_adv, labels)
    row = {
        "targeted": target is not None,
        "accuracy": accuracy_under_attack(model, x_adv, labels),
        "untargeted_success": rate,
        "untargeted_count": count,
    }
    if target is not None:
        row["targeted_success"], row["targeted_count"] = targeted_success_rate(
            model, x, x_adv, labels, target
        )
    return row


def transfer_attack(source_model, target_model, x, y, *, attack="pgd", target=None,
                    **attack_kwargs):
    """Crafts adversarial examples on `source_model` and scores them on `target_model`.

    Args:
        source_model: Keras model the attack differentiates.
        target_model: Keras model the examples are scored on.
        x: Clean inputs.
        y: True integer (or one-hot) labels.
        attack: `"pgd"`, `"carlini_wagner_l2"`, or a function
            `attack(model, x, labels, **attack_kwargs)` returning adversarial examples.
        target: Optional target classes; the attack is then targeted.
        **attack_kwargs: Arguments of the attack (e.g. `eps`, `norm`, `seed`).

    Returns:
        A dict with `source` and `target`, each the scores of `epsilon_sweep`
        rows (`accuracy`, `untargeted_success`, ...) on that model, and
        `x_adv`, the adversarial examples.

    Example:

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
    labels = gradients.labels_from(y, x)
    if target is not None:
        attack_kwargs["targeted"] = True
    x_adv = attack_fn(source_model, x, labels if target is None else target, **attack_kwargs)
    return {
        "source": _scores(source_model, x, x_adv, labels, target),
        "target": _scores(target_model, x, x_adv, labels, target),
        "x_adv": x_adv,
    }
