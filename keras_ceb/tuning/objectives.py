"""What a rho search optimizes: scores of a trained model on held-out data.

- `val_accuracy` (maximize): accuracy on the held-out examples, at the encoder mean.
- `mni_distance` (minimize): `|I(X;Z) lower bound - I(Y;Z) lower bound|` on the held-out
  examples, in nats. At the Minimum Necessary Information point I(X;Z) = I(Y;Z) = H(Y); a
  model that keeps more about X than about Y (or the reverse) lies away from it. The I(X;Z)
  bound is the minibatch bound of training, estimated on held-out data as
  `keras_ceb.evaluation.information_estimates` does (`val_i_xz_lower`); the I(Y;Z) bound is
  `log C + log c(y|z)` at the encoder mean, the compiled
  `val_i_yz`.
- `ood_auroc` (maximize): the AUROC of the rate R at the encoder mean
  (`keras_ceb.evaluation.evaluate_ood`, estimator `"mean"`), held-out examples against a
  held-out out-of-distribution set, in-distribution positive. Needs a model with a rate (CEB
  or VIB with a marginal) and an OoD set.
- `combined` (maximize): the mean of the terms above, each put on [0, 1] with 1 the best:
  `val_accuracy`, `ood_auroc` and `1 - min(mni_distance / H(Y), 1)` with `H(Y) = log C`
  (a model a whole H(Y) or more from the MNI point scores 0 on that term). A term that cannot
  be measured (no OoD set, a model without a rate) is left out of the mean.
"""

import math

import numpy as np

from keras_ceb import validation
from keras_ceb.evaluation import numpy_math

# Objective name -> direction, in keras-tuner's words.
OBJECTIVES = {
    "val_accuracy": "max",
    "mni_distance": "min",
    "ood_auroc": "max",
    "combined": "max",
}
DEFAULT_OBJECTIVE = "combined"


def check_objective(objective):
    """`objective` if it is a key of `OBJECTIVES`, else a `ValueError`."""
    return validation.one_of(objective, tuple(OBJECTIVES), "objective")


def mni_distance(i_xz_lower, i_yz):
    """`|I(X;Z) lower bound - I(Y;Z) lower bound|` in nats, or `None` if either is missing.

    Examples:

        >>> round(mni_distance(2.5, 2.1), 3)
        0.4
    """
    if not (_finite(i_xz_lower) and _finite(i_yz)):
        return None
    return abs(float(i_xz_lower) - float(i_yz))


def combined_score(val_accuracy, mni_distance=None, ood_auroc=None, num_classes=10):
    """The `combined` objective: the mean of the available terms, each in [0, 1] (higher is
    better): `val_accuracy`, `ood_auroc` and `1 - min(mni_distance / log(num_classes), 1)`.

    Examples:

        >>> round(combined_score(0.9, mni_distance=0.23, ood_auroc=0.8, num_classes=10), 4)
        0.8667
        >>> combined_score(0.9)
        0.9
    """
    terms = [float(val_accuracy)] if _finite(val_accuracy) else []
    if _finite(ood_auroc):
        terms.append(float(ood_auroc))
    if _finite(mni_distance):
        terms.append(1.0 - min(float(mni_distance) / math.log(num_classes), 1.0))
    return sum(terms) / len(terms) if terms else None


def held_out_scores(model, x, y, ood_x=None, batch_size=128, seed=0):
    """Every objective of `OBJECTIVES`, and what they are made of, for a trained model.

    Args:
        model: A trained classifier with a CEB or VIB `StochasticEncoder` (a Determ model
            gets accuracy only).
        x: Held-out images.
        y: Their integer labels.
        ood_x: Optional held-out out-of-distribution images, for `ood_auroc`.
        batch_size: Batch size; also the batch of the minibatch I(X;Z) bound, so use the
            training batch size.
        seed: Seed of the draws of z of the I(X;Z) estimate.

    Returns:
        A dict with `val_accuracy`, `val_i_yz`, `val_i_xz_lower`, `val_rate`, `mni_distance`,
        `ood_auroc`, `combined` and `num_classes`; `None` where not measurable.

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)),
        ...                           keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> x, y = np.random.rand(64, 8).astype("float32"), np.arange(64) % 3
        >>> scores = held_out_scores(model, x, y, ood_x=x * 5, batch_size=32)
        >>> sorted(k for k, v in scores.items() if v is not None)  # doctest: +NORMALIZE_WHITESPACE
        ['combined', 'mni_distance', 'num_classes', 'ood_auroc', 'val_accuracy', 'val_i_xz_lower',
         'val_i_yz', 'val_rate']
    """
    from keras_ceb import evaluation

    batch_size = validation.positive_int(batch_size, "batch_size")
    images = x
    labels = np.asarray(y).astype("int64").reshape(-1)
    logits = np.asarray(model.predict(images, batch_size=batch_size, verbose=0), "float64")
    num_classes = int(logits.shape[-1])
    log_probs = numpy_math.log_softmax(logits)
    scores = {
        "val_accuracy": float(np.mean(logits.argmax(-1) == labels)),
        "val_i_yz": float(
            math.log(num_classes) + np.mean(log_probs[np.arange(len(labels)), labels])
        ),
        "val_i_xz_lower": None,
        "val_rate": None,
        "ood_auroc": None,
        "num_classes": num_classes,
    }
    estimates = evaluation.information_estimates(model, x, batch_size=batch_size, seed=seed)
    scores["val_i_xz_lower"] = estimates.get("i_xz_lower")
    scores["val_rate"] = estimates.get("rate")
    if ood_x is not None and scores["val_rate"] is not None:
        rows = evaluation.evaluate_ood(
            model, images, {"ood": ood_x}, batch_size=batch_size, estimator="mean", scores=["rate"]
        )
        scores["ood_auroc"] = next(float(r["auroc"]) for r in rows if r["score"] == "rate")
    scores["mni_distance"] = mni_distance(scores["val_i_xz_lower"], scores["val_i_yz"])
    scores["combined"] = combined_score(
        scores["val_accuracy"], scores["mni_distance"], scores["ood_auroc"], num_classes
    )
    return scores


def _finite(value):
    return (
        value is not None
        and not isinstance(value, bool)
        and isinstance(value, (int, float, np.floating))
        and math.isfinite(value)
    )
