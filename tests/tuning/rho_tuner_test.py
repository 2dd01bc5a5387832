"""`tune_rho`: every objective measured on held-out data, the three searches, the record."""

import csv
import json
import math

import keras
import numpy as np
import pytest

import keras_ceb
from keras_ceb import tuning
from keras_ceb.tuning import objectives
from tests.figure_checks import assert_readable
from tests.figure_checks import captured_figures


def build(rho, marginal=4):
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras_ceb.StochasticEncoder(2, rho=rho, marginal=marginal, seed=0),
            keras_ceb.BackwardEncoder(3),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n).astype("int32")
    return (np.eye(3, 8)[y] * 3 + rng.normal(size=(n, 8))).astype("float32"), y


def test_mni_distance_and_combined_score():
    assert objectives.mni_distance(2.5, 2.0) == pytest.approx(0.5)
    assert objectives.mni_distance(None, 2.0) is None
    assert objectives.mni_distance(float("nan"), 2.0) is None
    # (accuracy + auroc + (1 - distance / log C)) / 3
    expected = (0.9 + 0.8 + (1 - 0.5 / math.log(10))) / 3
    assert objectives.combined_score(0.9, 0.5, 0.8, 10) == pytest.approx(expected)
    assert objectives.combined_score(0.9, 5.0, None, 10) == pytest.approx((0.9 + 0.0) / 2)
    assert objectives.combined_score(0.9) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="Received: objective='loss'"):
        objectives.check_objective("loss")


@pytest.fixture(scope="module")
def grid_result(tmp_path_factory):
    x, y = data(192, 0)
    x_val, y_val = data(96, 1)
    lines = []
    result = tuning.tune_rho(
        build,
        x,
        y,
        (x_val, y_val),
        ood_x=x_val * 4 + 3,
        rho_values=[3.0, 0.0],
        epochs=2,
        batch_size=32,
        directory=tmp_path_factory.mktemp("tuner"),
        progress=lines.append,
    )
    return result, lines


def test_grid_records_every_objective(grid_result):
    result, lines = grid_result
    assert [row["rho"] for row in result.trials] == [0.0, 3.0]
    assert result.objective == "combined" and result.direction == "max"
    for row in result.trials:
        assert 0.0 <= row["val_accuracy"] <= 1.0 and 0.0 <= row["ood_auroc"] <= 1.0
        assert row["mni_distance"] == pytest.approx(abs(row["val_i_xz_lower"] - row["val_i_yz"]))
        assert row["combined"] == pytest.approx(
            objectives.combined_score(
                row["val_accuracy"], row["mni_distance"], row["ood_auroc"], 3
            )
        )
        assert row["val_i_xz_lower"] <= math.log(32) + 1e-6  # The minibatch bound's ceiling.
        assert math.isfinite(row["train_loss"]) and row["trial_time_s"] > 0
    assert result.best == max(result.trials, key=lambda row: row["combined"])
    assert len(lines) == 2 and lines[0].startswith("trial 1/2: rho ")
    assert "*combined" in lines[0]


def test_best_model_is_the_best_trials_final_model(grid_result):
    result, _ = grid_result
    model = result.best_model()
    assert keras_ceb.get_rho(model) == result.best["rho"]
    x_val, y_val = data(96, 1)
    scores = objectives.held_out_scores(model, x_val, y_val, batch_size=32)
    assert scores["val_accuracy"] == pytest.approx(result.best["val_accuracy"])


def test_save_results_writes_the_table_the_plot_and_the_model(grid_result, tmp_path):
    result, _ = grid_result
    with captured_figures() as figures:
        written = tuning.save_results(result, tmp_path, extra={"note": "test"})
    assert sorted(written) == sorted(p.name for p in tmp_path.iterdir())
    assert_readable(figures[0], tmp_path / "objectives.png")
    assert "best rho" in figures[0]._suptitle.get_text()
    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert [float(r["rho"]) for r in rows] == [0.0, 3.0]
    assert {"val_accuracy", "mni_distance", "ood_auroc", "combined"} <= set(rows[0])
    record = json.loads((tmp_path / "trials.json").read_text())
    assert record["note"] == "test" and record["best"]["rho"] == result.best["rho"]
    assert record["settings"]["rho_values"] == [3.0, 0.0]
    table = (tmp_path / "trials.md").read_text()
    assert table.startswith("| rho | val accuracy |") and table.count("**") >= 2
    reloaded = keras.models.load_model(tmp_path / "best_model.keras", safe_mode=True)
    assert keras_ceb.get_rho(reloaded) == result.best["rho"]


@pytest.mark.parametrize("search", ["random", "bayesian"])
def test_random_and_bayesian_searches_stay_in_the_interval(search, tmp_path):
    x, y = data(128, 0)
    result = tuning.tune_rho(
        build,
        x,
        y,
        data(64, 1),
        search=search,
        rho_min=1.0,
        rho_max=2.0,
        max_trials=2,
        objective="mni_distance",
        epochs=1,
        batch_size=32,
        directory=tmp_path,
        seed=3,
    )
    assert len(result.trials) == 2 and result.direction == "min"
    assert all(1.0 <= row["rho"] <= 2.0 for row in result.trials)
    assert result.best == min(result.trials, key=lambda row: row["mni_distance"])


def test_bad_searches_fail_before_training(tmp_path):
    x, y = data(32, 0)
    with pytest.raises(ValueError, match="Received: ood_x=None"):
        tuning.tune_rho(
            build, x, y, (x, y), objective="ood_auroc", rho_values=[0.0], directory=tmp_path
        )
    with pytest.raises(ValueError, match="Received: rho_values=None"):
        tuning.tune_rho(build, x, y, (x, y), directory=tmp_path)
    with pytest.raises(ValueError, match="Received: max_trials=None"):
        tuning.tune_rho(build, x, y, (x, y), search="random", directory=tmp_path)
    with pytest.raises(ValueError, match="Received: search='exhaustive'"):
        tuning.tune_rho(build, x, y, (x, y), search="exhaustive", directory=tmp_path)


def test_a_trial_that_cannot_be_scored_fails_with_its_reason(tmp_path):
    """No marginal, so no rate: the OoD AUROC cannot be measured."""
    x, y = data(64, 0)
    with pytest.raises(RuntimeError, match="could not be measured at rho=0"):
        tuning.tune_rho(
            lambda rho: build(rho, marginal=None),
            x,
            y,
            (x, y),
            ood_x=x + 3,
            objective="ood_auroc",
            rho_values=[0.0],
            epochs=1,
            batch_size=32,
            directory=tmp_path,
        )
