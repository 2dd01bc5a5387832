"""Robustness to common corruptions, measured as Hendrycks and Dietterich (ICLR 2019) and
Fischer and Alemi ("CEB Improves Model Robustness", Entropy 2020) do.

- `evaluate_corruptions`: accuracy per corruption and severity (`corruptions.corrupt`), and
  each OoD score (the rate R among them) as a signal of covariate shift: the AUROC that
  separates the clean images from their corrupted copies, per corruption and severity, with
  the clean images as the positive class (as in `ood_metrics`).
- `mean_corruption_error`: the mean corruption error (mCE) and the relative mCE against a
  reference model (Hendrycks and Dietterich use AlexNet; the paper's baseline is Determ).
- `format_corruption_report`: the Markdown table `keras-ceb evaluate --corruptions` prints.
"""

import math

import numpy as np

from keras_ceb.evaluation import corruptions as corruptions_lib
from keras_ceb.evaluation import ood
from keras_ceb.evaluation import scores as scores_lib
from keras_ceb.evaluation.ood import describe_array


def _labels(y, num_examples):
    labels = np.asarray(y)
    if labels.ndim == 2:
        labels = labels.argmax(axis=-1)
    if labels.ndim != 1 or len(labels) != num_examples:
        raise ValueError(
            f"`y` must hold one label (or one-hot row) per image of `x` ({num_examples}). "
            f"Received: y={describe_array(labels)}"
        )
    return labels


def _score_names(scores, available):
    if scores is None:
        return sorted(available)
    names = list(scores)
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise ValueError(
            f"`scores` must name scores this model has: {sorted(available)}. "
            f"Received: scores={scores!r}"
        )
    return names


def evaluate_corruptions(
    model,
    x,
    y,
    *,
    seed,
    corruptions=corruptions_lib.CORRUPTIONS,
    severities=corruptions_lib.SEVERITIES,
    scores=None,
    batch_size=256,
    output_key=None,
):
    """Accuracy of `model` and the shift AUROC of its scores under each common corruption.

    Args:
        model: A trained classifier (images to logits).
        x: Clean test images, float in `[0, 1]`.
        y: Their integer (or one-hot) labels.
        seed: Seed of the corruptions (`corruptions.corrupt`).
        corruptions: Corruption names (default: the 15 of ImageNet-C).
        severities: Severities, each 1..5 (default: all five).
        scores: OoD scores to follow (default: every score the model has: `rate` for CEB and
            VIB, `entropy`, `max_softmax`, `max_logit`, `energy`), at the encoder mean.
        batch_size: Batch size of the forward passes.
        output_key: The logits' key, for a model with several outputs.

    Returns:
        A JSON-ready dict: `clean_accuracy`; `accuracy[corruption]`, one accuracy per severity;
        `mean_accuracy` over every corruption and severity; `shift_auroc[score][corruption]`,
        one AUROC per severity (0.5: the score does not see the shift; 1: it separates every
        corrupted image from the clean ones); `mean_shift_auroc[score]`, one mean over the
        corruptions per severity; and the `corruptions`, `severities`, `seed` and
        `num_examples` used.

    Examples:

        ```python
        result = keras_ceb.evaluation.evaluate_corruptions(model, x_test, y_test, seed=0)
        result["accuracy"]["fog"]          # five accuracies, severity 1 to 5
        result["shift_auroc"]["rate"]["fog"]
        ```
    """
    images = corruptions_lib.validate_images(x)
    labels = _labels(y, len(images))
    corruptions = list(corruptions)
    severities = [corruptions_lib.validate_severity(s) for s in severities]
    logits, clean_scores = scores_lib.logits_and_scores(model, images, batch_size, output_key)
    names = _score_names(scores, clean_scores)
    accuracy = {}
    shift_auroc = {name: {} for name in names}
    for corruption, severity, corrupted in corruptions_lib.corrupted_sets(
        images, seed=seed, corruptions=corruptions, severities=severities
    ):
        corrupted_logits, corrupted_scores = scores_lib.logits_and_scores(
            model, corrupted, batch_size, output_key
        )
        correct = np.argmax(corrupted_logits, axis=-1) == labels
        accuracy.setdefault(corruption, []).append(float(correct.mean()))
        for name in names:
            metrics = ood.ood_metrics(
                clean_scores[name],
                corrupted_scores[name],
                higher_is_in_distribution=scores_lib.SCORE_DIRECTIONS[name],
            )
            shift_auroc[name].setdefault(corruption, []).append(metrics["auroc"])
    return {
        "corruptions": corruptions,
        "severities": severities,
        "seed": int(seed),
        "num_examples": int(len(images)),
        "clean_accuracy": float(np.mean(np.argmax(logits, axis=-1) == labels)),
        "accuracy": accuracy,
        "mean_accuracy": float(np.mean([a for values in accuracy.values() for a in values])),
        "shift_auroc": shift_auroc,
        "mean_shift_auroc": {
            name: [float(v) for v in np.mean(list(per.values()), axis=0)]
            for name, per in shift_auroc.items()
        },
    }


