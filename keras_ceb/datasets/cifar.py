"""CIFAR-10 and CIFAR-10.1 through tensorflow-datasets.

A prepared tfds copy is searched in the explicit `data_dir`, then in the
folders of `$KERAS_CEB_DATA`, then in the tfds default data dir
(`$TFDS_DATA_DIR`, default `~/tensorflow_datasets`). Downloading (and
preparing) is opt-in: `download=True`.
"""

import os
import pathlib

import numpy as np

from keras_ceb.datasets import locate


def tfds_default_data_dir():
    """Returns tfds's default data dir: `$TFDS_DATA_DIR` or `~/tensorflow_datasets`."""
    default = os.path.join(os.path.expanduser("~"), "tensorflow_datasets")
    return pathlib.Path(os.environ.get("TFDS_DATA_DIR") or default).expanduser()


def tfds_search_dirs(data_dir=None):
    """Lists the tfds data dirs to search, in order, as `(source, path)`.

    Args:
        data_dir: optional explicit tfds data dir, searched first.

    Returns:
        A list of `(source, pathlib.Path)` pairs.

    Examples:

        >>> [s for s, _ in tfds_search_dirs("/data")]  # doctest: +SKIP
        ['data_dir argument', 'tfds default data dir']
    """
    dirs = [
        (source, path)
        for source, path in locate.search_roots(data_dir)
        if source in ("data_dir argument", f"${locate.ENV_VAR}")
    ]
    dirs.append(("tfds default data dir", tfds_default_data_dir()))
    return dirs


def _check_flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")


def _find_prepared(tfds, name, data_dir):
    """Returns `(builder or None, places)` for the first prepared copy."""
    places = []
    folder = name.split("/")[0]
    for source, path in tfds_search_dirs(data_dir):
        if not (path / folder).is_dir():
            places.append(f"{path} ({source}): no {folder}/ folder")
            continue
        builder = tfds.builder(name, data_dir=os.fspath(path))
        if builder.is_prepared():
            return builder, places
        places.append(
            f"{path} ({source}): no prepared {name} version {builder.version} "
            f"(expected {builder.data_path})"
        )
    return None, places


def _hints(name, data_dir):
    target = pathlib.Path(data_dir) if data_dir is not None else tfds_default_data_dir()
    return [
        f"on a machine with internet access run `tfds build {name} "
        f"--data_dir {target}`, or call this loader with `download=True`",
        "then copy the prepared folder (e.g. "
        f"{target / name.split('/')[0]}) to this machine and pass its parent "
        f"as `data_dir=`, or set {locate.ENV_VAR} or TFDS_DATA_DIR to it",
        "preparing with tensorflow-datasets on Python >= 3.9 may need "
        "`pip install importlib_resources`",
    ]


def load_tfds_image_dataset(name, splits, display, data_dir=None, download=False, normalize=True):
    """Loads image classification splits of a tfds dataset as NumPy arrays.

    Args:
        name: tfds name, optionally with a config (`"cifar10_1/v6"`).
        splits: tuple of split names, e.g. `("train", "test")`.
        display: human-readable dataset name for error messages.
        data_dir: optional tfds data dir searched first.
        download: whether to download and prepare when no copy is found.
        normalize: if `True` images are float32 in [0, 1], else uint8.

    Returns:
        A tuple with one `(x, y)` pair per split; `x` is NHWC, `y` int32.

    Raises:
        DatasetNotFoundError: no prepared copy and no download possible.

    Examples:

        >>> ((x, y),) = load_tfds_image_dataset("cifar10_1", ("test",), "CIFAR-10.1")
        ...     # doctest: +SKIP
    """
    _check_flag("download", download)
    _check_flag("normalize", normalize)
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise locate.DatasetNotFoundError(
            f"{display} (tensorflow-datasets `{name}`)",
            ["tensorflow-datasets: not installed"],
            [
                "install it: pip install 'keras-ceb[cifar]' (or pip install "
                "tensorflow-datasets); the CIFAR loaders are its only users"
            ],
        ) from None

    builder, places = _find_prepared(tfds, name, data_dir)
    if builder is None:
        error = None
        if download:
            target = data_dir if data_dir is not None else tfds_default_data_dir()
            try:
                builder = tfds.builder(name, data_dir=os.fspath(target))
                builder.download_and_prepare()
            except Exception as e:  # Network, permissions, missing deps.
                builder, error = None, e
            if error is not None:
                places.append(f"download and prepare into {target}: failed ({error!r})")
        else:
            places.append("download: not tried (download=False)")
        if builder is None:
            raise locate.DatasetNotFoundError(
                f"{display} (tensorflow-datasets `{name}`)",
                places,
                _hints(name, data_dir),
            ) from error
    result = []
    for split in splits:
        dataset = builder.as_dataset(split=split, batch_size=-1, as_supervised=True)
        x, y = tfds.as_numpy(dataset)
        x = np.asarray(x, dtype="uint8")
        if normalize:
            x = x.astype("float32") / np.float32(255.0)
        result.append((x, np.asarray(y, dtype="int32")))
    return tuple(result)


