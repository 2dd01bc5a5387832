"""Per-example OoD scores of a trained model: the rate R, the classifier's logit scores (entropy
H, max-softmax, max-logit, energy) and, with training data as a reference, the feature
detectors (Mahalanobis and KNN on the backbone features and on z; `detectors`).

Every score of the classifier is computed with one of two estimators, the same for all of
them so that they are compared on equal terms (the feature detectors always use the
deterministic features and the encoder mean):

- `"mean"` (the default): at the encoder mean `z = mu(x)`. Deterministic. For the rate,
  `log e(mu|x) - log m(mu) = -log|det L| - D/2 log 2 pi - log m(mu)`.
- `"sample"`: the average over `num_samples` draws `z ~ e(z|x)` (of the rate; of the
  probabilities for H and max-softmax; of the max-logit and energy of each draw).

Why the mean is the default: one draw of z adds about 0.7 nats of noise per example to the
rate at rho = 0, more than the 0.3-0.5 nats that separate in- from out-of-distribution inputs;
measured on the default Fashion-MNIST model, the rate's AUROC against U(0,1) noise was 0.63
from one draw, 0.79 averaged over 64 draws and 0.98 at the mean.
"""

import warnings

import numpy as np
from keras import ops

from keras_ceb import export
from keras_ceb import inference
from keras_ceb import validation
from keras_ceb.evaluation import detectors as detectors_lib
from keras_ceb.evaluation import ood

ESTIMATORS = ("mean", "sample")
LOGIT_SCORES = ("entropy", "max_softmax", "max_logit", "energy")
FEATURE_SCORES = detectors_lib.FeatureDetectors.SCORES


def resolve_estimator(estimator, num_samples):
    """`estimator` validated; `None` means `"mean"` for one draw and `"sample"` for several."""
    num_samples = validation.positive_int(num_samples, "num_samples")
    if estimator is None:
        return "mean" if num_samples == 1 else "sample"
    return validation.one_of(estimator, ESTIMATORS, "estimator")


def rate_scores(model, x, num_samples=1, batch_size=256, *, estimator=None):
    """Per-example rate `R = log e(z|x) - log m(z)` of `model` on `x`.

    The paper's out-of-distribution score: lower for in-distribution data (use
    `higher_is_in_distribution=False` with `ood_metrics`). Needs an encoder with a marginal
    (or a VIB encoder).

    Args:
        model: A model with a CEB or VIB `StochasticEncoder` that has a rate.
        x: Inputs.
        num_samples: Draws of z for the `"sample"` estimator.
        batch_size: Batch size.
        estimator: `"mean"` or `"sample"` (see the module docstring); default `"mean"` when
            `num_samples == 1`, else `"sample"`.

    Returns:
        NumPy array `[N]`.

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)),
        ...                           keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> x = np.random.rand(16, 8).astype("float32")
        >>> r = keras_ceb.evaluation.rate_scores(model, x)
        >>> r.shape, bool(np.array_equal(r, keras_ceb.evaluation.rate_scores(model, x)))
        ((16,), True)
    """
    warn_if_raw_pixels(model, x)
    return _rate_scores(
        model, x, num_samples, batch_size, resolve_estimator(estimator, num_samples)
    )


def _rate_scores(model, x, num_samples, batch_size, estimator):
    encoder = export.rate_encoder(model)
    features = export.feature_model(model, encoder).predict(x, batch_size=batch_size, verbose=0)
    chunks = []
    for start in range(0, len(features), batch_size):
        batch = features[start : start + batch_size]
        rate = encoder.rate(batch, estimator=estimator, num_samples=num_samples)
        chunks.append(ops.convert_to_numpy(rate))
    return np.concatenate(chunks).astype("float64")


def ood_scores(
    model,
    x,
    num_samples=1,
    batch_size=256,
    output_key=None,
    *,
    estimator=None,
    reference=None,
    temperature=1.0,
):
    """Every OoD score of `model` on `x`.

    - `entropy`, `max_softmax`, `max_logit` and `energy` (at `temperature`) from the logits;
    - `rate`, if the model has one;
    - with `reference`, the feature detectors `mahalanobis`, `mahalanobis_z`, `knn`, `knn_z`.

    The classifier's scores and the rate use the same `estimator` (see `rate_scores`).

    Args:
        model, x, num_samples, batch_size, output_key, estimator: As in `rate_scores`.
        reference: A fitted `keras_ceb.evaluation.FeatureDetectors`, or the in-distribution
            training data `(x_train, y_train)` to fit one on (see `fit_reference`).
        temperature: The energy score's temperature (Liu et al.: 1).

    Returns:
        A dict of NumPy arrays `[N]`; the direction of each is in `SCORE_DIRECTIONS`.
    """
    warn_if_raw_pixels(model, x)
    return _ood_scores(
        model,
        x,
        num_samples,
        batch_size,
        output_key,
        resolve_estimator(estimator, num_samples),
        reference,
        temperature,
    )