def _check_comparable(result, reference):
    for key in ("corruptions", "severities"):
        if list(result[key]) != list(reference[key]):
            raise ValueError(
                f"`result` and `reference` must cover the same {key}. "
                f"Received: {result[key]!r} and {reference[key]!r}"
            )


def _ratio(numerator, denominator):
    return numerator / denominator if denominator > 0 else math.nan


def mean_corruption_error(result, reference):
    """The corruption errors of `result` relative to `reference`, in percent.

    Hendrycks and Dietterich (2019, section 4): with `E[s, c]` a model's top-1 error at
    severity `s` of corruption `c`, `CE_c = sum_s E[s, c] / sum_s E_ref[s, c]` and the mCE is
    the mean of `CE_c` over the corruptions; the relative CE counts only what the corruption
    adds to the clean error, `sum_s (E[s, c] - E_clean) / sum_s (E_ref[s, c] - E_ref_clean)`.
    Below 100: fewer errors than the reference. A relative CE whose reference loses nothing to
    the corruption (on few images, a mild corruption can even help it) is `nan`, and the
    relative mCE is the mean over the corruptions where it is defined (`relative_undefined`
    names the others).

    Args:
        result: `evaluate_corruptions`' result for the model.
        reference: `evaluate_corruptions`' result for the reference model (Determ), over the
            same corruptions and severities.

    Returns:
        `{"mce", "relative_mce", "ce": {corruption: ...}, "relative_ce": {corruption: ...},
        "relative_undefined": [corruption, ...]}`.

    Examples:

        >>> model = {"corruptions": ["fog"], "severities": [1, 2], "clean_accuracy": 0.9,
        ...          "accuracy": {"fog": [0.8, 0.6]}}
        >>> determ = {"corruptions": ["fog"], "severities": [1, 2], "clean_accuracy": 0.9,
        ...           "accuracy": {"fog": [0.7, 0.5]}}
        >>> {k: round(v, 1) for k, v in mean_corruption_error(model, determ).items()
        ...  if k.endswith("mce")}
        {'mce': 75.0, 'relative_mce': 66.7}
    """
    _check_comparable(result, reference)
    ce, relative = {}, {}
    clean_error = 1 - result["clean_accuracy"]
    reference_clean_error = 1 - reference["clean_accuracy"]
    for corruption in result["corruptions"]:
        errors = 1 - np.asarray(result["accuracy"][corruption])
        reference_errors = 1 - np.asarray(reference["accuracy"][corruption])
        ce[corruption] = 100 * _ratio(errors.sum(), reference_errors.sum())
        relative[corruption] = 100 * _ratio(
            (errors - clean_error).sum(), (reference_errors - reference_clean_error).sum()
        )
    defined = [value for value in relative.values() if not math.isnan(value)]
    return {
        "mce": float(np.mean(list(ce.values()))),
        "relative_mce": float(np.mean(defined)) if defined else math.nan,
        "ce": ce,
        "relative_ce": relative,
        "relative_undefined": [c for c, value in relative.items() if math.isnan(value)],
    }


