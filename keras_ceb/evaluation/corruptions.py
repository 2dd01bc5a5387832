"""Common corruptions at five severities, generated offline from any batch of images.

The 15 corruptions of ImageNet-C and CIFAR-10-C (Hendrycks and Dietterich, "Benchmarking Neural
Network Robustness to Common Corruptions and Perturbations", ICLR 2019) in four families, plus
three of their four held-out corruptions (`EXTRA_CORRUPTIONS`):

- noise: `gaussian_noise`, `shot_noise`, `impulse_noise` (and `speckle_noise`);
- blur: `defocus_blur`, `glass_blur`, `motion_blur`, `zoom_blur` (and `gaussian_blur`);
- weather: `snow`, `frost`, `fog`;
- digital: `brightness`, `contrast`, `elastic_transform`, `pixelate`, `jpeg_compression` (and
  `saturate`, colour images only).

`corrupt(x, "fog", severity=3, seed=0)` works on float images in `[0, 1]`, NHWC with 1 or 3
channels (or NHW), of any size, with NumPy, SciPy and Pillow: a corrupted Fashion-MNIST
("Fashion-MNIST-C") or CIFAR-10 ("CIFAR-10-C") is made on the user's machine, with no download.
The same images, corruption, severity and seed give the same result on every machine.

The severity parameters are CIFAR-10-C's (the authors' generator for 32x32 images), used for
28x28 images as well; the parameters that are sizes (the elastic transform's, the glass blur's
loop, the fog's fractal) follow the image's side. Where the released generator calls a tool
that cannot ship here, the same operation is written in NumPy, and it differs as follows:

- motion blur (and the snow's streaks): ImageMagick's motion-blur kernel, a one-sided line of
  Gaussian weights, `2 * ceil(radius) + 1` taps at a random angle (the generator calls
  ImageMagick through Wand);
- frost: a procedural frost texture (the ridges of a rough plasma fractal, bright thin veins)
  instead of crops of the six frost photographs the generator blends in;
- glass blur: each visited pixel takes the value of a random neighbour above or to its left,
  as in the released datasets (the generator's "swap" through NumPy views copies);
- the intermediate 8-bit rounding is kept where it changes the corruption (glass blur, the snow
  layer, JPEG) and dropped elsewhere.

The generators the field uses did not fit (measured 2026-12-07): `imagecorruptions` 1.1.2 on
NumPy 2.4 and scikit-image 0.26 refuses images under 32x32 pixels and fails `glass_blur`,
`gaussian_blur` (`multichannel`) and `fog` (`np.float_`); the MNIST-C and CIFAR-10-C scripts need
ImageMagick and OpenCV; TFDS's `cifar10_corrupted` and `mnist_corrupted` are downloads.
"""

import io
import numbers

import numpy as np
from scipy import ndimage

from keras_ceb import validation
from keras_ceb.evaluation.ood import describe_array

CORRUPTIONS = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
EXTRA_CORRUPTIONS = ("speckle_noise", "gaussian_blur", "saturate")
SEVERITIES = (1, 2, 3, 4, 5)
CORRUPTION_FAMILIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur"),
    "weather": ("snow", "frost", "fog"),
    "digital": (
        "brightness",
        "contrast",
        "elastic_transform",
        "pixelate",
        "jpeg_compression",
        "saturate",
    ),
}

# CIFAR-10-C's parameters, one entry per severity 1..5.
_PARAMETERS = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    # (sigma, max shift, iterations)
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    # (disk radius, anti-alias blur)
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    # (radius, sigma)
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    # number of zoom factors 1.00, 1.01, ...
    "zoom_blur": (6, 11, 16, 21, 26),
    # (mean, std, zoom, threshold, blur radius, blur sigma, image weight)
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    # (image weight, frost weight)
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    # (fog weight, fractal roughness decay)
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    # (saturation factor, offset)
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
    # (displacement scale, displacement smoothness, affine jitter), times the image side
    "elastic_transform": (
        (0, 0, 0.08),
        (0.05, 0.2, 0.07),
        (0.08, 0.06, 0.06),
        (0.1, 0.04, 0.05),
        (0.1, 0.03, 0.03),
    ),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "jpeg_compression": (80, 65, 58, 50, 40),
}
_ALL = CORRUPTIONS + EXTRA_CORRUPTIONS


