"""keras_ceb: the Conditional Entropy Bottleneck and the Variational Information Bottleneck for Keras 3."""

__version__ = "0.1.0"

from keras_ceb import callbacks
from keras_ceb import datasets
from keras_ceb import evaluation
from keras_ceb import export
from keras_ceb import inference
from keras_ceb import layers
from keras_ceb import losses
from keras_ceb import metrics
from keras_ceb import ops
from keras_ceb.layers import BackwardEncoder
from keras_ceb.layers import CatGenHead
from keras_ceb.layers import MixtureMarginal
from keras_ceb.layers import StochasticEncoder
from keras_ceb.layers import VCEBHead
from keras_ceb.rho import get_rho
from keras_ceb.rho import set_rho


def __getattr__(name):
    # Heavier optional parts load on first use: `keras_ceb.attacks`, `keras_ceb.tuning`, ...
    import importlib

    if name in ("attacks", "models", "tuning", "cli"):
        module = importlib.import_module(f"keras_ceb.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'keras_ceb' has no attribute {name!r}")
