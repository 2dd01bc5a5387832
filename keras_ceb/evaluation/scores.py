"""Per-example OoD scores of a trained model: the rate R and the classifier's H and max-softmax."""

import numpy as np
from keras import ops

from keras_ceb import export
from keras_ceb import inference
from keras_ceb import validation
from keras_ceb.evaluation import ood


def rate_scores(model, x, num_samples=1, batch_size=256):
    """Per-example rate `R = log e(z|x) - log m(z)`, averaged over `num_samples` draws of z.

    The paper's out-of-distribution score: lower for in-distribution data
    (use `higher_is_in_distribution=False` with `ood_metrics`). Needs an encoder with a
    marginal (or a VIB encoder).

    Returns:
        NumPy array `[N]`.

    Example:

    >>> r_in = keras_ceb.evaluation.rate_scores(model, x_test, num_samples=4)
    """
    validation.positive_int(num_samples, "num_samples")
    encoder = export.rate_encoder(model)
    features = export.feature_model(model, encoder).predict(x, batch_size=batch_size, verbose=0)
    chunks = []
    for start in range(0, len(features), batch_size):
        batch = features[start : start + batch_size]
        draws = [ops.convert_to_numpy(encoder.rate(batch)) for _ in range(num_samples)]
        chunks.append(np.mean(draws, axis=0))
    return np.concatenate(chunks).astype("float64")


def ood_scores(model, x, num_samples=1, batch_size=256, output_key=None):
    """The scores of the paper for `x`: `rate` (if the model has one), `entropy`, `max_softmax`.

    Returns:
        A dict of NumPy arrays `[N]`, and the direction of each in `SCORE_DIRECTIONS`.
    """
    probs = inference.predict_probabilities(model, x, num_samples, batch_size, output_key)
    log_probs = np.log(np.clip(probs, 1e-300, 1.0))
    scores = {"entropy": ood.entropy_score(log_probs), "max_softmax": ood.max_softmax_score(log_probs)}
    try:
        scores["rate"] = rate_scores(model, x, num_samples, batch_size)
    except ValueError:
        pass  # No marginal: the rate is not defined for this model.
    return scores


# True where a higher score means "more in-distribution".
SCORE_DIRECTIONS = {"rate": False, "entropy": False, "max_softmax": True}


def evaluate_ood(model, x_in, ood_sets, num_samples=1, batch_size=256, output_key=None):
    """OoD metrics (FPR@95%TPR, AUROC, AUPR-In, AUPR-Out; in-distribution positive) per set and score.

    Args:
        model: A trained classifier.
        x_in: In-distribution inputs (e.g. the test set).
        ood_sets: Dict `{name: inputs}` of out-of-distribution sets.

    Returns:
        A list of dict rows, one per (set, score).

    Example:

    >>> sets = keras_ceb.evaluation.paper_ood_sets(x_test, seed=0, mnist_x=x_mnist)
    >>> rows = keras_ceb.evaluation.evaluate_ood(model, x_test, sets)
    """
    in_scores = ood_scores(model, x_in, num_samples, batch_size, output_key)
    out_scores = {name: ood_scores(model, x, num_samples, batch_size, output_key)
                  for name, x in ood_sets.items()}
    directions = {k: SCORE_DIRECTIONS[k] for k in in_scores}
    return ood.ood_report(in_scores, out_scores, higher_is_in_distribution=directions)