def validate_severity(severity):
    if (
        isinstance(severity, (bool, np.bool_))
        or not isinstance(severity, numbers.Integral)
        or severity not in SEVERITIES
    ):
        raise ValueError(f"`severity` must be an int in 1..5. Received: severity={severity!r}")
    return int(severity)


def validate_images(x):
    array = np.asarray(x) if x is not None else None
    if array is None or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(
            "`x` must be a real-valued image array. "
            f"Received: x={describe_array(array) if array is not None else None}"
        )
    if (
        array.ndim not in (3, 4)
        or array.shape[0] == 0
        or (array.ndim == 4 and array.shape[-1] not in (1, 3))
    ):
        raise ValueError(
            "`x` must be a non-empty batch of images, NHWC with 1 or 3 channels or NHW. "
            f"Received: x={describe_array(array)}"
        )
    if array.shape[1] < 4 or array.shape[2] < 4:
        raise ValueError(
            f"`x` must hold images of at least 4x4 pixels. Received: x={describe_array(array)}"
        )
    if array.size and not (np.all(np.isfinite(array)) and array.min() >= 0 and array.max() <= 1):
        raise ValueError(
            "`x` must hold finite pixel values in [0, 1] (divide 8-bit images by 255). "
            f"Received: x={describe_array(array)}"
        )
    return array


def corrupt(x, corruption, severity, *, seed):
    """`x` under one common corruption at one severity.

    Args:
        x: Images, float in `[0, 1]`, NHWC with 1 or 3 channels, or NHW.
        corruption: A name of `CORRUPTIONS` or `EXTRA_CORRUPTIONS`.
        severity: 1 (mildest) to 5.
        seed: A non-negative int. Each (corruption, severity) draws from its own stream, so a
            set does not depend on which others are made.

    Returns:
        A new array shaped like `x`, in `[0, 1]`, of `x`'s floating dtype (float32 for
        integer input).

    Examples:

        >>> x = np.random.default_rng(0).random((2, 28, 28, 1), dtype="float32")
        >>> foggy = corrupt(x, "fog", severity=3, seed=0)
        >>> foggy.shape, foggy.dtype, bool(np.array_equal(foggy, corrupt(x, "fog", 3, seed=0)))
        ((2, 28, 28, 1), dtype('float32'), True)
    """
    array = validate_images(x)
    validation.one_of(corruption, _ALL, "corruption")
    severity = validate_severity(severity)
    seed = validation.non_negative_int(seed, "seed")
    dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.dtype("float32")
    images = array.astype("float64")
    images = images[..., None] if images.ndim == 3 else images
    if corruption == "saturate" and images.shape[-1] != 3:
        raise ValueError(
            "`saturate` changes colour saturation: it needs colour (3-channel) images. "
            f"Received: x={describe_array(array)}"
        )
    index = _ALL.index(corruption)
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, severity]))
    out = _GENERATORS[corruption](images, _PARAMETERS[corruption][severity - 1], rng)
    out = np.clip(out, 0.0, 1.0).reshape(array.shape)
    return out.astype(dtype)


def corrupted_sets(x, *, seed, corruptions=CORRUPTIONS, severities=SEVERITIES):
    """Yields `(corruption, severity, images)` for every corruption and severity, one set at a
    time (a whole Fashion-MNIST-C test set is 75 copies of the test set).

    Examples:

        >>> x = np.random.default_rng(0).random((2, 28, 28, 1), dtype="float32")
        >>> [(name, s) for name, s, _ in corrupted_sets(x, seed=0, corruptions=["contrast"],
        ...                                             severities=[1, 5])]
        [('contrast', 1), ('contrast', 5)]
    """
    corruptions = [validation.one_of(name, _ALL, "corruption") for name in corruptions]
    severities = [validate_severity(s) for s in severities]
    if not corruptions or not severities:
        raise ValueError(
            "`corruptions` and `severities` must not be empty. "
            f"Received: corruptions={corruptions!r}, severities={severities!r}"
        )
    validate_images(x)
    for name in corruptions:
        for severity in severities:
            yield name, severity, corrupt(x, name, severity, seed=seed)


