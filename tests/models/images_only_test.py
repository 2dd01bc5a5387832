"""The paper's models (`head="mlp"` under CEB, and `head="catgen"`) take `{"images", "labels"}`;
every evaluator of keras_ceb takes them with images alone (`keras_ceb.inference.images_only`)."""

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
    backbone = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                 keras.layers.Dense(16, activation="relu")])
    model = models.compile_classifier(models.build_classifier(
        "ceb", head=head, backbone=backbone, marginal_components=4, seed=0))
    inputs = {"images": x, "labels": y} if models.takes_labels(model) else x
    model.fit(inputs, y, epochs=1, batch_size=32, verbose=0)
    return head, model, x, y


def test_the_images_only_model(trained):
    head, model, x, _ = trained
    served = inference.images_only(model)
    assert served is inference.images_only(model)  # Made once.
    assert (served is model) == (head == "consistent")
    assert served.predict(x, verbose=0).shape == (64, 10)


def test_scores_take_images_alone(trained):
    _, model, x, _ = trained
    rate = evaluation.rate_scores(model, x)
    assert rate.shape == (64,) and np.all(np.isfinite(rate))
    np.testing.assert_allclose(rate, evaluation.rate_scores(inference.images_only(model), x))
    assert set(evaluation.ood_scores(model, x)) == {"rate", "entropy", "max_softmax",
                                                    "max_logit", "energy"}
    rows = evaluation.evaluate_ood(model, x, {"noise": np.clip(x * 3, 0, 1)})
    assert {row["score"] for row in rows} == {"rate", "entropy", "max_softmax", "max_logit",
                                              "energy"}
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
    np.testing.assert_allclose(np.asarray(logits), inference.images_only(model).predict(
        x[:4], verbose=0), rtol=1e-4, atol=1e-5)
    assert np.asarray(served.rate(x[:4])).shape == (4,)


@pytest.mark.parametrize("objective", ["ceb", "vib", "determ"])
@pytest.mark.parametrize("head", models.HEADS)
def test_head_takes_labels_says_what_the_builder_makes(objective, head):
    backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8)])
    model = models.build_classifier(objective, head=head, backbone=backbone)
    assert models.head_takes_labels(objective, head) == models.takes_labels(model)
