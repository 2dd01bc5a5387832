"""Reliability of `keras-ceb`: output folders checked first, no run lost or silently replaced,
resume after a kill or Ctrl-C, one-line errors for bad inputs, and the CLI's own wording.

Root ignores file modes, so the permission tests use a real unreadable or unwritable file when
not run as root, and otherwise the same refusal from a patched file operation.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_ceb
from keras_ceb import cli
from keras_ceb import datasets
from keras_ceb import reporting
from keras_ceb import run_folder
from keras_ceb.datasets import idx as idx_lib
from keras_ceb.datasets import locate
from keras_ceb.training import data as training_data
from keras_ceb.training import model_files
from keras_ceb.training import recipe
from tests.cli.cli_test import _run

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
# A 4-epoch run on 512 examples: rho is annealed 3 -> 0 over epochs 1-3, the learning rate
# decays over the 16 steps.
SHORT_RUN = [
    "train",
    "--epochs",
    "4",
    "--max-train-examples",
    "512",
    "--max-test-examples",
    "128",
    "--seed",
    "5",
    "--verbose",
    "0",
]


def _one_line_error(stderr, command="train"):
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"keras-ceb {command}: error: "), stderr
    assert "Traceback" not in stderr


@pytest.fixture
def no_data(monkeypatch):
    """Fails the test if the CLI loads any data (the checks come before)."""

    def fail(*args, **kwargs):
        raise AssertionError("data loaded before the check")

    monkeypatch.setattr(keras_ceb.datasets, "load", fail)


def _weights(path):
    model = keras.models.load_model(path, safe_mode=True)
    return {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}


def _assert_same_test_metrics(metrics, reference_folder):
    reference = json.loads((reference_folder / "metrics.json").read_text())["test"]
    assert metrics["test"].keys() == reference.keys()
    for key, value in reference.items():
        assert metrics["test"][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


def _max_difference(a, b):
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


# --out and evaluate --out: checked before anything else.


def test_out_that_is_a_file_or_lies_under_one(tmp_path, no_data):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, stderr = _run(["train", "--out", str(blocker)])
    assert code == 1
    _one_line_error(stderr)
    assert f"--out {blocker} is a file, not a folder" in stderr
    code, _, stderr = _run(["train", "--out", str(blocker / "run")])
    assert code == 1
    _one_line_error(stderr)
    assert f"--out {blocker / 'run'} lies under {blocker}, which is a file" in stderr
    code, _, stderr = _run(["evaluate", "m.keras", "--out", str(blocker / "eval")])
    assert code == 1
    _one_line_error(stderr, "evaluate")
    assert "which is a file, not a folder" in stderr
    assert blocker.read_text() == "not a folder"


def test_out_in_a_folder_that_cannot_be_written(tmp_path, no_data, monkeypatch):
    parent = tmp_path / "read-only"
    parent.mkdir()
    if IS_ROOT:  # Root writes anywhere: the probe write fails as it would for a user.

        def refuse(folder):
            raise PermissionError(13, "Permission denied", str(folder))

        monkeypatch.setattr(run_folder, "_probe", refuse)
    else:
        parent.chmod(0o500)
    try:
        code, _, stderr = _run(["train", "--out", str(parent / "run")])
    finally:
        parent.chmod(0o700)
    assert code == 1
    _one_line_error(stderr)
    assert f"--out {parent / 'run'} cannot be written (in {parent}): Permission denied" in stderr
    assert list(parent.iterdir()) == []


def test_a_finished_run_is_not_replaced_without_overwrite(tmp_path, no_data):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text('{"test": {"accuracy": 0.92}}')
    (out / "model.keras").write_bytes(b"the 20-epoch model")
    code, _, stderr = _run(["train", "--epochs", "1", "--out", str(out)])
    assert code == 1
    _one_line_error(stderr)
    assert f"--out {out} already holds a finished run (model.keras, metrics.json)" in stderr
    assert "pass --overwrite to replace it" in stderr
    assert (out / "model.keras").read_bytes() == b"the 20-epoch model"


def test_evaluate_keeps_an_existing_metrics_json(tmp_path, monkeypatch):
    """`evaluate --out` into a training folder would replace its metrics.json: refused before
    the model is even loaded."""
    (tmp_path / "metrics.json").write_text("{}")

    def fail(path):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(model_files, "load_classifier", fail)
    code, _, stderr = _run(["evaluate", "m.keras", "--out", str(tmp_path)])
    assert code == 1
    _one_line_error(stderr, "evaluate")
    assert "already holds metrics.json; pass --overwrite to replace it" in stderr
    assert (tmp_path / "metrics.json").read_text() == "{}"


def test_overwrite_replaces_a_finished_run(tmp_path, fashion_mnist_dir):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    (out / "training_curves.png").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")
    code, stdout, stderr = _run(
        [
            "train",
            "--epochs",
            "1",
            "--max-train-examples",
            "256",
            "--max-test-examples",
            "64",
            "--verbose",
            "0",
            "--data-dir",
            str(fashion_mnist_dir),
            "--out",
            str(out),
            "--overwrite",
        ]
    )
    assert code == 0, stderr
    assert json.loads((out / "metrics.json").read_text())["config"]["epochs"] == 1
    assert (out / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "notes.txt").read_text() == "mine"  # Only the run's own files are replaced.
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*run_folder.TRAIN_OUTPUTS, "notes.txt"]
    )  # No backup, no temporary file left.


# Data: a mistyped --data-dir, a bad $KERAS_CEB_DATA, unreadable or non-finite data.


def test_mistyped_data_dir_is_an_error(tmp_path, no_data):
    code, _, stderr = _run(
        ["train", "--data-dir", str(tmp_path / "fashoin"), "--out", str(tmp_path / "out")]
    )
    assert code == 1
    _one_line_error(stderr)
    assert stderr == f"keras-ceb train: error: --data-dir {tmp_path / 'fashoin'}: no such folder\n"
    (tmp_path / "file").write_text("")
    code, _, stderr = _run(["evaluate", "m.keras", "--data-dir", str(tmp_path / "file")])
    assert code == 1
    assert stderr == f"keras-ceb evaluate: error: --data-dir {tmp_path / 'file'} is not a folder\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "value, needle",
    [
        ("/" + "d" * 5000, "(5001 characters), which cannot be used: File name too long"),
        ("FILE", "which is not a folder"),
    ],
)
def test_bad_keras_ceb_data_is_one_line(tmp_path, monkeypatch, no_data, value, needle):
    (tmp_path / "file").write_bytes(os.urandom(64))
    value = value.replace("FILE", str(tmp_path / "file"))
    monkeypatch.setenv(locate.ENV_VAR, os.pathsep.join([str(tmp_path / "missing"), value]))
    code, _, stderr = _run(["train", "--out", str(tmp_path / "out")])
    assert code == 1
    _one_line_error(stderr)
    assert stderr.startswith("keras-ceb train: error: $KERAS_CEB_DATA names ") and needle in stderr
    assert len(stderr) < 300


def test_keras_ceb_data_with_junk_files_is_one_line(tmp_path, monkeypatch):
    junk = tmp_path / "junk" / "fashion-mnist"
    junk.mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (junk / name).write_bytes(os.urandom(100))
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "junk"))
    code, _, stderr = _run(["train", "--out", str(tmp_path / "out")])
    assert code == 1
    _one_line_error(stderr)
    assert f"error: corrupt data file {junk / 'train-images-idx3-ubyte'}: " in stderr


def test_data_file_without_read_permission(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        datasets.write_idx(folder / f"{name}.gz", np.zeros((4, 28, 28), "uint8"))
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        datasets.write_idx(folder / f"{name}.gz", np.zeros(4, "uint8"))
    locked = folder / "train-images-idx3-ubyte.gz"
    if IS_ROOT:  # Root reads anything: opening the file fails as it would for a user.
        real_open = open

        def guarded_open(path, *args, **kwargs):
            if os.fspath(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(idx_lib, "open", guarded_open, raising=False)
    else:
        locked.chmod(0)
    code, _, stderr = _run(["train", "--data-dir", str(folder), "--out", str(tmp_path / "out")])
    assert code == 1
    _one_line_error(stderr)
    assert stderr == f"keras-ceb train: error: cannot read {locked}: Permission denied\n"


def test_non_finite_training_data_is_refused_before_training(tmp_path, monkeypatch):
    x = np.full((64, 28, 28, 1), 0.5, "float32")
    x[17, 3, 4, 0] = np.nan
    y = np.arange(64, dtype="int32") % 10
    monkeypatch.setattr(keras_ceb.datasets, "load", lambda *args, **kwargs: (x, y))
    monkeypatch.setattr(recipe, "build_model", pytest.fail)
    code, _, stderr = _run(["train", "--out", str(tmp_path / "out")])
    assert code == 1
    _one_line_error(stderr)
    assert (
        "the fashion_mnist training images hold 1 non-finite values (NaN or inf) in 1 "
        "examples, the first in example 17"
    ) in stderr
    assert not (tmp_path / "out").exists()


def test_divergence_stops_training_with_one_line(tmp_path, fashion_mnist_dir):
    """An absurd learning rate: the loss or the weights turn non-finite, training stops."""
    out = tmp_path / "out"
    code, _, stderr = _run(
        [
            "train",
            "--epochs",
            "2",
            "--max-train-examples",
            "256",
            "--max-test-examples",
            "64",
            "--verbose",
            "0",
            "--learning-rate",
            "1e30",
            "--data-dir",
            str(fashion_mnist_dir),
            "--out",
            str(out),
        ]
    )
    assert code == 1
    _one_line_error(stderr)
    assert "error: training diverged: the " in stderr and "at epoch 1" in stderr
    assert "Try a lower --learning-rate (now 1e+30)" in stderr
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()


@pytest.mark.parametrize(
    "argv, dataset",
    [
        (["train", "--no-download"], "Fashion-MNIST"),
        (["train", "--dataset", "mnist", "--no-download"], "MNIST"),
        (["train", "--dataset", "cifar10"], "CIFAR-10"),
    ],
)
def test_not_found_messages_use_the_cli_flags(tmp_path, monkeypatch, argv, dataset):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    monkeypatch.setattr(locate, "DEBIAN_ROOT", tmp_path / "debian")
    monkeypatch.setattr(keras.utils, "get_file", pytest.fail)
    (tmp_path / "data").mkdir()
    code, _, stderr = _run(
        [*argv, "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out")]
    )
    assert code == 1
    assert stderr.startswith(f"keras-ceb train: error: Could not find {dataset}")
    assert f"{tmp_path / 'data'} (--data-dir)" in stderr and "--data-dir" in stderr
    for python_wording in (
        "data_dir=",
        "download=",
        "split=",
        "data_dir argument",
        "load_mnist_test",
    ):
        assert python_wording not in stderr, stderr
    if "--no-download" in argv:
        assert "download: not tried (--no-download)" in stderr


def test_mnist_ood_set_is_not_taken_from_loose_fashion_files(tmp_path):
    """`--data-dir` pointing at the Fashion-MNIST files holds t10k files under MNIST's names:
    the OoD set must not be Fashion-MNIST's own test set."""
    assert training_data.mnist_ood_data_dir(tmp_path) is None
    (tmp_path / "mnist-test").mkdir()
    assert training_data.mnist_ood_data_dir(tmp_path) == tmp_path / "mnist-test"


