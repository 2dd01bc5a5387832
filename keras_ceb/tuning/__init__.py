"""keras-tuner integration: the rho search."""

from keras_ceb.tuning.rho_search import RhoHyperModel
from keras_ceb.tuning.rho_search import search_rho
