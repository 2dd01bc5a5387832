"""`build_classifier(head="catgen")`: the paper's CIFAR-10 head on the shared architecture."""

import keras
import numpy as np

import keras_ceb
from keras_ceb import models
from tests.backend_utils import to_numpy


def _backbone():
    return keras.Sequential(
        [keras.Input((6, 6, 3)), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu")]
    )


def test_catgen_classifier_trains_and_serves_images_only(tmp_path):
    objective = (
        "ceb"  # Determ with this head runs in benchmarks/paper/tests (CIFAR-10 end to end).
    )
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = (np.arange(64) % 4).astype("int32")
    x = (rng.random((64, 6, 6, 3)) * 0.2 + y[:, None, None, None] / 5).astype("float32")
    model = models.build_classifier(
        objective,
        input_shape=(6, 6, 3),
        num_classes=4,
        backbone=_backbone(),
        head="catgen",
        seed=0,
        marginal_components=4,
    )
    assert model.needs_labels and isinstance(model.head, keras_ceb.CatGenHead)
    models.compile_classifier(model, learning_rate=1e-2)
    assert model.loss is None  # the head adds the whole objective
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert {"loss", "accuracy", "i_yz", "rex", "i_xz_lower", "rate"} <= set(history.history)
    logits = model.predict(x, verbose=0)  # the consistent classifier: no labels needed
    assert logits.shape == (64, 4)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(to_numpy(reloaded(x)), logits, rtol=1e-5, atol=1e-5)
    assert models.classifier_metrics(objective, "catgen") == ["accuracy"]
