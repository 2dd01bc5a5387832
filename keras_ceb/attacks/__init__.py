"""Adversarial attacks on Keras classifiers and their evaluation.

PGD (L-inf and L2, targeted or not, with EOT for stochastic models), the
Carlini & Wagner L2 attack, and the success measures of the CEB paper.
"""

from keras_ceb.attacks.carlini_wagner import carlini_wagner_l2
from keras_ceb.attacks.evaluation import accuracy_under_attack
from keras_ceb.attacks.evaluation import epsilon_sweep
from keras_ceb.attacks.evaluation import predict_classes
from keras_ceb.attacks.evaluation import targeted_success_rate
from keras_ceb.attacks.evaluation import transfer_attack
from keras_ceb.attacks.evaluation import untargeted_success_rate
from keras_ceb.attacks.gradients import loss_gradient
from keras_ceb.attacks.pgd import pgd_attack

__all__ = [
    "carlini_wagner_l2",
    "accuracy_under_attack",
    "epsilon_sweep",
    "predict_classes",
    "targeted_success_rate",
    "transfer_attack",
    "untargeted_success_rate",
    "loss_gradient",
    "pgd_attack",
]
