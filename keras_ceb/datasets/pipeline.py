"""Input pipelines over NumPy arrays: `tf.data`, or a `keras.utils.PyDataset` without TensorFlow.

TensorFlow is imported only when a `tf.data` pipeline is built, so that importing
`keras_ceb.datasets` works on any Keras backend, with or without TensorFlow installed.
"""

import keras
import numpy as np

from keras_ceb import console
from keras_ceb.datasets.array_dataset import CROP_PADDING
from keras_ceb.datasets.array_dataset import ArrayDataset

AUGMENTATIONS = (None, "crop_flip", "autoaugment")
PIPELINES = ("auto", "tf.data", "py_dataset")


def _crop_flip(images, seed):
    """Pad-4 random crop and random horizontal flip of an NHWC batch.

    Every image gets its own offsets and flip; zero padding keeps the value
    range. `seed` is a stateless seed of shape `(2,)`.
    """
    import tensorflow as tf

    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    pad = CROP_PADDING
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    seeds = tf.random.experimental.stateless_split(seed, 2)
    offsets = tf.random.stateless_uniform(
        [batch, 2], seeds[0], minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    rows = offsets[:, :1] + tf.range(height)[None, :]
    cols = offsets[:, 1:] + tf.range(width)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    cropped = tf.gather(cropped, cols, axis=2, batch_dims=1)
    flip = tf.random.stateless_uniform([batch], seeds[1]) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(cropped, [2]), cropped)


_BATCH_FUNCTIONS = {}


def _batch_function(augment):
    """The compiled augmentation of a batch for `augment`, traced once per image shape."""
    import tensorflow as tf

    from keras_ceb.datasets import autoaugment

    if augment not in _BATCH_FUNCTIONS:

        def run(images, seed):
            seeds = tf.random.experimental.stateless_split(seed, 2)
            if augment == "autoaugment":
                per_image = tf.random.experimental.stateless_split(seeds[0], tf.shape(images)[0])
                images = tf.map_fn(
                    lambda pair: autoaugment.apply_policy(pair[0], pair[1]),
                    (images, per_image),
                    fn_output_signature=images.dtype,
                )
            return _crop_flip(images, seeds[1])

        _BATCH_FUNCTIONS[augment] = tf.function(run, reduce_retracing=True, autograph=False)
    return _BATCH_FUNCTIONS[augment]


def augment_batch(images, augment, seed):
    """Augments one NHWC batch of float images in [0, 1], reproducibly from `seed`.

    The batch form of `as_dataset`'s augmentations, for NumPy batch sources such as
    `EpochBatches`: the same `seed` gives the same batch, in any process.

    Args:
        images: float32 array `[B, H, W, C]` in [0, 1].
        augment: `"crop_flip"` or `"autoaugment"` (AutoAugment's CIFAR-10 policy per image,
            then the crop and flip).
        seed: Integers (e.g. `(seed, epoch, batch)`) that determine the random draws.

    Returns:
        A float32 NumPy array of the shape of `images`.

    Examples:

        >>> x = np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")
        >>> a, b = (augment_batch(x, "autoaugment", seed=(0, 1, 2)) for _ in range(2))
        >>> a.shape, bool(np.array_equal(a, b)), bool(0 <= a.min() and a.max() <= 1)
        ((4, 32, 32, 3), True, True)
    """
    if augment not in AUGMENTATIONS[1:]:
        raise ValueError(
            f"`augment` must be one of {AUGMENTATIONS[1:]}. Received: augment={augment!r}"
        )
    images = np.asarray(images, "float32")
    if images.ndim != 4:
        raise ValueError(
            f"augment={augment!r} needs NHWC images (4-d). Received: images.shape={images.shape}"
        )
    words = np.random.SeedSequence(list(np.atleast_1d(seed))).generate_state(2)
    stateless_seed = np.asarray(words % (2**31 - 1), "int64")
    return np.asarray(_batch_function(augment)(images, stateless_seed))


