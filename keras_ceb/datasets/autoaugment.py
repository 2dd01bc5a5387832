"""AutoAugment's CIFAR-10 policy (Cubuk et al. 2019) as TensorFlow image ops for `tf.data`.

The policy is the paper's: 25 sub-policies of two operations each, every operation with the
probability and magnitude level (0 to 9) published in its appendix table "Policy found on
reduced CIFAR-10" (`CIFAR10_POLICY`). An image gets one sub-policy drawn uniformly; each of
its two operations is then applied with its probability.

Magnitudes follow the authors' reference code (tensorflow/models, research/autoaugment),
which scales a level `l` to `l / 10` of each operation's range (`magnitude`), except
Posterize: the reference code keeps `4 - int(4 l / 10)` bits, outside the paper's range of 4 to
8 bits, so the paper's range is used:

| operation | parameter at level l |
|---|---|
| ShearX, ShearY | shear `0.3 l / 10`, random sign |
| TranslateX, TranslateY | `int(10 l / 10)` pixels at 32 pixels (scaled with size), random sign |
| Rotate | `int(30 l / 10)` degrees, random sign |
| Solarize | invert the pixels at or above `256 - int(256 l / 10)` (of 255) |
| Posterize | keep `8 - int(4 l / 10)` bits (the paper's range, 4 to 8 bits) |
| Color, Contrast, Brightness, Sharpness | PIL `ImageEnhance` factor `0.1 + 1.8 l / 10` |
| AutoContrast, Equalize, Invert | no magnitude (the table's level is ignored) |

The pixel operations reproduce PIL's `ImageOps` / `ImageEnhance` (which the reference code
calls) on float images in [0, 1]; geometric operations sample the nearest pixel, as PIL does,
and fill what comes from outside the image with gray (0.5, close to the CIFAR-10 mean the
reference code fills with). Every operation maps [0, 1] into [0, 1].

This module is TensorFlow only by nature: it runs inside a `tf.data` pipeline (which feeds
`fit` on every Keras backend), so it uses `tf.image` and TensorFlow ops, not `keras.ops`.
`keras_ceb.datasets.as_dataset(..., augment="autoaugment")` applies the policy, then the usual
pad-and-crop and horizontal flip.

References:
    Cubuk, Zoph, Mane, Vasudevan, Le, "AutoAugment: Learning Augmentation Strategies from
    Data", CVPR 2019 (arXiv:1805.09501), appendix table of the reduced CIFAR-10 policy.
"""

import math

FILL_VALUE = 0.5
MAX_LEVEL = 10  # The reference code's PARAMETER_MAX: a level l means l / 10 of the range.
NUM_LEVELS = 10  # Levels 0 to 9, as in the policy table.

GEOMETRIC_OPS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
ENHANCE_OPS = ("Color", "Contrast", "Brightness", "Sharpness")
MAGNITUDE_FREE_OPS = ("AutoContrast", "Equalize", "Invert")
OPS = GEOMETRIC_OPS + ENHANCE_OPS + MAGNITUDE_FREE_OPS + ("Solarize", "Posterize")
SIGNED_OPS = GEOMETRIC_OPS

# (operation, probability, level) pairs, in the order of the AutoAugment paper's table.
CIFAR10_POLICY = (
    (("Invert", 0.1, 7), ("Contrast", 0.2, 6)),
    (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
    (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, 8), ("Equalize", 0.9, 2)),
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, 5), ("Equalize", 0.5, 1)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
    (("Equalize", 0.3, 7), ("AutoContrast", 0.4, 8)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
    (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, 3)),
    (("Equalize", 0.2, 0), ("AutoContrast", 0.6, 0)),
    (("Equalize", 0.2, 8), ("Equalize", 0.6, 4)),
    (("Color", 0.9, 9), ("Equalize", 0.6, 6)),
    (("AutoContrast", 0.8, 4), ("Solarize", 0.2, 8)),
    (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, 3)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, 2), ("Solarize", 0.8, 3)),
    (("Equalize", 0.8, 8), ("Invert", 0.1, 3)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1)),
)


def _check_op(op):
    if op not in OPS:
        raise ValueError(
            f"Unknown AutoAugment operation; expected one of {OPS}. Received: op={op!r}"
        )


def _check_level(level):
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < NUM_LEVELS:
        raise ValueError(
            f"`level` must be an integer from 0 to {NUM_LEVELS - 1}. Received: level={level!r}"
        )


