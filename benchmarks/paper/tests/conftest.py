"""The fixtures of the package's tests (the local Fashion-MNIST), for the reproduction's tests."""

from tests.conftest import fashion_mnist  # noqa: F401
from tests.conftest import fashion_mnist_dir  # noqa: F401
