"""Backbones, `CEBClassifier` and the ready-made CEB / VIB / Determ classifiers."""

from keras_ceb.models.backbones import BACKBONES
from keras_ceb.models.backbones import get_backbone
from keras_ceb.models.backbones import small_convnet
from keras_ceb.models.backbones import wide_resnet
from keras_ceb.models.ceb_classifier import CEBClassifier
from keras_ceb.models.classifiers import HEADS
from keras_ceb.models.classifiers import PAPER_MARGINAL_COMPONENTS
from keras_ceb.models.classifiers import build_classifier
from keras_ceb.models.classifiers import classifier_metrics
from keras_ceb.models.classifiers import compile_classifier
from keras_ceb.models.classifiers import mlp_head
from keras_ceb.models.classifiers import model_objective
from keras_ceb.models.denoising import build_denoising_ceb
from keras_ceb.models.denoising import representation_model
from keras_ceb.models.hierarchical import build_hierarchical_ceb
from keras_ceb.models.predictive import build_predictive_ceb
from keras_ceb.models.weighted import Model
from keras_ceb.models.weighted import Sequential
from keras_ceb.models.weighted import weighted_added_losses

__all__ = [
    "CEBClassifier",
    "Model",
    "Sequential",
    "weighted_added_losses",
    "BACKBONES",
    "HEADS",
    "PAPER_MARGINAL_COMPONENTS",
    "build_classifier",
    "build_denoising_ceb",
    "build_hierarchical_ceb",
    "build_predictive_ceb",
    "classifier_metrics",
    "compile_classifier",
    "get_backbone",
    "mlp_head",
    "model_objective",
    "representation_model",
    "small_convnet",
    "wide_resnet",
]
