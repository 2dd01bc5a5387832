"""Out-of-distribution (OoD) detection: per-example scores and threshold-free metrics.

A detector gives every example a score; the metrics below ask how well a threshold on that
score separates an in-distribution test set from an OoD set. Throughout this module
**in-distribution is the positive class** (the convention of ODIN, Liang et al. 2018): the true
positive rate (TPR) is the fraction of in-distribution examples accepted, the false positive
rate (FPR) the fraction of OoD examples accepted.

Scores point either way, so every metric takes `higher_is_in_distribution` as a required
keyword:

- the rate `R = log e(z|x) - log m(z)` and the classifier entropy `H` (`entropy_score`) are
  *lower* on in-distribution data: `higher_is_in_distribution=False`;
- the maximum softmax probability (`max_softmax_score`, Hendrycks & Gimpel 2017) is *higher*
  on in-distribution data: `higher_is_in_distribution=True`.

Internally a score is oriented so that higher means "more in-distribution" (negated when
`higher_is_in_distribution=False`) and an example is accepted as in-distribution when its
oriented score is `>=` the threshold. Everything is NumPy, computed in float64.
"""

import math
from collections.abc import Mapping

import numpy as np

from keras_ceb.evaluation import numpy_math

METRIC_NAMES = ("fpr_at_95_tpr", "auroc", "aupr_in", "aupr_out")


def describe_array(array):
    """A short description of an array for error messages (never the whole array)."""
    array = np.asarray(array)
    text = f"array(shape={array.shape}, dtype={array.dtype}"
    if array.size and np.issubdtype(array.dtype, np.number):
        finite = np.isfinite(array) if np.issubdtype(array.dtype, np.inexact) else None
        if finite is not None and not finite.all():
            num_nan = int(np.isnan(array).sum())
            num_inf = int(np.isinf(array).sum())
            text += f", nan={num_nan}, inf={num_inf}"
            values = array[finite]
        else:
            values = array
        if values.size:
            text += f", min={values.min():.6g}, max={values.max():.6g}"
    return text + ")"


def as_numeric_array(value, name):
    """Converts to a NumPy array of a real numeric (or bool) dtype, else `ValueError`."""
    if value is None:
        raise ValueError(f"`{name}` must be an array, not None. Received: {name}=None")
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists and other odd objects
        raise ValueError(
            f"`{name}` could not be converted to an array ({error}). Received: {name}={value!r}"
        ) from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(
        array
    ):
        raise ValueError(
            f"`{name}` must hold real numbers. Received: {name}={describe_array(array)}"
        )
    return array


def check_finite(array, name):
    if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
        raise ValueError(
            f"`{name}` must not contain NaN or infinite values. "
            f"Received: {name}={describe_array(array)}"
        )


def _validate_scores(scores, name):
    """A non-empty, finite, 1-D float64 copy of `scores`, else `ValueError` naming `name`."""
    array = as_numeric_array(scores, name)
    if array.ndim != 1:
        raise ValueError(
            f"`{name}` must be a 1-D array of per-example scores (one score per example). "
            f"Received: {name}={describe_array(array)}"
        )
    if array.size == 0:
        raise ValueError(
            f"`{name}` must hold at least one score; both in- and out-of-distribution "
            f"examples are needed. Received: {name}={describe_array(array)}"
        )
    check_finite(array, name)
    return array.astype(np.float64)


def _validate_direction(higher_is_in_distribution, name="higher_is_in_distribution"):
    if not isinstance(higher_is_in_distribution, (bool, np.bool_)):
        raise ValueError(
            f"`{name}` must be True (the score is higher for in-distribution data, e.g. the "
            "max softmax probability) or False (lower for in-distribution data, e.g. the rate R "
            f"or the entropy H). Received: {name}={higher_is_in_distribution!r}"
        )
    return bool(higher_is_in_distribution)


def _validate_logits(logits):
    array = as_numeric_array(logits, "logits")
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            "`logits` must be a non-empty 2-D array `(num_examples, num_classes)`. "
            f"Received: logits={describe_array(array)}"
        )
    check_finite(array, "logits")
    return array.astype(np.float64)


def entropy_score(logits):
    """Per-example entropy `H = -sum_y c(y|x) log c(y|x)` of a classifier, in nats.

    Computed from a stable log-softmax, so it never takes `log(0)`: a class whose probability
    underflows to 0 contributes exactly 0. Lower on in-distribution data, so use it with
    `higher_is_in_distribution=False`.

    Args:
        logits: Array `(num_examples, num_classes)` of unnormalized log-probabilities
            (NumPy, or any tensor NumPy can convert), finite.

    Returns:
        Float64 array `(num_examples,)`, each value in `[0, log(num_classes)]`.

    Examples:

        >>> entropy_score(np.zeros((1, 10)))  # uniform: log(10)
        array([2.30258509])

    References:
        Fischer, "The Conditional Entropy Bottleneck", Entropy 2020 (section 3.2, score H).
    """
    log_probs = numpy_math.log_softmax(_validate_logits(logits))
    entropy = -np.sum(np.exp(log_probs) * log_probs, axis=-1)
    return np.maximum(entropy, 0.0)  # clip rounding below 0 for one-hot-like outputs


