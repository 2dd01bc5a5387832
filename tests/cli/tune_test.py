"""`keras-ceb tune`: a tiny grid on Fashion-MNIST, what it writes and prints, and its errors."""

import csv
import json

import keras
import pytest

import keras_ceb
from keras_ceb import cli
from keras_ceb.commands import tune as tune_command
from keras_ceb.tuning import config as tune_config
from keras_ceb.tuning import run as tune_run
from tests.cli.cli_test import _run

TINY = [
    "--rho-values",
    "2,0",
    "--epochs",
    "2",
    "--max-train-examples",
    "256",
    "--validation-examples",
    "128",
    "--batch-size",
    "64",
    "--seed",
    "1",
]


@pytest.fixture(scope="module")
def tuned(fashion_mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "search"
    argv = ["tune", *TINY, "--data-dir", str(fashion_mnist_dir), "--out", str(out)]
    code, stdout, stderr = _run(argv)
    assert code == 0, stderr
    return out, argv, stdout


def test_tune_writes_the_trials_the_plot_and_the_best_model(tuned):
    out, _, _ = tuned
    for name in ("trials.csv", "trials.md", "trials.json", "objectives.png", "best_model.keras"):
        assert (out / name).is_file(), name
    record = json.loads((out / "trials.json").read_text())
    assert record["objective"] == "combined" and len(record["trials"]) == 2
    assert [row["rho"] for row in record["trials"]] == [0.0, 2.0]
    for row in record["trials"]:
        for key in (
            "val_accuracy",
            "val_i_xz_lower",
            "val_i_yz",
            "mni_distance",
            "ood_auroc",
            "combined",
        ):
            assert isinstance(row[key], float), key
    settings = record["settings"]
    assert settings["ood_set"] == "mnist" and settings["num_validation_examples"] == 128
    assert settings["num_train_examples"] == 256 and settings["rho_anneal_epochs"] == 1
    assert settings["out"] == str(out.absolute()) and settings["data_files"]["train"]
    assert record["environment"]["backend"] == keras.backend.backend()
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 2
    model = keras.models.load_model(out / "best_model.keras", safe_mode=True)
    assert keras_ceb.get_rho(model) == record["best"]["rho"]


def test_tune_prints_one_line_per_trial_then_the_table(tuned):
    out, _, stdout = tuned
    trials = [line for line in stdout.splitlines() if line.startswith("trial ")]
    assert [line.split(":")[0] for line in trials] == ["trial 1/2", "trial 2/2"]
    assert "| rho | val accuracy |" in stdout and "Best: rho = " in stdout
    assert stdout.rstrip().splitlines()[-1] == cli.LOAD_HINT.format(path=out / "best_model.keras")


def test_a_finished_search_is_kept(tuned):
    out, argv, _ = tuned
    code, _, stderr = _run(argv)
    assert code == 1
    assert stderr == (
        f"keras-ceb tune: error: --out {out} already holds a finished search "
        "(trials.json); pass --overwrite to replace it, or choose another --out\n"
    )


def test_an_unfinished_search_with_other_options_is_refused(tmp_path):
    args = cli.build_parser().parse_args(["tune", *TINY, "--out", str(tmp_path)])
    (tmp_path / tune_run.TUNER_DIR).mkdir()
    (tmp_path / tune_run.TUNER_DIR / tune_run.OPTIONS_FILE).write_text(
        json.dumps({**tune_command.tune_config(args).options(), "epochs": 5})
    )
    code, _, stderr = _run(["tune", *TINY, "--out", str(tmp_path)])
    assert code == 1 and stderr.count("\n") == 1
    assert (
        "holds an unfinished search with other options: --epochs 2 (the unfinished run "
        "has 5)" in stderr
    )
    assert tune_run.check_out(
        tune_command.tune_config(
            cli.build_parser().parse_args(
                ["tune", *TINY[:2], "--epochs", "5", *TINY[4:], "--out", str(tmp_path)]
            )
        )
    )


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--rho-values", "0,x"], "--rho-values: expected finite numbers separated by commas"),
        (["--search", "annealing"], "invalid choice: 'annealing'"),
        (["--tune-objective", "loss"], "invalid choice: 'loss'"),
        (["--objective", "determ"], "invalid choice: 'determ'"),
        (["--rho-anneal", "-1"], "--rho-anneal: expected a number >= 0 or 'off'"),
    ],
)
def test_bad_tune_arguments(argv, needle):
    code, stdout, stderr = _run(["tune", *argv])
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and needle in stderr, stderr