def magnitude(op, level, image_size=32):
    """The parameter of operation `op` at magnitude `level` (before any random sign).

    Args:
        op: An operation name of `OPS`.
        level: Magnitude level, 0 to 9.
        image_size: Image height and width in pixels (translations scale with it).

    Returns:
        A float (shear, degrees, pixels, enhancement factor, solarize threshold on the 0-255
        scale), an int number of bits for Posterize, or `None` for the magnitude-free
        operations.

    Examples:

        >>> magnitude("ShearY", 8), magnitude("TranslateX", 9), magnitude("Posterize", 7)
        (0.24, 9.0, 6)
        >>> magnitude("Color", 3), magnitude("Solarize", 2), magnitude("Invert", 7)
        (0.64, 205.0, None)
    """
    _check_op(op)
    _check_level(level)
    fraction = level / MAX_LEVEL
    if op in ("ShearX", "ShearY"):
        return round(0.3 * fraction, 6)
    if op in ("TranslateX", "TranslateY"):
        return float(int(10 * fraction)) * image_size / 32.0
    if op == "Rotate":
        return float(int(30 * fraction))
    if op in ENHANCE_OPS:
        return round(0.1 + 1.8 * fraction, 6)
    if op == "Solarize":
        return float(256 - int(256 * fraction))
    if op == "Posterize":
        return 8 - int(4 * fraction)
    return None


# The operations: float images [H, W, C] in [0, 1] to float images in [0, 1].


def _tf():
    import tensorflow as tf

    return tf


def _to_pixels(image):
    """[0, 1] floats to integer pixel values 0..255 (as float32), as PIL sees the image."""
    tf = _tf()
    return tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0)


def _from_pixels(pixels):
    return _tf().cast(pixels, "float32") / 255.0


def _projective(image, transform, fill_value):
    """Samples `image` at `transform(output pixel)`: PIL's `Image.transform` with NEAREST."""
    tf = _tf()
    image = tf.convert_to_tensor(image, "float32")
    transform = tf.concat([tf.cast(tf.reshape(transform, [6]), "float32"), tf.zeros([2])], 0)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=transform[None],
        output_shape=tf.shape(image)[:2],
        fill_value=tf.constant(fill_value, "float32"),
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )[0]
    return tf.ensure_shape(out, image.shape)


def shear_x(image, shear, fill_value=FILL_VALUE):
    """Output pixel (x, y) takes input pixel (x + shear * y, y) (pixel centers, as PIL)."""
    return _projective(image, [1.0, shear, 0.5 * shear, 0.0, 1.0, 0.0], fill_value)


def shear_y(image, shear, fill_value=FILL_VALUE):
    """Output pixel (x, y) takes input pixel (x, y + shear * x) (pixel centers, as PIL)."""
    return _projective(image, [1.0, 0.0, 0.0, shear, 1.0, 0.5 * shear], fill_value)


def translate_x(image, pixels, fill_value=FILL_VALUE):
    """Output pixel (x, y) takes input pixel (x + pixels, y): the image moves left."""
    return _projective(image, [1.0, 0.0, pixels, 0.0, 1.0, 0.0], fill_value)


def translate_y(image, pixels, fill_value=FILL_VALUE):
    """Output pixel (x, y) takes input pixel (x, y + pixels): the image moves up."""
    return _projective(image, [1.0, 0.0, 0.0, 0.0, 1.0, pixels], fill_value)


def rotate(image, degrees, fill_value=FILL_VALUE):
    """Rotates counter-clockwise by `degrees` about the image center (PIL's `rotate`)."""
    tf = _tf()
    height = tf.cast(tf.shape(image)[0], "float32")
    width = tf.cast(tf.shape(image)[1], "float32")
    radians = tf.cast(degrees, "float32") * (math.pi / 180.0)
    cos, sin = tf.cos(radians), tf.sin(radians)
    # Pixel centers at (i + 0.5): rotate the output point about the center into the input.
    cx, cy = width / 2.0, height / 2.0
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    a2 = cx - a0 * cx - a1 * cy + 0.5 * (a0 + a1 - 1.0)
    b2 = cy - b0 * cx - b1 * cy + 0.5 * (b0 + b1 - 1.0)
    return _projective(image, tf.stack([a0, a1, a2, b0, b1, b2]), fill_value)


def invert(image):
    """`1 - x` (PIL `ImageOps.invert`)."""
    return 1.0 - _tf().clip_by_value(image, 0.0, 1.0)


def solarize(image, threshold):
    """Inverts the pixels whose 0-255 value is at least `threshold` (PIL `ImageOps.solarize`)."""
    tf = _tf()
    pixels = _to_pixels(image)
    return _from_pixels(tf.where(pixels < threshold, pixels, 255.0 - pixels))


def posterize(image, bits):
    """Keeps the `bits` most significant bits of each 0-255 value (PIL `ImageOps.posterize`)."""
    tf = _tf()
    shift = tf.cast(8 - tf.cast(bits, "int32"), "uint8")
    pixels = tf.cast(_to_pixels(image), "uint8")
    return _from_pixels(tf.bitwise.left_shift(tf.bitwise.right_shift(pixels, shift), shift))


