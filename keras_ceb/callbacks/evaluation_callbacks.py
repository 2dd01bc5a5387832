"""Callbacks that evaluate robustness every N epochs and put the figures into the logs.

Values written into `logs` in `on_epoch_end` reach `History` and any callback listed after
these ones (put `keras.callbacks.TensorBoard` last to see them there).
"""

import keras
import numpy as np

from keras_ceb import export
from keras_ceb import inference
from keras_ceb import validation
from keras_ceb.evaluation import calibration
from keras_ceb.evaluation import information as information_lib
from keras_ceb.evaluation import scores as scores_lib


class _PeriodicEvaluation(keras.callbacks.Callback):
    def __init__(self, every):
        super().__init__()
        self.every = validation.positive_int(every, "every")

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or (epoch + 1) % self.every:
            return
        logs.update(self.evaluate())

    def evaluate(self):
        raise NotImplementedError


class OoDEvaluation(_PeriodicEvaluation):
    """Logs OoD detection metrics `ood_{set}_{score}_{metric}` every `every` epochs.

    By default one key per OoD set and score: the `auroc` of the rate (if the model has one)
    and of the entropy, in-distribution positive (`ood_mnist_rate_auroc`, ...). `scores` and
    `metrics` choose others: any score of `keras_ceb.evaluation.SCORE_DIRECTIONS` that needs
    no training data (`rate`, `entropy`, `max_softmax`, `max_logit`, `energy`), and any of
    `auroc`, `fpr_at_95_tpr`, `fpr_at_95_tpr_ood_positive` (OpenOOD's convention), `aupr_in`,
    `aupr_out`. A score that separates a set the wrong
    way (AUROC < 0.5) is warned about in one line (`InvertedScoreWarning`).

    Args:
        x_in: In-distribution inputs.
        ood_sets: Dict `{name: inputs}`.
        every: Evaluate every this many epochs.
        num_samples: Draws of z to average the scores over.
        batch_size: Batch size of the scoring.
        scores: Score names; default `("rate", "entropy")` (the rate left out for a model
            without one).
        metrics: Metric names; default `("auroc",)`.

    Examples:

        >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
        ...                           keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.random.rand(64, 8, 8, 1).astype("float32"), np.arange(64) % 3
        >>> sets = {"noise": keras_ceb.evaluation.uniform_noise(x, seed=0)}
        >>> callback = keras_ceb.callbacks.OoDEvaluation(x, sets)
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # An untrained model may rank noise first.
        ...     logs = model.fit(x, y, verbose=0, callbacks=[callback]).history
        >>> sorted(k for k in logs if k.startswith("ood_"))
        ['ood_noise_entropy_auroc', 'ood_noise_rate_auroc']
    """

    SCORES = ("rate", "entropy", "max_softmax", "max_logit", "energy")
    METRICS = ("auroc", "fpr_at_95_tpr", "fpr_at_95_tpr_ood_positive", "aupr_in", "aupr_out")

    def __init__(
        self,
        x_in,
        ood_sets,
        every=1,
        num_samples=1,
        batch_size=256,
        scores=("rate", "entropy"),
        metrics=("auroc",),
    ):
        super().__init__(every)
        if not isinstance(ood_sets, dict) or not ood_sets:
            raise ValueError(
                f"`ood_sets` must be a non-empty dict. Received: ood_sets={ood_sets!r}"
            )
        self.scores = _names(scores, self.SCORES, "scores")
        self.metrics = _names(metrics, self.METRICS, "metrics")
        self.x_in, self.ood_sets = x_in, ood_sets
        self.num_samples, self.batch_size = num_samples, batch_size

    def evaluate(self):
        scores = list(self.scores)
        if "rate" in scores and not _has_rate(self.model):
            scores.remove("rate")
        rows = scores_lib.evaluate_ood(
            self.model, self.x_in, self.ood_sets, self.num_samples, self.batch_size, scores=scores
        )
        return {
            f"ood_{row['ood_set']}_{row['score']}_{metric}": float(row[metric])
            for row in rows
            for metric in self.metrics
        }


def _names(values, choices, name):
    values = (values,) if isinstance(values, str) else tuple(values)
    if not values or any(v not in choices for v in values):
        raise ValueError(f"`{name}` must name some of {choices}. Received: {name}={values!r}")
    return values


def _has_rate(model):
    try:
        export.rate_encoder(model)
    except ValueError:
        return False
    return True


