"""`run_layer_test`: the checks every keras_ceb layer gets (like Keras's `run_layer_test`).

Given a function that builds a small model around the layer under test (with the layer named
`"under_test"`) for a dtype policy, it checks: the config round trip of the layer; the number
of losses the layer adds in a training call (and none at inference); that a short `fit`
trains to a finite loss; that `.keras` saving reloads the same predictions; that `predict`
changes no state; and the same model under `mixed_float16`, whose added losses are float32.
"""

import math

import keras
import numpy as np

from tests.backend_utils import to_numpy


def _state(model):
    return [to_numpy(v).copy() for v in model.variables]


def _as_float32(tree):
    return [np.asarray(to_numpy(t), "float32") for t in keras.tree.flatten(tree)]


def run_layer_test(
    build_model,
    x,
    y,
    expected_num_losses,
    tmp_path,
    mixed_precision=True,
    loss="sparse_categorical_crossentropy",
    inference_num_losses=0,
):
    """Runs the shared checks; `build_model(dtype)` returns an uncompiled model.

    Args:
        build_model: `dtype -> keras.Model`, the layer under test named `"under_test"`.
        x, y: A small training set (x in the model's input format).
        expected_num_losses: Losses the layer adds in one training call.
        tmp_path: A folder for the saved model.
        mixed_precision: Also run the model under `mixed_float16`.
        loss: The compiled loss (`None` when the layers add the whole objective).
        inference_num_losses: Losses the layer adds at inference (for `evaluate`'s loss).
    """
    if loss == "sparse_categorical_crossentropy":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = build_model(None)
    layer = model.get_layer("under_test")

    # Serialization round trip of the layer's config.
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == layer.get_config()

    # Added losses: the objective's terms in training, nothing at inference.
    model(x, training=True)
    assert len(layer.losses) == expected_num_losses, [str(v) for v in layer.losses]
    for value in layer.losses:
        assert np.all(np.isfinite(to_numpy(value)))
    model(x, training=False)
    assert len(layer.losses) == inference_num_losses, "unexpected losses at inference"

    model.compile(keras.optimizers.Adam(1e-2), loss=loss)
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    assert all(math.isfinite(v) for v in history["loss"]), history

    # predict changes no state and is deterministic.
    before = _state(model)
    first = _as_float32(model.predict(x, verbose=0))
    second = _as_float32(model.predict(x, verbose=0))
    for a, b in zip(before, _state(model)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    for a, b in zip(first, _as_float32(reloaded.predict(x, verbose=0))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    if mixed_precision:
        mixed = build_model("mixed_float16")
        mixed_layer = mixed.get_layer("under_test")
        mixed(x, training=True)
        assert len(mixed_layer.losses) == expected_num_losses
        for value in mixed_layer.losses:
            assert keras.backend.standardize_dtype(value.dtype) == "float32", value.dtype
        mixed.compile(keras.optimizers.Adam(1e-2), loss=loss)
        history = mixed.fit(x, y, epochs=1, batch_size=32, verbose=0).history
        assert all(math.isfinite(v) for v in history["loss"]), history
        predictions = _as_float32(mixed.predict(x, verbose=0))
        assert all(np.all(np.isfinite(p)) for p in predictions)
        mixed.save(tmp_path / "mixed.keras")
        reloaded = keras.models.load_model(tmp_path / "mixed.keras", safe_mode=True)
        for a, b in zip(predictions, _as_float32(reloaded.predict(x, verbose=0))):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
    return model