# Resume after a kill or Ctrl-C.


@pytest.fixture(scope="module")
def uninterrupted(fashion_mnist_dir, tmp_path_factory):
    """The short run, uninterrupted: its folder."""
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    code, _, stderr = _run([*SHORT_RUN, "--data-dir", str(fashion_mnist_dir), "--out", str(out)])
    assert code == 0, stderr
    return out


KILLER = textwrap.dedent("""
    import os, signal, sys
    import keras
    from keras_ceb import cli
    from keras_ceb.training import recipe

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 1:  # In epoch 2 of 4, after epoch 1 was saved.
                os.kill(os.getpid(), signal.SIGKILL)

    train = recipe.train
    recipe.train = lambda config, **kwargs: train(config, callbacks=[Kill()], **kwargs)
    sys.exit(cli.main(sys.argv[1:]))
""")


@pytest.mark.long  # `make test-long` (CI runs it): over 15 s on 2 cores.
def test_resume_after_sigkill_matches_an_uninterrupted_run(
    uninterrupted, fashion_mnist_dir, tmp_path, monkeypatch
):
    """Killed (SIGKILL) in epoch 2 of 4; resumed by the same command but interrupted while
    saving; finished by the same command: the weights and metrics of an uninterrupted run."""
    out = tmp_path / "run"
    argv = [*SHORT_RUN, "--data-dir", str(fashion_mnist_dir), "--out", str(out)]
    (tmp_path / "killer.py").write_text(KILLER)
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]),
    }
    killed = subprocess.run(
        [sys.executable, str(tmp_path / "killer.py"), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert run_folder.train_state(out) == run_folder.UNFINISHED
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()

    # The same command resumes at epoch 2; a Ctrl-C while saving keeps the checkpoint and
    # leaves no half-written file.
    def interrupted_plot(*args, **kwargs):
        raise KeyboardInterrupt

    plot = reporting.plot_information_plane
    monkeypatch.setattr(reporting, "plot_information_plane", interrupted_plot)
    code, stdout, stderr = _run(argv)
    assert code == 130
    assert f"Resuming the unfinished run in {out}" in stdout
    assert stderr == (
        "keras-ceb train: interrupted while evaluating and saving; the 4 trained "
        f"epochs are kept in {out / '.backup'}: run the same command again to "
        "finish\n"
    )
    assert not (out / "metrics.json").exists() and not list(out.glob(".keras-ceb-tmp-*"))

    monkeypatch.setattr(reporting, "plot_information_plane", plot)
    code, stdout, stderr = _run(argv)
    assert code == 0, stderr
    assert "All 4 epochs were done; evaluating and saving." in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_after_epochs"] == 4
    _assert_same_test_metrics(metrics, uninterrupted)
    history = json.loads((out / "history.json").read_text())
    reference = json.loads((uninterrupted / "history.json").read_text())
    # Each epoch's mean rho: warmed up from 3 to 0 over 3 epochs of 4 steps, then at 0.
    assert history["rho"] == reference["rho"] == [2.625, 1.625, 0.625, 0.0]
    np.testing.assert_allclose(history["loss"], reference["loss"], rtol=1e-4)
    difference = _max_difference(
        _weights(out / "model.keras"), _weights(uninterrupted / "model.keras")
    )
    assert difference < 1e-4, difference  # 0.0 where measured, on TensorFlow and JAX.
    assert not (out / run_folder.BACKUP_DIR).exists()


def test_ctrl_c_ends_with_one_line_and_keeps_the_checkpoint(
    fashion_mnist_dir, tmp_path, monkeypatch
):
    out = tmp_path / "run"
    train = recipe.train

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:  # A real SIGINT, as a terminal sends it.
                signal.raise_signal(signal.SIGINT)
                raise AssertionError("SIGINT did not interrupt: Python's handler did not run")

    monkeypatch.setattr(
        recipe, "train", lambda config, **kwargs: train(config, callbacks=[CtrlC()], **kwargs)
    )
    # Python's handler, installed again at the C level as in a fresh `keras-ceb` process (in one
    # clean-clone run of the suite, 1 of 9 runs of this test, the SIGINT did not interrupt).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, stdout, stderr = _run(
            [*SHORT_RUN, "--data-dir", str(fashion_mnist_dir), "--out", str(out)]
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130, (code, stdout[-2000:], stderr[-2000:])
    assert stderr == (
        f"keras-ceb train: interrupted in epoch 3 of 4; epochs 1-2 are saved in "
        f"{out / '.backup'}: run the same command again to resume\n"
    )
    assert run_folder.train_state(out) == run_folder.UNFINISHED
    metadata = out / ".backup" / "keras" / "training_metadata.json"
    assert json.loads(metadata.read_text())["epoch"] == 2
    assert len(json.loads((out / ".backup" / "history.json").read_text())["loss"]) == 2


def test_resuming_with_other_options_is_refused(tmp_path, no_data):
    out = tmp_path / "run"
    (out / run_folder.BACKUP_DIR).mkdir(parents=True)
    args = cli.build_parser().parse_args([*SHORT_RUN, "--out", str(out)])
    run_folder.write_options(out, recipe.training_options(cli.train_config(args)))
    code, _, stderr = _run([*SHORT_RUN, "--epochs", "20", "--rho", "1", "--out", str(out)])
    assert code == 1
    _one_line_error(stderr)
    assert (
        f"--out {out} holds an unfinished run with other options: --epochs 20 (the "
        "unfinished run has 4); --rho 1 (the unfinished run has 0);"
    ) in stderr
    assert "pass --overwrite to start over" in stderr


def test_a_model_path_too_long_is_one_line():
    code, _, stderr = _run(["evaluate", "/" + "m" * 5000 + ".keras"])
    assert code == 1
    _one_line_error(stderr, "evaluate")
    assert "(5007 characters): File name too long" in stderr
