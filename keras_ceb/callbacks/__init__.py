"""Keras callbacks: rho schedules, robustness evaluation, a non-finite check and per-epoch
progress lines."""

from keras_ceb.callbacks.epoch_lines import EpochLines
from keras_ceb.callbacks.epoch_seeding import EpochSeeding
from keras_ceb.callbacks.evaluation_callbacks import AttackEvaluation
from keras_ceb.callbacks.evaluation_callbacks import CalibrationEvaluation
from keras_ceb.callbacks.evaluation_callbacks import InformationEstimates
from keras_ceb.callbacks.evaluation_callbacks import OoDEvaluation
from keras_ceb.callbacks.non_finite import NonFiniteTrainingError
from keras_ceb.callbacks.non_finite import TerminateOnNonFinite
from keras_ceb.callbacks.rho_scheduler import RhoScheduler
from keras_ceb.callbacks.rho_scheduler import exponential_anneal
from keras_ceb.callbacks.rho_scheduler import linear_anneal

__all__ = [
    "EpochLines",
    "EpochSeeding",
    "AttackEvaluation",
    "CalibrationEvaluation",
    "InformationEstimates",
    "OoDEvaluation",
    "NonFiniteTrainingError",
    "TerminateOnNonFinite",
    "RhoScheduler",
    "exponential_anneal",
    "linear_anneal",
]
