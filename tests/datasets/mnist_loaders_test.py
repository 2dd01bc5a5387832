"""Fashion-MNIST and MNIST loaders on the installed and shipped copies and on fake files."""

import shutil

import numpy as np
import pytest

from keras_ceb.datasets import CorruptDatasetError
from keras_ceb.datasets import DatasetNotFoundError
from keras_ceb.datasets import load_fashion_mnist
from keras_ceb.datasets import load_mnist
from keras_ceb.datasets import load_mnist_test
from keras_ceb.datasets import locate
from keras_ceb.datasets import mnist as mnist_lib
from keras_ceb.datasets import write_idx

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_fashion_mnist_shapes_dtypes_and_range(fashion_mnist):
    (x_train, y_train), (x_test, y_test) = fashion_mnist
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert y_train.dtype == np.int32 and y_test.dtype == np.int32
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert 0.0 <= x_test.min() and x_test.max() <= 1.0


def test_fashion_mnist_statistics(fashion_mnist):
    (x_train, y_train), (_, y_test) = fashion_mnist
    assert abs(float(x_train.mean()) - 0.2860) < 5e-4
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)


def test_fashion_mnist_unnormalized_test_split(fashion_mnist, fashion_mnist_dir):
    x, y = load_fashion_mnist(
        data_dir=fashion_mnist_dir,  # Files directly in it.
        download=False,
        normalize=False,
        split="test",
    )
    assert x.dtype == np.uint8 and x.shape == (10000, 28, 28, 1)
    np.testing.assert_array_equal(x.astype("float32") / 255.0, fashion_mnist[1][0])
    np.testing.assert_array_equal(y, fashion_mnist[1][1])


def test_shipped_mnist_test_set_statistics(roots, monkeypatch):
    """With no local copy and no download, the MNIST test set comes from the package."""
    monkeypatch.setattr(locate, "PACKAGE_DATA_ROOT", roots.real_package)
    x, y = load_mnist_test(download=False)  # conftest's get_file fails on any download.
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.float32
    assert y.dtype == np.int32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert abs(float(x.mean()) - 0.1325) < 5e-4
    np.testing.assert_array_equal(np.bincount(y), MNIST_TEST_COUNTS)
    x2, y2 = load_mnist(download=False, split="test")
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    assert mnist_lib.packaged_mnist_test_dir() == roots.real_package / "mnist-test"


def test_shipped_copy_comes_after_the_local_copies(roots, monkeypatch, fake_mnist):
    monkeypatch.setattr(locate, "PACKAGE_DATA_ROOT", roots.real_package)
    fake_mnist(roots.debian / "mnist-test", marker=4, splits=("test",))
    x, _ = load_mnist_test(download=False)
    assert np.all(x == np.float32(4 / 255))
    shutil.rmtree(roots.debian / "mnist-test")
    x, _ = load_mnist_test(download=False)
    assert x.shape == (10000, 28, 28, 1)


def test_shipped_copy_is_checked_by_sha256(roots, fake_mnist):
    # A valid idx file in place of the shipped one: only its checksum can tell.
    fake_mnist(roots.package / "mnist-test", splits=("test",))
    with pytest.raises(CorruptDatasetError, match="SHA-256 .* reinstall keras_ceb") as info:
        load_mnist_test(download=False)
    assert info.value.path.endswith("t10k-images-idx3-ubyte.gz")


def test_full_mnist_is_not_shipped(roots, monkeypatch):
    monkeypatch.setattr(locate, "PACKAGE_DATA_ROOT", roots.real_package)
    with pytest.raises(DatasetNotFoundError, match="mnist-test"):
        load_mnist(download=False)