def max_softmax_score(logits):
    """Per-example maximum softmax probability `max_y c(y|x)` (the baseline OoD detector).

    Computed as `1 / sum_y exp(logit_y - max_logit)`, without forming the softmax. Higher on
    in-distribution data, so use it with `higher_is_in_distribution=True`.

    Args:
        logits: Array `(num_examples, num_classes)` of unnormalized log-probabilities, finite.

    Returns:
        Float64 array `(num_examples,)`, each value in `[1 / num_classes, 1]`.

    Examples:

        >>> max_softmax_score(np.array([[0.0, 0.0], [10.0, -10.0]]))
        array([0.5, 1. ])

    References:
        Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution
        Examples in Neural Networks", ICLR 2017.
    """
    log_probs = numpy_math.log_softmax(_validate_logits(logits))
    return np.exp(log_probs.max(axis=-1))


def max_logit_score(logits):
    """Per-example largest logit `max_y f_y(x)` (Hendrycks et al., 2022). Higher on
    in-distribution data (`higher_is_in_distribution=True`). Unlike the max-softmax it keeps
    the logits' scale, which the softmax divides out.

    Args:
        logits: Array `(num_examples, num_classes)` of logits, finite.

    Returns:
        Float64 array `(num_examples,)`.

    Examples:

        >>> max_logit_score(np.array([[1.0, 3.0], [-2.0, -1.0]]))
        array([ 3., -1.])

    References:
        Hendrycks, Basart, Mazeika, Zou, Kwon, Mostajabi, Steinhardt and Song, "Scaling
        Out-of-Distribution Detection for Real-World Settings", ICML 2022.
    """
    return _validate_logits(logits).max(axis=-1)


def energy_score(logits, temperature=1.0):
    """Per-example negative energy `T log sum_y exp(f_y(x) / T)` (Liu et al., 2020).

    The free energy of the logits is `E(x) = -T logsumexp(f(x) / T)`; this returns `-E(x)`,
    higher on in-distribution data (`higher_is_in_distribution=True`). Liu et al. use `T = 1`.

    Args:
        logits: Array `(num_examples, num_classes)` of logits, finite.
        temperature: `T > 0`.

    Returns:
        Float64 array `(num_examples,)`.

    Examples:

        >>> energy_score(np.zeros((1, 10)))  # log(10)
        array([2.30258509])

    References:
        Liu, Wang, Owens and Li, "Energy-based Out-of-distribution Detection", NeurIPS 2020.
    """
    logits = _validate_logits(logits)
    if isinstance(temperature, bool) or not (
        isinstance(temperature, (int, float, np.floating))
        and np.isfinite(temperature)
        and temperature > 0
    ):
        raise ValueError(
            f"`temperature` must be a finite number > 0. Received: temperature={temperature!r}"
        )
    scaled = logits / temperature
    top = scaled.max(axis=-1, keepdims=True)
    return temperature * (top[:, 0] + np.log(np.sum(np.exp(scaled - top), axis=-1)))


def _oriented(in_scores, out_scores, higher_is_in_distribution):
    in_scores = _validate_scores(in_scores, "in_scores")
    out_scores = _validate_scores(out_scores, "out_scores")
    if _validate_direction(higher_is_in_distribution):
        return in_scores, out_scores
    return -in_scores, -out_scores


def _auroc(positive, negative):
    """P(positive > negative) + P(positive == negative) / 2 (the Mann-Whitney U statistic)."""
    negative = np.sort(negative)
    below = np.searchsorted(negative, positive, side="left")
    at_or_below = np.searchsorted(negative, positive, side="right")
    # 2 * U is an integer, so the sum is exact before the final division.
    twice_u = np.sum(below + at_or_below, dtype=np.float64)
    return float(twice_u / (2.0 * positive.size * negative.size))


def _average_precision(positive, negative):
    """Step-wise average precision `sum_k (R_k - R_{k-1}) P_k` over distinct thresholds.

    Examples are accepted when their score is `>=` the threshold; all examples that share a
    score enter together (as scikit-learn's `average_precision_score`).
    """
    scores = np.concatenate([positive, negative])
    labels = np.concatenate([np.ones(positive.size), np.zeros(negative.size)])
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    group_ends = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    true_pos = np.cumsum(labels)[group_ends]
    precision = true_pos / (group_ends + 1.0)
    recall = true_pos / positive.size
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def _fpr_at_tpr(positive, negative, tpr):
    # Accept the k highest in-distribution scores, k = ceil(tpr * n); rounding first keeps
    # e.g. 0.95 * 20 from becoming 19.000000000000004 and then 20.
    needed = max(1, math.ceil(round(tpr * positive.size, 6)))
    threshold = np.sort(positive)[::-1][needed - 1]
    return float(np.mean(negative >= threshold)), float(threshold)


