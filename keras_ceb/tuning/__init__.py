"""keras-tuner integration: the rho search, scored on held-out data.

`tune_rho` runs a grid, random or Bayesian search over rho and scores every trained model by
validation accuracy, the distance to the Minimum Necessary Information point, the rate's OoD
AUROC, and their combination (`keras_ceb.tuning.objectives`); `save_results` writes the
trials as a table and a plot, and the best model. `run_search(TuneConfig(...))` does both in a
run folder that resumes, as `keras-ceb tune` does.
"""

from keras_ceb.tuning.config import TuneConfig
from keras_ceb.tuning.objectives import OBJECTIVES
from keras_ceb.tuning.objectives import combined_score
from keras_ceb.tuning.objectives import held_out_scores
from keras_ceb.tuning.objectives import mni_distance
from keras_ceb.tuning.report import format_table
from keras_ceb.tuning.report import plot_objectives
from keras_ceb.tuning.report import save_results
from keras_ceb.tuning.rho_search import RhoHyperModel
from keras_ceb.tuning.rho_search import search_rho
from keras_ceb.tuning.rho_tuner import SEARCHES
from keras_ceb.tuning.rho_tuner import RhoSearchResult
from keras_ceb.tuning.rho_tuner import RhoTuner
from keras_ceb.tuning.rho_tuner import tune_rho
from keras_ceb.tuning.run import run_search

__all__ = [
    "TuneConfig",
    "run_search",
    "OBJECTIVES",
    "combined_score",
    "held_out_scores",
    "mni_distance",
    "format_table",
    "plot_objectives",
    "save_results",
    "RhoHyperModel",
    "search_rho",
    "SEARCHES",
    "RhoSearchResult",
    "RhoTuner",
    "tune_rho",
]
