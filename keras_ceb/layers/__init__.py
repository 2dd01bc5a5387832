"""The information-bottleneck layers, one public class per file."""

from keras_ceb.layers.backward_encoder import BackwardEncoder
from keras_ceb.layers.bottleneck import is_bottleneck
from keras_ceb.layers.catgen_head import CatGenHead
from keras_ceb.layers.mixture_marginal import MixtureMarginal
from keras_ceb.layers.stochastic_encoder import EncoderCollapseWarning
from keras_ceb.layers.stochastic_encoder import StochasticEncoder
from keras_ceb.layers.vceb_head import VCEBHead

__all__ = [
    "BackwardEncoder",
    "is_bottleneck",
    "CatGenHead",
    "MixtureMarginal",
    "EncoderCollapseWarning",
    "StochasticEncoder",
    "VCEBHead",
]
