"""Tests for `keras_ceb.evaluation.ood`: scores and OoD metrics against scikit-learn."""

import numpy as np
import pytest
from scipy import special
from sklearn.metrics import average_precision_score
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve

from keras_ceb.evaluation import entropy_score
from keras_ceb.evaluation import fpr_at_tpr
from keras_ceb.evaluation import max_softmax_score
from keras_ceb.evaluation import ood_metrics
from keras_ceb.evaluation import ood_report


def sklearn_metrics(in_scores, out_scores, higher_is_in_distribution):
    """The three threshold-free metrics from scikit-learn, in-distribution labelled 1."""
    sign = 1.0 if higher_is_in_distribution else -1.0
    scores = sign * np.concatenate([in_scores, out_scores]).astype(np.float64)
    is_in = np.r_[np.ones(len(in_scores)), np.zeros(len(out_scores))]
    return {
        "auroc": roc_auc_score(is_in, scores),
        "aupr_in": average_precision_score(is_in, scores),
        "aupr_out": average_precision_score(1 - is_in, -scores),
    }


def openood_fpr(in_scores, out_scores, higher_is_in_distribution):
    """OpenOOD v1.5's FPR@95 (openood/evaluators/metrics.py, `auc_and_fpr_recall`): OoD is the
    positive class, `roc_curve(ood_indicator, -conf)`, the FPR at the first TPR >= 0.95."""
    sign = 1.0 if higher_is_in_distribution else -1.0
    conf = sign * np.concatenate([in_scores, out_scores]).astype(np.float64)
    ood_indicator = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    fpr, tpr, _ = roc_curve(ood_indicator, -conf)
    return fpr[np.argmax(tpr >= 0.95)]


def brute_force_fpr(in_scores, out_scores, higher_is_in_distribution, tpr=0.95):
    """Smallest FPR over every threshold `t` (accept `score >= t`) with TPR >= tpr."""
    sign = 1.0 if higher_is_in_distribution else -1.0
    in_scores, out_scores = sign * np.asarray(in_scores), sign * np.asarray(out_scores)
    best = 1.0
    for t in np.unique(np.concatenate([in_scores, out_scores])):
        if np.mean(in_scores >= t) >= tpr:
            best = min(best, np.mean(out_scores >= t))
    return best


# -- per-example scores ------------------------------------------------------------------------


def test_entropy_score_matches_scipy():
    logits = np.random.default_rng(0).normal(scale=3.0, size=(50, 7))
    probs = special.softmax(logits, axis=1)
    expected = -np.sum(probs * np.log(probs), axis=1)
    np.testing.assert_allclose(entropy_score(logits), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(entropy_score(np.zeros((3, 10))), np.log(10.0), rtol=1e-14)


def test_max_softmax_score_matches_scipy():
    logits = np.random.default_rng(1).normal(scale=3.0, size=(50, 7)).astype("float32")
    expected = special.softmax(logits.astype(np.float64), axis=1).max(axis=1)
    np.testing.assert_allclose(max_softmax_score(logits), expected, rtol=1e-12)


def test_scores_are_stable_for_extreme_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-3e4, -3e4, -3e4], [800.0, 799.0, -5e3]])
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        entropy = entropy_score(logits)
        confidence = max_softmax_score(logits)
    assert np.all(np.isfinite(entropy)) and np.all(np.isfinite(confidence))
    np.testing.assert_allclose(entropy[:2], [0.0, np.log(3.0)], atol=1e-12)
    p = special.softmax([1.0, 0.0])
    np.testing.assert_allclose(entropy[2], -np.sum(p * np.log(p)), rtol=1e-12)
    np.testing.assert_allclose(confidence, [1.0, 1.0 / 3.0, p[0]], rtol=1e-12)


@pytest.mark.parametrize("score_fn", [entropy_score, max_softmax_score])
@pytest.mark.parametrize(
    "logits",
    [
        np.zeros(5),
        np.zeros((0, 3)),
        np.zeros((2, 3, 4)),
        np.array([[0.0, np.nan]]),
        np.array([[np.inf, 0.0]]),
        np.array([["a", "b"]]),
    ],
)
def test_scores_reject_bad_logits(score_fn, logits):
    with pytest.raises(ValueError, match=r"logits.*Received: logits="):
        score_fn(logits)


