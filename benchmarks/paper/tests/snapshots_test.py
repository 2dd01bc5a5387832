"""`CalibrationSnapshots`: the probabilities at chosen epochs, kept across a resumed run."""

import keras
import numpy as np

from benchmarks.paper.snapshots import CalibrationSnapshots
from keras_ceb import models


def _model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_snapshots_are_saved_as_taken_and_loaded_when_training_resumes(tmp_path):
    x, y = np.random.default_rng(0).random((32, 4)).astype("float32"), np.arange(32) % 3
    path = tmp_path / "calibration.npz"
    model = _model()
    first = CalibrationSnapshots(x, epochs=(1, 3), path=path)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[first])  # "killed" after epoch 2
    assert sorted(first.probabilities) == [1]
    with np.load(path) as saved:
        assert saved.files == ["epoch_1"]
    resumed = CalibrationSnapshots(x, epochs=(1, 3), path=path)
    model.fit(x, y, initial_epoch=2, epochs=3, verbose=0, callbacks=[resumed])
    assert sorted(resumed.probabilities) == [1, 3]
    np.testing.assert_array_equal(resumed.probabilities[1], first.probabilities[1])


def test_the_papers_mlp_head_is_given_images_alone():
    backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu")])
    model = models.compile_classifier(
        models.build_classifier(
            "ceb",
            input_shape=(4,),
            num_classes=3,
            head="mlp",
            backbone=backbone,
            marginal_components=2,
        )
    )
    x, y = np.random.default_rng(1).random((16, 4)).astype("float32"), np.arange(16) % 3
    snapshots = CalibrationSnapshots(x, epochs=(1,))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[snapshots])
    np.testing.assert_allclose(snapshots.probabilities[1].sum(axis=-1), 1.0, rtol=1e-5)
