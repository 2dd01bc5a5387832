"""`EpochBatches`: each epoch's order is a function of the seed and the epoch only."""

import keras
import numpy as np
import pytest

from keras_ceb.datasets import EpochBatches


def _labels(batches, epoch):
    batches.set_epoch(epoch)
    return np.concatenate([batches[i][1] for i in range(len(batches))])


def test_each_epoch_is_a_permutation_keyed_on_seed_and_epoch():
    x = np.arange(10, dtype="float32")[:, None]
    y = np.arange(10)
    batches = EpochBatches(x, y, batch_size=4, seed=3)
    assert len(batches) == 3 and [len(batches[i][1]) for i in range(3)] == [4, 4, 2]
    orders = [_labels(batches, epoch) for epoch in range(3)]
    for order in orders:
        assert sorted(order) == list(range(10))
        np.testing.assert_array_equal(batches.x[order, 0], order)  # x and y stay paired.
    assert not np.array_equal(orders[0], orders[1])
    # A fresh object, as in a resumed process, gives epoch 2 the same order directly.
    np.testing.assert_array_equal(_labels(EpochBatches(x, y, 4, seed=3), 2), orders[2])
    assert not np.array_equal(_labels(EpochBatches(x, y, 4, seed=4), 2), orders[2])
    np.testing.assert_array_equal(_labels(EpochBatches(x, y, 4, shuffle=False), 5), y)
    with pytest.raises(IndexError):
        batches[3]


def test_the_callback_follows_fit_epochs_from_initial_epoch():
    x = np.arange(12, dtype="float32")[:, None]
    batches = EpochBatches(x, np.zeros(12, "float32"), batch_size=6, seed=0)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append((epoch, batches.epoch))

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(
        batches,
        epochs=4,
        initial_epoch=2,
        verbose=0,
        shuffle=False,
        callbacks=[batches.epoch_callback(), Record()],
    )
    assert seen == [(2, 2), (3, 3)]


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"batch_size": 2, "seed": -1}, "seed=-1"),
        ({"batch_size": 2, "y": np.zeros(3)}, r"y.shape=\(3,\)"),
    ],
)
def test_argument_validation(kwargs, received):
    kwargs = {"x": np.zeros((4, 2)), "y": np.zeros(4), **kwargs}
    with pytest.raises(ValueError, match=f"Received: .*{received}"):
        EpochBatches(**kwargs)
