"""Tests of the `keras-ceb` command: a short training run, `evaluate`, and bad arguments."""

import contextlib
import io
import json
import math
import os
import subprocess
import sys

import keras
import pytest

import keras_ceb
from keras_ceb import cli
from keras_ceb.datasets import locate
from keras_ceb.training import model_files
from keras_ceb.training import recipe

TEST_KEYS = {
    "accuracy",
    "loss",
    "rate",
    "rex",
    "i_xz_lower",
    "i_yz",
    "consistency",
    "num_examples",
}
FILES = (
    "model.keras",
    "history.json",
    "metrics.json",
    "training_curves.png",
    "information_plane.png",
)


def _run(argv):
    """Runs `cli.main(argv)` in-process; returns (return code, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def trained_run(fashion_mnist_dir, tmp_path_factory):
    """One short `keras-ceb train` run on 512 Fashion-MNIST examples (the default model)."""
    out = tmp_path_factory.mktemp("train") / "run"
    code, stdout, stderr = _run(
        [
            "train",
            "--objective",
            "ceb",
            "--rho",
            "0",
            "--epochs",
            "1",
            "--max-train-examples",
            "512",
            "--max-test-examples",
            "500",
            "--data-dir",
            str(fashion_mnist_dir),
            "--out",
            str(out),
            "--seed",
            "3",
        ]
    )
    assert code == 0, stderr
    return out, stdout


def test_train_writes_every_file(trained_run):
    out, _ = trained_run
    for name in FILES:
        assert (out / name).is_file(), name
    for name in ("training_curves.png", "information_plane.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_metrics_json(trained_run):
    out, _ = trained_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"config", "environment", "test", "train_time_s", "wall_time_s"}
    assert set(metrics["test"]) == TEST_KEYS
    assert metrics["test"]["num_examples"] == 500
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert all(isinstance(metrics["test"][k], float) for k in TEST_KEYS - {"num_examples"})
    assert 0 < metrics["train_time_s"] < metrics["wall_time_s"]


def test_train_metrics_json_records_the_settings_used(trained_run, fashion_mnist_dir):
    """Resolved paths, the anneal actually run, seed, head, the data files, the versions."""
    out, _ = trained_run
    metrics = json.loads((out / "metrics.json").read_text())
    config = metrics["config"]
    assert config["objective"] == "ceb" and config["head"] == "consistent"
    assert config["seed"] == 3 and config["epochs"] == 1
    assert config["num_train_examples"] == 512 and config["num_test_examples"] == 500
    assert config["out"] == str(out.absolute())
    assert config["data_dir"] == str(fashion_mnist_dir.absolute())
    for split in ("train", "test"):
        assert len(config["data_files"][split]) == 2
        assert all(os.path.isabs(f) and os.path.isfile(f) for f in config["data_files"][split])
    # One epoch leaves no room for the default anneal (3 -> 0 over at most epochs - 1).
    assert config["rho_anneal_start"] is None and config["rho_anneal_epochs"] == 0
    assert "rho_anneal" not in config  # The request ("auto") is resolved above.
    assert config["lr_decay_steps"] == 4  # 512 / 128 steps x 1 epoch, cosine.
    environment = metrics["environment"]
    assert environment["backend"] == keras.backend.backend()
    assert environment["keras"] == keras.__version__
    for key in ("keras_ceb", "backend_version", "numpy", "python"):
        assert environment[key], key


def test_train_config_of_a_longer_anneal():
    args = cli.build_parser().parse_args(["train", "--epochs", "4", "--rho", "1"])
    config = recipe.recorded_config(cli.train_config(args).resolved(), "runs/x", None, 1000, 100)
    assert config["rho_anneal_start"] == 4.0 and config["rho_anneal_epochs"] == 3
    assert config["out"] == os.path.abspath("runs/x") and config["data_dir"] is None


def test_train_history_json(trained_run):
    out, _ = trained_run
    history = json.loads((out / "history.json").read_text())
    for key in ("loss", "accuracy", "rex", "i_yz", "i_xz_lower", "rate", "consistency"):
        assert len(history[key]) == 1, key
        assert len(history[f"val_{key}"]) == 1, key
    # The default rho anneal (from rho + 3) is cut short so that the last epoch is at --rho.
    assert history["rho"] == [0.0]


def test_train_prints_the_summary(trained_run):
    out, stdout = trained_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert "CEB, rho=0 on fashion_mnist: 500 test examples" in stdout
    for label in (
        "test accuracy",
        "rate R",
        "residual information ReX",
        "I(X;Z) lower bound",
        "I(Y;Z) lower bound",
        "consistency C",
        "wall time",
    ):
        assert label in stdout, label
    assert f"{metrics['test']['accuracy']:.4f}" in stdout
    # Not a terminal: one line per epoch instead of Keras's progress bar.
    (line,) = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert line.startswith("epoch 1/1 - ") and " - val_accuracy " in line
    assert "\x1b[" not in stdout and "\r" not in stdout
    # The closing line says how to load the model.
    assert stdout.rstrip().splitlines()[-1] == cli.LOAD_HINT.format(path=out / "model.keras")
    assert "import keras_ceb first" in stdout


def test_evaluate_reloads_the_model(trained_run, fashion_mnist_dir, tmp_path):
    out, _ = trained_run
    code, stdout, stderr = _run(
        [
            "evaluate",
            str(out / "model.keras"),
            "--data-dir",
            str(fashion_mnist_dir),
            "--max-test-examples",
            "500",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, stderr
    trained = json.loads((out / "metrics.json").read_text())["test"]
    evaluated = json.loads((tmp_path / "metrics.json").read_text())
    assert evaluated["objective"] == "ceb" and evaluated["dataset"] == "fashion_mnist"
    assert "CEB, rho=0 on fashion_mnist" in stdout  # the saved model ends at the target rho
    assert set(evaluated["test"]) == TEST_KEYS
    # The prediction is z = mu(x): accuracy and the I(Y;Z) bound are reproduced exactly.
    assert evaluated["test"]["accuracy"] == trained["accuracy"]
    assert evaluated["test"]["i_yz"] == pytest.approx(trained["i_yz"], rel=1e-5)
    assert "test accuracy" in stdout and f"{trained['accuracy']:.4f}" in stdout


def test_evaluate_robustness_table(trained_run, fashion_mnist_dir, tmp_path, monkeypatch):
    """`evaluate --ood --attack pgd-linf --eps 0.1 --calibration`: the Table-1 style report,
    offline: the MNIST OoD set is the copy shipped with keras_ceb."""
    out, _ = trained_run
    monkeypatch.setattr(keras.utils, "get_file", _no_download)
    code, stdout, stderr = _run(
        [
            "evaluate",
            str(out / "model.keras"),
            "--data-dir",
            str(fashion_mnist_dir),
            "--no-download",
            "--max-test-examples",
            "200",
            "--ood",
            "--attack",
            "pgd-linf",
            "--eps",
            "0.1",
            "--attack-steps",
            "3",
            "--attack-step-size",
            "0.02",
            "--attack-examples",
            "100",
            "--calibration",
            "--ood-reference-examples",
            "300",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, stderr
    report = json.loads((tmp_path / "metrics.json").read_text())["robustness"]
    assert {r["ood_set"] for r in report["ood"]} == {
        "uniform_noise",
        "vertical_flip",
        "mnist",
        "rotate_90",
        "gaussian_noise",
    }
    assert {r["score"] for r in report["ood"]} == set(keras_ceb.evaluation.SCORE_DIRECTIONS)
    assert {(g["group"], g["num_sets"]) for g in report["ood_groups"]} == {("near", 2), ("far", 3)}
    assert "near (mean)" in stdout and "knn_z" in stdout
    assert report["attack"]["attack"] == "pgd-linf" and report["attack"]["eps"] == 0.1
    assert report["attack"]["num_examples"] == 100
    assert report["attack"]["steps"] == 3 and report["attack"]["step_size"] == 0.02
    assert 0.0 <= report["calibration"]["ece"] <= 1.0
    assert "OoD detection (AUROC and FPR@95 with in-distribution positive" in stdout
    assert "FPR@95 OoD+" in stdout and "AUROC" in stdout
    assert "accuracy under attack" in stdout and "ECE" in stdout
    assert (tmp_path / "reliability.png").is_file() and (tmp_path / "ood_auroc.png").is_file()


@pytest.mark.parametrize("attack", ["apgd-t", "autoattack"])
def test_evaluate_field_standard_attacks(trained_run, fashion_mnist_dir, tmp_path, attack):
    out, _ = trained_run
    code, stdout, stderr = _run(
        [
            "evaluate",
            str(out / "model.keras"),
            "--data-dir",
            str(fashion_mnist_dir),
            "--max-test-examples",
            "64",
            "--attack",
            attack,
            "--eps",
            "0.05",
            "--attack-steps",
            "5",
            "--queries",
            "20",
            "--attack-norm",
            "linf",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, stderr
    result = json.loads((tmp_path / "metrics.json").read_text())["robustness"]["attack"]
    assert result["attack"] == attack and result["norm"] == "linf" and result["steps"] == 5
    assert 0.0 <= result["accuracy_under_attack"] <= 1.0
    if attack == "autoattack":
        assert result["version"] == "standard" and result["queries"] == 20
        assert set(result["broken_by"]) == {"clean", "apgd-ce", "apgd-t", "fab-t", "square"}
        assert "broken by: clean" in stdout


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--attack", "fgsm"], "invalid choice: 'fgsm'"),
        (["--attack", "square", "--target-class", "1"], "--target-class is for the pgd and cw"),
        (["--eps", "-0.1"], "--eps: expected a number >= 0, got '-0.1'"),
        (
            ["--target-class", "12", "--attack", "pgd-l2"],
            "--target-class must be below 10, got 12",
        ),
        (["--attack-step-size", "0"], "--attack-step-size: expected a positive number, got '0'"),
        (["--attack-step-size", "inf"], "--attack-step-size: expected a finite number, got 'inf'"),
    ],
)
def test_evaluate_bad_robustness_arguments(trained_run, fashion_mnist_dir, argv, needle):
    out, _ = trained_run
    code, _, stderr = _run(
        [
            "evaluate",
            str(out / "model.keras"),
            "--data-dir",
            str(fashion_mnist_dir),
            "--max-test-examples",
            "16",
            *argv,
        ]
    )
    assert code != 0
    assert stderr.count("\n") == 1 and needle in stderr, stderr


def _evaluate_corruptions(trained_run, fashion_mnist_dir, out, *extra):
    run, _ = trained_run
    return _run(
        [
            "evaluate",
            str(run / "model.keras"),
            "--data-dir",
            str(fashion_mnist_dir),
            "--max-test-examples",
            "100",
            "--corruptions",
            "--corruption-examples",
            "40",
            "--out",
            str(out),
            *extra,
        ]
    )


@pytest.mark.long
def test_evaluate_corruptions_and_the_mce_against_a_reference(
    trained_run, fashion_mnist_dir, tmp_path
):
    code, stdout, stderr = _evaluate_corruptions(trained_run, fashion_mnist_dir, tmp_path / "a")
    assert code == 0, stderr
    section = json.loads((tmp_path / "a" / "metrics.json").read_text())["corruptions"]
    assert section["corruptions"] == list(keras_ceb.evaluation.CORRUPTIONS)
    assert section["num_examples"] == 40 and section["seed"] == 0
    assert section["dataset"] == "fashion_mnist"
    assert set(section["shift_auroc"]) >= {"rate", "entropy"}
    assert "Common corruptions: clean accuracy" in stdout and "rate AUROC s5" in stdout
    # The same model as its own reference: every corruption error is 100.
    code, stdout, stderr = _evaluate_corruptions(
        trained_run,
        fashion_mnist_dir,
        tmp_path / "b",
        "--corruption-reference",
        str(tmp_path / "a" / "metrics.json"),
    )
    assert code == 0, stderr
    errors = json.loads((tmp_path / "b" / "metrics.json").read_text())["corruptions"]["errors"]
    assert errors["mce"] == pytest.approx(100.0)
    assert "| CE | relative CE |" in stdout


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--corruption-reference", "{ref}", "--seed", "1"], "was measured with seed 0"),
        (["--corruption-reference", "{ref}", "--corruption-examples", "30"], "num_examples 40"),
        (["--corruption-reference", "{missing}"], "cannot read a metrics.json there"),
        (["--corruption-reference", "{plain}"], "has no corruptions section"),
    ],
)
def test_evaluate_bad_corruption_reference(
    trained_run, fashion_mnist_dir, tmp_path, extra, needle
):
    reference = {
        "corruptions": {
            "num_examples": 40,
            "seed": 0,
            "dataset": "fashion_mnist",
            "accuracy": {},
        }
    }
    (tmp_path / "ref.json").write_text(json.dumps(reference))
    (tmp_path / "plain.json").write_text(json.dumps({"test": {}}))
    paths = {
        "ref": tmp_path / "ref.json",
        "missing": tmp_path / "nothing.json",
        "plain": tmp_path / "plain.json",
    }
    extra = [item.format(**paths) for item in extra]
    code, _, stderr = _evaluate_corruptions(trained_run, fashion_mnist_dir, tmp_path / "o", *extra)
    assert code != 0 and stderr.count("\n") == 1 and needle in stderr, stderr
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_corruption_reference_needs_corruptions(trained_run, fashion_mnist_dir, tmp_path):
    run, _ = trained_run
    code, _, stderr = _run(
        [
            "evaluate",
            str(run / "model.keras"),
            "--data-dir",
            str(fashion_mnist_dir),
            "--corruption-reference",
            str(tmp_path / "x.json"),
        ]
    )
    assert code != 0 and "--corruption-reference needs --corruptions" in stderr


def test_help_explains_rho():
    code, stdout, _ = _run(["train", "--help"])
    assert code == 0
    assert "0 targets the Minimum Necessary Information point" in " ".join(stdout.split())
    assert "--rho-anneal" in stdout and "--max-train-examples" in stdout


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--objective", "ib"], "invalid choice: 'ib'"),
        (["train", "--epochs", "-1"], "--epochs: expected a positive integer, got '-1'"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--rho", "nan"], "--rho: expected a finite number, got 'nan'"),
        (["train", "--rho", "inf"], "--rho: expected a finite number"),
        (
            ["train", "--rho-anneal", "fast"],
            "expected a finite number, 'auto' or 'off', got 'fast'",
        ),
        (["train", "--learning-rate", "0"], "--learning-rate: expected a positive number"),
        # Finite in Python, inf in float32 (the dtype of rho and of the learning rate).
        (
            ["train", "--rho", "1e39"],
            "--rho: expected a number of magnitude at most 3.403e+38 "
            "(finite in float32), got '1e39'",
        ),
        (["train", "--rho=-1e39"], "--rho: expected a number of magnitude at most"),
        (["train", "--rho-anneal", "1e39"], "(finite in float32), 'auto' or 'off', got '1e39'"),
        (["train", "--learning-rate", "1e39"], "--learning-rate: expected a number of magnitude"),
        (["evaluate", "m.keras", "--eps", "1e39"], "--eps: expected a number of magnitude"),
        (["train", "--dataset", "cifar100"], "unknown dataset 'cifar100'"),
        (["evaluate", "m.keras", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["evaluate"], "the following arguments are required: MODEL"),
        ([], "the following arguments are required: COMMAND"),
        (["fit"], "invalid choice: 'fit'"),
    ],
)
def test_bad_arguments_exit_with_one_line(argv, needle):
    code, stdout, stderr = _run(argv)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("keras-ceb"), stderr
    assert needle in stderr
    assert stdout == ""


def test_a_rule_across_options_is_one_line_in_the_options_words():
    code, stdout, stderr = _run(["train", "--rho", "2", "--rho-anneal", "1"])
    assert code == 1 and stdout == ""
    assert stderr == (
        "keras-ceb train: error: --rho-anneal must start at or above --rho (the "
        "anneal is the encoder's warm-up, which only lowers rho). Received: "
        "--rho-anneal 1.0, --rho 2.0\n"
    )


def test_missing_model_file(tmp_path):
    code, _, stderr = _run(["evaluate", str(tmp_path / "nope.keras")])
    assert code == 1
    assert (
        stderr == f"keras-ceb evaluate: error: model file not found: {tmp_path / 'nope.keras'}\n"
    )


def test_unreadable_model_file(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a zip file")
    code, _, stderr = _run(["evaluate", str(bad)])
    assert code == 1
    assert stderr == (
        f"keras-ceb evaluate: error: not a valid .keras file: {bad} is not a zip "
        "archive (truncated, or not written by model.save)\n"
    )
    code, _, stderr = _run(["evaluate", str(tmp_path)])
    assert code == 1 and "model file not found" in stderr


def test_truncated_or_foreign_keras_files_are_named_as_such(tmp_path):
    """Keras says "File not found" for these although the file is there."""
    import zipfile

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    whole = tmp_path / "whole.keras"
    model.save(whole)
    data = whole.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "foreign.keras"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("weights.bin", b"\0" * 16)
    damaged = tmp_path / "damaged.keras"
    flipped = bytearray(data)
    with zipfile.ZipFile(whole) as archive:
        info = archive.getinfo("config.json")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    flipped[start + 2] ^= 0xFF  # One byte of config.json's stored data.
    damaged.write_bytes(bytes(flipped))
    expected = {
        truncated: "is not a zip archive (truncated, or not written by model.save)",
        foreign: "has no config.json, metadata.json (not written by model.save)",
        damaged: "is damaged: its member config.json fails its checksum",
    }
    for path, problem in expected.items():
        code, _, stderr = _run(["evaluate", str(path)])
        assert code == 1
        assert stderr == f"keras-ceb evaluate: error: not a valid .keras file: {path} {problem}\n"
    assert model_files.keras_archive_problem(whole) is None


def test_wrn_options_need_the_wide_resnet(fashion_mnist_dir):
    code, _, stderr = _run(["train", "--wrn-depth", "16", "--data-dir", str(fashion_mnist_dir)])
    assert code == 1 and "need --backbone wide_resnet" in stderr
    code, _, stderr = _run(["train", "--backbone", "wide_resnet", "--wrn-depth", "15"])
    assert code == 1 and "--wrn-depth must be 6n+4" in stderr


def _no_download(*args, **kwargs):
    raise AssertionError(f"unexpected download: get_file{args}{kwargs}")


def test_missing_data_gives_the_loader_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    monkeypatch.setattr(locate, "DEBIAN_ROOT", tmp_path / "debian")
    monkeypatch.setattr(keras.utils, "get_file", _no_download)
    (tmp_path / "empty").mkdir()
    code, stdout, stderr = _run(
        [
            "train",
            "--no-download",
            "--data-dir",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 1
    assert stderr.startswith("keras-ceb train: error: Could not find Fashion-MNIST.")
    assert f"{tmp_path / 'empty'} (--data-dir)" in stderr
    assert "download: not tried (--no-download)" in stderr
    assert "pass it as --data-dir" in stderr and "apt-get install dataset-fashion-mnist" in stderr
    assert not (tmp_path / "out").exists()


def test_python_dash_m_entry_point():
    """`python -m keras_ceb` exits non-zero with the one-line message as its last stderr line."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "keras_ceb", "train", "--objective", "magic"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("keras-ceb train: error: argument --objective: invalid choice")
    assert not any("Traceback" in line for line in lines)


