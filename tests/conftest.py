"""Shared test configuration: quiet TensorFlow, and the real Fashion-MNIST where a user has it.

The tests read only what a user has: data they generate, the MNIST test set shipped inside the
package, and the Fashion-MNIST that the README's set-up command installs
(`apt-get install dataset-fashion-mnist`), found through keras_ceb's own search
(`--data-dir`/`$KERAS_CEB_DATA`, the Keras cache, `/usr/share/datasets`). Where Fashion-MNIST
is absent, the tests that need it are skipped with one line saying how to get it; with
`KERAS_CEB_TEST_REQUIRE_DATA=1` (set by `.ci/run`) they fail instead, so CI skips nothing.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from keras_ceb.datasets import locate  # noqa: E402

FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
REQUIRE_DATA_ENV = "KERAS_CEB_TEST_REQUIRE_DATA"
FASHION_MNIST_MISSING = (
    "Fashion-MNIST not found; get it with `apt-get install dataset-fashion-mnist`"
)


def find_fashion_mnist_dir():
    """The folder holding the four Fashion-MNIST idx files, found as the loaders find them.

    Returns `None` when no local copy exists (nothing is downloaded).
    """
    found, _ = locate.find_files([FASHION_MNIST_FILES], subdirs=("fashion-mnist",))
    return None if found is None else found.directory


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    """A folder holding the four Fashion-MNIST idx files (gzipped or not), directly in it.

    Pass it as `data_dir=` / `--data-dir`. Skips the test (fails it under
    `KERAS_CEB_TEST_REQUIRE_DATA=1`) when Fashion-MNIST is not installed.
    """
    directory = find_fashion_mnist_dir()
    if directory is None:
        if os.environ.get(REQUIRE_DATA_ENV) == "1":
            pytest.fail(f"{FASHION_MNIST_MISSING} ({REQUIRE_DATA_ENV}=1)")
        pytest.skip(FASHION_MNIST_MISSING)
    return directory


@pytest.fixture(scope="session")
def fashion_mnist(fashion_mnist_dir):
    """Fashion-MNIST as `((x_train, y_train), (x_test, y_test))`: float32 images in [0, 1]
    of shape `(N, 28, 28, 1)`, int32 labels. Shared by the session, so read-only."""
    from keras_ceb.datasets import load_fashion_mnist

    splits = load_fashion_mnist(data_dir=fashion_mnist_dir, download=False)
    for array in (a for split in splits for a in split):
        array.flags.writeable = False
    return splits
