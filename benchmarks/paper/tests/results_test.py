"""The aggregation of results: the ECE of the bootstrap, the I(X;Z) maxima."""

import math

import numpy as np

from benchmarks.paper import results
from keras_ceb import evaluation


def test_fast_ece_equals_the_calibration_module():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(300, 10)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 10, 300)
    expected = evaluation.expected_calibration_error(probs, labels, 20)
    fast = results._ece(probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(float), 20)
    assert math.isclose(fast, expected, rel_tol=1e-12)


def test_information_maxima_leave_out_the_anneal():
    history = {
        "i_xz_lower": [3.0, 2.4, 2.2],
        "val_i_xz_lower": [2.9, 2.3, 2.5],
        "rho": [3.0, 0.0, 0.0],
    }
    maxima = results.information_maxima(history, 0.0)
    assert maxima == {
        "i_xz_max_train": 3.0,
        "i_xz_max_train_at_rho": 2.4,
        "i_xz_max_test": 2.9,
        "i_xz_max_test_at_rho": 2.5,
    }
    assert math.isnan(results.information_maxima({}, None)["i_xz_max_train"])


def test_ood_point_metrics_equal_the_evaluation_module_ties_included():
    rng = np.random.default_rng(0)
    for trial in range(30):
        n_in, n_out = rng.integers(1, 60, size=2)
        decimals = trial % 3  # 0: many ties
        in_scores = np.round(rng.normal(0, 1, n_in), decimals)
        out_scores = np.round(rng.normal(0.5, 1, n_out), decimals)
        in_scores = in_scores[rng.integers(0, n_in, n_in)]  # duplicates, as in a resample
        for direction in (True, False):
            expected = evaluation.ood_metrics(
                in_scores, out_scores, higher_is_in_distribution=direction
            )
            fast = results.ood_point_metrics(in_scores, out_scores, direction)
            assert fast == tuple(expected[m] for m in results.OOD_METRICS) or np.allclose(
                fast, [expected[m] for m in results.OOD_METRICS], rtol=1e-12, atol=0
            )


def _entry(seed, accuracy, success, auroc, i_xz, probs):
    return {
        "model": "ceb_rho0",
        "rho": 0.0,
        "seed": seed,
        "history": {"i_xz_lower": [3.0, i_xz], "rho": [3.0, 0.0]},
        "evaluation": {
            "accuracy": accuracy,
            "targeted": {"linf": [{"eps": 0.1, "success": success}]},
            "ood": {
                "mnist": {
                    "rate": {
                        "fpr_at_95_tpr": 0.1,
                        "auroc": auroc,
                        "aupr_in": 0.9,
                        "fpr_at_95_tpr_ood_positive": 0.2,
                    }
                }
            },
        },
        "calibration": {2: probs},
    }


class _Preset:
    calibration_examples = 4
    calibration_bins = 20
    confidence = 0.95


class _Data:
    y_test = np.array([0, 1, 0, 1])


def test_several_seeds_give_t_intervals_of_the_per_seed_values():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    entries = [
        _entry(0, 0.90, 0.2, 0.95, 2.2, probs),
        _entry(1, 0.92, 0.3, 0.97, 2.4, probs),
        _entry(2, 0.91, 0.1, 0.96, 2.3, probs),
    ]
    summary, per_seed = results.summarize_model(entries, _Data(), _Preset())
    accuracy = summary["accuracy"]
    assert accuracy.method == "t" and accuracy.n == 3
    assert accuracy.value == np.mean([0.90, 0.92, 0.91])
    assert summary["i_xz_max_train_at_rho"].value == np.mean([2.2, 2.4, 2.3])
    assert summary["i_xz_max_train_at_rho"].has_interval
    assert summary["targeted_linf_eps0.1"].lower < 0.2 < summary["targeted_linf_eps0.1"].upper
    assert summary["ood_mnist_rate_auroc"].value == np.mean([0.95, 0.97, 0.96])
    assert summary["ood_mnist_rate_auroc"].upper <= 1.0  # cut to the range of an AUROC
    assert all(0.0 <= e.lower for k, e in summary.items() if not k.startswith("i_xz"))
    assert [v["accuracy"] for v in per_seed] == [0.90, 0.92, 0.91]
    ece = evaluation.expected_calibration_error(probs, _Data.y_test, 20)
    assert summary["ece_epoch2"].value == ece


def test_memorization_curves_over_seeds_and_over_images():
    class Preset:
        bootstrap_resamples, bootstrap_seed, confidence = 200, 0, 0.95

    records = [
        {"seed": s, "train_accuracy": [0.1, a], "num_examples": 1000, "chance_level": 0.1}
        for s, a in enumerate((0.5, 0.7))
    ]
    over_seeds = results.summarize_memorization(records, Preset())
    assert over_seeds["final"]["method"] == "t" and over_seeds["final"]["value"] == 0.6
    one = results.summarize_memorization(records[:1], Preset())
    assert one["final"]["method"] == "bootstrap"
    assert one["final"]["lower"] < 0.5 < one["final"]["upper"]