def format_corruption_report(result, reference=None, score="rate"):
    """A Markdown table: accuracy per corruption and severity, its mean, the shift AUROC of
    `score` (the rate, else the entropy, when `result` has no `score`) and, with a `reference`
    result, the corruption error (CE) against it.

    Examples:

        >>> result = {"corruptions": ["fog"], "severities": [1, 5], "clean_accuracy": 0.9,
        ...           "accuracy": {"fog": [0.8, 0.4]}, "mean_accuracy": 0.6,
        ...           "shift_auroc": {"rate": {"fog": [0.6, 0.9]}},
        ...           "mean_shift_auroc": {"rate": [0.6, 0.9]}}
        >>> print(format_corruption_report(result))
        Common corruptions: clean accuracy 0.9000, mean corrupted accuracy 0.6000 (2 sets)
        | corruption | accuracy s1 | accuracy s5 | mean | rate AUROC s1 | rate AUROC s5 |
        |---|---|---|---|---|---|
        | fog | 0.8000 | 0.4000 | 0.6000 | 0.600 | 0.900 |
        | mean | 0.8000 | 0.4000 | 0.6000 | 0.600 | 0.900 |
    """
    severities = list(result["severities"])
    if score not in result["shift_auroc"]:
        known = [s for s in ("rate", "entropy") if s in result["shift_auroc"]]
        score = (known or list(result["shift_auroc"]) or [None])[0]
    errors = mean_corruption_error(result, reference) if reference is not None else None
    header = ["corruption"] + [f"accuracy s{s}" for s in severities] + ["mean"]
    if score is not None:
        header += [f"{score} AUROC s{s}" for s in severities]
    if errors is not None:
        header += ["CE", "relative CE"]
    sets = len(result["corruptions"]) * len(severities)
    lines = [
        f"Common corruptions: clean accuracy {result['clean_accuracy']:.4f}, mean corrupted "
        f"accuracy {result['mean_accuracy']:.4f} ({sets} sets)",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]

    def row(label, accuracies, aurocs, ce, relative_ce):
        cells = [label] + [f"{a:.4f}" for a in accuracies] + [f"{np.mean(accuracies):.4f}"]
        if score is not None:
            cells += [f"{a:.3f}" for a in aurocs]
        if errors is not None:
            cells += [f"{ce:.1f}", f"{relative_ce:.1f}"]
        return "| " + " | ".join(cells) + " |"

    for corruption in result["corruptions"]:
        lines.append(
            row(
                corruption,
                result["accuracy"][corruption],
                result["shift_auroc"][score][corruption] if score is not None else (),
                errors["ce"][corruption] if errors else None,
                errors["relative_ce"][corruption] if errors else None,
            )
        )
    mean_accuracies = np.mean([result["accuracy"][c] for c in result["corruptions"]], axis=0)
    lines.append(
        row(
            "mean",
            mean_accuracies,
            result["mean_shift_auroc"][score] if score is not None else (),
            errors["mce"] if errors else None,
            errors["relative_mce"] if errors else None,
        )
    )
    return "\n".join(lines)


def plot_corruptions(image, *, seed, corruptions=None, severities=corruptions_lib.SEVERITIES):
    """A grid of one image under each corruption (rows) and severity (columns), the clean
    image first; returns the Matplotlib figure (no pyplot state).

    Examples:

        ```python
        figure = keras_ceb.evaluation.plot_corruptions(x_test[0], seed=0)
        figure.savefig("corruptions.png")
        ```
    """
    from matplotlib.figure import Figure

    batch = corruptions_lib.validate_images(np.asarray(image)[None])
    colour = batch.ndim == 4 and batch.shape[-1] == 3
    if corruptions is None:
        corruptions = (
            corruptions_lib.CORRUPTIONS + corruptions_lib.EXTRA_CORRUPTIONS[: 3 if colour else 2]
        )
    corruptions = list(corruptions)
    figure = Figure(figsize=(1.2 * (len(severities) + 1) + 1.2, 1.2 * len(corruptions)))
    axes = figure.subplots(len(corruptions), len(severities) + 1, squeeze=False)

    def show(ax, pixels):
        pixels = pixels.squeeze()
        ax.imshow(pixels, cmap=None if colour else "gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])

    for row, corruption in enumerate(corruptions):
        show(axes[row, 0], batch[0])
        axes[row, 0].set_ylabel(corruption, rotation=0, ha="right", va="center", fontsize=8)
        for column, severity in enumerate(severities, start=1):
            show(
                axes[row, column],
                corruptions_lib.corrupt(batch, corruption, severity, seed=seed)[0],
            )
    axes[0, 0].set_title("clean", fontsize=8)
    for column, severity in enumerate(severities, start=1):
        axes[0, column].set_title(f"severity {severity}", fontsize=8)
    figure.tight_layout()
    return figure