class AttackEvaluation(_PeriodicEvaluation):
    """Logs accuracy under a PGD attack as `adv_{norm}_{eps}_accuracy` every `every` epochs.

    Args:
        x: Clean inputs in [clip_min, clip_max].
        y: Integer labels.
        eps: Attack radius.
        norm: `"linf"` or `"l2"`.
        every: Evaluate every this many epochs.
        **pgd_kwargs: More `keras_ceb.attacks.pgd_attack` arguments (`steps`, `seed`, ...).

    Examples:

        >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
        ...                           keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.random.rand(64, 8, 8, 1).astype("float32"), np.arange(64) % 3
        >>> callback = keras_ceb.callbacks.AttackEvaluation(x[:16], y[:16], eps=0.1)
        >>> logs = model.fit(x, y, verbose=0, callbacks=[callback]).history
        >>> "adv_linf_0.1_accuracy" in logs
        True
    """

    def __init__(self, x, y, eps, norm="linf", every=1, **pgd_kwargs):
        super().__init__(every)
        from keras_ceb import attacks

        self._attacks = attacks
        self.x, self.y, self.eps, self.norm, self.pgd_kwargs = x, y, eps, norm, pgd_kwargs

    def evaluate(self):
        x_adv = self._attacks.pgd_attack(
            self.model, self.x, self.y, eps=self.eps, norm=self.norm, **self.pgd_kwargs
        )
        accuracy = self._attacks.accuracy_under_attack(self.model, x_adv, self.y)
        return {f"adv_{self.norm}_{self.eps:g}_accuracy": float(accuracy)}


class CalibrationEvaluation(_PeriodicEvaluation):
    """Logs the expected calibration error `ece` (5% bins by default) every `every` epochs.

    Examples:

        >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
        ...                           keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.random.rand(64, 8, 8, 1).astype("float32"), np.arange(64) % 3
        >>> callback = keras_ceb.callbacks.CalibrationEvaluation(x, y)
        >>> logs = model.fit(x, y, verbose=0, callbacks=[callback]).history
        >>> 0.0 <= logs["ece"][0] <= 1.0
        True
    """

    def __init__(self, x, y, every=1, num_bins=20, num_samples=1, batch_size=256):
        super().__init__(every)
        self.x, self.y = x, np.asarray(y)
        self.num_bins, self.num_samples, self.batch_size = num_bins, num_samples, batch_size

    def evaluate(self):
        probs = inference.predict_probabilities(
            self.model, self.x, self.num_samples, self.batch_size
        )
        return {"ece": float(calibration.expected_calibration_error(probs, self.y, self.num_bins))}


class InformationEstimates(keras.callbacks.Callback):
    """Logs held-out `rate` and `i_xz_lower` (as `val_rate`, `val_i_xz_lower`) every epoch.

    `fit`'s validation already logs them when `fit` has `validation_data`; this callback
    estimates them on other held-out inputs `x` (a subset, or inputs without labels), every
    `every` epochs, with its own seed (see `keras_ceb.evaluation.information_estimates`), and
    writes them into the logs, over the validation's values of the same names. Put it before
    `keras.callbacks.TensorBoard` to see them there.

    Args:
        x: Held-out inputs, in the format the model takes.
        batch_size: Batch size of the I(X;Z) bound (use the training batch size).
        prefix: Prefix of the logged names.
        every: Estimate every this many epochs.
        seed: Seed of the samples of z.

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)),
        ...                           keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.random.rand(64, 8).astype("float32"), np.arange(64) % 3
        >>> callback = keras_ceb.callbacks.InformationEstimates(x, batch_size=32)
        >>> history = model.fit(x, y, batch_size=32, verbose=0, callbacks=[callback])
        >>> sorted(k for k in history.history if k.startswith("val_"))
        ['val_i_xz_lower', 'val_rate']
    """

    def __init__(self, x, batch_size=128, prefix="val_", every=1, seed=0):
        super().__init__()
        self.x = x
        self.batch_size = validation.positive_int(batch_size, "batch_size")
        self.every = validation.positive_int(every, "every")
        if not isinstance(prefix, str):
            raise ValueError(f"`prefix` must be a string. Received: prefix={prefix!r}")
        self.prefix, self.seed = prefix, seed

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or (epoch + 1) % self.every:
            return
        estimates = information_lib.information_estimates(
            self.model, self.x, batch_size=self.batch_size, seed=self.seed + epoch
        )
        logs.update({self.prefix + name: value for name, value in estimates.items()})
