"""Tests for `dataset_info` and the `load` dispatcher."""

import keras
import numpy as np
import pytest

from keras_ceb.datasets import DATASET_NAMES
from keras_ceb.datasets import DatasetNotFoundError
from keras_ceb.datasets import dataset_info
from keras_ceb.datasets import load
from keras_ceb.datasets import locate


def test_dataset_info():
    assert DATASET_NAMES == ("fashion_mnist", "mnist", "cifar10", "cifar10_1")
    assert dataset_info("fashion_mnist").input_shape == (28, 28, 1)
    assert dataset_info("mnist").input_shape == (28, 28, 1)
    assert dataset_info("cifar10").input_shape == (32, 32, 3)
    assert dataset_info("cifar10_1").splits == ("test",)
    for name in DATASET_NAMES:
        info = dataset_info(name)
        assert info.name == name and info.num_classes == 10
        assert len(info.class_names) == 10
    assert dataset_info("fashion_mnist").class_names[9] == "Ankle boot"
    with pytest.raises(ValueError, match=r"Received: name='svhn'$"):
        dataset_info("svhn")


def test_load_mnist_family(fashion_mnist_dir, roots, monkeypatch):
    x, y = load("fashion_mnist", data_dir=fashion_mnist_dir, split="test")
    assert x.shape == (10000,) + dataset_info("fashion_mnist").input_shape
    assert x.dtype == np.float32 and y.dtype == np.int32
    monkeypatch.setattr(locate, "PACKAGE_DATA_ROOT", roots.real_package)
    x_ood, y_ood = load("mnist", split="test", normalize=False)  # The shipped copy.
    assert x_ood.shape == (10000, 28, 28, 1) and x_ood.dtype == np.uint8
    assert not np.array_equal(np.round(x * 255).astype("uint8"), x_ood)


def test_load_cifar(fake_tfds_dir):
    (x_train, _), (x_test, y_test) = load("cifar10", data_dir=fake_tfds_dir)
    assert x_train.shape[1:] == dataset_info("cifar10").input_shape
    assert x_test.shape == (6, 32, 32, 3)
    x, y = load("cifar10_1", data_dir=fake_tfds_dir, split="test")
    assert x.shape == (7, 32, 32, 3) and y.dtype == np.int32


def test_download_defaults(roots, monkeypatch):
    # CIFAR: no download unless asked (conftest fails any get_file call).
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load("cifar10")
    calls = []

    def failing_get_file(fname, **kwargs):
        calls.append(fname)
        raise Exception("offline")

    monkeypatch.setattr(keras.utils, "get_file", failing_get_file)
    with pytest.raises(DatasetNotFoundError, match="failed"):
        load("fashion_mnist")
    assert calls == ["train-images-idx3-ubyte.gz"]
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load("mnist", download=False, split="test")


@pytest.mark.parametrize(
    "name, split, received",
    [
        ("cifar10_1", None, "split=None"),
        ("cifar10_1", "train", "split='train'"),
        ("mnist", "validation", "split='validation'"),
        ("imagenet", None, "name='imagenet'"),
    ],
)
def test_load_validation(name, split, received):
    with pytest.raises(ValueError, match=f"Received: {received}$"):
        load(name, split=split)
