"""Tests for `as_dataset`: batching, seeded shuffling, crop+flip, on both pipelines.

Every semantic check runs on the `tf.data` pipeline (where TensorFlow is installed) and on the
backend-neutral `ArrayDataset` (`pipeline="py_dataset"`), which must behave the same.
"""

import importlib.util
import itertools

import keras
import numpy as np
import pytest

from keras_ceb import datasets
from keras_ceb.datasets import as_dataset

PIPELINES = [
    pytest.param(
        "tf.data",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed"
        ),
    ),
    "py_dataset",
]


@pytest.fixture(params=PIPELINES)
def pipeline(request):
    return request.param


def _batches(dataset):
    return [tuple(np.asarray(t) for t in batch) for batch in dataset]


def _first(dataset):
    return np.asarray(next(iter(dataset)))


def _labels(dataset):
    return np.concatenate([y for _, y in _batches(dataset)])


@pytest.fixture
def data():
    x = np.random.default_rng(0).random((10, 8, 8, 3)).astype("float32")
    return x, np.arange(10, dtype="int32")


def test_batch_shapes(data, pipeline):
    x, y = data
    batches = _batches(as_dataset(x, y, batch_size=4, pipeline=pipeline))
    shapes = [(b[0].shape, b[1].shape) for b in batches]
    assert shapes == [((4, 8, 8, 3), (4,)), ((4, 8, 8, 3), (4,)), ((2, 8, 8, 3), (2,))]
    dropped = _batches(as_dataset(x, y, batch_size=4, drop_remainder=True, pipeline=pipeline))
    assert [b[0].shape[0] for b in dropped] == [4, 4]


def test_inputs_only(data, pipeline):
    x, _ = data
    batches = [
        np.asarray(b) for b in as_dataset(x, batch_size=3, shuffle=False, pipeline=pipeline)
    ]
    np.testing.assert_array_equal(np.concatenate(batches), x)


def test_no_shuffle_keeps_order_and_dtypes(data, pipeline):
    x, y = data
    batches = _batches(as_dataset(x, y, batch_size=3, shuffle=False, pipeline=pipeline))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int32


def test_seeded_shuffle_is_reproducible_and_reshuffles_each_epoch(data, pipeline):
    x, y = data
    first = as_dataset(x, y, batch_size=4, seed=1, pipeline=pipeline)
    second = as_dataset(x, y, batch_size=4, seed=1, pipeline=pipeline)
    epochs_first = [_labels(first), _labels(first)]
    epochs_second = [_labels(second), _labels(second)]
    for a, b in zip(epochs_first, epochs_second):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.sort(a), y)  # A permutation.
    assert not np.array_equal(epochs_first[0], epochs_first[1])
    assert not np.array_equal(epochs_first[0], y)
    other_seed = _labels(as_dataset(x, y, batch_size=4, seed=2, pipeline=pipeline))
    assert not np.array_equal(other_seed, epochs_first[0])


def test_shuffle_keeps_pairs_together(data, pipeline):
    x, y = data
    for xb, yb in _batches(as_dataset(x, y, batch_size=4, seed=3, pipeline=pipeline)):
        np.testing.assert_array_equal(xb, x[yb])


def test_repeat(data, pipeline):
    x, y = data
    ds = as_dataset(x, y, batch_size=4, repeat=True, shuffle=False, pipeline=pipeline)
    batches = _batches(itertools.islice(ds, 5))
    labels = np.concatenate([b[1] for b in batches])
    np.testing.assert_array_equal(labels, np.concatenate([y, y])[:20])


def test_crop_flip_keeps_shapes_dtype_range_and_labels(pipeline):
    x = np.random.default_rng(1).random((64, 32, 32, 3)).astype("float32")
    y = np.arange(64, dtype="int32") % 10
    ds = as_dataset(
        x, y, batch_size=16, shuffle=False, augment="crop_flip", seed=0, pipeline=pipeline
    )
    batches = _batches(ds)
    out = np.concatenate([b[0] for b in batches])
    assert [b[0].shape for b in batches] == [(16, 32, 32, 3)] * 4
    assert out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    assert not np.array_equal(out, x)


