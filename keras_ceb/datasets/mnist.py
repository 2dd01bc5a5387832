"""Fashion-MNIST and MNIST loaders with offline fallbacks.

Local copies are searched first (see `keras_ceb.datasets.locate`); the MNIST
test set also ships inside the package (`data/mnist-test/`, checked by its
SHA-256); a download through `keras.utils.get_file` into the Keras cache
comes last.
"""

import hashlib
import pathlib
import zipfile

import keras
import numpy as np

from keras_ceb.datasets import locate
from keras_ceb.datasets.idx import CorruptDatasetError
from keras_ceb.datasets.idx import read_idx

KERAS_DATASETS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MNIST_NPZ = "mnist.npz"
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
SPLITS = (None, "train", "test")
# The MNIST test set shipped in `locate.PACKAGE_DATA_ROOT / "mnist-test"` (see
# its README.md for the source and the licence).
PACKAGED_MNIST_TEST = "mnist-test"
PACKAGED_MNIST_TEST_SHA256 = {
    "t10k-images-idx3-ubyte.gz": (
        "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c"
    ),
}
PACKAGED_SOURCE = "shipped with keras_ceb"

# Base names (without .gz) of the idx files of each split.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be None (both), 'train' or 'test'. Received: split={split!r}"
        )
    return ("train", "test") if split is None else (split,)


def _check_flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")


def _finish(images, labels, images_path, labels_path, normalize):
    """Validates one split and converts it to the public dtypes/shapes.

    Each problem is reported against the file that has it: the images file
    for the pixels, the labels file for the labels.
    """
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise CorruptDatasetError(
            images_path,
            f"expected images of shape (N, 28, 28), found {images.shape}",
        )
    if images.dtype != np.uint8:
        found = f"{images.dtype} values"
        if images.size and np.issubdtype(images.dtype, np.number):
            found += f" in [{images.min()}, {images.max()}]"
        raise CorruptDatasetError(
            images_path,
            "expected uint8 pixels (idx type 0x08, the type of every "
            f"MNIST and Fashion-MNIST images file), found {found}",
        )
    if labels.dtype != np.uint8:
        raise CorruptDatasetError(
            labels_path,
            "expected uint8 labels (idx type 0x08, the type of every MNIST "
            f"and Fashion-MNIST labels file), found {labels.dtype} values",
        )
    if labels.shape != (len(images),):
        raise CorruptDatasetError(
            labels_path,
            f"labels of shape {labels.shape} for the {len(images)} images of {images_path}",
        )
    if len(labels) and labels.max() > 9:
        raise CorruptDatasetError(
            labels_path,
            f"labels must lie in [0, 9], found [{labels.min()}, {labels.max()}]",
        )
    images = images[..., None]
    if normalize:
        images = images.astype("float32") / np.float32(255.0)
    return images, labels.astype("int32")


def _read_idx_split(files, split):
    images_name, labels_name = IDX_FILES[split]
    images = read_idx(files[images_name], ndim=3)
    labels = read_idx(files[labels_name], ndim=1)
    return images, labels, files[images_name], files[labels_name]


def _read_npz_split(path, split):
    try:
        with np.load(path, allow_pickle=False) as f:
            return f[f"x_{split}"], f[f"y_{split}"], path, path
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as e:
        raise CorruptDatasetError(path, f"unreadable MNIST npz ({e})") from e


def _hints(subdir, package, files):
    hints = []
    if package:
        hints.append(
            f"on Debian/Ubuntu: `apt-get install {package}` (installs the files "
            f"in {locate.DEBIAN_ROOT / subdir})"
        )
    hints += [
        f"put {files} in a folder and pass it as `data_dir=`",
        f"or set {locate.ENV_VAR} to a folder that holds a `{subdir}/` subfolder with them",
        "or pass `download=True` on a machine with internet access "
        f"(downloads into {locate.keras_cache_dir()})",
    ]
    return hints


def _download(names, cache_subdir, file_hash=None):
    """Downloads `names` with `keras.utils.get_file`; returns name -> path."""
    paths = {}
    for name in names:
        fname = name if name.endswith(".npz") else name + ".gz"
        path = keras.utils.get_file(
            fname,
            origin=KERAS_DATASETS_URL + fname,
            file_hash=file_hash,
            cache_subdir=cache_subdir,
            cache_dir=str(locate.keras_home()),
        )
        paths[name] = pathlib.Path(path)
    return paths


