"""Tests for `keras_ceb.evaluation.memorization`: random labels and the memorization run."""

import keras
import numpy as np
import pytest

from keras_ceb.evaluation import MemorizationResult
from keras_ceb.evaluation import memorization_run
from keras_ceb.evaluation import random_labels

NUM_CLASSES = 10


def test_random_labels_are_fixed_and_in_range():
    labels = random_labels(5000, NUM_CLASSES, seed=0)
    assert labels.shape == (5000,) and labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == NUM_CLASSES - 1
    np.testing.assert_array_equal(labels, random_labels(5000, NUM_CLASSES, seed=0))
    assert not np.array_equal(labels, random_labels(5000, NUM_CLASSES, seed=1))
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    assert np.all(np.abs(counts - 500) < 100)  # roughly uniform (5 sigma is about 106)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_examples": 0}, "num_examples"),
        ({"num_classes": 1}, "num_classes"),
        ({"seed": -3}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_random_labels_bad_arguments(kwargs, argument):
    arguments = {"num_examples": 10, "num_classes": 3, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=rf"Received: {argument}="):
        random_labels(**arguments)


def make_builder(hidden=256, learning_rate=1e-2, loss="sparse"):
    def build():
        model = keras.Sequential(
            [
                keras.Input((32,)),
                keras.layers.Dense(hidden, activation="relu"),
                keras.layers.Dense(NUM_CLASSES),
            ]
        )
        loss_fn = (
            keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            if loss == "sparse"
            else keras.losses.CategoricalCrossentropy(from_logits=True)
        )
        model.compile(keras.optimizers.Adam(learning_rate), loss_fn)
        return model

    return build


def random_inputs(num_examples=256):
    return np.random.default_rng(0).normal(size=(num_examples, 32)).astype("float32")


def test_a_wide_mlp_memorizes_random_labels():
    x = random_inputs()
    result = memorization_run(make_builder(), x, NUM_CLASSES, epochs=15, batch_size=32, seed=0)
    assert isinstance(result, MemorizationResult)
    assert result.chance_level == 0.1 and len(result.train_accuracy) == 15
    np.testing.assert_array_equal(result.labels, random_labels(256, NUM_CLASSES, seed=0))
    assert abs(result.initial_accuracy - result.chance_level) < 0.1  # untrained: near chance
    assert result.final_accuracy > 0.9  # far above chance: it memorized information-free labels
    assert len(result.history["loss"]) == 15
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_a_model_that_cannot_learn_stays_at_chance_and_one_hot_labels_work():
    x = random_inputs()
    result = memorization_run(
        make_builder(learning_rate=0.0, loss="categorical"),
        x,
        NUM_CLASSES,
        epochs=3,
        batch_size=128,
        seed=1,
        one_hot=True,
    )
    # Learning rate 0: weights never change, so the accuracy is the same every epoch and close
    # to chance (its standard deviation over 256 random labels is about 0.02).
    assert set(result.train_accuracy) == {result.initial_accuracy}
    assert abs(result.final_accuracy - result.chance_level) < 0.1


def test_memorization_run_bad_arguments():
    x = random_inputs(16)

    def uncompiled():
        return keras.Sequential([keras.Input((32,)), keras.layers.Dense(NUM_CLASSES)])

    with pytest.raises(ValueError, match="compiled"):
        memorization_run(uncompiled, x, NUM_CLASSES, epochs=1)
    with pytest.raises(ValueError, match="keras.Model"):
        memorization_run(lambda: "not a model", x, NUM_CLASSES, epochs=1)
    with pytest.raises(ValueError, match="Received: build_model="):
        memorization_run(None, x, NUM_CLASSES)
    with pytest.raises(ValueError, match="Received: num_classes=1"):
        memorization_run(make_builder(), x, 1)
    with pytest.raises(ValueError, match="Received: epochs=0"):
        memorization_run(make_builder(), x, NUM_CLASSES, epochs=0)
    with pytest.raises(ValueError, match="Received: x="):
        memorization_run(make_builder(), np.zeros((0, 32)), NUM_CLASSES)
    with pytest.raises(ValueError, match=r"Received: x=dict\(shapes=\[\(256, 32\), \(3, 32\)\]\)"):
        memorization_run(make_builder(), {"a": random_inputs(), "b": x[:3]}, NUM_CLASSES)
    with pytest.raises(ValueError, match=r"num_examples, num_classes"):
        memorization_run(make_builder(), x, 5, epochs=1)  # outputs 10 classes, not 5


def test_accuracy_on_a_subset_of_the_training_inputs():
    x = random_inputs()
    result = memorization_run(
        make_builder(), x, NUM_CLASSES, epochs=2, batch_size=32, seed=0, accuracy_examples=64
    )
    for accuracy in [result.initial_accuracy] + result.train_accuracy:
        assert round(accuracy * 64) == pytest.approx(accuracy * 64)  # a fraction of 64 inputs
    with pytest.raises(ValueError, match="Received: accuracy_examples=0"):
        memorization_run(make_builder(), x, NUM_CLASSES, accuracy_examples=0)


def test_an_interrupted_run_resumes_from_its_last_epoch(tmp_path, monkeypatch):
    from keras_ceb.evaluation import memorization

    x = random_inputs()
    backup = tmp_path / "backup"
    real_accuracy, calls = memorization._accuracy, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 4:  # the initial pass, epochs 1 and 2, then killed after epoch 3
            raise KeyboardInterrupt
        return real_accuracy(*args)

    monkeypatch.setattr(memorization, "_accuracy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        memorization_run(
            make_builder(), x, NUM_CLASSES, epochs=15, batch_size=32, seed=0, backup_dir=backup
        )
    saved = memorization.json.loads((backup / memorization.ACCURACY_FILE).read_text())
    assert len(saved["train_accuracy"]) == 2
    monkeypatch.setattr(memorization, "_accuracy", real_accuracy)

    result = memorization_run(
        make_builder(), x, NUM_CLASSES, epochs=15, batch_size=32, seed=0, backup_dir=backup
    )
    assert result.train_accuracy[:2] == saved["train_accuracy"]
    assert result.initial_accuracy == saved["initial_accuracy"]
    assert len(result.train_accuracy) == 15 and len(result.history["loss"]) == 13
    assert result.final_accuracy > 0.9  # the weights and optimizer state were restored
    assert not backup.exists()  # cleaned up once finished
