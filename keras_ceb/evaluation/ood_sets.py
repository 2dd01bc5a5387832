"""Builders for the paper's out-of-distribution image sets.

Fischer (2020, section 3.2) scores a Fashion-MNIST model on four OoD sets: U(0,1) noise images,
the MNIST test set, the vertically flipped Fashion-MNIST test images, and CW-L2 adversarial
examples. The first three are built here from arrays the caller passes in (the adversarial set
comes from `keras_ceb.attacks`). Images are float NHWC in `[0, 1]`, as the models expect. Every
function returns a new array and never writes to, or returns a view of, the caller's arrays.

Beyond the paper, `standard_ood_sets` adds the grouping OpenOOD (v1.5) reports: *near* sets,
which share the in-distribution images' content (the vertical flip and a 90-degree rotation of
the test images), and *far* sets, which do not (MNIST, U(0,1) and Gaussian noise); metrics are
averaged per group (`OOD_GROUPS`, `group_averages`).
"""

import numpy as np

from keras_ceb.evaluation.ood import describe_array


def _validate_images(x, name="x", min_ndim=3):
    """A NumPy view of `x` with a real dtype and at least `min_ndim` dims, else `ValueError`."""
    if x is None:
        raise ValueError(f"`{name}` must be an array of images. Received: {name}=None")
    array = np.asarray(x)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(
            f"`{name}` must be a real-valued image array. Received: {name}={describe_array(array)}"
        )
    if array.ndim < min_ndim or array.shape[0] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty batch of images, NHWC `(num_images, height, width, "
            "channels)` or `(num_images, height, width)`. "
            f"Received: {name}={describe_array(array)}"
        )
    return array