def _not_found(display, places, download, error, hints):
    if not download:
        places = places + ["download: not tried (download=False)"]
    else:
        places = places + [f"download from {KERAS_DATASETS_URL}: failed ({error})"]
    return locate.DatasetNotFoundError(display, places, hints)


def load_fashion_mnist(data_dir=None, download=True, normalize=True, split=None):
    """Loads Fashion-MNIST (Xiao et al., 2017), from a local copy if any.

    Looks for the four idx files (`train-images-idx3-ubyte.gz`, ...; gzipped
    or not) in `data_dir` (directly or in `fashion-mnist/`), then under
    `$KERAS_CEB_DATA/fashion-mnist`, the Keras cache
    (`$KERAS_HOME/datasets/fashion-mnist`, where `keras.datasets.fashion_mnist`
    stores them), `/usr/share/datasets/fashion-mnist` (Debian package
    `dataset-fashion-mnist`), and only then downloads them into the Keras
    cache.

    Args:
        data_dir: optional folder searched first.
        download: whether to download when no local copy is found.
        normalize: if `True` images are float32 in [0, 1], else uint8.
        split: `None` for both splits, or `"train"` / `"test"` for one (only
            that split's files are then needed).

    Returns:
        `(x_train, y_train), (x_test, y_test)` for `split=None`, else
        `(x, y)`. Images have shape `(N, 28, 28, 1)`, labels are int32 in
        [0, 9].

    Raises:
        DatasetNotFoundError: (a `FileNotFoundError`) nothing found and no
            download possible; the message lists every place looked at.
        CorruptDatasetError: (a `ValueError`) a file found is damaged.

    Examples:

        >>> (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
        ...     # doctest: +SKIP
        >>> x_train.shape, x_train.dtype, y_train.dtype  # doctest: +SKIP
        ((60000, 28, 28, 1), dtype('float32'), dtype('int32'))
    """
    splits = _check_split(split)
    _check_flag("download", download)
    _check_flag("normalize", normalize)
    names = tuple(n for s in splits for n in IDX_FILES[s])
    found, places = locate.find_files([names], subdirs=("fashion-mnist",), data_dir=data_dir)
    if found is not None:
        files = found.files
    else:
        error = None
        files = None
        if download:
            try:
                files = _download(names, "datasets/fashion-mnist")
            except Exception as e:  # get_file raises bare Exceptions.
                error = e
        if files is None:
            raise _not_found(
                "Fashion-MNIST",
                places,
                download,
                error,
                _hints(
                    "fashion-mnist",
                    "dataset-fashion-mnist",
                    ", ".join(n + ".gz" for n in names),
                ),
            ) from error
    reads = [_read_idx_split(files, s) for s in splits]
    result = tuple(_finish(*read, normalize=normalize) for read in reads)
    return result if split is None else result[0]


def packaged_mnist_test_dir():
    """The folder of the MNIST test set shipped with keras_ceb.

    Examples:

        >>> sorted(p.name for p in packaged_mnist_test_dir().iterdir())
        ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
    """
    return pathlib.Path(locate.PACKAGE_DATA_ROOT) / PACKAGED_MNIST_TEST


def _find_packaged_mnist_test(places):
    """The shipped test files as a `locate.Found` (checked by SHA-256), or `None`."""
    directory = packaged_mnist_test_dir()
    files, note = locate.check_folder(directory, [IDX_FILES["test"]])
    if files is None:
        places.append(f"{directory} ({PACKAGED_SOURCE}): {note}")
        return None
    for path in files.values():
        expected = PACKAGED_MNIST_TEST_SHA256.get(path.name)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if expected is not None and digest != expected:
            raise CorruptDatasetError(
                path,
                f"SHA-256 {digest} differs from the shipped file's {expected}; "
                "reinstall keras_ceb",
            )
    return locate.Found(PACKAGED_SOURCE, directory, files)