def test_evaluate_rejects_a_model_without_encoder(tmp_path):
    path = tmp_path / "plain.keras"
    plain = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    plain.save(path)
    code, _, stderr = _run(["evaluate", str(path)])
    assert code == 1
    assert stderr == (
        f"keras-ceb evaluate: error: {path} is not a keras_ceb classifier: "
        "it has no StochasticEncoder\n"
    )


@pytest.mark.parametrize(
    "argv, start, warmup",
    [
        # 20 epochs of 100 steps: from rho + 3 over the first 5 epochs.
        ([], 3.0, (3.0, 500)),
        (["--rho", "1", "--rho-anneal", "5", "--rho-anneal-epochs", "2"], 5.0, (4.0, 200)),
        (["--rho-anneal", "off"], None, (0.0, 0)),
        (["--objective", "determ"], None, (0.0, 0)),
        (["--epochs", "2"], 3.0, (3.0, 100)),  # Cut to epochs - 1: the last epoch is at rho.
        (["--epochs", "1"], None, (0.0, 0)),  # No epoch to anneal over: no anneal at all.
    ],
)
def test_rho_anneal_is_the_encoders_warmup(argv, start, warmup):
    config = cli.train_config(cli.build_parser().parse_args(["train", *argv]))
    assert config.anneal_start == start
    assert recipe.warmup(config, steps_per_epoch=100) == warmup