def _validate_seed(seed):
    if seed is not None and (
        isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise ValueError(
            "`seed` must be a non-negative int (or None for fresh entropy). "
            f"Received: seed={seed!r}"
        )
    return seed


def uniform_noise(shape_like_or_n, seed, *, image_shape=None, dtype=None):
    """Images with i.i.d. `U(0, 1)` pixels (the paper's "U(0,1)" OoD set).

    Args:
        shape_like_or_n: An image array whose shape (and floating dtype) to copy, e.g. the
            in-distribution test images; or an int, the number of images, with `image_shape`.
        seed: Required. A non-negative int for reproducible noise, or `None` for fresh
            entropy (explicitly, so results are never irreproducible by accident).
        image_shape: Shape of one image, e.g. `(28, 28, 1)`; required with an int count, and
            must not be given with an array.
        dtype: Floating dtype of the result. Defaults to the array's dtype when it is floating,
            else `"float32"`.

    Returns:
        A new float array, values in `[0, 1)`.

    Examples:

        >>> x_test = np.zeros((8, 28, 28, 1), "float32")
        >>> uniform_noise(x_test, seed=0).shape                  # same shape as x_test
        (8, 28, 28, 1)
        >>> uniform_noise(1000, seed=0, image_shape=(28, 28, 1)).shape
        (1000, 28, 28, 1)
    """
    _validate_seed(seed)
    if isinstance(shape_like_or_n, (int, np.integer)) and not isinstance(
        shape_like_or_n, (bool, np.bool_)
    ):
        if shape_like_or_n < 1:
            raise ValueError(
                "`shape_like_or_n` must be a positive number of images or an image array. "
                f"Received: shape_like_or_n={shape_like_or_n!r}"
            )
        if image_shape is None:
            raise ValueError(
                "`image_shape` is required when `shape_like_or_n` is a number of images, "
                "e.g. image_shape=(28, 28, 1). Received: image_shape=None"
            )
        try:
            image_shape = tuple(int(d) for d in image_shape)
        except TypeError:
            image_shape = None
        if not image_shape or min(image_shape) < 1:
            raise ValueError(
                "`image_shape` must be a tuple of positive ints, e.g. (28, 28, 1). "
                f"Received: image_shape={image_shape!r}"
            )
        shape = (int(shape_like_or_n),) + image_shape
        default_dtype = np.float32
    else:
        array = _validate_images(shape_like_or_n, "shape_like_or_n", min_ndim=1)
        if image_shape is not None:
            raise ValueError(
                "`image_shape` must not be given when `shape_like_or_n` is an array (its shape "
                f"is used). Received: image_shape={image_shape!r}"
            )
        shape = array.shape
        default_dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.float32
    dtype = np.dtype(default_dtype if dtype is None else dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"`dtype` must be a floating dtype. Received: dtype={dtype!r}")
    return np.random.default_rng(seed).random(shape).astype(dtype, copy=False)


def vertical_flip(x):
    """Vertically flipped images (rows reversed, axis 1 of NHWC): the paper's "Vertical Flip" set.

    Args:
        x: Images `(num_images, height, width, channels)` or `(num_images, height, width)`.

    Returns:
        A new array (a copy, not a view) with `result[:, i] == x[:, height - 1 - i]`.

    Examples:

        >>> x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
        >>> vertical_flip(x)[0, :, :, 0]
        array([[2., 3.],
               [0., 1.]], dtype=float32)
    """
    array = _validate_images(x)
    return np.ascontiguousarray(np.flip(array, axis=1))


def rotate_90(x):
    """Test images rotated by 90 degrees counter-clockwise (a near OoD set): same pixels and
    objects as the in-distribution images, in an orientation the training set never shows.

    Args:
        x: Square images `(num_images, size, size, channels)` or `(num_images, size, size)`.

    Returns:
        A new array with `result[:, i, j] == x[:, j, size - 1 - i]`.

    Examples:

        >>> x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
        >>> rotate_90(x)[0, :, :, 0]
        array([[1., 3.],
               [0., 2.]], dtype=float32)
    """
    array = _validate_images(x)
    if array.shape[1] != array.shape[2]:
        raise ValueError(
            f"`x` must hold square images to rotate them. Received: x={describe_array(array)}"
        )
    return np.ascontiguousarray(np.rot90(array, k=1, axes=(1, 2)))


def gaussian_noise(x, seed):
    """Images of i.i.d. Gaussian pixels with the mean and standard deviation of `x`'s pixels,
    clipped to `[0, 1]` (a far OoD set, OpenOOD's "Gaussian").

    Args:
        x: In-distribution images whose shape, dtype and pixel statistics to copy.
        seed: Required: a non-negative int, or `None` for fresh entropy.

    Returns:
        A new float array shaped like `x`.

    Examples:

        >>> noise = gaussian_noise(np.full((2, 4, 4, 1), 0.5, "float32"), seed=0)
        >>> noise.shape, float(noise.min()) >= 0.0
        ((2, 4, 4, 1), True)
    """
    array = _validate_images(x)
    _validate_seed(seed)
    dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.float32
    values = array.astype("float64")
    draws = np.random.default_rng(seed).normal(values.mean(), values.std(), size=array.shape)
    return np.clip(draws, 0.0, 1.0).astype(dtype)


def mnist_test_images(x, image_shape=None):
    """The MNIST test images as an OoD set for a Fashion-MNIST model, in the model's format.

    A pass-through with checks: this module does not load data (use `keras_ceb.datasets` or
    `keras.datasets.mnist.load_data()` and pass the images in). `uint8` images in `[0, 255]` are
    scaled to `[0, 1]`; float images must already be in `[0, 1]`. A missing channel axis is
    added, so `(N, 28, 28)` becomes `(N, 28, 28, 1)`.

    Args:
        x: MNIST test images, `(N, 28, 28)` or `(N, 28, 28, 1)`, `uint8` or float.
        image_shape: Optional expected shape of one image (the in-distribution image shape); a
            mismatch after adding the channel axis is an error.

    Returns:
        A new `float32` array `(N, H, W, C)` in `[0, 1]`.

    Examples:

        >>> x_mnist = np.full((3, 28, 28), 255, "uint8")          # MNIST as it is stored
        >>> x_ood = mnist_test_images(x_mnist, image_shape=(28, 28, 1))
        >>> x_ood.shape, float(x_ood.max())
        ((3, 28, 28, 1), 1.0)
    """
    array = _validate_images(x)
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise ValueError(
                f"Integer images must be in [0, 255]. Received: x={describe_array(array)}"
            )
        images = array.astype(np.float32) / 255.0
    else:
        if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
            raise ValueError(
                f"Float images must be finite and in [0, 1]. Received: x={describe_array(array)}"
            )
        images = array.astype(np.float32)  # always a copy
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4:
        raise ValueError(
            "`x` must be `(N, H, W)` or `(N, H, W, C)` images. "
            f"Received: x={describe_array(array)}"
        )
    if image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"The images have shape {images.shape[1:]}, not the expected `image_shape`. "
            f"Received: image_shape={tuple(image_shape)!r}"
        )
    return images


