"""keras_ceb: the Conditional Entropy Bottleneck and the Variational Information Bottleneck for Keras 3."""

__version__ = "0.1.0"

from keras_ceb import callbacks
from keras_ceb import datasets
from keras_ceb import evaluation
from keras_ceb import export
from keras_ceb import metrics
from keras_ceb import ops
from keras_ceb.layers import BackwardEncoder
from keras_ceb.layers import CatGenHead
from keras_ceb.layers import MixtureMarginal
from keras_ceb.layers import StochasticEncoder
from keras_ceb.rho import get_rho
from keras_ceb.rho import set_rho