def test_train_and_evaluate_the_papers_mlp_head(tmp_path, fashion_mnist_dir):
    """--head mlp: b(z|y) is fed the labels in training; evaluate scores the images-only model."""
    from keras_ceb import cli

    out = tmp_path / "mlp"
    cli.main(
        [
            "train",
            "--head",
            "mlp",
            "--epochs",
            "1",
            "--max-train-examples",
            "512",
            "--max-test-examples",
            "256",
            "--data-dir",
            str(fashion_mnist_dir),
            "--out",
            str(out),
            "--verbose",
            "0",
        ]
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["head"] == "mlp"
    assert all(math.isfinite(metrics["test"][k]) for k in ("accuracy", "rate", "i_xz_lower"))
    cli.main(
        [
            "evaluate",
            str(out / "model.keras"),
            "--max-test-examples",
            "128",
            "--ood",
            "--data-dir",
            str(fashion_mnist_dir),
        ]
    )


def test_evaluate_from_python_is_the_command(trained_run, fashion_mnist_dir, tmp_path):
    """`keras_ceb.training.evaluate(EvaluateConfig(...))` is what `keras-ceb evaluate` runs."""
    from keras_ceb.training import EvaluateConfig
    from keras_ceb.training import evaluate

    out, _ = trained_run
    done = evaluate(
        EvaluateConfig(
            out / "model.keras", data_dir=fashion_mnist_dir, max_test_examples=100, out=tmp_path
        )
    )
    code, _, stderr = _run(
        [
            "evaluate",
            str(out / "model.keras"),
            "--data-dir",
            str(fashion_mnist_dir),
            "--max-test-examples",
            "100",
            "--out",
            str(tmp_path / "cli"),
        ]
    )
    assert code == 0, stderr
    command = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert done.metrics["test"] == command["test"] and done.written == ["metrics.json"]
    with pytest.raises(ValueError, match="`corruption_reference` needs `corruptions=True`"):
        EvaluateConfig(out / "model.keras", corruption_reference="ref.json")
