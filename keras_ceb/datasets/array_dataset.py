"""`ArrayDataset`: the backend-neutral input pipeline (a `keras.utils.PyDataset` over NumPy).

`keras_ceb.datasets.as_dataset` returns it where TensorFlow is not installed (a machine with
only Keras and JAX) or where it is asked for (`pipeline="py_dataset"`); it has the semantics
of the `tf.data` pipeline: a new shuffle every epoch (reproducible with a seed), pad-4 random
crops and horizontal flips drawn per image, batches in order, an optional endless stream.
"""

import math

import keras
import numpy as np

CROP_PADDING = 4


def crop_flip(images, rng):
    """Pad-4 random crop and random horizontal flip of an NHWC batch, in NumPy.

    Every image gets its own offsets and flip; zero padding keeps the value range.

    Examples:

        >>> out = crop_flip(np.ones((2, 8, 8, 1), "float32"), np.random.default_rng(0))
        >>> out.shape, out.dtype, bool(0.0 <= out.min() <= out.max() <= 1.0)
        ((2, 8, 8, 1), dtype('float32'), True)
    """
    batch, height, width = images.shape[:3]
    pad = CROP_PADDING
    padded = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    offsets = rng.integers(0, 2 * pad + 1, size=(batch, 2))
    flip = rng.random(batch) < 0.5
    rows = offsets[:, :1] + np.arange(height)[None, :]
    cols = offsets[:, 1:] + np.arange(width)[None, :]
    cropped = padded[np.arange(batch)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return np.where(flip[:, None, None, None], cropped[:, :, ::-1], cropped)


class ArrayDataset(keras.utils.PyDataset):
    """Batches of NumPy arrays for `fit`, `evaluate` and `predict`, on any Keras backend.

    Epoch `e` is a permutation drawn from `(seed, e)` and batch `i` of it is augmented from
    `(seed, e, i)`, so any batch can be produced on its own (Keras asks for them by index),
    a seeded run is reproducible, and every process of a multi-process run can cut its share
    of the same global batch.

    Args:
        x: Inputs, `[N, ...]`.
        y: Labels `[N]`, or `None` for batches of `x` only.
        batch_size: Examples per (global) batch.
        shuffle: Shuffle the whole array every epoch.
        augment: `None` or `"crop_flip"` (NHWC images).
        seed: Integer seed; `None` draws one.
        drop_remainder: Drop the last, smaller batch.
        repeat: An endless stream of epochs (pass `steps_per_epoch` to `fit`).
        shard: `(index, count)`: yield rows `[index * b, (index + 1) * b)` of every batch,
            `b = batch_size // count` (the share of process `index` of `count`); `None` for
            whole batches.

    Examples:

        >>> data = ArrayDataset(np.zeros((10, 4), "float32"), np.arange(10), batch_size=4, seed=0)
        >>> len(data), [tuple(x.shape) for x, _ in data]
        (3, [(4, 4), (4, 4), (2, 4)])
    """

    def __init__(
        self,
        x,
        y=None,
        batch_size=128,
        shuffle=True,
        augment=None,
        seed=None,
        drop_remainder=False,
        repeat=False,
        shard=None,
    ):
        super().__init__()
        if augment not in (None, "crop_flip"):
            raise ValueError(
                "ArrayDataset augments with `None` or 'crop_flip' only ('autoaugment' is "
                "TensorFlow ops: use the tf.data pipeline or `EpochBatches`). "
                f"Received: augment={augment!r}"
            )
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle, self.augment, self.repeat = shuffle, augment, repeat
        self.drop_remainder = drop_remainder
        self.seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else int(seed)
        self.shard = shard
        self.epoch = 0

    @property
    def num_batches(self):
        if self.repeat:
            return None
        count = len(self.x) / self.batch_size
        return int(math.floor(count) if self.drop_remainder else math.ceil(count))

    def __len__(self):
        if self.repeat:
            raise TypeError("An endless ArrayDataset (repeat=True) has no length.")
        return self.num_batches

    def _rows(self, index):
        """Indices into `x` of (global) batch `index`."""
        n = len(self.x)
        if self.repeat:
            positions = index * self.batch_size + np.arange(self.batch_size)
            epochs, within = positions // n, positions % n
        else:
            within = np.arange(index * self.batch_size, min((index + 1) * self.batch_size, n))
            epochs = np.full(len(within), self.epoch)
        if not self.shuffle:
            return within
        rows = np.empty_like(within)
        for epoch in np.unique(epochs):
            permutation = np.random.default_rng([self.seed, int(epoch), 0]).permutation(n)
            rows[epochs == epoch] = permutation[within[epochs == epoch]]
        return rows

    def __getitem__(self, index):
        if not self.repeat and not 0 <= index < self.num_batches:
            raise IndexError(f"Batch index out of range. Received: index={index}")
        rows = self._rows(index)
        x = self.x[rows]
        if self.augment == "crop_flip":
            x = crop_flip(x, np.random.default_rng([self.seed, self.epoch, int(index), 1]))
        part = slice(None)
        if self.shard is not None:
            shard_index, count = self.shard
            size = self.batch_size // count
            part = slice(shard_index * size, (shard_index + 1) * size)
        if self.y is None:
            return x[part]
        return x[part], self.y[rows][part]

    def __iter__(self):
        # Iterating by hand ends an epoch, as iterating a `tf.data.Dataset` reshuffles.
        index = 0
        while self.repeat or index < self.num_batches:
            yield self[index]
            index += 1
        self.on_epoch_end()

    def on_epoch_end(self):
        self.epoch += 1
