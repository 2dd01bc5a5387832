"""Label-dependent information metrics computed from a model's logits.

The training estimates that need the encoder's distribution (`rate`, `i_xz_lower`, and `rex`
of a `BackwardEncoder` fed with labels) are logged by the layers when training. The ones below
need only the logits and the labels, so they are ordinary compiled metrics, computed by `fit`
and `evaluate` (never by `predict`): functions first, thin `Mean` wrappers after.
"""

import math

import keras
from keras import ops

from keras_ceb import validation
from keras_ceb.ops import information
from keras_ceb.ops import label_check


def _label_ids(y_true, num_classes):
    """`[B, 1]` int32 class ids, refused (one line, naming the range) outside `[0, C)`."""
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) >= 2 and y_true.shape[-1] == num_classes and num_classes > 1:
        y_true = ops.argmax(y_true, axis=-1)
    ids = ops.reshape(ops.cast(y_true, "int32"), (-1,))
    return ops.expand_dims(label_check.check_label_ids(ids, num_classes, "keras_ceb.metrics"), -1)


def i_yz_lower_bound_from_logits(y_true, logits):
    """Per-example `H(Y) + log c(y|z)` with `H(Y) = log C`: a lower bound on I(Y;Z), in nats.

    Args:
        y_true: Integer labels `[batch]` (or one-hot `[batch, C]`).
        logits: Classifier logits `[batch, C]`.

    Examples:

        >>> round(float(i_yz_lower_bound_from_logits([0], [[100.0, 0.0]])[0]), 4)  # log 2
        0.6931
    """
    logits = ops.cast(logits, "float32")
    num_classes = logits.shape[-1]
    log_c = ops.take_along_axis(
        ops.log_softmax(logits, axis=-1), _label_ids(y_true, num_classes), axis=-1
    )[:, 0]
    return information.i_yz_lower_bound(log_c, num_classes)


def residual_information_from_logits(y_true, logits):
    """Per-example `ReX = log e(z|x) - log b(z|y)` from `BackwardEncoder` / `CatGenHead` logits.

    Those logits are `log b(z|k) - log e(z|x)`, so ReX is minus the logit of the true class.
    Meaningless for other logits.

    Examples:

        >>> float(residual_information_from_logits([1], [[-3.0, -0.5]])[0])
        0.5
    """
    logits = ops.cast(logits, "float32")
    return -ops.take_along_axis(logits, _label_ids(y_true, logits.shape[-1]), axis=-1)[:, 0]


@keras.saving.register_keras_serializable(package="keras_ceb")
class IYZLowerBound(keras.metrics.MeanMetricWrapper):
    """Batch mean of `log C + log c(y|z)`, logged as `i_yz`.

    Examples:

        >>> metric = keras_ceb.metrics.IYZLowerBound()
        >>> metric.update_state([0, 1], [[10.0, 0.0], [0.0, 10.0]])
        >>> round(float(metric.result()), 3)
        0.693
    """

    def __init__(self, name="i_yz", dtype=None):
        super().__init__(fn=i_yz_lower_bound_from_logits, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_ceb")
class ResidualInformation(keras.metrics.MeanMetricWrapper):
    """Batch mean of the residual information ReX read off `BackwardEncoder` logits, as `rex`.

    Examples:

        >>> metric = keras_ceb.metrics.ResidualInformation()
        >>> metric.update_state([0], [[-1.5, -4.0]])
        >>> float(metric.result())
        1.5
    """

    def __init__(self, name="rex", dtype=None):
        super().__init__(fn=residual_information_from_logits, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def information_metrics(consistent_classifier=True, objective="ceb"):
    """The compiled metrics for a CEB classifier: `rex` and `i_yz`.

    `rex` is read off the logits of a CEB `BackwardEncoder` or `CatGenHead` (`log b(z|k) -
    log e(z|x)`); it means nothing for other logits, so it is left out for a separate
    classifier head (`consistent_classifier=False`) and for VIB and Determ models.

    Examples:

        >>> [m.name for m in keras_ceb.metrics.information_metrics()]
        ['rex', 'i_yz']
        >>> [m.name for m in keras_ceb.metrics.information_metrics(objective="determ")]
        ['i_yz']
    """
    objective = validation.one_of(objective, validation.OBJECTIVES, "objective")
    metrics = [IYZLowerBound()]
    if consistent_classifier and objective == "ceb":
        metrics.insert(0, ResidualInformation())
    return metrics


def consistency_from_logs(logs, prefix=""):
    """`C = |(<rate> - <rex>) - <i_yz>|` from logged batch means, or `None` if one is missing.

    With a learned marginal, `<log b(z|y) - log m(z)> = <rate> - <rex>` estimates
    H(Z) - H(Z|Y), and `<i_yz>` estimates H(Y) - H(Y|Z); C measures their disagreement.

    Examples:

        >>> round(consistency_from_logs({"rate": 2.5, "rex": 0.5, "i_yz": 1.8}), 4)
        0.2
    """
    keys = [f"{prefix}{k}" for k in ("rate", "rex", "i_yz")]
    if not all(k in logs and logs[k] is not None and math.isfinite(logs[k]) for k in keys):
        return None
    rate, rex, i_yz = (float(logs[k]) for k in keys)
    return abs((rate - rex) - i_yz)