def paper_ood_sets(x, *, seed, mnist_x=None):
    """The image OoD sets of the paper, built from the in-distribution test images `x`.

    Args:
        x: In-distribution test images, float NHWC in `[0, 1]`.
        seed: Required seed of the noise images (see `uniform_noise`).
        mnist_x: Optional MNIST test images (see `mnist_test_images`); the `"mnist"` set is
            included only when given.

    Returns:
        A dict `{"uniform_noise": ..., "vertical_flip": ..., "mnist": ...}` of new arrays.
        Add adversarial examples from `keras_ceb.attacks` to it yourself.

    Examples:

        >>> x_test = np.zeros((8, 28, 28, 1), "float32")
        >>> sets = paper_ood_sets(x_test, seed=0, mnist_x=np.zeros((8, 28, 28), "uint8"))
        >>> sorted(sets)
        ['mnist', 'uniform_noise', 'vertical_flip']
    """
    array = _validate_images(x, min_ndim=4)
    sets = {"uniform_noise": uniform_noise(array, seed), "vertical_flip": vertical_flip(array)}
    if mnist_x is not None:
        sets["mnist"] = mnist_test_images(mnist_x, image_shape=array.shape[1:])
    return sets


# OpenOOD's grouping of the sets `standard_ood_sets` makes.
OOD_GROUPS = {
    "near": ("vertical_flip", "rotate_90"),
    "far": ("mnist", "uniform_noise", "gaussian_noise"),
}


def standard_ood_sets(x, *, seed, mnist_x=None):
    """The paper's sets plus a 90-degree rotation (near) and Gaussian noise (far).

    Args:
        x: In-distribution test images, float NHWC in `[0, 1]`, square.
        seed: Required seed of the noise images.
        mnist_x: Optional MNIST test images (the `"mnist"` set only when given).

    Returns:
        A dict of new arrays, near sets first: `vertical_flip`, `rotate_90`, then `mnist`,
        `uniform_noise`, `gaussian_noise`. `OOD_GROUPS` says which group each is in.

    Examples:

        >>> sets = standard_ood_sets(np.zeros((4, 28, 28, 1), "float32"), seed=0)
        >>> list(sets)
        ['vertical_flip', 'rotate_90', 'uniform_noise', 'gaussian_noise']
    """
    array = _validate_images(x, min_ndim=4)
    paper = paper_ood_sets(array, seed=seed, mnist_x=mnist_x)
    sets = {"vertical_flip": paper["vertical_flip"], "rotate_90": rotate_90(array)}
    if "mnist" in paper:
        sets["mnist"] = paper["mnist"]
    sets["uniform_noise"] = paper["uniform_noise"]
    # Its own stream: the same seed must not give noise correlated with the uniform set's.
    sets["gaussian_noise"] = gaussian_noise(
        array,
        None if seed is None else int(np.random.SeedSequence([seed, 1]).generate_state(1)[0]),
    )
    return sets


def ood_group(name):
    """`"near"`, `"far"` or `None` (a set outside `OOD_GROUPS`, e.g. adversarial examples)."""
    for group, names in OOD_GROUPS.items():
        if name in names:
            return group
    return None


def group_averages(
    rows,
    metrics=("fpr_at_95_tpr", "fpr_at_95_tpr_ood_positive", "auroc", "aupr_in", "aupr_out"),
):
    """Per (group, score), the mean of each metric over the group's sets in `rows`.

    Args:
        rows: Rows of `evaluate_ood` (`ood_set`, `score` and the metrics).
        metrics: The metrics to average.

    Returns:
        Rows `{"group", "score", "num_sets", <metric>: mean}`, near before far, scores in the
        order of `rows`.

    Examples:

        >>> rows = [{"ood_set": "vertical_flip", "score": "rate", "auroc": 0.5},
        ...         {"ood_set": "rotate_90", "score": "rate", "auroc": 1.0}]
        >>> group_averages(rows, metrics=("auroc",))
        [{'group': 'near', 'score': 'rate', 'num_sets': 2, 'auroc': 0.75}]
    """
    out = []
    for group in OOD_GROUPS:
        scores = list(dict.fromkeys(r["score"] for r in rows if ood_group(r["ood_set"]) == group))
        for score in scores:
            chosen = [r for r in rows if r["score"] == score and ood_group(r["ood_set"]) == group]
            out.append(
                {
                    "group": group,
                    "score": score,
                    "num_sets": len(chosen),
                    **{m: float(np.mean([r[m] for r in chosen])) for m in metrics},
                }
            )
    return out