# Noise.


def _gaussian_noise(x, scale, rng):
    return x + rng.normal(scale=scale, size=x.shape)


def _shot_noise(x, photons, rng):
    return rng.poisson(x * photons) / photons


def _impulse_noise(x, amount, rng):
    flipped = rng.random(x.shape) <= amount
    salt = rng.random(x.shape) <= 0.5
    return np.where(flipped, salt.astype(x.dtype), x)


def _speckle_noise(x, scale, rng):
    return x + x * rng.normal(scale=scale, size=x.shape)


# Blur.


def _blur(x, sigma, mode="nearest", truncate=4.0):
    """Gaussian blur over height and width (scikit-image's `gaussian` defaults)."""
    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode=mode, truncate=truncate)


def _gaussian_blur(x, sigma, rng):
    return _blur(x, sigma)


def _glass_blur(x, parameters, rng):
    sigma, shift, iterations = parameters
    x = np.floor(_blur(x, sigma) * 255) / 255
    n, height, width = x.shape[:3]
    images = np.arange(n)
    for _ in range(iterations):
        for row in range(height - shift, shift, -1):
            for col in range(width - shift, shift, -1):
                dy, dx = rng.integers(-shift, shift, size=(2, n))
                x[images, row, col] = x[images, row + dy, col + dx]
    return _blur(x, sigma)


def _gaussian_taps(size, sigma):
    offsets = np.arange(size) - size // 2
    taps = np.exp(-(offsets**2) / (2.0 * sigma**2))
    return taps / taps.sum()


def _disk_kernel(radius, alias_blur):
    """A normalized disk, anti-aliased by a small Gaussian (OpenCV's 3x3 `GaussianBlur`)."""
    half, size = (8, 3) if radius <= 8 else (int(radius), 5)
    grid = np.arange(-half, half + 1)
    rows, cols = np.meshgrid(grid, grid)
    disk = (rows**2 + cols**2 <= radius**2).astype("float64")
    disk /= disk.sum()
    taps = _gaussian_taps(size, alias_blur)
    disk = ndimage.correlate1d(disk, taps, axis=0, mode="mirror")
    return ndimage.correlate1d(disk, taps, axis=1, mode="mirror")


def _defocus_blur(x, parameters, rng):
    kernel = _disk_kernel(*parameters)
    return ndimage.correlate(x, kernel[None, :, :, None], mode="mirror")


def _motion_blur_of(x, radius, sigma, angles):
    """ImageMagick's motion blur: each pixel becomes a Gaussian-weighted mean of the pixels on
    a line from it at `angles[i]` degrees (one angle per image), edges repeated."""
    width = 2 * int(np.ceil(radius)) + 1
    steps = np.arange(width)
    weights = np.exp(-(steps**2) / (2.0 * sigma**2))
    weights /= weights.sum()
    theta = np.deg2rad(np.asarray(angles, "float64"))
    col_offsets = np.ceil(steps[None] * np.cos(theta)[:, None] - 0.5).astype(int)
    row_offsets = np.ceil(steps[None] * np.sin(theta)[:, None] - 0.5).astype(int)
    n, height, w = x.shape[:3]
    padded = np.pad(x, ((0, 0), (width, width), (width, width), (0, 0)), mode="edge")
    images = np.arange(n)[:, None, None]
    rows = width + np.arange(height)[None, :, None]
    cols = width + np.arange(w)[None, None, :]
    out = np.zeros_like(x)
    for k in range(width):
        out += (
            weights[k]
            * padded[
                images,
                rows + row_offsets[:, k, None, None],
                cols + col_offsets[:, k, None, None],
            ]
        )
    return out


def _motion_blur(x, parameters, rng):
    radius, sigma = parameters
    return _motion_blur_of(x, radius, sigma, rng.uniform(-45, 45, size=len(x)))


