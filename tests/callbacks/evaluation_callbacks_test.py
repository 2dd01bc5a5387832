"""Robustness callbacks write their figures into the training logs."""

import warnings

import keras
import numpy as np
import pytest

import keras_ceb
from tests.scenarios_test import blobs
from tests.scenarios_test import scenario_a


def test_callbacks_log_ood_attack_and_calibration():
    keras.utils.set_random_seed(0)
    x, y = blobs(512)
    x = (x - x.min()) / (x.max() - x.min())  # Into [0, 1] for the attack's clipping.
    model = scenario_a()
    far = np.clip(keras_ceb.evaluation.uniform_noise(x[:128], seed=0), 0, 1).astype("float32")
    callbacks = [
        keras_ceb.callbacks.OoDEvaluation(
            x[:128],
            {"noise": far},
            every=2,
            scores=("rate", "entropy", "max_softmax"),
            metrics=("auroc", "fpr_at_95_tpr", "aupr_in"),
        ),
        keras_ceb.callbacks.AttackEvaluation(x[:128], y[:128], eps=0.05, every=2, steps=3, seed=0),
        keras_ceb.callbacks.CalibrationEvaluation(x[:256], y[:256], every=2),
    ]
    history = model.fit(x, y, epochs=4, batch_size=64, verbose=0, callbacks=callbacks).history
    auroc = history["ood_noise_rate_auroc"]
    assert len(auroc) == 2  # Logged at epochs 2 and 4 only (History keeps the logged ones).
    for key in (
        "ood_noise_rate_auroc",
        "ood_noise_entropy_fpr_at_95_tpr",
        "ood_noise_max_softmax_aupr_in",
        "adv_linf_0.05_accuracy",
        "ece",
    ):
        assert key in history, sorted(history)
        assert all(0.0 <= v <= 1.0 for v in history[key]), (key, history[key])
    clean = model.evaluate(x[:128], y[:128], verbose=0, return_dict=True)["accuracy"]
    assert history["adv_linf_0.05_accuracy"][-1] <= clean + 1e-6


def test_ood_evaluation_logs_one_key_per_set_and_score_by_default():
    keras.utils.set_random_seed(0)
    x, y = blobs(256)
    model = scenario_a()
    sets = {"noise": keras_ceb.evaluation.uniform_noise(x[:64], seed=0), "far": x[:64] + 50.0}
    callback = keras_ceb.callbacks.OoDEvaluation(x[:64], sets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", keras_ceb.evaluation.InvertedScoreWarning)
        history = model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[callback]).history
    assert sorted(k for k in history if k.startswith("ood_")) == [
        "ood_far_entropy_auroc",
        "ood_far_rate_auroc",
        "ood_noise_entropy_auroc",
        "ood_noise_rate_auroc",
    ]


def test_ood_evaluation_refuses_unknown_scores_and_metrics():
    sets = {"noise": np.zeros((2, 2))}
    with pytest.raises(ValueError, match="scores=.*knn"):
        keras_ceb.callbacks.OoDEvaluation(np.zeros((2, 2)), sets, scores=("knn",))
    with pytest.raises(ValueError, match="metrics=.*auc"):
        keras_ceb.callbacks.OoDEvaluation(np.zeros((2, 2)), sets, metrics="auc")


def test_every_must_be_positive():
    with pytest.raises(ValueError, match="every=0"):
        keras_ceb.callbacks.CalibrationEvaluation(np.zeros((2, 2)), np.zeros(2), every=0)
    with pytest.raises(ValueError, match="ood_sets"):
        keras_ceb.callbacks.OoDEvaluation(np.zeros((2, 2)), {}, every=1)
