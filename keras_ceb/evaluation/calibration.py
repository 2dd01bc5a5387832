"""Calibration: expected calibration error and reliability diagrams with binomial intervals.

A classifier is calibrated when, among the examples it predicts with confidence `p` (its
maximum class probability), a fraction `p` is correct. Confidences are grouped into
equal-width bins on `[0, 1]`; bin `m` (0-based) of `M` is the interval
`(edges[m], edges[m + 1]]` with `edges = linspace(0, 1, M + 1)` (the first bin also holds a
confidence of exactly 0, and a confidence rounding slightly above 1 goes to the last). The
paper (Fischer 2020, section 3.4) uses 20 bins of 5% and 90% intervals.

Metrics are NumPy; scipy is not needed (the normal quantile comes from `statistics`, and the
Clopper-Pearson interval is solved by bisection on exact binomial tails).
"""

import dataclasses
import math
import statistics

import numpy as np

from keras_ceb.evaluation import numpy_math
from keras_ceb.evaluation.ood import as_numeric_array
from keras_ceb.evaluation.ood import check_finite
from keras_ceb.evaluation.ood import describe_array

INTERVAL_METHODS = ("wilson", "clopper_pearson")
ROW_SUM_TOLERANCE = 1e-3


def _validate_num_bins(num_bins):
    if (
        isinstance(num_bins, (bool, np.bool_))
        or not isinstance(num_bins, (int, np.integer))
        or (num_bins < 1)
    ):
        raise ValueError(f"`num_bins` must be a positive int. Received: num_bins={num_bins!r}")
    return int(num_bins)


def _validate_interval(interval):
    if (
        isinstance(interval, (bool, np.bool_))
        or not isinstance(interval, (int, float, np.number))
        or not (0.0 < interval < 1.0)
    ):
        raise ValueError(
            "`interval` must be a probability in (0, 1), e.g. 0.90. "
            f"Received: interval={interval!r}"
        )
    return float(interval)


def _validate_method(method):
    if method not in INTERVAL_METHODS:
        raise ValueError(
            f"`method` must be one of {INTERVAL_METHODS}. Received: method={method!r}"
        )
    return method


def _validate_probs_labels(probs, labels):
    """Returns `(probs, labels)` as float64 `(N, C)` and int64 `(N,)`, else `ValueError`."""
    probs = as_numeric_array(probs, "probs")
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(
            "`probs` must be a non-empty 2-D array `(num_examples, num_classes)` of class "
            f"probabilities. Received: probs={describe_array(probs)}"
        )
    check_finite(probs, "probs")
    probs = probs.astype(np.float64)
    if probs.min() < 0.0:
        raise ValueError(f"`probs` must be non-negative. Received: probs={describe_array(probs)}")
    row_sums = probs.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if abs(row_sums[worst] - 1.0) > ROW_SUM_TOLERANCE:
        raise ValueError(
            f"Each row of `probs` must sum to 1 (within {ROW_SUM_TOLERANCE}); row {worst} sums "
            f"to {row_sums[worst]:.6g}. Pass probabilities, not logits (apply a softmax). "
            f"Received: probs={describe_array(probs)}"
        )

    num_examples, num_classes = probs.shape
    labels = as_numeric_array(labels, "labels")
    if labels.ndim == 2 and labels.shape == probs.shape:
        if not (np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all()):
            raise ValueError(
                "2-D `labels` must be one-hot rows (a single 1, zeros elsewhere). "
                f"Received: labels={describe_array(labels)}"
            )
        labels = np.argmax(labels, axis=1)
    if labels.ndim != 1:
        raise ValueError(
            "`labels` must be 1-D integer class indices (or one-hot rows shaped like `probs`, "
            f"{probs.shape}). Received: labels={describe_array(labels)}"
        )
    if labels.shape[0] != num_examples:
        raise ValueError(
            f"`labels` must have one entry per row of `probs` ({num_examples}). "
            f"Received: labels={describe_array(labels)}"
        )
    check_finite(labels, "labels")
    if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"`labels` must be integer class indices in [0, {num_classes}). "
            f"Received: labels={describe_array(labels)}"
        )
    return probs, labels.astype(np.int64)