def fpr_at_tpr(in_scores, out_scores, *, higher_is_in_distribution, tpr=0.95):
    """False positive rate (OoD accepted) at the threshold that accepts `tpr` of in-distribution.

    In-distribution is the positive class. With scores oriented so that higher means
    in-distribution, an example is accepted when `score >= t`. The threshold `t` is the
    *largest* value with `TPR(t) = mean(in_scores >= t) >= tpr`, namely the `k`-th largest
    in-distribution score, `k = ceil(tpr * len(in_scores))`. Ties are accepted together: every
    example (in- or out-of-distribution) whose score equals `t` is accepted, so the achieved TPR
    can exceed `tpr`. The result is `mean(out_scores >= t)`, the smallest FPR over all
    thresholds whose TPR is at least `tpr`.

    Args:
        in_scores: 1-D array of scores of in-distribution examples, finite, non-empty.
        out_scores: 1-D array of scores of OoD examples, finite, non-empty.
        higher_is_in_distribution: Required. `True` when higher scores mean in-distribution
            (max softmax), `False` when lower scores do (rate R, entropy H).
        tpr: Target true positive rate in `(0, 1]`.

    Returns:
        The FPR, a float in `[0, 1]`.

    Examples:

        >>> fpr_at_tpr([0.1, 0.2, 0.3], [0.25, 5.0], higher_is_in_distribution=False)
        0.5

    References:
        Liang, Li & Srikant, "Enhancing the Reliability of Out-of-distribution Image Detection
        in Neural Networks" (ODIN), ICLR 2018.
    """
    if (
        isinstance(tpr, (bool, np.bool_))
        or not isinstance(tpr, (int, float, np.number))
        or not (0.0 < tpr <= 1.0)
    ):
        raise ValueError(f"`tpr` must be a number in (0, 1]. Received: tpr={tpr!r}")
    positive, negative = _oriented(in_scores, out_scores, higher_is_in_distribution)
    return _fpr_at_tpr(positive, negative, float(tpr))[0]


def ood_metrics(in_scores, out_scores, *, higher_is_in_distribution):
    """FPR at 95% TPR, AUROC, AUPR-In and AUPR-Out of an OoD score.

    **In-distribution is the positive class** (ODIN's convention):

    - `fpr_at_95_tpr`: the fraction of OoD examples accepted at the threshold that accepts at
      least 95% of in-distribution examples (see `fpr_at_tpr` for the exact threshold rule and
      ties). Lower is better.
    - `auroc`: area under the ROC curve, the probability that a random in-distribution example
      scores as more in-distribution than a random OoD example, ties counting 1/2 (equal to
      scikit-learn's `roc_auc_score` with in-distribution labelled 1).
    - `aupr_in`: average precision with in-distribution as the positive class, the step-wise
      `sum_k (R_k - R_{k-1}) P_k` over distinct thresholds, tied scores entering together
      (equal to scikit-learn's `average_precision_score`).
    - `aupr_out`: the same with OoD as the positive class and the oriented score negated.
    - `fpr_at_95_tpr_ood_positive`: FPR@95%TPR with **OoD as the positive class** (OpenOOD
      v1.5's convention, `roc_curve(is_ood, -score)` at the first TPR >= 95%): the fraction of
      in-distribution examples flagged at the threshold that flags 95% of the OoD set. The two
      FPRs differ (the AUROC does not); papers on either side report "FPR@95".

    Args:
        in_scores: 1-D array of per-example scores on the in-distribution test set; finite,
            non-empty.
        out_scores: 1-D array of per-example scores on the OoD set; finite, non-empty. The two
            sets need not have the same size.
        higher_is_in_distribution: Required, no default, so the direction is always explicit.
            `False` for the rate R and the entropy H (lower on in-distribution data), `True`
            for the maximum softmax probability.

    Returns:
        A dict with float values under `"fpr_at_95_tpr"`, `"fpr_at_95_tpr_ood_positive"`,
        `"auroc"`, `"aupr_in"`, `"aupr_out"`.

    Raises:
        ValueError: if a score array is not 1-D, is empty, or holds NaN or inf, or if
            `higher_is_in_distribution` is not a bool.

    Examples:

        >>> rate_in = np.array([1.0, 2.0, 3.0])     # rate R on the test set
        >>> rate_out = np.array([2.5, 8.0, 9.0])    # rate R on noise images
        >>> ood_metrics(rate_in, rate_out, higher_is_in_distribution=False)["auroc"]
        0.8888888888888888

    References:
        Liang, Li & Srikant, "Enhancing the Reliability of Out-of-distribution Image Detection
        in Neural Networks" (ODIN), ICLR 2018.
        Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution
        Examples in Neural Networks", ICLR 2017.
    """
    positive, negative = _oriented(in_scores, out_scores, higher_is_in_distribution)
    return {
        "fpr_at_95_tpr": _fpr_at_tpr(positive, negative, 0.95)[0],
        # OpenOOD v1.5's convention: OoD positive, the threshold detects 95% of the OoD set,
        # and the FPR is the share of in-distribution examples flagged as OoD.
        "fpr_at_95_tpr_ood_positive": _fpr_at_tpr(-negative, -positive, 0.95)[0],
        "auroc": _auroc(positive, negative),
        "aupr_in": _average_precision(positive, negative),
        "aupr_out": _average_precision(-negative, -positive),
    }