def _clipped_zoom(x, factor):
    """`x` zoomed in by `factor` about its centre (bilinear), cropped to its size."""
    height, width = x.shape[1:3]
    crop_h, crop_w = int(np.ceil(height / factor)), int(np.ceil(width / factor))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    zoomed = ndimage.zoom(
        x[:, top : top + crop_h, left : left + crop_w], (1, factor, factor, 1), order=1
    )
    trim_h, trim_w = (zoomed.shape[1] - height) // 2, (zoomed.shape[2] - width) // 2
    return zoomed[:, trim_h : trim_h + height, trim_w : trim_w + width]


def _zoom_blur(x, num_factors, rng):
    factors = 1.0 + 0.01 * np.arange(num_factors)
    total = x.copy()
    for factor in factors:
        total += _clipped_zoom(x, factor)
    return total / (num_factors + 1)


# Weather.


def _plasma_fractal(n, size, roughness_decay, rng):
    """`n` diamond-square height maps, `size` x `size` (a power of two), scaled to [0, 1]."""
    maps = np.zeros((n, size, size))
    step, wibble = size, 100.0

    def wibbled_mean(values):
        return values / 4 + wibble * rng.uniform(-wibble, wibble, values.shape)

    while step >= 2:
        half = step // 2
        corners = maps[:, 0:size:step, 0:size:step]
        squares = corners + np.roll(corners, -1, axis=1)
        squares = squares + np.roll(squares, -1, axis=2)
        maps[:, half:size:step, half:size:step] = wibbled_mean(squares)
        centres = maps[:, half:size:step, half:size:step]
        corners = maps[:, 0:size:step, 0:size:step]
        across = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        maps[:, 0:size:step, half:size:step] = wibbled_mean(across)
        down = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        maps[:, half:size:step, 0:size:step] = wibbled_mean(down)
        step //= 2
        wibble /= roughness_decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def _fractal_for(x, roughness_decay, rng):
    height, width = x.shape[1:3]
    size = 1 << int(np.ceil(np.log2(max(height, width))))
    return _plasma_fractal(len(x), size, roughness_decay, rng)[:, :height, :width, None]


def _fog(x, parameters, rng):
    weight, roughness_decay = parameters
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    foggy = x + weight * _fractal_for(x, roughness_decay, rng)
    return foggy * peak / (peak + weight)


def _frost(x, parameters, rng):
    image_weight, frost_weight = parameters
    ridges = 1 - np.abs(2 * _fractal_for(x, 1.5, rng) - 1)
    return image_weight * x + frost_weight * ridges**3


def _luminance(x):
    if x.shape[-1] == 1:
        return x
    return (x @ np.array([0.299, 0.587, 0.114]))[..., None]


def _snow(x, parameters, rng):
    mean, std, zoom, threshold, radius, sigma, image_weight = parameters
    layer = rng.normal(loc=mean, scale=std, size=x.shape[:3] + (1,))
    layer = _clipped_zoom(layer, zoom)
    layer[layer < threshold] = 0
    layer = np.floor(np.clip(layer, 0, 1) * 255) / 255
    layer = _motion_blur_of(layer, radius, sigma, rng.uniform(-135, -45, size=len(x)))
    layer = np.round(layer * 255) / 255
    x = image_weight * x + (1 - image_weight) * np.maximum(x, _luminance(x) * 1.5 + 0.5)
    return x + layer + np.rot90(layer, k=2, axes=(1, 2))


# Digital.


def _brightness(x, shift, rng):
    """Adds `shift` to HSV's value (the largest channel), keeping hue and saturation."""
    value = x.max(axis=-1, keepdims=True)
    brighter = np.clip(value + shift, 0, 1)
    scale = np.divide(brighter, value, out=np.zeros_like(value), where=value > 0)
    return np.where(value > 0, x * scale, brighter)


def _contrast(x, factor, rng):
    means = x.mean(axis=(1, 2), keepdims=True)
    return (x - means) * factor + means


def _saturate(x, parameters, rng):
    """Scales HSV's saturation, keeping hue and value (a grey pixel takes hue 0, red, as
    scikit-image's conversion gives it)."""
    factor, offset = parameters
    value = x.max(axis=-1, keepdims=True)
    spread = value - x.min(axis=-1, keepdims=True)
    saturation = np.divide(spread, value, out=np.zeros_like(value), where=value > 0)
    new_saturation = np.clip(saturation * factor + offset, 0, 1)
    ratio = np.divide(new_saturation, saturation, out=np.zeros_like(value), where=spread > 0)
    coloured = value - (value - x) * ratio
    grey = value * np.array([1.0, 0.0, 0.0]) + value * (1 - new_saturation) * np.array(
        [0.0, 1.0, 1.0]
    )
    return np.where(spread > 0, coloured, grey)


