"""Evaluation of trained models: OoD detection, calibration, common corruptions, random-label
memorization, probes.

Metrics are NumPy functions of model outputs (logits, probabilities, per-example scores such
as the rate R, features for the Mahalanobis and KNN detectors); only `memorization_run` trains
a model.
"""

from keras_ceb.evaluation.calibration import ReliabilityDiagram
from keras_ceb.evaluation.calibration import binomial_interval
from keras_ceb.evaluation.calibration import expected_calibration_error
from keras_ceb.evaluation.calibration import plot_reliability_diagram
from keras_ceb.evaluation.calibration import reliability_diagram
from keras_ceb.evaluation.corruption_robustness import evaluate_corruptions
from keras_ceb.evaluation.corruption_robustness import format_corruption_report
from keras_ceb.evaluation.corruption_robustness import mean_corruption_error
from keras_ceb.evaluation.corruption_robustness import plot_corruptions
from keras_ceb.evaluation.corruptions import CORRUPTION_FAMILIES
from keras_ceb.evaluation.corruptions import CORRUPTIONS
from keras_ceb.evaluation.corruptions import EXTRA_CORRUPTIONS
from keras_ceb.evaluation.corruptions import corrupt
from keras_ceb.evaluation.corruptions import corrupted_sets
from keras_ceb.evaluation.detectors import FeatureDetectors
from keras_ceb.evaluation.detectors import KNNDetector
from keras_ceb.evaluation.detectors import MahalanobisDetector
from keras_ceb.evaluation.detectors import feature_arrays
from keras_ceb.evaluation.information import information_estimates
from keras_ceb.evaluation.memorization import MemorizationResult
from keras_ceb.evaluation.memorization import memorization_run
from keras_ceb.evaluation.memorization import random_labels
from keras_ceb.evaluation.ood import energy_score
from keras_ceb.evaluation.ood import entropy_score
from keras_ceb.evaluation.ood import fpr_at_tpr
from keras_ceb.evaluation.ood import max_logit_score
from keras_ceb.evaluation.ood import max_softmax_score
from keras_ceb.evaluation.ood import ood_metrics
from keras_ceb.evaluation.ood import ood_report
from keras_ceb.evaluation.ood_sets import OOD_GROUPS
from keras_ceb.evaluation.ood_sets import gaussian_noise
from keras_ceb.evaluation.ood_sets import group_averages
from keras_ceb.evaluation.ood_sets import mnist_test_images
from keras_ceb.evaluation.ood_sets import paper_ood_sets
from keras_ceb.evaluation.ood_sets import rotate_90
from keras_ceb.evaluation.ood_sets import standard_ood_sets
from keras_ceb.evaluation.ood_sets import uniform_noise
from keras_ceb.evaluation.ood_sets import vertical_flip
from keras_ceb.evaluation.probe import linear_probe
from keras_ceb.evaluation.report import format_report
from keras_ceb.evaluation.report import plot_ood_auroc
from keras_ceb.evaluation.report import robustness_report
from keras_ceb.evaluation.report import save_report_figures
from keras_ceb.evaluation.scores import SCORE_DIRECTIONS
from keras_ceb.evaluation.scores import InvertedScoreWarning
from keras_ceb.evaluation.scores import RawPixelsWarning
from keras_ceb.evaluation.scores import evaluate_ood
from keras_ceb.evaluation.scores import fit_reference
from keras_ceb.evaluation.scores import ood_scores
from keras_ceb.evaluation.scores import rate_scores
from keras_ceb.evaluation.scores import warn_if_inverted
from keras_ceb.evaluation.scores import warn_if_raw_pixels
from keras_ceb.evaluation.shift import evaluate_cifar10_1

__all__ = [
    "ReliabilityDiagram",
    "evaluate_cifar10_1",
    "binomial_interval",
    "expected_calibration_error",
    "plot_reliability_diagram",
    "reliability_diagram",
    "CORRUPTIONS",
    "CORRUPTION_FAMILIES",
    "EXTRA_CORRUPTIONS",
    "corrupt",
    "corrupted_sets",
    "evaluate_corruptions",
    "format_corruption_report",
    "mean_corruption_error",
    "plot_corruptions",
    "FeatureDetectors",
    "KNNDetector",
    "MahalanobisDetector",
    "feature_arrays",
    "information_estimates",
    "MemorizationResult",
    "memorization_run",
    "random_labels",
    "energy_score",
    "entropy_score",
    "fpr_at_tpr",
    "max_logit_score",
    "max_softmax_score",
    "ood_metrics",
    "ood_report",
    "OOD_GROUPS",
    "gaussian_noise",
    "group_averages",
    "mnist_test_images",
    "paper_ood_sets",
    "rotate_90",
    "standard_ood_sets",
    "uniform_noise",
    "vertical_flip",
    "linear_probe",
    "SCORE_DIRECTIONS",
    "evaluate_ood",
    "InvertedScoreWarning",
    "RawPixelsWarning",
    "warn_if_inverted",
    "warn_if_raw_pixels",
    "fit_reference",
    "ood_scores",
    "rate_scores",
    "format_report",
    "plot_ood_auroc",
    "robustness_report",
    "save_report_figures",
]
