"""Dataset loaders with offline fallbacks, and input pipelines (`tf.data` or a `PyDataset`).

Local copies (explicit `data_dir`, `$KERAS_CEB_DATA`, the Keras cache, the
Debian path `/usr/share/datasets`, and for the MNIST test set the copy shipped in
the package) are found before anything is downloaded.
"""

from keras_ceb.datasets import noise  # noqa: F401 (the module, keras_ceb.datasets.noise)
from keras_ceb.datasets.ar1 import ar1_information_bottleneck
from keras_ceb.datasets.ar1 import ar1_predictive_information
from keras_ceb.datasets.ar1 import ar1_sequences
from keras_ceb.datasets.array_dataset import ArrayDataset
from keras_ceb.datasets.catalog import DATASET_NAMES
from keras_ceb.datasets.catalog import DatasetInfo
from keras_ceb.datasets.catalog import dataset_info
from keras_ceb.datasets.catalog import load
from keras_ceb.datasets.cifar import load_cifar10
from keras_ceb.datasets.cifar import load_cifar10_1
from keras_ceb.datasets.epoch_batches import EpochBatches
from keras_ceb.datasets.idx import CorruptDatasetError
from keras_ceb.datasets.idx import read_idx
from keras_ceb.datasets.idx import write_idx
from keras_ceb.datasets.locate import DatasetNotFoundError
from keras_ceb.datasets.locate import search_roots
from keras_ceb.datasets.mnist import load_fashion_mnist
from keras_ceb.datasets.mnist import load_mnist
from keras_ceb.datasets.mnist import load_mnist_test
from keras_ceb.datasets.noisy_pairs import NoisyPairs
from keras_ceb.datasets.pipeline import as_dataset

__all__ = [
    "ArrayDataset",
    "DATASET_NAMES",
    "CorruptDatasetError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "EpochBatches",
    "NoisyPairs",
    "ar1_information_bottleneck",
    "ar1_predictive_information",
    "ar1_sequences",
    "as_dataset",
    "dataset_info",
    "load",
    "load_cifar10",
    "load_cifar10_1",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_test",
    "read_idx",
    "search_roots",
    "write_idx",
]
