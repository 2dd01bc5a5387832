"""Loading a run's data with one-line errors that name the `TrainConfig` fields.

`load_split` reads one split of a dataset through `keras_ceb.datasets`' search; what can go
wrong (no copy found, a damaged file, a folder that cannot be read, NaN in the images) raises a
`TrainingError` with one line (the not-found message lists every place looked at, and is the
error's `__cause__`, a `DatasetNotFoundError`, which `keras-ceb` rewords with its options).
"""

import os
import pathlib

import numpy as np

from keras_ceb import datasets
from keras_ceb import run_folder
from keras_ceb.datasets import locate
from keras_ceb.datasets import mnist as mnist_loaders
from keras_ceb.training.errors import TrainingError


def load_split(dataset, data_dir, split, download=True, max_examples=None):
    """Loads one split of `dataset` as `(x, y)`; missing, damaged or unreadable data raise
    `TrainingError`.

    Args:
        dataset: A name of `keras_ceb.datasets.DATASET_NAMES`.
        data_dir: Folder searched first, or `None`.
        split: `"train"` or `"test"`.
        download: The configs' `download`: `False` never downloads; otherwise the loader
            downloads what it does not find (Fashion-MNIST and MNIST only).
        max_examples: Keep only the first `max_examples` examples, or `None` for all.
    """
    info = datasets.dataset_info(dataset)
    if split not in info.splits:
        raise TrainingError(
            f"dataset {dataset!r} has no {split!r} split (it has {', '.join(info.splits)})"
        )
    try:
        x, y = datasets.load(
            dataset, data_dir=data_dir, download=False if download is False else None, split=split
        )
    except datasets.DatasetNotFoundError as e:
        raise TrainingError(str(e)) from e
    except datasets.CorruptDatasetError as e:
        raise TrainingError(f"corrupt data file {run_folder.show_path(e.path)}: {e.reason}") from e
    except OSError as e:  # No permission, a folder where a file should be, ...
        name = run_folder.show_path(e.filename) if e.filename else f"the {dataset} data"
        raise TrainingError(f"cannot read {name}: {e.strerror or e}") from e
    if max_examples is not None:
        x, y = x[:max_examples], y[:max_examples]
    return x, y


def check_data_dir(data_dir):
    """`data_dir` must be an existing folder: a typo is an error, not a silent fall-back."""
    if data_dir is None:
        return None
    shown = run_folder.show_path(data_dir)
    try:
        if not run_folder.is_folder_entry(pathlib.Path(data_dir).expanduser()):
            raise TrainingError(f"`data_dir` {shown}: no such folder")
    except NotADirectoryError:
        raise TrainingError(f"`data_dir` {shown} is not a folder") from None
    except OSError as e:
        raise TrainingError(f"`data_dir` {shown} cannot be used: {e.strerror or e}") from None
    return data_dir


def check_data_env():
    """Each folder of `$KERAS_CEB_DATA` that exists must be a usable folder.

    A missing one is allowed (it is listed among the places looked at, like a missing entry
    of `$PATH`); a file, a name too long for the file system or a folder that cannot be
    examined is an error.
    """
    for entry in os.environ.get(locate.ENV_VAR, "").split(os.pathsep):
        if not entry:
            continue
        shown = run_folder.show_path(entry)
        try:
            run_folder.is_folder_entry(os.path.expanduser(entry))
        except NotADirectoryError:
            raise TrainingError(
                f"${locate.ENV_VAR} names {shown}, which is not a folder"
            ) from None
        except OSError as e:
            raise TrainingError(
                f"${locate.ENV_VAR} names {shown}, which cannot be used: {e.strerror or e}"
            ) from None


def check_finite_data(x, name):
    """Refuses inputs with NaN or infinite values: they turn the weights NaN silently."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating) or np.all(np.isfinite(x)):
        return
    bad = ~np.isfinite(x.reshape(len(x), -1))
    examples = np.flatnonzero(bad.any(axis=1))
    raise TrainingError(
        f"the {name} hold {int(bad.sum())} non-finite values (NaN or inf) in "
        f"{len(examples)} examples, the first in example {int(examples[0])}; "
        "fix or re-create the data files"
    )


def mnist_ood_data_dir(data_dir):
    """Where `--data-dir` holds the MNIST OoD set: its `mnist-test/` or `mnist/` subfolder,
    or itself when it holds `mnist.npz`; else `None` (the usual search, ending with the
    copy shipped with keras_ceb). Loose t10k files in it are Fashion-MNIST's: same names."""
    if data_dir is None:
        return None
    for candidate in (data_dir / "mnist-test", data_dir / "mnist"):
        if candidate.is_dir():
            return candidate
    return data_dir if (data_dir / mnist_loaders.MNIST_NPZ).is_file() else None


def load_mnist_ood(data_dir, download, count):
    """The first `count` MNIST test images, the OoD set of a Fashion-MNIST model: from
    `data_dir` (`mnist_ood_data_dir`), else the usual search ending with the shipped copy."""
    x, _ = load_split("mnist", mnist_ood_data_dir(data_dir), "test", download)
    return x[:count]


def data_files(dataset, data_dir, split):
    """The files `keras_ceb.datasets.load` reads for `split` of `dataset` (the same search),
    as absolute paths; for CIFAR-10, where tensorflow-datasets keeps it."""
    if dataset in ("fashion_mnist", "mnist"):
        names = mnist_loaders.IDX_FILES[split]
        if dataset == "fashion_mnist":
            found, _ = locate.find_files([names], subdirs=("fashion-mnist",), data_dir=data_dir)
        else:
            found, _ = locate.find_files(
                [(mnist_loaders.MNIST_NPZ,), names],
                subdirs=("mnist", "mnist-test") if split == "test" else ("mnist",),
                data_dir=data_dir,
                shared_file_sets=[(mnist_loaders.MNIST_NPZ,)],
            )
            if found is None and split == "test":
                return [
                    str(p.absolute())
                    for p in sorted(mnist_loaders.packaged_mnist_test_dir().iterdir())
                ]
        if found is not None:
            return sorted(str(pathlib.Path(p).absolute()) for p in found.files.values())
        return []
    return [f"tensorflow-datasets ({os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets')})"]
