"""The search order for local copies, and the download as last resort.

Each fake copy has all its pixels equal to a marker, so the loaded images
tell which copy won. `keras.utils.get_file` fails any test that calls it
unexpectedly (see conftest.py); the download tests replace it with a fake.
"""

import os
import pathlib
import pickle

import keras
import numpy as np
import pytest

from keras_ceb.datasets import CorruptDatasetError
from keras_ceb.datasets import DatasetNotFoundError
from keras_ceb.datasets import load_fashion_mnist
from keras_ceb.datasets import load_mnist
from keras_ceb.datasets import load_mnist_test
from keras_ceb.datasets import locate
from keras_ceb.datasets import search_roots

FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _marker(x_train):
    values = np.unique(np.round(x_train * 255).astype(int))
    assert len(values) == 1
    return int(values[0])


def test_search_roots_order(roots, monkeypatch, tmp_path):
    monkeypatch.setenv(locate.ENV_VAR, os.pathsep.join(["/a", "", "/b"]))
    assert search_roots(tmp_path / "explicit") == [
        ("data_dir argument", tmp_path / "explicit"),
        ("$KERAS_CEB_DATA", pathlib.Path("/a")),
        ("$KERAS_CEB_DATA", pathlib.Path("/b")),
        ("Keras cache", roots.keras_cache),
        ("Debian path", roots.debian),
    ]


def test_each_source_wins_over_the_later_ones(roots, monkeypatch, fake_mnist):
    explicit = fake_mnist(roots.tmp / "explicit", marker=1)
    env = roots.tmp / "env"
    fake_mnist(env / "fashion-mnist", marker=2)
    fake_mnist(roots.keras_cache / "fashion-mnist", marker=3)
    fake_mnist(roots.debian / "fashion-mnist", marker=4)
    monkeypatch.setenv(locate.ENV_VAR, str(env))

    (x, _), _ = load_fashion_mnist(data_dir=explicit)
    assert _marker(x) == 1
    (x, _), _ = load_fashion_mnist()
    assert _marker(x) == 2
    monkeypatch.delenv(locate.ENV_VAR)
    (x, _), _ = load_fashion_mnist()
    assert _marker(x) == 3
    for path in (roots.keras_cache / "fashion-mnist").iterdir():
        path.unlink()
    (x, _), _ = load_fashion_mnist()
    assert _marker(x) == 4


def test_explicit_data_dir_subfolder(roots, fake_mnist):
    fake_mnist(roots.tmp / "data" / "fashion-mnist", marker=5)
    fake_mnist(roots.debian / "fashion-mnist", marker=4)
    (x, _), _ = load_fashion_mnist(data_dir=roots.tmp / "data")
    assert _marker(x) == 5


def test_env_var_lists_several_folders(roots, monkeypatch, fake_mnist):
    fake_mnist(roots.tmp / "second" / "fashion-mnist", marker=6)
    monkeypatch.setenv(
        locate.ENV_VAR,
        os.pathsep.join([str(roots.tmp / "first"), str(roots.tmp / "second")]),
    )
    (x, _), _ = load_fashion_mnist()
    assert _marker(x) == 6


def test_shared_roots_ignore_loose_idx_files(roots, monkeypatch, fake_mnist):
    # MNIST and Fashion-MNIST share file names, so loose files in a shared
    # root could be either: only the dataset subfolder counts there.
    fake_mnist(roots.tmp / "env", marker=7)
    fake_mnist(roots.debian / "fashion-mnist", marker=4)
    monkeypatch.setenv(locate.ENV_VAR, str(roots.tmp / "env"))
    (x, _), _ = load_fashion_mnist()
    assert _marker(x) == 4
    with pytest.raises(DatasetNotFoundError):
        load_mnist_test(download=False)


def test_keras_cache_respects_keras_home(roots, monkeypatch, fake_mnist):
    fake_mnist(roots.keras_cache / "fashion-mnist", marker=3)
    fake_mnist(roots.tmp / "kh" / "datasets" / "fashion-mnist", marker=8)
    fake_mnist(roots.debian / "fashion-mnist", marker=4)
    monkeypatch.setenv("KERAS_HOME", str(roots.tmp / "kh"))
    (x, _), _ = load_fashion_mnist()
    assert _marker(x) == 8


def test_mnist_npz_in_keras_cache(roots, fake_mnist_npz, fake_mnist):
    fake_mnist(roots.debian / "mnist", marker=4)
    fake_mnist_npz(roots.keras_cache / "mnist.npz", marker=3)
    (x, _), (x_test, _) = load_mnist()
    assert _marker(x) == 3 and _marker(x_test) == 3
    x, _ = load_mnist_test()
    assert _marker(x) == 3


def test_mnist_idx_in_keras_cache_and_debian(roots, fake_mnist):
    fake_mnist(roots.debian / "mnist", marker=4)
    assert _marker(load_mnist()[0][0]) == 4
    fake_mnist(roots.keras_cache / "mnist", marker=3)
    assert _marker(load_mnist()[0][0]) == 3


