"""Callbacks for training that survives a kill: `EpochSeeding` and `TerminateOnNonFinite`."""

import keras
import numpy as np
import pytest

import keras_ceb
from keras_ceb.callbacks import EpochSeeding
from keras_ceb.callbacks import NonFiniteTrainingError
from keras_ceb.callbacks import TerminateOnNonFinite
from keras_ceb.datasets import EpochBatches
from tests.backend_utils import to_numpy


def _noisy_model():
    """A model whose training draws random numbers (dropout) from a seed generator."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.5, seed=1),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


def _fit(backup, epochs, seeding, stop_after=None):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 3, 64)
    batches = EpochBatches(x, y, batch_size=16, seed=0)
    model = _noisy_model()

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == stop_after:
                raise RuntimeError("killed")

    callbacks = [
        batches.epoch_callback(),
        *([EpochSeeding(0)] if seeding else []),
        keras.callbacks.BackupAndRestore(str(backup)),
        Stop(),
    ]
    try:
        model.fit(batches, epochs=epochs, verbose=0, shuffle=False, callbacks=callbacks)
    except RuntimeError:
        return None
    return [to_numpy(w) for w in model.weights]


@pytest.mark.parametrize("seeding", [True, False])
def test_epoch_seeding_makes_a_resumed_run_draw_the_same_noise(tmp_path, seeding):
    """BackupAndRestore does not save the seed generators' states: without `EpochSeeding` the
    resumed epochs draw other dropout masks and end elsewhere."""
    uninterrupted = _fit(tmp_path / "a", 3, seeding)
    assert _fit(tmp_path / "b", 3, seeding, stop_after=1) is None
    resumed = _fit(tmp_path / "b", 3, seeding)
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(uninterrupted, resumed))
    if seeding:
        assert difference < 1e-6, difference
    else:
        assert difference > 1e-3, difference


def test_epoch_seeding_validates_its_seed():
    with pytest.raises(ValueError, match=r"Received: seed=-1"):
        EpochSeeding(-1)


def test_a_non_finite_loss_stops_training_at_its_batch():
    x = np.ones((32, 4), "float32")
    x[20, 1] = np.nan  # In the third batch of 8.
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(NonFiniteTrainingError, match="the loss is nan at epoch 1, batch 3") as e:
        model.fit(
            x,
            np.zeros(32),
            batch_size=8,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[TerminateOnNonFinite()],
        )
    assert (e.value.epoch, e.value.batch) == (1, 3)


def test_a_non_finite_weight_stops_training_before_it_is_saved(tmp_path):
    """The loss can stay finite while a weight is NaN: the weights are checked at each epoch's
    end, before BackupAndRestore saves them."""
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, name="dense"), keras.layers.Dense(1, name="out")]
    )
    model.compile("sgd", "mse")

    class Poison(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # After the last batch: the logged loss is still finite.
                kernel = to_numpy(self.model.get_layer("dense").kernel)
                kernel[0, 0] = np.nan
                self.model.get_layer("dense").kernel.assign(kernel)

    backup = keras.callbacks.BackupAndRestore(str(tmp_path), delete_checkpoint=False)
    with pytest.raises(
        NonFiniteTrainingError, match="the weight .*dense/kernel is not finite at epoch 2$"
    ):
        model.fit(
            np.ones((8, 4), "float32"),
            np.zeros(8),
            epochs=3,
            verbose=0,
            callbacks=[Poison(), TerminateOnNonFinite(), backup],
        )
    assert (tmp_path / "training_metadata.json").read_text() == '{"epoch": 1, "batch": 0}'


def test_exported_names():
    assert keras_ceb.callbacks.TerminateOnNonFinite is TerminateOnNonFinite
    assert keras_ceb.callbacks.EpochSeeding is EpochSeeding
