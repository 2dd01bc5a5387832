"""Adversarial attacks on Keras classifiers and their evaluation.

PGD (L-inf and L2, targeted or not, with EOT for stochastic models), Auto-PGD with the
cross-entropy and DLR losses, the targeted minimum-norm FAB-T, the gradient-free Square
attack, AutoAttack's ensembles of them, the Carlini & Wagner L2 attack, and the success
measures of the CEB paper.
"""

from keras_ceb.attacks.apgd import apgd_attack
from keras_ceb.attacks.carlini_wagner import carlini_wagner_l2
from keras_ceb.attacks.ensemble import AutoAttackResult
from keras_ceb.attacks.ensemble import auto_attack
from keras_ceb.attacks.ensemble import default_version as auto_attack_default_version
from keras_ceb.attacks.evaluation import accuracy_under_attack
from keras_ceb.attacks.evaluation import epsilon_sweep
from keras_ceb.attacks.evaluation import predict_classes
from keras_ceb.attacks.evaluation import targeted_success_rate
from keras_ceb.attacks.evaluation import transfer_attack
from keras_ceb.attacks.evaluation import untargeted_success_rate
from keras_ceb.attacks.fab import fab_t_attack
from keras_ceb.attacks.gradients import loss_gradient
from keras_ceb.attacks.gradients import predict_logits
from keras_ceb.attacks.pgd import pgd_attack
from keras_ceb.attacks.square import square_attack

__all__ = [
    "apgd_attack",
    "AutoAttackResult",
    "auto_attack",
    "auto_attack_default_version",
    "carlini_wagner_l2",
    "accuracy_under_attack",
    "epsilon_sweep",
    "predict_classes",
    "targeted_success_rate",
    "transfer_attack",
    "untargeted_success_rate",
    "fab_t_attack",
    "loss_gradient",
    "predict_logits",
    "pgd_attack",
    "square_attack",
]