def test_tune_errors_before_loading_data(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("data loaded before the check")

    monkeypatch.setattr(keras_ceb.datasets, "load", fail)
    code, _, stderr = _run(
        ["tune", "--search", "random", "--rho-min", "3", "--rho-max", "1", "--out", str(tmp_path)]
    )
    assert code == 1 and stderr == (
        "keras-ceb tune: error: --rho-min must be below --rho-max for a random or Bayesian "
        "search. Received: --rho-min 3, --rho-max 1\n"
    )
    code, _, stderr = _run(
        [
            "tune",
            "--tune-objective",
            "ood_auroc",
            "--marginal-components",
            "0",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 1 and "needs the rate: --marginal-components > 0" in stderr


@pytest.mark.parametrize(
    "argv",
    [["--rho-values", "-1,0,2.5"], ["--rho-values=-1,0,2.5"], ["--rho-values", "-.5,0,2.5"]],
)
def test_rho_values_may_start_with_a_minus_sign(argv):
    """The README's `keras-ceb tune --rho-values -1,0,1,...`: argparse alone rejects it."""
    args = cli.build_parser().parse_args(cli._attach_negative_lists(["tune", *argv]))
    assert args.rho_values[1:] == [0.0, 2.5] and args.rho_values[0] < 0


def test_tune_feeds_the_labels_to_a_catgen_model_and_records_both_objectives(
    fashion_mnist_dir, tmp_path
):
    """`--head catgen` built a model taking images and labels and fed it images only, and
    trials.json recorded the tuning objective where the training objective belongs."""
    out = tmp_path / "catgen"
    code, _, stderr = _run(
        [
            "tune",
            "--head",
            "catgen",
            "--objective",
            "vib",
            "--rho-values",
            "0",
            "--epochs",
            "1",
            "--max-train-examples",
            "256",
            "--validation-examples",
            "128",
            "--batch-size",
            "64",
            "--data-dir",
            str(fashion_mnist_dir),
            "--out",
            str(out),
            "--verbose",
            "0",
        ]
    )
    assert code == 0, stderr
    settings = json.loads((out / "trials.json").read_text())["settings"]
    assert settings["objective"] == "vib" and settings["tune_objective"] == "combined"


def test_the_clis_default_grid_is_the_commands():
    assert cli.DEFAULT_TUNE_RHOS == tune_command.DEFAULT_RHO_VALUES


def test_the_clis_choices_are_the_configs():
    """The parser keeps copies (it imports no Keras); they must equal the config's."""
    assert set(cli.TUNE_OBJECTIVES) == set(tune_config.TUNE_OBJECTIVES)
    assert cli.TUNE_SEARCHES == tune_config.SEARCHES
    assert cli.OOD_SETS == tune_config.OOD_SETS
    defaults = tune_config.TuneConfig()
    args = cli.build_parser().parse_args(["tune"])
    for name in ("epochs", "validation_examples", "rho_min", "rho_max", "marginal_components"):
        assert getattr(args, name) == getattr(defaults, name), name


def test_tune_config_errors_name_the_fields():
    with pytest.raises(ValueError, match="`tune_objective='ood_auroc'` needs the rate"):
        tune_config.TuneConfig(tune_objective="ood_auroc", marginal_components=0)
    with pytest.raises(ValueError, match="Received: search='anneal'"):
        tune_config.TuneConfig(search="anneal")
    with pytest.raises(ValueError, match="rho_values"):
        tune_config.TuneConfig(rho_values=(0.0, float("nan")))
    assert tune_config.TuneConfig(rho_values=[0, 2]).rho_values == (0.0, 2.0)