def load_mnist(data_dir=None, download=True, normalize=True, split=None):
    """Loads MNIST (LeCun et al.), from a local copy if any.

    Accepts the idx files (`t10k-images-idx3-ubyte.gz`, ...) or Keras's
    `mnist.npz`. Looks in `data_dir` (directly or in `mnist/`, and for the
    test split `mnist-test/`), then the same subfolders of
    `$KERAS_CEB_DATA`, the Keras cache (`$KERAS_HOME/datasets/mnist.npz`,
    where `keras.datasets.mnist` stores it, or idx files in
    `$KERAS_HOME/datasets/mnist/`) and `/usr/share/datasets`, and only then
    downloads `mnist.npz` into the Keras cache. For `split="test"` the copy of
    the MNIST test set shipped with keras_ceb comes after the local copies
    and before the download, so the test split never needs the network.

    Args:
        data_dir: optional folder searched first.
        download: whether to download when no local copy is found.
        normalize: if `True` images are float32 in [0, 1], else uint8.
        split: `None` for both splits, or `"train"` / `"test"` for one. With
            `"test"` the two test idx files suffice (the MNIST test set is the
            usual out-of-distribution set for Fashion-MNIST models).

    Returns:
        `(x_train, y_train), (x_test, y_test)` for `split=None`, else
        `(x, y)`. Images have shape `(N, 28, 28, 1)`, labels are int32.

    Raises:
        DatasetNotFoundError: (a `FileNotFoundError`) nothing found and no
            download possible; the message lists every place looked at.
        CorruptDatasetError: (a `ValueError`) a file found is damaged.

    Examples:

        >>> x_ood, y_ood = load_mnist(split="test")  # doctest: +SKIP
        >>> x_ood.shape  # doctest: +SKIP
        (10000, 28, 28, 1)
    """
    splits = _check_split(split)
    _check_flag("download", download)
    _check_flag("normalize", normalize)
    names = tuple(n for s in splits for n in IDX_FILES[s])
    subdirs = ("mnist", "mnist-test") if split == "test" else ("mnist",)
    found, places = locate.find_files(
        [(MNIST_NPZ,), names],
        subdirs=subdirs,
        data_dir=data_dir,
        shared_file_sets=[(MNIST_NPZ,)],
    )
    if found is None and split == "test":
        found = _find_packaged_mnist_test(places)
    if found is not None:
        files = found.files
    else:
        error = None
        files = None
        if download:
            try:
                files = _download((MNIST_NPZ,), "datasets", file_hash=MNIST_NPZ_SHA256)
            except Exception as e:  # get_file raises bare Exceptions.
                error = e
        if files is None:
            hints = _hints(
                "mnist",
                None,
                f"{MNIST_NPZ} or " + ", ".join(n + ".gz" for n in names),
            )
            if split != "test":
                hints.append(
                    "for the test set alone (the usual OoD set), "
                    "`load_mnist_test()` (or `split='test'`) needs only the "
                    "two t10k files, also in a `mnist-test/` folder"
                )
            raise _not_found(
                "MNIST" if split != "test" else "the MNIST test set",
                places,
                download,
                error,
                hints,
            ) from error
    if MNIST_NPZ in files:
        reads = [_read_npz_split(files[MNIST_NPZ], s) for s in splits]
    else:
        reads = [_read_idx_split(files, s) for s in splits]
    result = tuple(_finish(*read, normalize=normalize) for read in reads)
    return result if split is None else result[0]


def load_mnist_test(data_dir=None, download=True, normalize=True):
    """Loads only the MNIST test set: `load_mnist(..., split="test")`.

    Works from the two test idx files alone (e.g. a `mnist-test/` folder);
    without any local copy it reads the copy shipped with keras_ceb, so it
    works offline.

    Args:
        data_dir: optional folder searched first.
        download: whether to download when no local copy is found.
        normalize: if `True` images are float32 in [0, 1], else uint8.

    Returns:
        `(x_test, y_test)`: images `(10000, 28, 28, 1)`, int32 labels.

    Examples:

        >>> x_ood, y_ood = load_mnist_test(download=False)
        >>> x_ood.shape, y_ood[:5].tolist()
        ((10000, 28, 28, 1), [7, 2, 1, 0, 4])
    """
    return load_mnist(data_dir=data_dir, download=download, normalize=normalize, split="test")