def load_cifar10(data_dir=None, download=False, normalize=True, split=None):
    """Loads CIFAR-10 (Krizhevsky, 2009) from a prepared tfds copy.

    Args:
        data_dir: optional tfds data dir searched first (it holds a
            `cifar10/` folder).
        download: whether to download and prepare with tfds when no prepared
            copy is found (needs internet; off by default).
        normalize: if `True` images are float32 in [0, 1], else uint8.
        split: `None` for both splits, or `"train"` / `"test"`.

    Returns:
        `(x_train, y_train), (x_test, y_test)` for `split=None`, else
        `(x, y)`; images `(N, 32, 32, 3)`, labels int32 in [0, 9].

    Raises:
        DatasetNotFoundError: (a `FileNotFoundError`) no prepared copy and no
            download possible; the message lists the tfds data dirs looked at.

    Examples:

        >>> (x_train, y_train), (x_test, y_test) = load_cifar10()  # doctest: +SKIP
        >>> x_train.shape  # doctest: +SKIP
        (50000, 32, 32, 3)
    """
    if split not in (None, "train", "test"):
        raise ValueError(
            f"`split` must be None (both), 'train' or 'test'. Received: split={split!r}"
        )
    splits = ("train", "test") if split is None else (split,)
    result = load_tfds_image_dataset("cifar10", splits, "CIFAR-10", data_dir, download, normalize)
    return result if split is None else result[0]


def load_cifar10_1(data_dir=None, download=False, normalize=True, version=None):
    """Loads CIFAR-10.1 (Recht et al., 2018), a test-only CIFAR-10 shift set.

    Args:
        data_dir: optional tfds data dir searched first (it holds a
            `cifar10_1/` folder).
        download: whether to download and prepare with tfds when no prepared
            copy is found (needs internet; off by default).
        normalize: if `True` images are float32 in [0, 1], else uint8.
        version: the tfds config, `"v4"` (2,021 images) or `"v6"` (2,000,
            class balanced); `None` uses tfds's default, `"v4"`.

    Returns:
        `(x_test, y_test)`: images `(N, 32, 32, 3)`, labels int32.

    Raises:
        DatasetNotFoundError: (a `FileNotFoundError`) no prepared copy and no
            download possible; the message lists the tfds data dirs looked at.

    Examples:

        >>> x_shift, y_shift = load_cifar10_1(version="v6")  # doctest: +SKIP
    """
    if version not in (None, "v4", "v6"):
        raise ValueError(f"`version` must be None, 'v4' or 'v6'. Received: version={version!r}")
    name = "cifar10_1" if version is None else f"cifar10_1/{version}"
    (result,) = load_tfds_image_dataset(
        name, ("test",), "CIFAR-10.1", data_dir, download, normalize
    )
    return result