def _describe_mapping(value):
    if isinstance(value, Mapping):
        return f"{type(value).__name__}(keys={list(value)!r})"
    if isinstance(value, np.ndarray):
        return describe_array(value)
    return f"{type(value).__name__} object"


def ood_report(in_scores, out_scores, *, higher_is_in_distribution):
    """A table of `ood_metrics` for every (OoD set, score) pair.

    Args:
        in_scores: Mapping from a score name to its 1-D array on the in-distribution test set,
            e.g. `{"rate": r_test, "entropy": h_test}`.
        out_scores: Mapping from an OoD set name to a mapping with the same score names, e.g.
            `{"noise": {"rate": ..., "entropy": ...}, "mnist": {...}}`. Every OoD set must
            provide every score of `in_scores` (extra scores are an error too).
        higher_is_in_distribution: Required. A bool used for every score, or a mapping from
            each score name to a bool (`{"rate": False, "entropy": False, "max_softmax": True}`).

    Returns:
        A list of dict rows, one per OoD set (in `out_scores` order) and score (in `in_scores`
        order), with keys `"ood_set"`, `"score"`, `"num_in"`, `"num_out"`, and the four
        metrics of `ood_metrics`. It converts directly to a `pandas.DataFrame`.

    Examples:

        >>> rows = ood_report(
        ...     {"rate": np.array([1.0, 2.0, 3.0])},
        ...     {"noise": {"rate": np.array([2.5, 8.0, 9.0])}},
        ...     higher_is_in_distribution=False)
        >>> [(row["ood_set"], row["score"], round(row["auroc"], 3)) for row in rows]
        [('noise', 'rate', 0.889)]
    """
    if not isinstance(in_scores, Mapping) or not in_scores:
        raise ValueError(
            "`in_scores` must be a non-empty dict mapping score names to arrays. "
            f"Received: in_scores={_describe_mapping(in_scores)}"
        )
    if not isinstance(out_scores, Mapping) or not out_scores:
        raise ValueError(
            "`out_scores` must be a non-empty dict mapping OoD set names to dicts of score "
            f"arrays. Received: out_scores={_describe_mapping(out_scores)}"
        )
    score_names = list(in_scores)
    if isinstance(higher_is_in_distribution, Mapping):
        missing = [name for name in score_names if name not in higher_is_in_distribution]
        if missing:
            raise ValueError(
                f"`higher_is_in_distribution` gives no direction for the scores {missing}. "
                f"Received: higher_is_in_distribution={dict(higher_is_in_distribution)!r}"
            )
        directions = {
            name: _validate_direction(
                higher_is_in_distribution[name], f"higher_is_in_distribution[{name!r}]"
            )
            for name in score_names
        }
    else:
        direction = _validate_direction(higher_is_in_distribution)
        directions = dict.fromkeys(score_names, direction)

    rows = []
    for set_name, set_scores in out_scores.items():
        if not isinstance(set_scores, Mapping) or set(set_scores) != set(score_names):
            keys = list(set_scores) if isinstance(set_scores, Mapping) else type(set_scores)
            raise ValueError(
                f"`out_scores[{set_name!r}]` must be a dict with exactly the score names of "
                f"`in_scores`, {score_names}. Received: out_scores[{set_name!r}] keys={keys!r}"
            )
        for score_name in score_names:
            try:
                metrics = ood_metrics(
                    in_scores[score_name],
                    set_scores[score_name],
                    higher_is_in_distribution=directions[score_name],
                )
            except ValueError as error:
                raise ValueError(f"OoD set {set_name!r}, score {score_name!r}: {error}") from None
            rows.append(
                {
                    "ood_set": set_name,
                    "score": score_name,
                    "num_in": int(np.size(in_scores[score_name])),
                    "num_out": int(np.size(set_scores[score_name])),
                    **metrics,
                }
            )
    return rows
