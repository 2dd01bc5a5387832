"""Backbones and ready-made CEB / VIB / Determ classifiers."""

from keras_ceb.models.backbones import BACKBONES
from keras_ceb.models.backbones import get_backbone
from keras_ceb.models.backbones import small_convnet
from keras_ceb.models.backbones import wide_resnet
from keras_ceb.models.classifiers import PAPER_MARGINAL_COMPONENTS
from keras_ceb.models.classifiers import build_classifier
from keras_ceb.models.classifiers import classifier_metrics
from keras_ceb.models.classifiers import compile_classifier
from keras_ceb.models.classifiers import model_objective

__all__ = [
    "BACKBONES",
    "PAPER_MARGINAL_COMPONENTS",
    "build_classifier",
    "classifier_metrics",
    "compile_classifier",
    "get_backbone",
    "model_objective",
    "small_convnet",
    "wide_resnet",
]
