"""`train(TrainConfig(...))` from Python: a run folder without argparse, and the same run as
`keras-ceb train` with the same settings."""

import json

import keras
import numpy as np
import pytest

from keras_ceb import cli
from keras_ceb.training import TrainConfig
from keras_ceb.training import TrainingError
from keras_ceb.training import train
from tests.cli.cli_test import FILES
from tests.cli.cli_test import _run

SETTINGS = {
    "epochs": 2,
    "max_train_examples": 384,
    "max_test_examples": 256,
    "batch_size": 128,
    "seed": 5,
    "verbose": 0,
}


@pytest.fixture(scope="module")
def notebook_run(fashion_mnist_dir, tmp_path_factory):
    """What a notebook user writes: a config, `train`, the result."""
    out = tmp_path_factory.mktemp("notebook") / "run"
    config = TrainConfig(data_dir=fashion_mnist_dir, out=out, **SETTINGS)
    return config, train(config)


def test_train_writes_a_run_folder_from_python(notebook_run):
    config, result = notebook_run
    for name in FILES:
        assert (config.out / name).is_file(), name
    assert result.out == config.out
    assert isinstance(result.model, keras.Model)
    assert 0.0 <= result.test["accuracy"] <= 1.0 and result.test["num_examples"] == 256
    assert len(result.history["loss"]) == 2
    metrics = json.loads((config.out / "metrics.json").read_text())
    assert metrics["test"] == result.test
    # What metrics.json records reads back as the config that was run.
    assert result.config == TrainConfig.from_json(metrics["config"])
    assert result.config.out == config.out.absolute()
    # "auto" as run: from rho + 3, cut to epochs - 1 = 1 epoch.
    assert (result.config.rho_anneal, result.config.rho_anneal_epochs) == (3.0, 1)
    assert (result.config.objective, result.config.seed) == ("ceb", 5)


def test_the_cli_gives_the_same_run(notebook_run, fashion_mnist_dir, tmp_path):
    """Same settings through `keras-ceb train`: the same recorded settings and, on
    TensorFlow, the same test accuracy to the bit."""
    config, result = notebook_run
    out = tmp_path / "cli"
    argv = ["train", "--data-dir", str(fashion_mnist_dir), "--out", str(out)]
    for key, value in SETTINGS.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    code, _, stderr = _run(argv)
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    ours = {k: v for k, v in result.metrics["config"].items() if k != "out"}
    assert {k: v for k, v in metrics["config"].items() if k != "out"} == ours
    if keras.backend.backend() == "tensorflow":
        assert metrics["test"]["accuracy"] == result.test["accuracy"]
    else:
        assert metrics["test"]["accuracy"] == pytest.approx(result.test["accuracy"], abs=0.02)


def test_a_finished_run_is_kept(notebook_run):
    # A Python caller reads the config's fields; `keras-ceb train` says the same in its options.
    config, _ = notebook_run
    with pytest.raises(TrainingError, match="already holds a finished run") as caught:
        train(config)
    assert "pass `overwrite=True`" in str(caught.value) and "--" not in str(caught.value)


def test_bad_settings_fail_before_any_data_is_read(tmp_path):
    with pytest.raises(
        TrainingError, match="`wrn_depth` and `wrn_width` need `backbone='wide_resnet'`"
    ):
        train(TrainConfig(wrn_depth=16, out=tmp_path / "x"))
    with pytest.raises(ValueError, match="`config` must be a TrainConfig"):
        train({"epochs": 1})
    assert not (tmp_path / "x").exists()


def test_extra_callbacks_run_in_fit(fashion_mnist_dir, tmp_path):
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, sorted(logs)))

    result = train(
        TrainConfig(
            data_dir=fashion_mnist_dir,
            out=tmp_path / "run",
            objective="determ",
            epochs=1,
            max_train_examples=128,
            max_test_examples=128,
            verbose=0,
        ),
        callbacks=[Record()],
    )
    assert [epoch for epoch, _ in seen] == [0]
    assert "val_accuracy" in seen[0][1]
    assert np.isfinite(result.test["loss"])
    assert cli.LOAD_HINT  # The CLI adds the loading hint; train() prints the summary.
