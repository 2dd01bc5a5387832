"""`linear_probe`: a softmax regression on frozen features, against scikit-learn."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from keras_ceb.evaluation import linear_probe


def test_matches_logistic_regression():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 1200)
    centers = rng.normal(size=(4, 5))
    features = centers[labels] + 1.2 * rng.normal(size=(1200, 5))
    result = linear_probe(features[:900], labels[:900], features[900:], labels[900:])
    reference = LogisticRegression(max_iter=2000).fit(features[:900], labels[:900])
    assert abs(result["test_accuracy"] - reference.score(features[900:], labels[900:])) <= 0.02
    assert abs(result["train_accuracy"] - reference.score(features[:900], labels[:900])) <= 0.02
    chance = linear_probe(
        rng.normal(size=(900, 5)), labels[:900], rng.normal(size=(300, 5)), labels[900:]
    )
    assert chance["test_accuracy"] < 0.35


def test_shape_errors():
    with pytest.raises(ValueError, match="Received: train_features.shape"):
        linear_probe(np.zeros((4, 2)), np.zeros(3), np.zeros((2, 2)), np.zeros(2))
