"""Fixtures for the dataset tests: isolated search roots and fake data.

Every test here runs with HOME, the Debian root, the shipped-data root and the
tfds data dir moved into a tmp folder, `KERAS_CEB_DATA` / `KERAS_HOME` unset, and
`keras.utils.get_file` replaced by a function that fails the test: nothing
reads the real caches or touches the network.
"""

import importlib
import importlib.resources
import sys
import types
from unittest import mock

import keras
import numpy as np
import pytest

from keras_ceb.datasets import locate
from keras_ceb.datasets import write_idx

IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _forbidden_download(*args, **kwargs):
    raise AssertionError(f"unexpected download: get_file{args}{kwargs}")


@pytest.fixture(autouse=True)
def roots(tmp_path, monkeypatch):
    """Moves every search root into `tmp_path`; returns their paths.

    `real_package` is the real shipped-data root, for the tests of the shipped copy.
    """
    real_package = locate.PACKAGE_DATA_ROOT
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_default"))
    monkeypatch.setattr(locate, "DEBIAN_ROOT", tmp_path / "debian")
    monkeypatch.setattr(locate, "PACKAGE_DATA_ROOT", tmp_path / "package")
    monkeypatch.setattr(keras.utils, "get_file", _forbidden_download)
    return types.SimpleNamespace(
        tmp=tmp_path,
        home=home,
        keras_cache=home / ".keras" / "datasets",
        debian=tmp_path / "debian",
        package=tmp_path / "package",
        real_package=real_package,
        tfds_default=tmp_path / "tfds_default",
    )


def write_fake_mnist(directory, marker=1, splits=("train", "test"), n=20, gz=True):
    """Writes tiny MNIST-like idx files whose pixels all equal `marker`.

    Labels are `arange(n) % 10`. Returns `directory`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split in splits:
        images_name, labels_name = IDX_NAMES[split]
        write_idx(
            directory / (images_name + suffix),
            np.full((n, 28, 28), marker, dtype="uint8"),
        )
        write_idx(
            directory / (labels_name + suffix),
            (np.arange(n) % 10).astype("uint8"),
        )
    return directory


def write_fake_mnist_npz(path, marker=1, n=20):
    """Writes a tiny `mnist.npz` in the layout of `keras.datasets.mnist`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    images = np.full((n, 28, 28), marker, dtype="uint8")
    labels = (np.arange(n) % 10).astype("uint8")
    np.savez(path, x_train=images, y_train=labels, x_test=images, y_test=labels)
    return path


def _write_cifar_sources(folder, rng):
    """Fake CIFAR-10 binary batches and CIFAR-10.1 npy files."""
    bins = folder / "cifar-10-batches-bin"
    bins.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}.bin", 4) for i in range(1, 6)] + [("test_batch.bin", 6)]:
        labels = rng.integers(0, 10, (n, 1), dtype=np.uint8)
        pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        np.concatenate([labels, pixels], axis=1).tofile(bins / name)
    (bins / "batches.meta.txt").write_text(
        "\n".join("airplane automobile bird cat deer dog frog horse ship truck".split())
    )
    np.save(folder / "images.npy", rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8))
    np.save(folder / "labels.npy", rng.integers(0, 10, 7).astype(np.int64))


@pytest.fixture(scope="session")
def fake_tfds_dir(tmp_path_factory):
    """A tfds data dir with tiny prepared `cifar10` (20 train, 6 test) and
    `cifar10_1` (7 test) built offline by tfds itself from fake sources."""
    import tensorflow_datasets as tfds

    folder = tmp_path_factory.mktemp("fake_cifar")
    _write_cifar_sources(folder / "sources", np.random.default_rng(0))
    data_dir = folder / "tfds"
    # tfds 4.9.10 needs `importlib_resources` to prepare a dataset, but only
    # declares it for Python < 3.9; the stdlib module serves the same purpose.
    added_shim = False
    try:
        importlib.import_module("importlib_resources")
    except ImportError:
        sys.modules["importlib_resources"] = importlib.resources
        added_shim = True
    sources = folder / "sources"
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
                lambda self, urls: [
                    str(sources / "images.npy"),
                    str(sources / "labels.npy"),
                ],
            ),
        ):
            for name in ("cifar10", "cifar10_1"):
                tfds.builder(name, data_dir=str(data_dir)).download_and_prepare()
    finally:
        if added_shim:
            del sys.modules["importlib_resources"]
    return data_dir


@pytest.fixture
def fake_mnist():
    """The `write_fake_mnist(directory, marker, splits, n, gz)` helper."""
    return write_fake_mnist


@pytest.fixture
def fake_mnist_npz():
    """The `write_fake_mnist_npz(path, marker, n)` helper."""
    return write_fake_mnist_npz
