"""CIFAR-10 / CIFAR-10.1 through tensorflow-datasets, without any network.

`fake_tfds_dir` (conftest.py) holds tiny copies prepared by tfds itself from
fake source files, so the real reading path is exercised.
"""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_ceb.datasets import DatasetNotFoundError
from keras_ceb.datasets import load_cifar10
from keras_ceb.datasets import load_cifar10_1
from keras_ceb.datasets import locate


def test_cifar10_from_a_prepared_copy(fake_tfds_dir):
    (x_train, y_train), (x_test, y_test) = load_cifar10(data_dir=fake_tfds_dir)
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (6, 32, 32, 3)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0 and x_train.max() > 0.9
    assert y_test.shape == (6,) and 0 <= y_test.min() and y_test.max() <= 9
    x_raw, y_raw = load_cifar10(data_dir=fake_tfds_dir, normalize=False, split="test")
    assert x_raw.dtype == np.uint8
    np.testing.assert_array_equal(x_raw.astype("float32") / 255.0, x_test)
    np.testing.assert_array_equal(y_raw, y_test)


def test_cifar10_1_from_env_and_tfds_default(fake_tfds_dir, monkeypatch):
    monkeypatch.setenv(locate.ENV_VAR, str(fake_tfds_dir))
    x, y = load_cifar10_1()
    assert x.shape == (7, 32, 32, 3) and x.dtype == np.float32 and y.dtype == np.int32
    monkeypatch.delenv(locate.ENV_VAR)
    monkeypatch.setenv("TFDS_DATA_DIR", str(fake_tfds_dir))
    x2, _ = load_cifar10_1(version="v4")
    np.testing.assert_array_equal(x2, x)


def test_not_found_lists_the_tfds_dirs(roots, monkeypatch):
    monkeypatch.setenv(locate.ENV_VAR, str(roots.tmp / "env"))
    explicit = roots.tmp / "explicit"
    (explicit / "cifar10").mkdir(parents=True)  # A folder with nothing prepared.
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar10(data_dir=explicit)
    error = info.value
    assert isinstance(error, FileNotFoundError)
    expected = [
        f"{explicit} (data_dir argument): no prepared cifar10 version 3.0.2",
        f"{roots.tmp / 'env'} ($KERAS_CEB_DATA): no cifar10/ folder",
        f"{roots.tfds_default} (tfds default data dir): no cifar10/ folder",
        "download: not tried (download=False)",
    ]
    assert len(error.places) == len(expected)
    for place, start in zip(error.places, expected):
        assert place.startswith(start)
    assert "tfds build cifar10" in str(error) and "download=True" in str(error)


def test_failed_download_is_reported(roots, monkeypatch):
    def no_network(self, *args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_network)
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar10_1(version="v6", download=True)
    message = str(info.value)
    assert "cifar10_1/v6" in message
    assert f"download and prepare into {roots.tfds_default}: failed" in message
    assert "no network" in message


@pytest.mark.parametrize(
    "call, received",
    [
        (lambda: load_cifar10(split="validation"), "split='validation'"),
        (lambda: load_cifar10(download="no"), "download='no'"),
        (lambda: load_cifar10_1(version="v5"), "version='v5'"),
        (lambda: load_cifar10_1(normalize=None), "normalize=None"),
    ],
)
def test_argument_validation(call, received):
    with pytest.raises(ValueError, match=f"Received: {received}$"):
        call()


def test_without_tensorflow_datasets_the_error_names_the_extra(fake_tfds_dir, monkeypatch):
    """tensorflow-datasets is the `cifar` extra (227 MB, the CIFAR loaders its only users)."""
    import sys

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # `import` raises ImportError
    with pytest.raises(DatasetNotFoundError) as error:
        load_cifar10(data_dir=fake_tfds_dir)
    assert "tensorflow-datasets: not installed" in str(error.value)
    assert "pip install 'keras-ceb[cifar]'" in str(error.value)
