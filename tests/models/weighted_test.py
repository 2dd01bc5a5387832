"""`keras_ceb.models.Sequential` and `Model`: sample and class weights weight every term."""

import keras
import numpy as np
import pytest

import keras_ceb
from tests.backend_utils import to_numpy


def data(n=64):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n).astype("int32")
    return (rng.normal(size=(3, 8))[y] * 2 + rng.normal(size=(n, 8))).astype("float32"), y


def layers(objective):
    head = keras_ceb.BackwardEncoder(3) if objective != "vib" else keras.layers.Dense(3)
    return [
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras_ceb.StochasticEncoder(2, objective=objective, marginal=3, seed=0),
        head,
    ]


def fit_moves(model, **fit_kwargs):
    x, y = data()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0, **fit_kwargs).history
    moved = [not np.array_equal(a, to_numpy(w)) for a, w in zip(before, model.trainable_weights)]
    return any(moved), history["loss"][0]


@pytest.mark.parametrize("objective", ["ceb", "vib", "determ"])
def test_zero_weights_leave_the_model_unchanged(objective):
    keras.utils.set_random_seed(0)
    moved, loss = fit_moves(
        keras_ceb.models.Sequential(layers(objective)), sample_weight=np.zeros(64)
    )
    assert not moved and abs(loss) < 1e-6
    # keras.Sequential weights the cross-entropy only: the layers' terms still train it.
    if objective != "determ":
        assert fit_moves(keras.Sequential(layers(objective)), sample_weight=np.zeros(64))[0]


def test_class_weights_and_the_functional_model():
    keras.utils.set_random_seed(0)
    inputs, *rest = layers("ceb")
    outputs = inputs
    for layer in rest:
        outputs = layer(outputs)
    model = keras_ceb.models.Model(inputs, outputs)
    assert not fit_moves(model, class_weight={0: 0.0, 1: 0.0, 2: 0.0})[0]


def test_unit_weights_change_nothing_and_weights_scale_the_terms():
    """Weights of 1 give the unweighted loss; the correction is sum((w - 1) * shares)."""
    shares = [keras.ops.convert_to_tensor([0.25, 0.5, 1.0]), keras.ops.convert_to_tensor(2.0)]
    weight = np.array([1.0, 0.0, 3.0], "float32")
    correction = keras_ceb.models.weighted_added_losses(shares, weight)
    np.testing.assert_allclose(float(to_numpy(correction)), -0.5 + 2.0, rtol=1e-6)
    assert float(to_numpy(keras_ceb.models.weighted_added_losses(shares, np.ones(3)))) == 0.0
    x, y = data()
    losses = []
    for cls, kwargs in (
        (keras.Sequential, {}),
        (keras_ceb.models.Sequential, {"sample_weight": np.ones(64)}),
    ):
        keras.utils.set_random_seed(0)
        losses.append(fit_moves(cls(layers("ceb")), **kwargs)[1])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_saved_and_reloaded_as_itself(tmp_path):
    model = keras_ceb.models.Sequential(layers("ceb"))
    fit_moves(model)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert type(reloaded) is keras_ceb.models.Sequential
    x, _ = data()
    np.testing.assert_allclose(
        to_numpy(reloaded.predict(x, verbose=0)),
        to_numpy(model.predict(x, verbose=0)),
        rtol=1e-5,
        atol=1e-5,
    )
