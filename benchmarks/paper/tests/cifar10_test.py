"""`python -m benchmarks.paper cifar10` and `keras-ceb train --dataset cifar10`, on tiny generated
CIFAR-shaped data prepared by tensorflow-datasets itself (no network)."""

import contextlib
import importlib
import importlib.resources
import io
import json
import math
import sys
from unittest import mock

import keras
import numpy as np
import pytest

from benchmarks.paper import command
from keras_ceb import cli
from keras_ceb.datasets import locate
from keras_ceb.training import TrainConfig
from keras_ceb.training import presets

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="an end-to-end command run: once, on the default backend (the tf.data "
    "augmentation is TensorFlow either way)",
)


def _run(argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = command.main(argv)
        except SystemExit as e:
            code = e.code
    return code, stdout.getvalue(), stderr.getvalue()


def _write_sources(folder, rng, train_per_batch=8, test=24, shift=12):
    """CIFAR-10 binary batches and CIFAR-10.1 .npy files with random pixels."""
    bins = folder / "cifar-10-batches-bin"
    bins.mkdir(parents=True)
    files = [(f"data_batch_{i}.bin", train_per_batch) for i in range(1, 6)]
    for name, n in files + [("test_batch.bin", test)]:
        labels = (np.arange(n) % 10).astype(np.uint8)[:, None]
        pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        np.concatenate([labels, pixels], axis=1).tofile(bins / name)
    (bins / "batches.meta.txt").write_text(
        "\n".join("airplane automobile bird cat deer dog frog horse ship truck".split())
    )
    np.save(folder / "images.npy", rng.integers(0, 256, (shift, 32, 32, 3), dtype=np.uint8))
    np.save(folder / "labels.npy", (np.arange(shift) % 10).astype(np.int64))


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """A tfds data dir with tiny prepared `cifar10` (40 train, 24 test) and `cifar10_1` (12)."""
    import tensorflow_datasets as tfds

    folder = tmp_path_factory.mktemp("cifar")
    sources = folder / "sources"
    _write_sources(sources, np.random.default_rng(0))
    added_shim = False
    try:
        importlib.import_module("importlib_resources")
    except ImportError:  # tfds needs it to prepare; the stdlib module does the same.
        sys.modules["importlib_resources"] = importlib.resources
        added_shim = True
    try:
        with (
            mock.patch.object(
                tfds.download.DownloadManager,
                "download_and_extract",
                lambda self, url: str(sources),
            ),
            mock.patch.object(
                tfds.download.DownloadManager,
                "download",
                lambda self, urls: [str(sources / "images.npy"), str(sources / "labels.npy")],
            ),
        ):
            for name in ("cifar10", "cifar10_1"):
                tfds.builder(name, data_dir=str(folder / "tfds")).download_and_prepare()
    finally:
        if added_shim:
            del sys.modules["importlib_resources"]
    return folder / "tfds"


@pytest.fixture(autouse=True)
def no_default_data(tmp_path, monkeypatch):
    """Only `--data-dir` holds data: no $KERAS_CEB_DATA, an empty tfds default dir."""
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "empty_tfds"))


def test_train_takes_the_paper_recipe_for_cifar10():
    def config(*argv):
        return cli.train_config(cli.build_parser().parse_args(["train", *argv])).resolved()

    cifar = config("--dataset", "cifar10")
    assert (cifar.backbone, cifar.head, cifar.augment, cifar.lr_schedule) == (
        "wide_resnet",
        "catgen",
        "autoaugment",
        "step",
    )
    assert cifar.backbone_kwargs == {"depth": 28, "width": 10}
    cifar = config("--dataset", "cifar10", "--head", "consistent", "--augment", "none")
    assert (cifar.head, cifar.augment, cifar.lr_schedule) == ("consistent", "none", "step")
    fashion = config()
    assert (fashion.backbone, fashion.head, fashion.augment, fashion.lr_schedule) == (
        "small_convnet",
        "consistent",
        "none",
        "cosine",
    )
    assert presets.PRESETS["cifar10"] == TrainConfig(dataset="cifar10").resolved()
    assert presets.PRESETS["fashion_mnist"] == TrainConfig().resolved()


def test_missing_cifar10_names_data_dir_and_tfds_data_dir(tmp_path):
    code, stdout, stderr = _run(
        ["cifar10", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "out")]
    )
    assert code == 1
    assert stderr.startswith("python -m benchmarks.paper: error: Could not find CIFAR-10")
    assert "--data-dir" in stderr and "TFDS_DATA_DIR" in stderr
    assert not (tmp_path / "out").exists()  # failed before any training


@pytest.mark.long  # `make test-long` (CI runs it): over 15 s on 2 cores.
def test_reproduce_cpu_preset_end_to_end(tfds_dir, tmp_path):
    out = tmp_path / "cifar10_cpu"
    code, stdout, stderr = _run(
        [
            "cifar10",
            "--preset",
            "cpu",
            "--data-dir",
            str(tfds_dir),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--attack-examples",
            "8",
            "--linf-epsilons",
            "0.03",
            "--l2-epsilons",
            "0.5",
        ]
    )
    assert code == 0, stderr
    results = json.loads((out / "results.json").read_text())
    assert (out / "figure6.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "figure6.png" in (out / "report.md").read_text()
    settings = results["settings"]
    assert (settings["wrn_depth"], settings["wrn_width"], settings["batch_size"]) == (10, 2, 64)
    assert results["attack_examples"] == 8 and results["attack_steps"] == 7
    assert set(results["models"]) == {"ceb0", "ceb5", "determ"} and results["seeds"] == [0]
    for name, run in results["per_seed"][0]["models"].items():
        assert (out / "seed_0" / name / "model.keras").is_file()
        metrics = json.loads((out / "seed_0" / name / "metrics.json").read_text())
        config = metrics["config"]
        assert (config["head"], config["augment"], config["lr_schedule"]) == (
            "catgen",
            "autoaugment",
            "step",
        )
        assert config["num_train_examples"] == 40 and metrics["test"]["num_examples"] == 24
        assert metrics["cifar10_1"]["num_examples"] == 12
        assert 0.0 <= run["cifar10_1_accuracy"] <= 1.0
        assert run["cifar10_accuracy"] == metrics["test"]["accuracy"]
        assert results["models"][name]["cifar10_accuracy"] == run["cifar10_accuracy"]
        assert f"--objective {config['objective']}" in run["command"]
    ceb5 = json.loads((out / "seed_0" / "ceb5" / "metrics.json").read_text())
    assert ceb5["config"]["rho"] == 5.0
    for name, by_norm in results["sweeps"].items():
        for norm, eps in (("linf", 0.03), ("l2", 0.5)):
            clean, attacked = by_norm[norm]
            assert clean["eps"] == 0.0 and attacked["eps"] == eps
            assert 0.0 <= attacked["accuracy"] <= clean["accuracy"] + 1e-9  # untargeted
    assert set(results["transfers"]) == {"ceb5_to_ceb0", "determ_to_ceb0"}
    for by_norm in results["transfers"].values():
        assert [len(by_norm[norm]) for norm in ("linf", "l2")] == [1, 1]
        assert all(math.isfinite(r["target_accuracy"]) for r in by_norm["linf"])
    assert "CIFAR-10.1" in stdout and "ceb5->ceb0" in stdout