def test_mnist_test_only_folder(roots, monkeypatch, fake_mnist):
    fake_mnist(roots.tmp / "env" / "mnist-test", marker=2, splits=("test",))
    monkeypatch.setenv(locate.ENV_VAR, str(roots.tmp / "env"))
    x, y = load_mnist_test(download=False)
    assert _marker(x) == 2 and x.shape == (20, 28, 28, 1)
    with pytest.raises(DatasetNotFoundError):
        load_mnist(download=False)


def test_not_found_lists_every_place_in_order(roots, monkeypatch):
    monkeypatch.setenv(locate.ENV_VAR, str(roots.tmp / "env"))
    explicit = roots.tmp / "explicit"
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist(data_dir=explicit, download=False)
    error = info.value
    assert isinstance(error, FileNotFoundError)
    expected = [
        f"{explicit} (data_dir argument)",
        f"{explicit / 'fashion-mnist'} (data_dir argument)",
        f"{roots.tmp / 'env' / 'fashion-mnist'} ($KERAS_CEB_DATA)",
        f"{roots.keras_cache / 'fashion-mnist'} (Keras cache)",
        f"{roots.debian / 'fashion-mnist'} (Debian path)",
        "download: not tried (download=False)",
    ]
    assert len(error.places) == len(expected)
    for place, start in zip(error.places, expected):
        assert place.startswith(start)
    message = str(error)
    positions = [message.index(start) for start in expected]
    assert positions == sorted(positions)
    hints = ("apt-get install dataset-fashion-mnist", "KERAS_CEB_DATA", "data_dir=")
    for hint in hints:
        assert hint in message


def test_not_found_says_what_is_missing(roots, fake_mnist):
    folder = fake_mnist(roots.tmp / "half", splits=("test",))
    with pytest.raises(DatasetNotFoundError, match="incomplete, missing train-images"):
        load_fashion_mnist(data_dir=folder, download=False)


def test_download_only_last_and_into_the_keras_cache(roots, monkeypatch, fake_mnist):
    calls = []

    def fake_get_file(fname, origin, file_hash=None, cache_subdir="datasets", cache_dir=None):
        calls.append((fname, origin, cache_subdir, cache_dir))
        folder = pathlib.Path(cache_dir) / cache_subdir
        fake_mnist(folder, marker=10)
        return str(folder / fname)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    fake_mnist(roots.debian / "fashion-mnist", marker=4)
    (x, _), _ = load_fashion_mnist()
    assert _marker(x) == 4 and calls == []  # A local copy: no download.

    for path in (roots.debian / "fashion-mnist").iterdir():
        path.unlink()
    (x, y), (x_test, _) = load_fashion_mnist()
    assert _marker(x) == 10 and x.shape == (20, 28, 28, 1)
    assert [c[0] for c in calls] == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    for fname, origin, cache_subdir, cache_dir in calls:
        assert origin == FASHION_URL + fname
        assert cache_subdir == "datasets/fashion-mnist"
        assert pathlib.Path(cache_dir) == roots.home / ".keras"

    calls.clear()  # The download landed in the Keras cache: found next time.
    (x, _), _ = load_fashion_mnist()
    assert _marker(x) == 10 and calls == []


def test_download_false_never_downloads(roots):
    # conftest's get_file fails the test if called.
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_fashion_mnist(download=False)


def test_mnist_download_fetches_the_keras_npz(roots, monkeypatch, fake_mnist_npz):
    calls = []

    def fake_get_file(fname, origin, file_hash=None, cache_subdir="datasets", cache_dir=None):
        calls.append((fname, origin, file_hash))
        path = pathlib.Path(cache_dir) / cache_subdir / fname
        return str(fake_mnist_npz(path, marker=11))

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    x, _ = load_mnist_test()
    assert _marker(x) == 11
    assert calls == [
        (
            "mnist.npz",
            FASHION_URL + "mnist.npz",
            "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        )
    ]


def test_failed_download_is_reported_with_the_places(roots, monkeypatch):
    def failing_get_file(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.utils, "get_file", failing_get_file)
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist()
    assert f"download from {FASHION_URL}: failed (URL fetch failure" in str(info.value)
    assert str(roots.debian / "fashion-mnist") in str(info.value)
    assert "no network" in str(info.value.__cause__)


def test_errors_survive_pickling(roots):
    # Exceptions cross process boundaries (multiprocessing, pytest-xdist).
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist(download=False)
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value) and copy.places == info.value.places
    error = pickle.loads(pickle.dumps(CorruptDatasetError("/x.gz", "bad magic 7")))
    assert str(error) == "Corrupt data file /x.gz: bad magic 7"
    assert error.path == "/x.gz" and error.reason == "bad magic 7"


def test_a_folder_that_cannot_be_examined_is_reported_not_raised(roots, monkeypatch, fake_mnist):
    # A name too long for the file system makes stat() fail with ENAMETOOLONG.
    too_long = "/" + "x" * 5000
    monkeypatch.setenv(locate.ENV_VAR, too_long)
    fake_mnist(roots.debian / "fashion-mnist", marker=4)
    (x, _), _ = load_fashion_mnist()
    assert _marker(x) == 4
    for path in (roots.debian / "fashion-mnist").iterdir():
        path.unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist(download=False)
    (place,) = [p for p in info.value.places if p.startswith(too_long)]
    assert "($KERAS_CEB_DATA): cannot be examined (File name too long)" in place
