"""Names, shapes and a single `load` entry point for the supported datasets."""

import dataclasses

from keras_ceb.datasets import cifar
from keras_ceb.datasets import mnist

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset.

    Attributes:
        name: the name `load` accepts.
        num_classes: number of label classes.
        input_shape: shape of one image, `(height, width, channels)`.
        splits: the splits available, e.g. `("train", "test")`.
        class_names: one name per label.
        download_default: the `download` default of its loader.
    """

    name: str
    num_classes: int
    input_shape: tuple
    splits: tuple
    class_names: tuple
    download_default: bool


DATASETS = {
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", 10, (28, 28, 1), ("train", "test"), FASHION_MNIST_CLASSES, True
    ),
    "mnist": DatasetInfo("mnist", 10, (28, 28, 1), ("train", "test"), MNIST_CLASSES, True),
    "cifar10": DatasetInfo("cifar10", 10, (32, 32, 3), ("train", "test"), CIFAR10_CLASSES, False),
    "cifar10_1": DatasetInfo("cifar10_1", 10, (32, 32, 3), ("test",), CIFAR10_CLASSES, False),
}
DATASET_NAMES = tuple(DATASETS)


def dataset_info(name):
    """Returns the `DatasetInfo` of `name`.

    Args:
        name: one of `"fashion_mnist"`, `"mnist"`, `"cifar10"`, `"cifar10_1"`.

    Returns:
        A `DatasetInfo`.

    Examples:

        >>> dataset_info("fashion_mnist").input_shape
        (28, 28, 1)
    """
    if name not in DATASETS:
        raise ValueError(
            f"Unknown dataset; expected one of {DATASET_NAMES}. Received: name={name!r}"
        )
    return DATASETS[name]


def load(name, data_dir=None, download=None, normalize=True, split=None):
    """Loads a dataset by name as NumPy arrays.

    Args:
        name: one of `"fashion_mnist"`, `"mnist"`, `"cifar10"`, `"cifar10_1"`.
        data_dir: optional folder searched first (for CIFAR a tfds data dir).
        download: whether to download when no local copy is found; `None`
            uses the loader's default (`True` for the MNIST family, `False`
            for CIFAR, whose tfds preparation is heavy).
        normalize: if `True` images are float32 in [0, 1], else uint8.
        split: `None` for `((x_train, y_train), (x_test, y_test))`, or
            `"train"` / `"test"` for one `(x, y)` pair. `"cifar10_1"` only has
            `"test"`, so it needs `split="test"`.

    Returns:
        See `split`. Images are NHWC, labels int32.

    Examples:

        >>> (x_train, y_train), (x_test, y_test) = load("fashion_mnist")
        ...     # doctest: +SKIP
        >>> x_ood, _ = load("mnist", split="test")  # doctest: +SKIP
    """
    info = dataset_info(name)
    if split is not None and split not in info.splits:
        raise ValueError(f"Dataset {name!r} has splits {info.splits}. Received: split={split!r}")
    if split is None and info.splits != ("train", "test"):
        raise ValueError(
            f"Dataset {name!r} only has the splits {info.splits}; pass one of "
            f"them. Received: split={split!r}"
        )
    if download is None:
        download = info.download_default
    kwargs = dict(data_dir=data_dir, download=download, normalize=normalize)
    if name == "fashion_mnist":
        return mnist.load_fashion_mnist(split=split, **kwargs)
    if name == "mnist":
        return mnist.load_mnist(split=split, **kwargs)
    if name == "cifar10":
        return cifar.load_cifar10(split=split, **kwargs)
    return cifar.load_cifar10_1(**kwargs)
