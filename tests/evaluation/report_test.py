"""The Table-1-style robustness report."""

import json

import keras
import numpy as np
import pytest

import keras_ceb
from tests.scenarios_test import ce_loss


@pytest.fixture(scope="module")
def image_model():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=384).astype("int32")
    x = np.clip(
        rng.normal(0.5, 0.1, size=(384, 8, 8, 1))
        + 0.3 * (y[:, None, None, None] - 1) * np.linspace(-1, 1, 8)[None, :, None, None],
        0,
        1,
    ).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), ce_loss(), metrics=["accuracy"])
    model.fit(x, y, epochs=5, batch_size=64, verbose=0)
    return model, x, y


def test_report_with_the_field_standard_attack_and_baselines(image_model):
    model, x, y = image_model
    report = keras_ceb.evaluation.robustness_report(
        model,
        x[:64],
        y[:64],
        reference=(x[64:256], y[64:256]),
        attack="autoattack",
        eps=0.1,
        attack_steps=3,
        queries=5,
        run_calibration=False,
        seed=0,
    )
    assert {"mahalanobis", "knn_z"} <= {row["score"] for row in report["ood"]}
    attack = report["attack"]
    assert attack["version"] == "standard" and attack["norm"] == "linf" and attack["steps"] == 3
    assert sum(attack["broken_by"].values()) <= 64
    text = keras_ceb.evaluation.format_report(report)
    assert "broken by: clean" in text and "far (mean)" in text
    with pytest.raises(ValueError, match="target_class=1"):
        keras_ceb.evaluation.robustness_report(
            model, x[:8], y[:8], attack="square", target_class=1, ood=False
        )


def test_full_report(image_model, tmp_path):
    model, x, y = image_model
    report = keras_ceb.evaluation.robustness_report(
        model,
        x[:128],
        y[:128],
        mnist_x=x[128:256],
        cw_ood_examples=16,
        attack="pgd-linf",
        eps=0.1,
        attack_steps=3,
        target_class=0,
        seed=0,
    )
    assert 0.0 <= report["accuracy"] <= 1.0
    sets = {row["ood_set"] for row in report["ood"]}
    assert sets == {
        "uniform_noise",
        "vertical_flip",
        "mnist",
        "cw_l2",
        "rotate_90",
        "gaussian_noise",
    }
    assert {g["group"] for g in report["ood_groups"]} == {"near", "far"}
    assert {row["score"] for row in report["ood"]} == {
        "rate",
        "entropy",
        "max_softmax",
        "max_logit",
        "energy",
    }
    attack = report["attack"]
    assert attack["accuracy_under_attack"] <= report["accuracy"] + 0.05
    assert 0.0 <= attack["targeted_success"] <= 1.0 and attack["targeted_count"] > 0
    assert 0.0 <= report["calibration"]["ece"] <= 1.0
    json.loads(json.dumps(report))  # Standard JSON: no NaN.
    text = keras_ceb.evaluation.format_report(report, title="test")
    assert "AUROC" in text and "accuracy under attack" in text and "ECE" in text
    paths = keras_ceb.evaluation.save_report_figures(report, tmp_path)
    assert sorted(p.split("/")[-1] for p in paths) == ["ood_auroc.png", "reliability.png"]


def test_cw_attack_report(image_model):
    model, x, y = image_model
    report = keras_ceb.evaluation.robustness_report(
        model, x[:16], y[:16], ood=False, attack="cw-l2", run_calibration=False
    )
    assert report["attack"]["eps"] is None and set(report) == {
        "num_examples",
        "accuracy",
        "attack",
    }


def test_attack_step_size_and_eot(image_model):
    model, x, y = image_model
    settings = dict(
        ood=False,
        run_calibration=False,
        attack="pgd-l2",
        eps=1.0,
        attack_steps=3,
        target_class=0,
        seed=0,
    )
    default = keras_ceb.evaluation.robustness_report(model, x[:64], y[:64], **settings)["attack"]
    assert default["step_size"] == pytest.approx(min(2.5 * 1.0 / 3, 0.03 * 8))  # 8x8 images
    x_adv = keras_ceb.attacks.pgd_attack(
        model, x[:64], 0, eps=1.0, norm="l2", steps=3, targeted=True, seed=0
    )
    assert (
        default["targeted_success"]
        == keras_ceb.attacks.targeted_success_rate(model, x[:64], x_adv, y[:64], 0)[0]
    )
    assert default["num_samples"] == 1
    report = keras_ceb.evaluation.robustness_report(
        model, x[:64], y[:64], attack_step_size=0.05, num_samples=2, **settings
    )
    attack = report["attack"]
    assert attack["step_size"] == 0.05 and attack["num_samples"] == 2
    x_adv = keras_ceb.attacks.pgd_attack(
        model,
        x[:64],
        0,
        eps=1.0,
        norm="l2",
        steps=3,
        step_size=0.05,
        targeted=True,
        num_samples=2,
        seed=0,
    )
    assert (
        attack["targeted_success"]
        == keras_ceb.attacks.targeted_success_rate(model, x[:64], x_adv, y[:64], 0)[0]
    )
    assert "step size=0.05 EOT samples=2" in keras_ceb.evaluation.format_report(report)


def test_determ_attack_uses_one_pass(image_model):
    _, x, y = image_model
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras_ceb.StochasticEncoder(2, objective="determ"),
            keras.layers.Dense(3),
        ]
    )
    report = keras_ceb.evaluation.robustness_report(
        model,
        x[:16],
        y[:16],
        ood=False,
        run_calibration=False,
        attack="pgd-linf",
        num_samples=4,
        seed=0,
    )
    assert report["attack"]["num_samples"] == 1  # Determ has no z to draw


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"attack": "fgsm"}, "attack='fgsm'"),
        ({"eps": -0.1}, "eps=-0.1"),
        ({"attack": "pgd-l2", "attack_step_size": 0.0}, "attack_step_size=0.0"),
        ({"attack": "pgd-l2", "target_class": 3}, r"in \[0, 3\).*target_class=3"),
    ],
)
def test_bad_arguments(image_model, kwargs, match):
    model, x, y = image_model
    with pytest.raises(ValueError, match=match):
        keras_ceb.evaluation.robustness_report(model, x[:8], y[:8], **kwargs)


def test_rate_estimator_is_recorded_and_mean_by_default():
    from tests.scenarios_test import blobs

    x, y = blobs(64)
    images = x.reshape(64, 4, 4, 1)  # OoD sets need images.
    flat = keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            keras.layers.Flatten(),
            keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
            keras_ceb.BackwardEncoder(4),
        ]
    )
    report = keras_ceb.evaluation.robustness_report(
        flat, images, y, ood=True, run_calibration=False
    )
    assert {row["estimator"] for row in report["ood"]} == {"mean"}
    again = keras_ceb.evaluation.robustness_report(
        flat, images, y, ood=True, run_calibration=False
    )
    assert [r["auroc"] for r in report["ood"]] == [r["auroc"] for r in again["ood"]]
    sampled = keras_ceb.evaluation.robustness_report(
        flat, images, y, ood=True, num_samples=2, run_calibration=False
    )
    assert {row["estimator"] for row in sampled["ood"]} == {"sample"}