def _bin_statistics(probs, labels, num_bins):
    """Edges, counts, summed confidence and number correct per bin."""
    confidence = probs.max(axis=1)
    correct = (np.argmax(probs, axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, num_bins - 1)
    counts = np.bincount(index, minlength=num_bins)
    confidence_sums = np.bincount(index, weights=confidence, minlength=num_bins)
    correct_counts = np.bincount(index, weights=correct, minlength=num_bins)
    return edges, counts, confidence_sums, np.rint(correct_counts).astype(np.int64)


def _ece(counts, confidence_sums, correct_counts):
    # sum_m (n_m / N) |acc_m - conf_m| = sum_m |correct_m - confidence_sum_m| / N
    return float(np.sum(np.abs(correct_counts - confidence_sums)) / np.sum(counts))


def expected_calibration_error(probs, labels, num_bins=20):
    """Expected calibration error `ECE = sum_m (n_m / N) |acc_m - conf_m|`.

    Examples are binned by their confidence (maximum probability) into `num_bins` equal-width
    bins (see the module docstring for the edge rule); `acc_m` is the fraction of bin `m`
    whose argmax prediction is right (ties go to the lowest class index), `conf_m` its mean
    confidence. Empty bins contribute 0.

    Args:
        probs: Class probabilities `(N, C)`, finite, non-negative, rows summing to 1 (within
            1e-3). Apply a softmax to logits first.
        labels: True classes, integer indices `(N,)` or one-hot `(N, C)`.
        num_bins: Number of equal-width bins; the paper's 20 gives 5% bins.

    Returns:
        The ECE, a float in `[0, 1]`.

    Examples:

        >>> probs = np.array([[0.9, 0.1], [0.9, 0.1]])  # 90% confident, right half the time
        >>> round(expected_calibration_error(probs, [0, 1]), 3)
        0.4

    References:
        Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks", ICML 2017.
        Naeini, Cooper & Hauskrecht, "Obtaining Well Calibrated Probabilities Using Bayesian
        Binning", AAAI 2015.
    """
    probs, labels = _validate_probs_labels(probs, labels)
    _, counts, confidence_sums, correct_counts = _bin_statistics(
        probs, labels, _validate_num_bins(num_bins)
    )
    return _ece(counts, confidence_sums, correct_counts)


def _wilson(successes, trials, interval):
    z = statistics.NormalDist().inv_cdf(0.5 + interval / 2.0)
    p_hat = successes / trials
    denominator = 1.0 + z * z / trials
    center = (p_hat + z * z / (2.0 * trials)) / denominator
    half_width = z * math.sqrt(p_hat * (1.0 - p_hat) / trials + z * z / (4.0 * trials**2))
    half_width /= denominator
    # At k = 0 (k = n) the lower (upper) end is exactly 0 (1); avoid rounding residue there.
    lower = 0.0 if successes == 0 else max(0.0, center - half_width)
    upper = 1.0 if successes == trials else min(1.0, center + half_width)
    return lower, upper


def _log_binomial_pmf(trials, p, log_choose):
    j = np.arange(trials + 1)
    return log_choose + j * math.log(p) + (trials - j) * math.log1p(-p)


def _bisect(function, target, increasing, iterations=100):
    """Solves `function(p) = target` on (0, 1) for a monotone `function`."""
    low, high = 0.0, 1.0
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if (function(middle) < target) == increasing:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def _clopper_pearson(successes, trials, interval):
    """Exact interval: `P(X >= k | p_low) = alpha/2` and `P(X <= k | p_high) = alpha/2`."""
    log_tail = math.log((1.0 - interval) / 2.0)
    j = np.arange(trials + 1)
    log_choose = np.array(
        [math.lgamma(trials + 1) - math.lgamma(i + 1) - math.lgamma(trials - i + 1) for i in j]
    )

    def log_tail_mass(p, tail):
        return numpy_math.logsumexp(_log_binomial_pmf(trials, p, log_choose)[tail])

    lower, upper = 0.0, 1.0
    if successes > 0:
        lower = _bisect(
            lambda p: log_tail_mass(p, slice(successes, None)), log_tail, increasing=True
        )
    if successes < trials:
        upper = _bisect(
            lambda p: log_tail_mass(p, slice(None, successes + 1)), log_tail, increasing=False
        )
    return lower, upper


def binomial_interval(successes, trials, interval=0.90, method="wilson"):
    """A confidence interval for a binomial proportion (a bin's accuracy).

    Args:
        successes: Number of successes `k` (correct predictions), `0 <= k <= n`.
        trials: Number of trials `n > 0`.
        interval: Coverage, e.g. `0.90` for the paper's 90% intervals.
        method: `"wilson"`, the Wilson score interval without continuity correction (as
            `scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`), or
            `"clopper_pearson"`, the exact interval from binomial tails (as
            `proportion_ci(method="exact")`), found by bisection on exact binomial tails (agrees
            with scipy to about 1e-12).

    Returns:
        `(lower, upper)`, floats with `0 <= lower <= k / n <= upper <= 1`.

    Examples:

        >>> binomial_interval(45, 50, interval=0.90)
        (0.8084..., 0.9504...)

    References:
        Wilson, "Probable Inference, the Law of Succession, and Statistical Inference", JASA 1927.
        Clopper & Pearson, "The Use of Confidence or Fiducial Limits Illustrated in the Case of
        the Binomial", Biometrika 1934.
    """
    for name, value in (("successes", successes), ("trials", trials)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"`{name}` must be an int. Received: {name}={value!r}")
    if trials < 1:
        raise ValueError(f"`trials` must be positive. Received: trials={trials!r}")
    if not 0 <= successes <= trials:
        raise ValueError(
            f"`successes` must be in [0, trials={trials}]. Received: successes={successes!r}"
        )
    interval = _validate_interval(interval)
    if _validate_method(method) == "wilson":
        return _wilson(int(successes), int(trials), interval)
    return _clopper_pearson(int(successes), int(trials), interval)


@dataclasses.dataclass(frozen=True)
class ReliabilityDiagram:
    """Per-bin calibration data; bin `m` covers `(bin_edges[m], bin_edges[m + 1]]`.

    Attributes:
        bin_edges: `(num_bins + 1,)` equal-width edges on `[0, 1]`.
        counts: `(num_bins,)` number of examples per bin; sums to `num_examples`.
        mean_confidence: `(num_bins,)` mean maximum probability per bin (NaN when empty).
        accuracy: `(num_bins,)` fraction of correct predictions per bin (NaN when empty).
        accuracy_lower: `(num_bins,)` lower end of the accuracy interval (NaN when empty).
        accuracy_upper: `(num_bins,)` upper end of the accuracy interval (NaN when empty).
        interval: Coverage of the intervals, e.g. 0.90.
        method: `"wilson"` or `"clopper_pearson"`.
        ece: Expected calibration error over the same bins.
        num_examples: Total number of examples.
    """

    bin_edges: np.ndarray
    counts: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray
    accuracy_lower: np.ndarray
    accuracy_upper: np.ndarray
    interval: float
    method: str
    ece: float
    num_examples: int

    @property
    def num_bins(self):
        return int(self.counts.shape[0])

    def rows(self):
        """One dict per bin: `lower_edge`, `upper_edge`, `count`, `mean_confidence`, `accuracy`,
        `accuracy_lower`, `accuracy_upper` (floats, NaN for empty bins)."""
        return [
            {
                "lower_edge": float(self.bin_edges[m]),
                "upper_edge": float(self.bin_edges[m + 1]),
                "count": int(self.counts[m]),
                "mean_confidence": float(self.mean_confidence[m]),
                "accuracy": float(self.accuracy[m]),
                "accuracy_lower": float(self.accuracy_lower[m]),
                "accuracy_upper": float(self.accuracy_upper[m]),
            }
            for m in range(self.num_bins)
        ]


def reliability_diagram(probs, labels, num_bins=20, interval=0.90, method="wilson"):
    """Per-bin confidence, accuracy and a binomial interval on the accuracy.

    Args:
        probs: Class probabilities `(N, C)`, rows summing to 1 (see
            `expected_calibration_error`).
        labels: True classes, integer indices `(N,)` or one-hot `(N, C)`.
        num_bins: Number of equal-width confidence bins; 20 gives the paper's 5% bins.
        interval: Coverage of the accuracy intervals; the paper uses 0.90.
        method: `"wilson"` (default) or `"clopper_pearson"`; see `binomial_interval`.

    Returns:
        A `ReliabilityDiagram`; `.rows()` gives one dict per bin, and
        `plot_reliability_diagram` draws it.

    Examples:

        >>> probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
        >>> diagram = reliability_diagram(probs, [0, 1, 0, 1], num_bins=2)
        >>> round(diagram.ece, 3), int(diagram.counts.sum())
        (0.025, 4)
        >>> plot_reliability_diagram(diagram).savefig("reliability.png")

    References:
        Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks", ICML 2017.
        Fischer, "The Conditional Entropy Bottleneck", Entropy 2020 (section 3.4).
    """
    probs, labels = _validate_probs_labels(probs, labels)
    num_bins = _validate_num_bins(num_bins)
    interval = _validate_interval(interval)
    method = _validate_method(method)
    edges, counts, confidence_sums, correct_counts = _bin_statistics(probs, labels, num_bins)
    nan = np.full(num_bins, np.nan)
    mean_confidence, accuracy, lower, upper = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    for m in np.flatnonzero(counts):
        mean_confidence[m] = confidence_sums[m] / counts[m]
        accuracy[m] = correct_counts[m] / counts[m]
        lower[m], upper[m] = binomial_interval(
            int(correct_counts[m]), int(counts[m]), interval, method
        )
    return ReliabilityDiagram(
        bin_edges=edges,
        counts=counts.astype(np.int64),
        mean_confidence=mean_confidence,
        accuracy=accuracy,
        accuracy_lower=lower,
        accuracy_upper=upper,
        interval=interval,
        method=method,
        ece=_ece(counts, confidence_sums, correct_counts),
        num_examples=int(counts.sum()),
    )


def plot_reliability_diagram(diagram, ax=None, title=None):
    """Draws a reliability diagram: accuracy bars per non-empty bin, interval error bars, and
    the diagonal of perfect calibration, with the ECE in the title.

    Creates a `matplotlib.figure.Figure` directly (not through `pyplot`), so it needs no
    display, changes no global backend, and never calls `show`; save it with `savefig`.

    Args:
        diagram: A `ReliabilityDiagram` from `reliability_diagram`.
        ax: Optional matplotlib `Axes` to draw into; by default a new figure is made.
        title: Optional first line(s) of the axes title (what is shown, e.g. the model); a
            last line always gives the ECE, the bins and the number of examples.

    Returns:
        The `matplotlib.figure.Figure` holding the axes. The axes has one bar per non-empty
        bin; its legend lies below it, off the data.

    Examples:

        >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
        >>> fig = plot_reliability_diagram(reliability_diagram(probs, [0, 1, 0, 1]))
        >>> fig.axes[0].get_title().splitlines()[-1]
        'ECE = 0.4000 (20 bins of 5%, 4 examples)'
        >>> fig.savefig("reliability.png")
    """
    if not isinstance(diagram, ReliabilityDiagram):
        raise ValueError(
            "`diagram` must be a `ReliabilityDiagram` from `reliability_diagram`. "
            f"Received: diagram={type(diagram).__name__} object"
        )
    if ax is None:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(5, 5.8), layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = ax.figure.figure  # the root figure, also when `ax` is in a subfigure

    nonempty = diagram.counts > 0
    lefts = diagram.bin_edges[:-1][nonempty]
    widths = np.diff(diagram.bin_edges)[nonempty]
    accuracy = diagram.accuracy[nonempty]
    error = np.stack(
        [accuracy - diagram.accuracy_lower[nonempty], diagram.accuracy_upper[nonempty] - accuracy]
    )
    ax.bar(
        lefts,
        accuracy,
        width=widths,
        align="edge",
        color="tab:blue",
        edgecolor="black",
        linewidth=0.5,
        yerr=error,
        ecolor="black",
        capsize=2,
        label=f"accuracy per bin ({diagram.interval:.0%} {diagram.method} interval)",
    )
    ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="gray", label="perfect calibration")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("confidence: largest class probability (fraction)")
    ax.set_ylabel("accuracy (fraction correct)")
    width = 1.0 / diagram.num_bins
    bins = (
        f"{diagram.num_bins} bins of {width:.0%}"
        if np.allclose(np.diff(diagram.bin_edges), width)
        else f"{diagram.num_bins} bins"
    )
    summary = f"ECE = {diagram.ece:.4f} ({bins}, {diagram.num_examples} examples)"
    ax.set_title(summary if not title else f"{title}\n{summary}", fontsize="medium")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize="small", frameon=False)
    return figure