# -- metrics against scikit-learn --------------------------------------------------------------


@pytest.mark.parametrize("higher_is_in_distribution", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_sklearn_on_continuous_scores(seed, higher_is_in_distribution):
    rng = np.random.default_rng(seed)
    shift = 1.0 if higher_is_in_distribution else -1.0
    in_scores = rng.normal(loc=shift, size=300)
    out_scores = rng.normal(size=200)
    metrics = ood_metrics(
        in_scores, out_scores, higher_is_in_distribution=higher_is_in_distribution
    )
    assert set(metrics) == {
        "fpr_at_95_tpr",
        "fpr_at_95_tpr_ood_positive",
        "auroc",
        "aupr_in",
        "aupr_out",
    }
    expected = sklearn_metrics(in_scores, out_scores, higher_is_in_distribution)
    for name, value in expected.items():
        np.testing.assert_allclose(metrics[name], value, rtol=1e-12, err_msg=name)
    assert metrics["auroc"] > 0.7  # the direction was applied: the sets are separable
    np.testing.assert_allclose(
        metrics["fpr_at_95_tpr"],
        brute_force_fpr(in_scores, out_scores, higher_is_in_distribution),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        metrics["fpr_at_95_tpr_ood_positive"],
        openood_fpr(in_scores, out_scores, higher_is_in_distribution),
        rtol=1e-12,
    )


@pytest.mark.parametrize("higher_is_in_distribution", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_metrics_match_sklearn_on_heavily_tied_scores(seed, higher_is_in_distribution):
    rng = np.random.default_rng(seed)
    in_scores = rng.integers(0, 4, size=97)  # integers 0..3: almost every score is tied
    out_scores = rng.integers(0, 4, size=61) + (1 if not higher_is_in_distribution else -1)
    out_scores = np.clip(out_scores, 0, 3)
    metrics = ood_metrics(
        in_scores, out_scores, higher_is_in_distribution=higher_is_in_distribution
    )
    expected = sklearn_metrics(in_scores, out_scores, higher_is_in_distribution)
    for name, value in expected.items():
        np.testing.assert_allclose(metrics[name], value, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(
        metrics["fpr_at_95_tpr"],
        brute_force_fpr(in_scores, out_scores, higher_is_in_distribution),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        metrics["fpr_at_95_tpr_ood_positive"],
        openood_fpr(in_scores, out_scores, higher_is_in_distribution),
        rtol=1e-12,
    )


def test_auroc_counts_ties_as_one_half():
    metrics = ood_metrics([1.0, 1.0], [1.0, 1.0, 1.0], higher_is_in_distribution=True)
    assert metrics["auroc"] == 0.5
    assert metrics["fpr_at_95_tpr"] == 1.0  # the tied OoD scores are accepted with the rest
    assert metrics["fpr_at_95_tpr_ood_positive"] == 1.0  # and the tied ones flagged together
    assert metrics["aupr_in"] == pytest.approx(0.4)  # base rate: 2 of 5
    assert metrics["aupr_out"] == pytest.approx(0.6)


@pytest.mark.parametrize("higher_is_in_distribution", [True, False])
def test_perfect_separation(higher_is_in_distribution):
    low, high = np.linspace(0.0, 1.0, 40), np.linspace(2.0, 3.0, 25)
    in_scores, out_scores = (high, low) if higher_is_in_distribution else (low, high)
    metrics = ood_metrics(
        in_scores, out_scores, higher_is_in_distribution=higher_is_in_distribution
    )
    assert metrics == {
        "fpr_at_95_tpr": 0.0,
        "fpr_at_95_tpr_ood_positive": 0.0,
        "auroc": 1.0,
        "aupr_in": 1.0,
        "aupr_out": 1.0,
    }
    # The wrong direction gives the worst possible detector.
    flipped = ood_metrics(
        in_scores, out_scores, higher_is_in_distribution=not higher_is_in_distribution
    )
    assert flipped["auroc"] == 0.0 and flipped["fpr_at_95_tpr"] == 1.0
    assert flipped["fpr_at_95_tpr_ood_positive"] == 1.0


def test_fpr_at_95_tpr_threshold_rule():
    # 20 in-distribution scores 1..20 (higher is in): 95% TPR accepts 19, threshold 2.
    in_scores = np.arange(1.0, 21.0)
    assert fpr_at_tpr(in_scores, [1.5, 2.0, 2.5, 0.0], higher_is_in_distribution=True) == 0.5
    # 21 scores 0..20: ceil(0.95 * 21) = 20 accepted, threshold 1; an OoD tie at 1 is accepted.
    in_scores = np.arange(0.0, 21.0)
    assert fpr_at_tpr(in_scores, [0.5, 1.0, 2.0], higher_is_in_distribution=True) == 2 / 3
    # A single in-distribution example must always be accepted.
    assert fpr_at_tpr([3.0], [1.0, 3.0, 5.0], higher_is_in_distribution=False) == 2 / 3


@pytest.mark.parametrize("num_in", [1, 7, 20, 100, 101])
@pytest.mark.parametrize("tpr", [0.95, 0.8, 1.0])
def test_fpr_at_tpr_matches_brute_force_and_roc_curve(num_in, tpr):
    rng = np.random.default_rng(num_in)
    in_scores = rng.integers(0, 30, size=num_in).astype(float)
    out_scores = rng.integers(10, 40, size=53).astype(float)
    fpr = fpr_at_tpr(in_scores, out_scores, higher_is_in_distribution=False, tpr=tpr)
    assert fpr == pytest.approx(brute_force_fpr(in_scores, out_scores, False, tpr), abs=1e-15)
    is_in = np.r_[np.ones(num_in), np.zeros(53)]
    roc_fpr, roc_tpr, _ = roc_curve(is_in, -np.r_[in_scores, out_scores], drop_intermediate=False)
    assert fpr == pytest.approx(roc_fpr[roc_tpr >= tpr - 1e-12].min(), abs=1e-15)


def test_inputs_are_not_modified_and_lists_are_accepted():
    in_scores, out_scores = np.array([3.0, 1.0, 2.0]), np.array([0.5, 2.5])
    before = in_scores.copy(), out_scores.copy()
    from_arrays = ood_metrics(in_scores, out_scores, higher_is_in_distribution=False)
    np.testing.assert_array_equal(in_scores, before[0])
    np.testing.assert_array_equal(out_scores, before[1])
    from_lists = ood_metrics([3, 1, 2], [0.5, 2.5], higher_is_in_distribution=False)
    assert from_arrays == from_lists


# -- bad inputs --------------------------------------------------------------------------------

BAD_SCORES = [
    pytest.param(np.array([]), id="empty"),
    pytest.param(np.array([1.0, np.nan]), id="nan"),
    pytest.param(np.array([1.0, np.inf]), id="inf"),
    pytest.param(np.array([-np.inf, 1.0]), id="neg-inf"),
    pytest.param(np.ones((3, 2)), id="2-d"),
    pytest.param(np.float64(1.0), id="0-d"),
    pytest.param(None, id="none"),
    pytest.param(np.array(["a", "b"]), id="strings"),
]


@pytest.mark.parametrize("bad", BAD_SCORES)
@pytest.mark.parametrize("argument", ["in_scores", "out_scores"])
def test_bad_scores_raise_value_error_naming_the_argument(argument, bad):
    scores = {"in_scores": np.arange(5.0), "out_scores": np.arange(4.0), argument: bad}
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: {argument}="):
        ood_metrics(**scores, higher_is_in_distribution=True)


def test_error_message_summarizes_instead_of_printing_the_array():
    scores = np.arange(100000.0)
    scores[5] = np.nan
    with pytest.raises(ValueError) as info:
        ood_metrics(np.arange(3.0), scores, higher_is_in_distribution=True)
    message = str(info.value)
    assert "shape=(100000,)" in message and "nan=1" in message and len(message) < 400


def test_direction_is_required_and_must_be_a_bool():
    with pytest.raises(TypeError):
        ood_metrics([1.0], [2.0])  # no default: the direction must be explicit
    with pytest.raises(ValueError, match="Received: higher_is_in_distribution='lower'"):
        ood_metrics([1.0], [2.0], higher_is_in_distribution="lower")
    with pytest.raises(ValueError, match="Received: higher_is_in_distribution=1"):
        ood_metrics([1.0], [2.0], higher_is_in_distribution=1)
    with pytest.raises(ValueError, match="Received: tpr=1.5"):
        fpr_at_tpr([1.0], [2.0], higher_is_in_distribution=True, tpr=1.5)


# -- report ------------------------------------------------------------------------------------


def test_ood_report_rows_match_ood_metrics():
    rng = np.random.default_rng(5)
    in_scores = {"rate": rng.normal(size=50), "max_softmax": rng.uniform(0.5, 1.0, size=50)}
    out_scores = {
        "noise": {"rate": rng.normal(2.0, size=30), "max_softmax": rng.uniform(0.1, 0.8, 30)},
        "flip": {"rate": rng.normal(0.5, size=40), "max_softmax": rng.uniform(0.3, 1.0, 40)},
    }
    directions = {"rate": False, "max_softmax": True}
    rows = ood_report(in_scores, out_scores, higher_is_in_distribution=directions)
    assert [(row["ood_set"], row["score"]) for row in rows] == [
        ("noise", "rate"),
        ("noise", "max_softmax"),
        ("flip", "rate"),
        ("flip", "max_softmax"),
    ]
    for row in rows:
        expected = ood_metrics(
            in_scores[row["score"]],
            out_scores[row["ood_set"]][row["score"]],
            higher_is_in_distribution=directions[row["score"]],
        )
        assert {name: row[name] for name in expected} == expected
        assert row["num_in"] == 50 and row["num_out"] == len(
            out_scores[row["ood_set"]][row["score"]]
        )
    # One bool for every score.
    same_direction = ood_report(
        {"rate": in_scores["rate"]},
        {"noise": {"rate": out_scores["noise"]["rate"]}},
        higher_is_in_distribution=False,
    )
    assert same_direction[0]["auroc"] == rows[0]["auroc"]


def test_ood_report_bad_inputs():
    in_scores = {"rate": np.arange(5.0)}
    with pytest.raises(ValueError, match="higher_is_in_distribution"):
        ood_report(
            in_scores,
            {"noise": {"rate": np.arange(3.0)}},
            higher_is_in_distribution={"entropy": False},
        )
    with pytest.raises(ValueError, match=r"out_scores\['noise'\]"):
        ood_report(
            in_scores, {"noise": {"entropy": np.arange(3.0)}}, higher_is_in_distribution=False
        )
    with pytest.raises(ValueError, match="Received: in_scores="):
        ood_report({}, {"noise": {}}, higher_is_in_distribution=False)
    with pytest.raises(ValueError, match=r"'noise'.*'rate'.*Received: out_scores="):
        ood_report(in_scores, {"noise": {"rate": np.array([])}}, higher_is_in_distribution=False)


def test_the_two_fpr_conventions_differ_and_the_auroc_does_not_care():
    # A tight in-distribution set inside a spread OoD set: accepting 95% of the in-distribution
    # set lets 41% of the OoD set in, while flagging 95% of the OoD set (which reaches far below
    # the in-distribution set) flags nearly every in-distribution example.
    rng = np.random.default_rng(0)
    in_scores, out_scores = rng.normal(0.0, 0.3, 2000), rng.normal(1.0, 2.0, 2000)
    metrics = ood_metrics(in_scores, out_scores, higher_is_in_distribution=False)
    assert metrics["fpr_at_95_tpr_ood_positive"] > 0.9 > 0.5 > metrics["fpr_at_95_tpr"] > 0.3
    np.testing.assert_allclose(
        metrics["auroc"],
        roc_auc_score(np.r_[np.zeros(2000), np.ones(2000)], np.r_[in_scores, out_scores]),
    )
