"""The aggregation of results: the ECE of the bootstrap, the I(X;Z) maxima."""

import math

import numpy as np

from keras_ceb import evaluation
from keras_ceb.reproduce import results


def test_fast_ece_equals_the_calibration_module():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(300, 10)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 10, 300)
    expected = evaluation.expected_calibration_error(probs, labels, 20)
    fast = results._ece(probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(float), 20)
    assert math.isclose(fast, expected, rel_tol=1e-12)


def test_information_maxima_leave_out_the_anneal():
    history = {"i_xz_lower": [3.0, 2.4, 2.2], "val_i_xz_lower": [2.9, 2.3, 2.5],
               "rho": [3.0, 0.0, 0.0]}
    maxima = results.information_maxima(history, 0.0)
    assert maxima == {"i_xz_max_train": 3.0, "i_xz_max_train_at_rho": 2.4,
                      "i_xz_max_test": 2.9, "i_xz_max_test_at_rho": 2.5}
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
            expected = evaluation.ood_metrics(in_scores, out_scores,
                                              higher_is_in_distribution=direction)
            fast = results.ood_point_metrics(in_scores, out_scores, direction)
            assert fast == (expected["fpr_at_95_tpr"], expected["auroc"],
                            expected["aupr_in"]) or np.allclose(
                fast, [expected[m] for m in results.OOD_METRICS], rtol=1e-12, atol=0)
