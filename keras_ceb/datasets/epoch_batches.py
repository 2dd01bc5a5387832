"""`EpochBatches`: shuffled batches whose order depends only on the seed and the epoch."""

import math

import keras
import numpy as np

from keras_ceb.datasets import pipeline


class EpochBatches(keras.utils.PyDataset):
    """Shuffled batches of NumPy arrays, in an order that depends only on `seed` and the epoch.

    `tf.data`'s `shuffle(..., reshuffle_each_iteration=True)` draws each epoch's order from
    a state that starts afresh with every process, so a run resumed by
    `keras.callbacks.BackupAndRestore` at epoch 3 would see epoch 0's order again. Here the
    order of epoch `e` is the permutation drawn by `np.random.default_rng([seed, e])`, and the
    callback from `epoch_callback()` tells the dataset which epoch `fit` is in, resumed or
    not: a resumed run sees the batches an uninterrupted one would have seen. Pass
    `shuffle=False` to `fit`: with `shuffle=True` Keras reorders a `PyDataset`'s batches with
    Python's global `random`, which a resumed process does not reproduce.

    Args:
        x: Array of inputs, `N` examples.
        y: Array of `N` labels.
        batch_size: Examples per batch (the last batch of an epoch may be smaller).
        seed: Integer seed of the shuffling.
        shuffle: Whether to shuffle; `False` keeps the array order every epoch.
        augment: `None`, `"crop_flip"` or `"autoaugment"`: augment each batch of images in
            [0, 1] (`keras_ceb.datasets.pipeline.augment_batch`, TensorFlow ops), with draws
            that depend only on `seed`, the epoch and the batch, so a resumed run sees the
            augmentations an uninterrupted one would have.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of
            `keras.utils.PyDataset`.

    Under a multi-process `keras.distribution` (JAX, `keras_ceb.distribute.data_parallel`),
    build it inside the distribution's scope: each process then yields its share of every
    global batch of `batch_size` examples (rows `[i b, (i + 1) b)` for process `i`,
    `b = batch_size / processes`), and an epoch's incomplete last batch is dropped. Every
    process must use the same `seed`.

    Examples:

        >>> x, y = np.arange(10, dtype="float32")[:, None], np.arange(10)
        >>> batches = EpochBatches(x, y, batch_size=4, seed=0)
        >>> len(batches), batches[2][0].shape
        (3, (2, 1))
        >>> model.fit(batches, epochs=5, shuffle=False, callbacks=[
        ...     batches.epoch_callback(), keras.callbacks.BackupAndRestore("backup")])
        ... # doctest: +SKIP
    """

    def __init__(self, x, y, batch_size, seed=0, shuffle=True, augment=None, **kwargs):
        super().__init__(**kwargs)
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim < 1 or len(x) == 0 or len(y) != len(x):
            raise ValueError(
                "`x` and `y` must hold the same positive number of examples. "
                f"Received: x.shape={x.shape}, y.shape={y.shape}"
            )
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or (batch_size < 1)
        ):
            raise ValueError(
                f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"`seed` must be an integer >= 0. Received: seed={seed!r}")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        if augment not in pipeline.AUGMENTATIONS:
            raise ValueError(
                f"`augment` must be one of {pipeline.AUGMENTATIONS}. Received: augment={augment!r}"
            )
        if augment is not None and x.ndim != 4:
            raise ValueError(
                f"augment={augment!r} needs NHWC images (4-d `x`). Received: x.shape={x.shape}"
            )
        self.augment = augment
        self.shard = pipeline.process_shard()  # (index, count) in a multi-process job.
        if self.shard is not None and self.batch_size % self.shard[1]:
            raise ValueError(
                f"`batch_size` must be divisible by the {self.shard[1]} processes. "
                f"Received: batch_size={batch_size}"
            )
        self.epoch = 0
        self._cache = None  # (epoch, order): one tuple, replaced whole (prefetch threads).

    def set_epoch(self, epoch):
        """Makes the batches those of `epoch` (0-based), as `fit` numbers its epochs."""
        self.epoch = int(epoch)

    def order(self, epoch=None):
        """The indices of the examples in the order of `epoch` (default: the current one)."""
        epoch = self.epoch if epoch is None else int(epoch)
        cache = self._cache
        if cache is not None and cache[0] == epoch:
            return cache[1]
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))
        else:
            order = np.arange(len(self.x))
        self._cache = (epoch, order)
        return order

    def __len__(self):
        if self.shard is not None:  # Every process needs whole shares.
            return len(self.x) // self.batch_size
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        indices = self.order(self.epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        if self.shard is not None:
            process, count = self.shard
            share = self.batch_size // count
            indices = indices[process * share : (process + 1) * share]
        x, y = self.x[indices], self.y[indices]
        if self.augment is not None:
            x = pipeline.augment_batch(x, self.augment, seed=(self.seed, self.epoch, index))
        return x, y

    def epoch_callback(self):
        """A callback that sets the epoch at the start of each epoch of `fit`."""
        return _SetEpoch(self)


class _SetEpoch(keras.callbacks.Callback):
    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