def _ood_scores(model, x, num_samples, batch_size, output_key, estimator, reference, temperature):
    draws = 1 if estimator == "mean" else num_samples
    logits = _logit_draws(model, x, draws, batch_size, output_key, estimator == "sample")
    scores = _logit_scores(logits, temperature)
    if has_rate(model):
        scores["rate"] = _rate_scores(model, x, num_samples, batch_size, estimator)
    if reference is not None:
        scores.update(fit_reference(model, reference, batch_size).scores(model, x, batch_size))
    return scores


def _logit_scores(logits, temperature):
    """The classifier's scores from logit draws `[draws, N, C]`."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    log_probs = np.log(np.clip(probs.mean(axis=0), 1e-300, 1.0))
    return {
        "entropy": ood.entropy_score(log_probs),
        "max_softmax": ood.max_softmax_score(log_probs),
        "max_logit": np.mean([ood.max_logit_score(d) for d in logits], axis=0),
        "energy": np.mean([ood.energy_score(d, temperature) for d in logits], axis=0),
    }


def has_rate(model):
    """Whether `model` has a rate (a CEB or VIB encoder with a marginal)."""
    try:
        export.rate_encoder(model)
    except ValueError:
        return False
    return True


def logits_and_scores(model, x, batch_size=256, output_key=None, temperature=1.0):
    """Logits `[N, C]` at the encoder mean and every score of the `"mean"` estimator (the rate
    if the model has one), from one pass over `x` (and one more for the rate).

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)),
        ...                           keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> logits, scores = logits_and_scores(model, np.random.rand(16, 8).astype("float32"))
        >>> logits.shape, sorted(scores)
        ((16, 3), ['energy', 'entropy', 'max_logit', 'max_softmax', 'rate'])
    """
    logits = _logit_draws(model, x, 1, batch_size, output_key, False)
    scores = _logit_scores(logits, temperature)
    if has_rate(model):
        scores["rate"] = _rate_scores(model, x, 1, batch_size, "mean")
    return logits[0], scores


def fit_reference(model, reference, batch_size=256):
    """`reference` as fitted `FeatureDetectors`: itself, or fitted on `(x_train, y_train)`.

    Examples:

        ```python
        detectors = fit_reference(model, (x_train, y_train))  # fit once, reuse for every set
        ```
    """
    if isinstance(reference, detectors_lib.FeatureDetectors):
        return reference
    if isinstance(reference, (tuple, list)) and len(reference) == 2:
        return detectors_lib.FeatureDetectors().fit(model, reference[0], reference[1], batch_size)
    raise ValueError(
        "`reference` must be fitted FeatureDetectors or the training data "
        f"(x_train, y_train). Received: reference={type(reference).__name__}"
    )


def _logit_draws(model, x, draws, batch_size, output_key, sample):
    """Float64 logits `[draws, N, C]`: at the mean (one draw) or with z sampled."""
    if not sample:
        logits = inference.output_logits(
            model.predict(x, batch_size=batch_size, verbose=0), output_key
        )
        return np.asarray(logits, "float64")[None]
    chunks = []
    with inference.sampling_at_inference(model):
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            chunks.append(
                np.stack(
                    [
                        np.asarray(
                            ops.convert_to_numpy(
                                inference.output_logits(model(batch, training=False), output_key)
                            ),
                            "float64",
                        )
                        for _ in range(draws)
                    ]
                )
            )
    return np.concatenate(chunks, axis=1)


# True where a higher score means "more in-distribution".
SCORE_DIRECTIONS = {
    "rate": False,
    "entropy": False,
    "max_softmax": True,
    "max_logit": True,
    "energy": True,
    "mahalanobis": True,
    "mahalanobis_z": True,
    "knn": True,
    "knn_z": True,
}


def evaluate_ood(
    model,
    x_in,
    ood_sets,
    num_samples=1,
    batch_size=256,
    output_key=None,
    *,
    estimator=None,
    reference=None,
    scores=None,
    temperature=1.0,
):
    """OoD metrics (FPR@95%TPR, AUROC, AUPR-In, AUPR-Out; in-distribution positive) per set and
    score.

    Args:
        model: A trained classifier.
        x_in: In-distribution inputs (e.g. the test set).
        ood_sets: Dict `{name: inputs}` of out-of-distribution sets.
        num_samples, batch_size, output_key, estimator, temperature: As in `ood_scores`.
        reference: The in-distribution training data `(x_train, y_train)` or fitted
            `FeatureDetectors`: needed by the feature detectors (fitted once, used for every
            set).
        scores: The score names to report (default: every score the model and `reference`
            allow). Naming a feature detector without `reference` is an error.

    Returns:
        A list of dict rows, one per (set, score), each with the `estimator` used.

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)),
        ...                           keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> x = np.random.rand(32, 8).astype("float32")
        >>> rows = keras_ceb.evaluation.evaluate_ood(model, x, {"noise": x * 10})
        >>> sorted({row["score"] for row in rows})
        ['energy', 'entropy', 'max_logit', 'max_softmax', 'rate']
    """
    estimator = resolve_estimator(estimator, num_samples)
    if scores is not None:
        scores = list(scores)
        unknown = [s for s in scores if s not in SCORE_DIRECTIONS]
        if unknown or not scores:
            raise ValueError(
                f"`scores` must name scores of {sorted(SCORE_DIRECTIONS)}. "
                f"Received: scores={scores!r}"
            )
        needs = [s for s in scores if s in FEATURE_SCORES]
        if needs and reference is None:
            raise ValueError(
                f"The scores {needs} are fitted on in-distribution training data: "
                "pass reference=(x_train, y_train) or fitted FeatureDetectors. "
                "Received: reference=None"
            )
    if reference is not None:
        reference = fit_reference(model, reference, batch_size)
    warn_if_raw_pixels(model, x_in, "x_in")
    for name, x in ood_sets.items():
        warn_if_raw_pixels(model, x, f"ood_sets[{name!r}]")
    args = (num_samples, batch_size, output_key, estimator, reference, temperature)
    in_scores = _ood_scores(model, x_in, *args)
    out_scores = {name: _ood_scores(model, x, *args) for name, x in ood_sets.items()}
    if scores is not None:
        missing = [s for s in scores if s not in in_scores]
        if missing:
            raise ValueError(
                f"The model has no {missing} score (the rate needs a CEB or VIB "
                f"encoder with a marginal). Received: scores={scores!r}"
            )
        in_scores = {s: in_scores[s] for s in scores}
        out_scores = {n: {s: v[s] for s in scores} for n, v in out_scores.items()}
    directions = {k: SCORE_DIRECTIONS[k] for k in in_scores}
    rows = ood.ood_report(in_scores, out_scores, higher_is_in_distribution=directions)
    for row in rows:
        row["estimator"] = estimator
    warn_if_inverted(rows)
    return rows


def warn_if_inverted(rows):
    """Warns, one line per (set, score), where a score ranks the OoD set as more in-distribution.

    An AUROC below 0.5 means the score separates the sets the wrong way: seen early in
    training (the rate of a CEB model in its first epochs, before the marginal has caught up
    with the encoder) or for a score that does not suit the set. Returns the rows that warned.
    """
    inverted = [row for row in rows if float(row["auroc"]) < 0.5]
    for row in inverted:
        warnings.warn(
            f"OoD score {row['score']!r} ranks {row['ood_set']!r} as more in-distribution than "
            f"the in-distribution inputs (AUROC {float(row['auroc']):.3f} < 0.5): it is inverted "
            "for this set and model, so do not rely on it there.",
            InvertedScoreWarning,
            stacklevel=3,
        )
    return inverted


def warn_if_raw_pixels(model, x, name="x"):
    """Warns when `x` looks like raw pixels (0..255) that `model` does not rescale itself.

    The package's models and loaders work on images in [0, 1]; a model trained on one range and
    scored on another gives meaningless scores, and raw 0..255 pixels in training cost a CEB
    model far more than a plain one (see docs/guide/layers.md). Arrays of an integer dtype, or
    of floats in [0, 255] with a maximum above 2, warn unless the model holds a `Rescaling` or
    `Normalization` layer. Returns whether it warned. A `tf.data.Dataset` is not inspected.
    """
    if not isinstance(x, np.ndarray) or x.size == 0:
        return False
    integer = np.issubdtype(x.dtype, np.integer)
    if not integer and not (
        np.issubdtype(x.dtype, np.floating) and x.min() >= 0 and 2.0 < x.max() <= 255.0
    ):
        return False
    if any(
        type(layer).__name__ in ("Rescaling", "Normalization")
        for layer in model._flatten_layers(include_self=False)
    ):
        return False
    warnings.warn(
        f"`{name}` looks like raw pixels (dtype {x.dtype}, values {x.min()}..{x.max()}) and the "
        "model has no Rescaling or Normalization layer; keras_ceb's models and loaders expect "
        "floats in [0, 1]. Divide by 255 (before training too), or ignore this if the model "
        "was trained on this range.",
        RawPixelsWarning,
        stacklevel=3,
    )
    return True


class RawPixelsWarning(UserWarning):
    """Inputs look like raw 0..255 pixels that the model does not rescale."""


class InvertedScoreWarning(UserWarning):
    """An OoD score separates the in- and out-of-distribution sets the wrong way (AUROC < 0.5)."""
