"""Tests for `keras_ceb.evaluation.calibration`: ECE, binomial intervals, reliability diagrams."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from keras_ceb.evaluation import ReliabilityDiagram
from keras_ceb.evaluation import binomial_interval
from keras_ceb.evaluation import expected_calibration_error
from keras_ceb.evaluation import plot_reliability_diagram
from keras_ceb.evaluation import reliability_diagram


def random_predictions(seed, num_examples=1000, num_classes=10, concentration=0.3):
    """Dirichlet probabilities and labels that agree with the argmax about 60% of the time."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(num_classes, concentration), size=num_examples)
    labels = np.where(
        rng.random(num_examples) < 0.6,
        probs.argmax(axis=1),
        rng.integers(0, num_classes, num_examples),
    )
    return probs, labels


def direct_ece(probs, labels, num_bins):
    """ECE written out: bins (lo, hi] on equal-width edges, the first also holding 0."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    total = 0.0
    for m in range(num_bins):
        lo, hi = edges[m], edges[m + 1]
        in_bin = (confidence > lo) & (confidence <= hi)
        if m == 0:
            in_bin |= confidence == 0.0
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - confidence[in_bin].mean())
            total += in_bin.sum() / len(labels) * gap
    return total


@pytest.mark.parametrize("num_bins", [1, 10, 15, 20])
@pytest.mark.parametrize("seed", [0, 1])
def test_ece_matches_direct_computation(seed, num_bins):
    probs, labels = random_predictions(seed)
    ece = expected_calibration_error(probs, labels, num_bins=num_bins)
    np.testing.assert_allclose(ece, direct_ece(probs, labels, num_bins), rtol=1e-12)
    assert 0.0 < ece < 1.0


def test_ece_on_confidences_at_bin_edges():
    # Confidences exactly on the 5% edges: (0.45, 0.5] holds 0.5, (0.55, 0.6] holds 0.6, ...
    probs = np.array([[0.5, 0.5], [0.6, 0.4], [0.75, 0.25], [1.0, 0.0], [0.05, 0.95]])
    labels = np.array([0, 1, 0, 0, 1])
    ece = expected_calibration_error(probs, labels)
    np.testing.assert_allclose(ece, direct_ece(probs, labels, 20), rtol=1e-12)
    diagram = reliability_diagram(probs, labels)
    assert diagram.counts[9] == 1 and diagram.counts[11] == 1 and diagram.counts[14] == 1
    assert diagram.counts[18] == 1 and diagram.counts[19] == 1  # 0.95 in (0.9, 0.95], 1.0 last


def test_ece_known_values():
    # Calibrated: every prediction has confidence 0.75 and 3 of 4 are right.
    probs = np.tile([0.75, 0.25], (8, 1))
    labels = np.array([0, 0, 0, 1, 0, 0, 0, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-15)
    # Confidently wrong: ECE = 1.
    assert expected_calibration_error(np.eye(3), [1, 2, 0]) == pytest.approx(1.0)


def test_one_hot_and_float_labels_equal_integer_labels():
    probs, labels = random_predictions(3, num_examples=200)
    expected = expected_calibration_error(probs, labels)
    one_hot = np.eye(10)[labels]
    assert expected_calibration_error(probs, one_hot) == expected
    assert expected_calibration_error(probs.astype("float32"), labels.astype("float32")) == (
        pytest.approx(expected, rel=1e-6)
    )


@pytest.mark.parametrize(
    "successes, trials", [(0, 10), (3, 10), (10, 10), (1, 1), (45, 50), (512, 1000), (7, 9000)]
)
@pytest.mark.parametrize("interval", [0.90, 0.95])
def test_binomial_intervals_match_scipy(successes, trials, interval):
    result = stats.binomtest(successes, trials)
    for method, scipy_method in (("wilson", "wilson"), ("clopper_pearson", "exact")):
        lower, upper = binomial_interval(successes, trials, interval, method=method)
        expected = result.proportion_ci(confidence_level=interval, method=scipy_method)
        np.testing.assert_allclose(
            [lower, upper], [expected.low, expected.high], rtol=1e-9, atol=1e-12, err_msg=method
        )
        assert lower <= successes / trials <= upper


def test_clopper_pearson_matches_beta_quantiles():
    k, n, alpha = 17, 40, 0.10
    lower, upper = binomial_interval(k, n, 1 - alpha, method="clopper_pearson")
    np.testing.assert_allclose(lower, stats.beta.ppf(alpha / 2, k, n - k + 1), rtol=1e-9)
    np.testing.assert_allclose(upper, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), rtol=1e-9)


@pytest.mark.parametrize("method", ["wilson", "clopper_pearson"])
def test_reliability_diagram(method):
    probs, labels = random_predictions(4, num_examples=2000)
    diagram = reliability_diagram(probs, labels, num_bins=20, interval=0.90, method=method)
    assert isinstance(diagram, ReliabilityDiagram)
    assert diagram.num_bins == 20 and diagram.counts.sum() == 2000 == diagram.num_examples
    np.testing.assert_allclose(diagram.bin_edges, np.arange(21) / 20)
    assert diagram.ece == expected_calibration_error(probs, labels, num_bins=20)

    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    nonempty = np.flatnonzero(diagram.counts)
    assert len(nonempty) >= 10
    scipy_method = "exact" if method == "clopper_pearson" else "wilson"
    for m in range(20):
        lo, hi = diagram.bin_edges[m], diagram.bin_edges[m + 1]
        in_bin = (confidence > lo) & (confidence <= hi)
        assert diagram.counts[m] == in_bin.sum()
        if not in_bin.any():
            assert np.isnan(diagram.accuracy[m]) and np.isnan(diagram.accuracy_lower[m])
            continue
        np.testing.assert_allclose(diagram.accuracy[m], correct[in_bin].mean())
        np.testing.assert_allclose(diagram.mean_confidence[m], confidence[in_bin].mean())
        assert lo < diagram.mean_confidence[m] <= hi
        assert diagram.accuracy_lower[m] <= diagram.accuracy[m] <= diagram.accuracy_upper[m]
        ci = stats.binomtest(int(correct[in_bin].sum()), int(in_bin.sum())).proportion_ci(
            confidence_level=0.90, method=scipy_method
        )
        np.testing.assert_allclose(
            [diagram.accuracy_lower[m], diagram.accuracy_upper[m]],
            [ci.low, ci.high],
            rtol=1e-9,
            atol=1e-12,
        )

    rows = diagram.rows()
    assert len(rows) == 20 and sum(row["count"] for row in rows) == 2000
    assert rows[3]["lower_edge"] == pytest.approx(0.15) and rows[3]["upper_edge"] == 0.2


def test_plot_reliability_diagram_returns_figure_with_one_bar_per_nonempty_bin():
    probs, labels = random_predictions(5, num_examples=500)
    diagram = reliability_diagram(probs, labels)
    figure = plot_reliability_diagram(diagram)
    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    num_nonempty = int(np.count_nonzero(diagram.counts))
    assert 0 < num_nonempty < 20  # some bins are empty (no confidence below 1/10)
    assert len(ax.patches) == num_nonempty
    heights = sorted(patch.get_height() for patch in ax.patches)
    np.testing.assert_allclose(heights, np.sort(diagram.accuracy[diagram.counts > 0]))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")  # renders headless, without pyplot
    assert buffer.getvalue()[:4] == b"\x89PNG"


def test_plot_reliability_diagram_into_given_axes():
    probs, labels = random_predictions(6, num_examples=300)
    figure = Figure()
    left, right = figure.subplots(1, 2)
    returned = plot_reliability_diagram(reliability_diagram(probs, labels, num_bins=5), ax=right)
    assert returned is figure
    assert len(left.patches) == 0 and len(right.patches) == np.count_nonzero(
        reliability_diagram(probs, labels, num_bins=5).counts
    )


GOOD_PROBS = np.array([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])
GOOD_LABELS = np.array([0, 1, 1])


@pytest.mark.parametrize(
    "probs, labels, argument",
    [
        (GOOD_PROBS[0], GOOD_LABELS, "probs"),  # 1-D
        (np.zeros((0, 2)), np.zeros(0, int), "probs"),  # empty
        (GOOD_PROBS * 2.0, GOOD_LABELS, "probs"),  # rows sum to 2 (logits?)
        (np.array([[1.2, -0.2], [0.2, 0.8], [0.5, 0.5]]), GOOD_LABELS, "probs"),  # negative
        (np.array([[np.nan, 0.3], [0.2, 0.8], [0.5, 0.5]]), GOOD_LABELS, "probs"),
        (GOOD_PROBS, np.array([0, 1, 2]), "labels"),  # out of range
        (GOOD_PROBS, np.array([0, -1, 1]), "labels"),  # negative
        (GOOD_PROBS, np.array([0, 1]), "labels"),  # length mismatch
        (GOOD_PROBS, np.array([0.0, 0.5, 1.0]), "labels"),  # not integers
        (GOOD_PROBS, np.array([[1, 0], [1, 1], [0, 1]]), "labels"),  # not one-hot
        (GOOD_PROBS, np.array([[0], [1], [1]]), "labels"),  # 2-D, not one-hot-shaped
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(probs, labels, argument):
    for function in (expected_calibration_error, reliability_diagram):
        with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
            function(probs, labels)


def test_bad_options_raise_value_error():
    with pytest.raises(ValueError, match="Received: num_bins=0"):
        expected_calibration_error(GOOD_PROBS, GOOD_LABELS, num_bins=0)
    with pytest.raises(ValueError, match="Received: num_bins=2.5"):
        reliability_diagram(GOOD_PROBS, GOOD_LABELS, num_bins=2.5)
    with pytest.raises(ValueError, match="Received: interval=90"):
        reliability_diagram(GOOD_PROBS, GOOD_LABELS, interval=90)
    with pytest.raises(ValueError, match="Received: method='jeffreys'"):
        reliability_diagram(GOOD_PROBS, GOOD_LABELS, method="jeffreys")
    with pytest.raises(ValueError, match="Received: successes=11"):
        binomial_interval(11, 10)
    with pytest.raises(ValueError, match="Received: trials=0"):
        binomial_interval(0, 0)
    with pytest.raises(ValueError, match="Received: diagram=dict"):
        plot_reliability_diagram({"counts": [1]})