def autocontrast(image):
    """Stretches each channel's [min, max] to [0, 255] (PIL `ImageOps.autocontrast`)."""
    tf = _tf()
    pixels = _to_pixels(image)
    low = tf.reduce_min(pixels, axis=[0, 1], keepdims=True)
    high = tf.reduce_max(pixels, axis=[0, 1], keepdims=True)
    scale = 255.0 / tf.maximum(high - low, 1.0)
    stretched = tf.clip_by_value(tf.round((pixels - low) * scale), 0.0, 255.0)
    return _from_pixels(tf.where(high > low, stretched, pixels))


def equalize(image):
    """Histogram equalization of each channel (PIL `ImageOps.equalize`, bit for bit)."""
    tf = _tf()
    pixels = tf.cast(_to_pixels(image), "int32")

    def channel(values):
        histogram = tf.math.bincount(tf.reshape(values, [-1]), minlength=256, maxlength=256)
        nonzero = tf.boolean_mask(histogram, histogram > 0)
        step = (tf.reduce_sum(nonzero) - nonzero[-1]) // 255
        safe_step = tf.maximum(step, 1)
        # lut[i] = (step // 2 + sum of the histogram below i) // step
        below = tf.concat([[0], tf.cumsum(histogram)[:-1]], 0)
        lut = tf.clip_by_value((safe_step // 2 + below) // safe_step, 0, 255)
        return tf.where(step > 0, tf.gather(lut, values), values)

    channels = [channel(pixels[..., c]) for c in range(image.shape[-1])]
    return _from_pixels(tf.stack(channels, axis=-1))


def _blend(degenerate, image, factor):
    """PIL `Image.blend(degenerate, image, factor)`, clipped to [0, 1]."""
    tf = _tf()
    return tf.clip_by_value(degenerate + factor * (image - degenerate), 0.0, 1.0)


def _grayscale(image):
    """PIL's `convert("L")` luma, `(299 R + 587 G + 114 B) / 1000`, broadcast to the channels."""
    tf = _tf()
    if image.shape[-1] == 1:
        return image
    weights = tf.constant([0.299, 0.587, 0.114], "float32")
    return tf.reduce_sum(image * weights, axis=-1, keepdims=True) + tf.zeros_like(image)


def color(image, factor):
    """Saturation: blends the grayscale image with the image (PIL `ImageEnhance.Color`)."""
    return _blend(_grayscale(image), image, factor)


def contrast(image, factor):
    """Blends the mean gray level with the image (PIL `ImageEnhance.Contrast`)."""
    tf = _tf()
    mean = tf.round(tf.reduce_mean(_to_pixels(_grayscale(image)))) / 255.0
    return _blend(tf.zeros_like(image) + mean, image, factor)


def brightness(image, factor):
    """Blends black with the image: `factor * x`, clipped (PIL `ImageEnhance.Brightness`)."""
    return _blend(_tf().zeros_like(image), image, factor)


def sharpness(image, factor):
    """Blends a smoothed image with the image (PIL `ImageEnhance.Sharpness`).

    The smoothed image is PIL's `SMOOTH` filter, kernel `[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`,
    with the border pixels kept.
    """
    tf = _tf()
    image = tf.convert_to_tensor(image, "float32")
    channels = image.shape[-1]
    kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
    smooth = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "VALID")[0]
    smooth = tf.pad(smooth, [[1, 1], [1, 1], [0, 0]])
    shape = tf.shape(image)
    rows = tf.range(shape[0])[:, None, None]
    cols = tf.range(shape[1])[None, :, None]
    border = (rows == 0) | (rows == shape[0] - 1) | (cols == 0) | (cols == shape[1] - 1)
    degenerate = tf.where(border, image, smooth)
    return _blend(degenerate, image, factor)


def _op_functions(image, value, fill_value):
    """Each operation of `OPS`, in order, as a function of no argument (for `tf.switch_case`)."""
    return {
        "ShearX": lambda: shear_x(image, value, fill_value),
        "ShearY": lambda: shear_y(image, value, fill_value),
        "TranslateX": lambda: translate_x(image, value, fill_value),
        "TranslateY": lambda: translate_y(image, value, fill_value),
        "Rotate": lambda: rotate(image, value, fill_value),
        "Color": lambda: color(image, value),
        "Contrast": lambda: contrast(image, value),
        "Brightness": lambda: brightness(image, value),
        "Sharpness": lambda: sharpness(image, value),
        "AutoContrast": lambda: autocontrast(image),
        "Equalize": lambda: equalize(image),
        "Invert": lambda: invert(image),
        "Solarize": lambda: solarize(image, value),
        "Posterize": lambda: posterize(image, value),
    }


def apply_op(image, op, level, sign=1.0, fill_value=FILL_VALUE):
    """Applies operation `op` at magnitude `level` to one image.

    Args:
        image: Float image `[H, W, C]` in [0, 1].
        op: An operation name of `OPS`.
        level: Magnitude level, 0 to 9.
        sign: `+1` or `-1` (a tensor or a number): the direction of the signed (geometric)
            operations; ignored by the others.
        fill_value: The value of pixels that come from outside the image.

    Returns:
        The transformed image, float32 `[H, W, C]` in [0, 1].

    Examples:

        >>> import tensorflow as tf
        >>> image = tf.fill([32, 32, 3], 0.2)
        >>> round(float(tf.reduce_max(apply_op(image, "Invert", 0))), 4)
        0.8
    """
    tf = _tf()
    image = tf.convert_to_tensor(image, "float32")
    value = magnitude(op, level, image_size=image.shape[0] or 32)
    if op in SIGNED_OPS:
        value = tf.cast(sign, "float32") * value
    return tf.ensure_shape(_op_functions(image, value, fill_value)[op](), image.shape)


def check_policy(policy):
    """Validates a policy: sub-policies of `(op, probability, level)` triples; returns a tuple."""
    policy = tuple(tuple(tuple(step) for step in sub_policy) for sub_policy in policy)
    if not policy:
        raise ValueError(f"A policy needs at least one sub-policy. Received: policy={policy!r}")
    for sub_policy in policy:
        for step in sub_policy:
            if len(step) != 3:
                raise ValueError(
                    "Each step of a sub-policy is (op, probability, level). "
                    f"Received: step={step!r}"
                )
            op, probability, level = step
            _check_op(op)
            _check_level(level)
            if isinstance(probability, bool) or not 0.0 <= float(probability) <= 1.0:
                raise ValueError(
                    f"Probabilities must be in [0, 1]. Received: probability={probability!r}"
                )
    return policy


def _policy_tables(policy, image_size):
    """The policy as three `[S, steps]` arrays: operation index, probability, magnitude.

    Sub-policies shorter than the longest are padded with steps of probability 0.
    """
    steps = max(len(sub_policy) for sub_policy in policy)
    op_ids, probabilities, values = [], [], []
    for sub_policy in policy:
        padded = list(sub_policy) + [("Invert", 0.0, 0)] * (steps - len(sub_policy))
        op_ids.append([OPS.index(op) for op, _, _ in padded])
        probabilities.append([float(p) for _, p, _ in padded])
        values.append([float(magnitude(op, level, image_size) or 0.0) for op, _, level in padded])
    return op_ids, probabilities, values


def apply_policy(image, seed, policy=CIFAR10_POLICY, fill_value=FILL_VALUE):
    """Applies one random sub-policy of `policy` to one image, reproducibly from `seed`.

    The sub-policy is drawn uniformly; each of its operations is applied with its probability
    and, for the geometric ones, a random sign. The graph holds each operation once per step
    (a `tf.switch_case` over `OPS`, the magnitude a tensor), so a `tf.data` map traces quickly.

    Args:
        image: Float image `[H, W, C]` in [0, 1], with a static shape.
        seed: A stateless seed, an int32/int64 tensor of shape `[2]`.
        policy: Sub-policies of `(op, probability, level)`; default the CIFAR-10 policy.
        fill_value: Value of the pixels that geometric operations bring in from outside.

    Returns:
        The augmented image, float32, same shape, in [0, 1].

    Examples:

        >>> import tensorflow as tf
        >>> image = tf.random.stateless_uniform([32, 32, 3], seed=[0, 1])
        >>> out = apply_policy(image, seed=tf.constant([3, 4]))
        >>> tuple(out.shape), bool(tf.reduce_min(out) >= 0.0), bool(tf.reduce_max(out) <= 1.0)
        ((32, 32, 3), True, True)
    """
    tf = _tf()
    policy = check_policy(policy)
    image = tf.convert_to_tensor(image, "float32")
    op_ids, probabilities, values = (
        tf.constant(table) for table in _policy_tables(policy, image.shape[0] or 32)
    )
    steps = op_ids.shape[1]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, "int64"), 1 + steps)
    index = tf.random.stateless_uniform([], seeds[0], 0, len(policy), dtype="int32")
    signed = tf.constant([op in SIGNED_OPS for op in OPS])
    out = image
    for step in range(steps):
        draws = tf.random.stateless_uniform([2], seeds[1 + step])
        op_id = op_ids[index, step]
        value = values[index, step]
        value = tf.where(signed[op_id] & (draws[1] < 0.5), -value, value)
        functions = _op_functions(out, value, fill_value)
        branches = [functions[op] for op in OPS]
        transformed = tf.switch_case(op_id, branches)
        out = tf.where(draws[0] < probabilities[index, step], transformed, out)
        out = tf.ensure_shape(out, image.shape)
    return out
