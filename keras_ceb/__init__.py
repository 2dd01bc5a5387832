"""keras_ceb: the Conditional Entropy Bottleneck and the Variational Information Bottleneck for Keras 3."""

__version__ = "0.1.0"

from keras_ceb import xla_cpu  # First: XLA reads $XLA_FLAGS when JAX starts its backend.

xla_cpu.disable_ynn_fusion()

from keras_ceb import callbacks  # noqa: E402
from keras_ceb import datasets  # noqa: E402
from keras_ceb import distribute  # noqa: E402
from keras_ceb import evaluation  # noqa: E402
from keras_ceb import export  # noqa: E402
from keras_ceb import inference  # noqa: E402
from keras_ceb import layers  # noqa: E402
from keras_ceb import losses  # noqa: E402
from keras_ceb import metrics  # noqa: E402
from keras_ceb import ops  # noqa: E402
from keras_ceb.layers import BackwardEncoder  # noqa: E402
from keras_ceb.layers import CatGenHead  # noqa: E402
from keras_ceb.layers import MixtureMarginal  # noqa: E402
from keras_ceb.layers import StochasticEncoder  # noqa: E402
from keras_ceb.layers import VCEBHead  # noqa: E402
from keras_ceb.rho import get_rho  # noqa: E402
from keras_ceb.rho import set_rho  # noqa: E402


def __getattr__(name):
    # Heavier optional parts load on first use: `keras_ceb.attacks`, `keras_ceb.tuning`, ...
    import importlib

    if name in ("attacks", "models", "tuning", "cli"):
        module = importlib.import_module(f"keras_ceb.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'keras_ceb' has no attribute {name!r}")