def test_raw_files_and_dot_idx_spelling(tmp_path, fake_mnist):
    folder = fake_mnist(tmp_path / "raw", marker=51, gz=False)
    (folder / "t10k-images-idx3-ubyte").rename(folder / "t10k-images.idx3-ubyte")
    (x_train, y_train), (x_test, _) = load_fashion_mnist(data_dir=folder)
    assert x_train.shape == (20, 28, 28, 1) and x_test.shape == (20, 28, 28, 1)
    np.testing.assert_allclose(x_test, 51 / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_train, np.arange(20) % 10)


def test_mnist_from_npz(tmp_path, fake_mnist_npz):
    path = fake_mnist_npz(tmp_path / "d" / "mnist.npz", marker=255, n=30)
    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir=path.parent)
    assert x_train.shape == (30, 28, 28, 1) and x_train.dtype == np.float32
    assert y_test.dtype == np.int32
    np.testing.assert_array_equal(x_test, 1.0)


def test_corrupt_local_copy_raises_instead_of_falling_back(tmp_path, fake_mnist, roots):
    fake_mnist(roots.debian / "fashion-mnist", marker=9)  # A good later copy.
    folder = fake_mnist(tmp_path / "bad", marker=1)
    data = (folder / "train-images-idx3-ubyte.gz").read_bytes()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(data[:40])
    with pytest.raises(CorruptDatasetError, match="train-images-idx3-ubyte.gz"):
        load_fashion_mnist(data_dir=folder)


def test_images_and_labels_of_different_lengths(tmp_path, fake_mnist):
    """The error names the labels file (the one with the wrong count)."""
    folder = fake_mnist(tmp_path / "d", splits=("test",))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(7, "uint8"))
    match = r"t10k-labels-idx1-ubyte.gz: labels of shape \(7,\) for the 20 images"
    with pytest.raises(CorruptDatasetError, match=match) as info:
        load_mnist_test(data_dir=folder)
    assert info.value.path == str(folder / "t10k-labels-idx1-ubyte.gz")


def test_labels_out_of_range(tmp_path, fake_mnist):
    folder = fake_mnist(tmp_path / "d", splits=("test",))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(20, 10, "uint8"))
    with pytest.raises(CorruptDatasetError, match=r"labels must lie in \[0, 9\]") as info:
        load_mnist_test(data_dir=folder)
    assert info.value.path == str(folder / "t10k-labels-idx1-ubyte.gz")


@pytest.mark.parametrize(
    "images, found",
    [
        (np.full((20, 28, 28), 255000.0), r"float64 values in \[255000.0, 255000.0\]"),
        (np.full((20, 28, 28), 7, "int32"), r"int32 values in \[7, 7\]"),
    ],
)
def test_images_other_than_uint8_are_refused(tmp_path, fake_mnist, images, found):
    """idx allows other element types, but every MNIST/Fashion-MNIST images file is uint8:
    anything else would be cast with wrap-around and evaluated as if fine."""
    folder = fake_mnist(tmp_path / "d")
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    with pytest.raises(CorruptDatasetError, match="expected uint8 pixels.*" + found) as info:
        load_fashion_mnist(data_dir=folder)
    assert info.value.path == str(folder / "train-images-idx3-ubyte.gz")


def test_labels_other_than_uint8_are_refused(tmp_path, fake_mnist):
    folder = fake_mnist(tmp_path / "d", splits=("test",))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(20, dtype="float32") % 10)
    with pytest.raises(CorruptDatasetError, match="expected uint8 labels") as info:
        load_mnist_test(data_dir=folder)
    assert info.value.path == str(folder / "t10k-labels-idx1-ubyte.gz")


def test_corrupt_npz(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(CorruptDatasetError, match="unreadable MNIST npz"):
        load_mnist(data_dir=tmp_path)


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"split": "val"}, "split='val'"),
        ({"download": "yes"}, "download='yes'"),
        ({"normalize": 1}, "normalize=1"),
    ],
)
def test_argument_validation(kwargs, received):
    for loader in (load_fashion_mnist, load_mnist):
        with pytest.raises(ValueError, match=f"Received: {received}$"):
            loader(**kwargs)