def _affine_source(points, targets):
    """The 2x3 map from output (x, y) to source (x, y) of the affine taking `points` to
    `targets` (OpenCV's `getAffineTransform` then `warpAffine`, which samples the inverse)."""
    forward = np.linalg.solve(np.c_[points, np.ones(3)], targets).T  # targets = A @ p + b
    inverse = np.linalg.inv(forward[:, :2])
    return np.c_[inverse, -inverse @ forward[:, 2]]


def _elastic_transform(x, parameters, rng):
    height, width = x.shape[1:3]
    side = min(height, width)
    alpha, smoothness, jitter = (value * side for value in parameters)
    centre = np.array([width // 2, height // 2], "float64")
    square = side // 3
    points = np.array([centre + square, [centre[0] + square, centre[1] - square], centre - square])
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    grid = np.stack([cols.ravel(), rows.ravel(), np.ones(rows.size)])
    out = np.empty_like(x)
    for i, image in enumerate(x):
        targets = points + rng.uniform(-jitter, jitter, size=points.shape)
        source_x, source_y = _affine_source(points, targets) @ grid
        warped = np.stack(
            [
                ndimage.map_coordinates(
                    image[..., c], [source_y, source_x], order=1, mode="mirror"
                ).reshape(height, width)
                for c in range(x.shape[-1])
            ],
            axis=-1,
        )
        dx, dy = (
            ndimage.gaussian_filter(
                rng.uniform(-1, 1, size=(height, width)), smoothness, mode="reflect", truncate=3
            )
            * alpha
            for _ in range(2)
        )
        for c in range(x.shape[-1]):
            out[i, ..., c] = ndimage.map_coordinates(
                warped[..., c], [rows + dy, cols + dx], order=1, mode="reflect"
            )
    return out


def _box_weights(in_size, out_size):
    """Pillow's `BOX` resampling matrix `[out_size, in_size]`."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    weights = np.zeros((out_size, in_size))
    for j in range(out_size):
        centre = (j + 0.5) * scale
        low = max(int(centre - 0.5 * filter_scale + 0.5), 0)
        high = min(int(centre + 0.5 * filter_scale + 0.5), in_size)
        for i in range(low, high):
            position = (i - centre + 0.5) / filter_scale
            weights[j, i] = 1.0 if -0.5 < position <= 0.5 else 0.0
        weights[j] /= weights[j].sum()
    return weights


def _resize_box(x, height, width):
    rows = _box_weights(x.shape[1], height)
    cols = _box_weights(x.shape[2], width)
    channels_first = np.moveaxis(x, -1, 1)
    return np.moveaxis(rows @ channels_first @ cols.T, 1, -1)


def _pixelate(x, factor, rng):
    height, width = x.shape[1:3]
    small = _resize_box(x, int(height * factor), int(width * factor))
    return _resize_box(small, height, width)


def _jpeg_compression(x, quality, rng):
    from PIL import Image

    out = np.empty_like(x)
    for i, image in enumerate(np.round(x * 255).astype("uint8")):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            buffer, format="JPEG", quality=quality
        )
        decoded = np.asarray(Image.open(buffer), "float64") / 255
        out[i] = decoded.reshape(image.shape)
    return out


_GENERATORS = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "speckle_noise": _speckle_noise,
    "defocus_blur": _defocus_blur,
    "glass_blur": _glass_blur,
    "motion_blur": _motion_blur,
    "zoom_blur": _zoom_blur,
    "gaussian_blur": _gaussian_blur,
    "snow": _snow,
    "frost": _frost,
    "fog": _fog,
    "brightness": _brightness,
    "contrast": _contrast,
    "saturate": _saturate,
    "elastic_transform": _elastic_transform,
    "pixelate": _pixelate,
    "jpeg_compression": _jpeg_compression,
}