def _map_autoaugment(dataset, seed, labelled):
    """Applies AutoAugment's CIFAR-10 policy to every image, with its own seed stream."""
    import tensorflow as tf

    from keras_ceb.datasets import autoaugment

    # A stream apart from the crop-and-flip one (which is drawn with `seed`).
    element_seed = None if seed is None else int(seed) + 1
    seeds = tf.data.Dataset.random(seed=element_seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip((dataset, seeds))
    # Plain TensorFlow ops: no AutoGraph conversion needed (it only slows the tracing).
    if labelled:
        fn = lambda xy, s: (autoaugment.apply_policy(xy[0], s), xy[1])  # noqa: E731
    else:
        fn = autoaugment.apply_policy
    return dataset.map(
        tf.autograph.experimental.do_not_convert(fn),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def as_dataset(
    x,
    y=None,
    batch_size=128,
    shuffle=True,
    augment=None,
    seed=None,
    drop_remainder=False,
    repeat=False,
    pipeline="auto",
):
    """Wraps NumPy arrays in a batched input pipeline for `fit`, `evaluate` and `predict`.

    Shuffling reshuffles every epoch; with a `seed` the sequence of epochs
    (order and augmentation) is reproducible.

    The pipeline is a prefetched `tf.data.Dataset` on the TensorFlow backend, and a
    `keras_ceb.datasets.ArrayDataset` (a `keras.utils.PyDataset`, the same semantics in
    NumPy) on the other backends and wherever TensorFlow is not installed, so that a JAX
    process never loads TensorFlow for its input pipeline.

    Under a multi-process `keras.distribution` (JAX, `keras_ceb.distribute.data_parallel`,
    which sets `auto_shard_dataset=False`) every process gets its share of each global
    batch of `batch_size` examples (rows `[i b, (i + 1) b)` of it for process `i`,
    `b = batch_size / processes`); every process must then use the same `seed`, and the last,
    smaller batch is dropped so that the shares are equal.

    Args:
        x: array of inputs, e.g. `(N, 28, 28, 1)` float32 images.
        y: optional array of `N` labels. `None` yields batches of `x` only.
        batch_size: examples per batch, an integer >= 1.
        shuffle: whether to shuffle the whole array each epoch.
        augment: `None`; `"crop_flip"`: zero-pad by 4 pixels, take a random
            crop of the original size and flip horizontally with probability
            1/2, as is usual for CIFAR; or `"autoaugment"`: AutoAugment's
            CIFAR-10 policy on each image (`keras_ceb.datasets.autoaugment`,
            images in [0, 1]), then the crop and flip. Needs NHWC images.
        seed: optional integer seed for shuffling and augmentation.
        drop_remainder: whether to drop the last, smaller batch.
        repeat: whether to repeat forever (then pass `steps_per_epoch` to
            `fit`).
        pipeline: `"auto"` (`tf.data` on the TensorFlow backend, otherwise the
            `PyDataset`), `"tf.data"` or `"py_dataset"`.

    Returns:
        A `tf.data.Dataset` or an `ArrayDataset` of `(x_batch, y_batch)` (or
        `x_batch`).

    Examples:

        >>> x = np.zeros((10, 32, 32, 3), "float32")
        >>> y = np.arange(10, dtype="int32")
        >>> ds = as_dataset(x, y, batch_size=4, augment="crop_flip", seed=0)
        >>> [tuple(b.shape) for b, _ in ds]
        [(4, 32, 32, 3), (4, 32, 32, 3), (2, 32, 32, 3)]
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(
            f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}"
        )
    if augment not in AUGMENTATIONS:
        raise ValueError(
            f"`augment` must be one of {AUGMENTATIONS}. Received: augment={augment!r}"
        )
    if pipeline not in PIPELINES:
        raise ValueError(f"`pipeline` must be one of {PIPELINES}. Received: pipeline={pipeline!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
    for name, value in (
        ("shuffle", shuffle),
        ("drop_remainder", drop_remainder),
        ("repeat", repeat),
    ):
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    x = np.asarray(x)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(
            f"`x` must be an array with at least one example. Received: x.shape={x.shape}"
        )
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(
                "`x` and `y` must have the same length. Received: "
                f"x.shape={x.shape}, y.shape={y.shape}"
            )
    if augment is not None and x.ndim != 4:
        raise ValueError(
            f"augment={augment!r} needs NHWC images (4-d `x`). Received: x.shape={x.shape}"
        )
    shard = process_shard()
    if shard is not None:
        if batch_size % shard[1]:
            raise ValueError(
                f"The global batch size must be divisible by the {shard[1]} processes. "
                f"Received: batch_size={batch_size}"
            )
        if seed is None and (shuffle or augment):
            raise ValueError(
                "In a multi-process run every process must shuffle and augment alike: "
                f"pass the same `seed` to all. Received: seed={seed}"
            )
        drop_remainder = True
    if not _use_tf_data(pipeline):
        return ArrayDataset(
            x,
            y,
            batch_size=int(batch_size),
            shuffle=shuffle,
            augment=augment,
            seed=seed,
            drop_remainder=drop_remainder,
            repeat=repeat,
            shard=shard,
        )
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if augment == "autoaugment":
        dataset = _map_autoaugment(dataset, seed, labelled=y is not None)
    dataset = dataset.batch(int(batch_size), drop_remainder=drop_remainder)
    if augment in ("crop_flip", "autoaugment"):
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds))
        if y is None:
            dataset = dataset.map(_crop_flip, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            dataset = dataset.map(
                lambda xy, s: (_crop_flip(xy[0], s), xy[1]),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
    if shard is not None:
        index, count = shard
        size = int(batch_size) // count
        part = lambda t: t[index * size : (index + 1) * size]  # noqa: E731
        dataset = dataset.map(
            part if y is None else lambda xb, yb: (part(xb), part(yb)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _use_tf_data(pipeline):
    if pipeline == "auto":
        return keras.backend.backend() == "tensorflow" and console.is_installed("tensorflow")
    if pipeline == "tf.data" and not console.is_installed("tensorflow"):
        raise ValueError(
            "pipeline='tf.data' needs TensorFlow, which is not installed. "
            f"Received: pipeline={pipeline!r}"
        )
    return pipeline == "tf.data"


def process_shard():
    """`(process index, process count)` when each process must feed its own share, else `None`.

    That is under a multi-process `keras.distribution` (JAX) with `auto_shard_dataset=False`
    (`keras_ceb.distribute.data_parallel` sets it: Keras's auto-sharding takes only
    `tf.data`); with auto-sharding, Keras cuts the shares of a global `tf.data` pipeline.

    Examples:

        >>> process_shard() is None  # one process
        True
    """
    distribution = keras.distribution.distribution()
    if distribution is None or keras.backend.backend() != "jax":
        return None
    if getattr(distribution, "auto_shard_dataset", True):
        return None
    import jax

    if jax.process_count() < 2:
        return None
    return jax.process_index(), jax.process_count()
