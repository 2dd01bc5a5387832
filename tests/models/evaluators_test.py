"""Every evaluator of keras_ceb (scores, attacks, probabilities, SavedModel) takes the images
alone, for every head, including the paper's (`head="mlp"` under CEB, `head="catgen"`) whose
b(z|y) sees the labels in training."""

import keras
import numpy as np
import pytest

from keras_ceb import attacks
from keras_ceb import evaluation
from keras_ceb import export
from keras_ceb import inference
from keras_ceb import models


@pytest.fixture(scope="module", params=models.HEADS)
def trained(request):
    head = request.param
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1)).astype("float32")
    y = (np.arange(64) % 10).astype("int32")
    backbone = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
        ]
    )
    model = models.compile_classifier(
        models.build_classifier("ceb", head=head, backbone=backbone, marginal_components=4, seed=0)
    )
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    return head, model, x, y


def test_predict_takes_the_images(trained):
    _, model, x, _ = trained
    assert model.predict(x, verbose=0).shape == (64, 10)


def test_scores_take_images_alone(trained):
    _, model, x, _ = trained
    rate = evaluation.rate_scores(model, x)
    assert rate.shape == (64,) and np.all(np.isfinite(rate))
    np.testing.assert_allclose(
        rate, keras.ops.convert_to_numpy(model.rate(x)), rtol=1e-5, atol=1e-5
    )
    assert set(evaluation.ood_scores(model, x)) == {
        "rate",
        "entropy",
        "max_softmax",
        "max_logit",
        "energy",
    }
    rows = evaluation.evaluate_ood(model, x, {"noise": np.clip(x * 3, 0, 1)})
    assert {row["score"] for row in rows} == {
        "rate",
        "entropy",
        "max_softmax",
        "max_logit",
        "energy",
    }
    probs = inference.predict_probabilities(model, x)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)


def test_attacks_take_images_alone(trained):
    _, model, x, y = trained
    x_adv = attacks.pgd_attack(model, x[:8], y[:8], eps=0.1, steps=2, seed=0)
    assert x_adv.shape == (8, 28, 28, 1) and np.max(np.abs(x_adv - x[:8])) <= 0.1 + 1e-6
    assert attacks.predict_classes(model, x_adv).shape == (8,)
    losses, gradient = attacks.loss_gradient(model, x[:4], y[:4])
    assert losses.shape == (4,) and gradient.shape == (4, 28, 28, 1)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="SavedModel is TensorFlow's")
def test_the_saved_model_serves_images_alone(trained, tmp_path):
    import tensorflow as tf

    _, model, x, _ = trained
    export.export_saved_model(model, tmp_path / "served")
    served = tf.saved_model.load(str(tmp_path / "served"))
    logits = served.serve(x[:4])
    np.testing.assert_allclose(
        np.asarray(logits), model.predict(x[:4], verbose=0), rtol=1e-4, atol=1e-5
    )
    assert np.asarray(served.rate(x[:4])).shape == (4,)