def test_crop_flip_is_a_shift_and_a_flip(pipeline):
    # Column w of every image holds (w + 1) / 32: a crop shifts the ramp by
    # at most 4 columns (zero padding outside), a flip reverses it.
    ramp = (np.arange(32, dtype="float32") + 1) / 32
    x = np.broadcast_to(ramp[None, None, :, None], (64, 32, 32, 1)).copy()
    ds = as_dataset(
        x, batch_size=64, shuffle=False, augment="crop_flip", seed=5, pipeline=pipeline
    )
    out = _first(ds)
    flipped = 0
    for image in out:
        row = image[16, :, 0]
        inside = row[row > 0]
        assert 28 <= len(inside) <= 32
        steps = np.diff(inside)
        assert np.allclose(np.abs(steps), 1 / 32)
        flipped += bool(steps[0] < 0)
        # Rows are cropped too: every column is constant except zero rows.
        column = image[:, np.argmax(row), 0]
        assert 28 <= np.count_nonzero(column) <= 32
    assert 10 < flipped < 54  # Both orientations occur.


def test_crop_flip_seeded_is_reproducible_and_varies_per_epoch(pipeline):
    x = np.random.default_rng(2).random((8, 16, 16, 3)).astype("float32")
    ds = as_dataset(x, batch_size=8, shuffle=False, augment="crop_flip", seed=7, pipeline=pipeline)
    again = as_dataset(
        x, batch_size=8, shuffle=False, augment="crop_flip", seed=7, pipeline=pipeline
    )
    epoch1 = _first(ds)
    list(ds)  # The rest of the first epoch.
    epoch2 = _first(ds)
    np.testing.assert_array_equal(epoch1, _first(again))
    assert not np.array_equal(epoch1, epoch2)


def test_fits_a_keras_model(data, pipeline):
    x, y = data
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(
        as_dataset(x, y, batch_size=5, augment="crop_flip", seed=0, pipeline=pipeline),
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"batch_size": 2.5}, "batch_size=2.5"),
        ({"batch_size": True}, "batch_size=True"),
        ({"augment": "mixup"}, "augment='mixup'"),
        ({"seed": "a"}, "seed='a'"),
        ({"shuffle": 1}, "shuffle=1"),
        ({"drop_remainder": None}, "drop_remainder=None"),
        ({"repeat": "no"}, "repeat='no'"),
        ({"pipeline": "grain"}, "pipeline='grain'"),
        ({"y": np.zeros(3)}, r"x.shape=\(10, 8, 8, 3\), y.shape=\(3,\)"),
    ],
)
def test_argument_validation(data, kwargs, received):
    x, y = data
    kwargs = {"y": y, **kwargs}
    with pytest.raises(ValueError, match=f"Received: {received}$"):
        as_dataset(x, **kwargs)


def test_crop_flip_needs_images():
    with pytest.raises(ValueError, match=r"Received: x.shape=\(4, 3\)$"):
        as_dataset(np.zeros((4, 3)), augment="crop_flip")
    with pytest.raises(ValueError, match=r"Received: x.shape=\(0, 3\)$"):
        as_dataset(np.zeros((0, 3)))


def test_auto_pipeline_follows_the_backend(data):
    x, y = data
    dataset = as_dataset(x, y, batch_size=4)
    if keras.backend.backend() == "tensorflow":
        assert not isinstance(dataset, datasets.ArrayDataset)
    else:  # JAX and PyTorch never load TensorFlow for their input pipeline.
        assert isinstance(dataset, datasets.ArrayDataset)


def test_array_dataset_shards_are_the_global_batch():
    x = np.random.default_rng(3).random((12, 8, 8, 1)).astype("float32")
    y = np.arange(12)
    kwargs = dict(batch_size=6, seed=4, augment="crop_flip", drop_remainder=True)
    whole = datasets.ArrayDataset(x, y, **kwargs)
    shards = [datasets.ArrayDataset(x, y, shard=(i, 3), **kwargs) for i in range(3)]
    for index in range(len(whole)):
        parts = [shard[index] for shard in shards]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole[index][0])
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), whole[index][1])
