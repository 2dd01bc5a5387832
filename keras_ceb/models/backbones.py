"""Feature extractors for the bottleneck classifiers: a Wide ResNet and a small convnet.

Both return ordinary functional `keras.Model`s that map images `[batch, H, W, C]` to features
`[batch, F]`, so they serialize with the model that contains them and need no custom objects.
"""

import numbers

import keras
from keras import layers

from keras_ceb import validation


def _check_input_shape(input_shape):
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(d is None or (isinstance(d, numbers.Integral) and d > 0) for d in shape)
    ):
        raise ValueError(
            "`input_shape` must be (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    return shape


def _maybe_batchnorm(x, use_batchnorm, name):
    if use_batchnorm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return x


def _preact_block(x, filters, stride, use_batchnorm, dropout_rate, name, kernel_initializer):
    """Pre-activation residual block: (BN)-ReLU-conv3x3-(BN)-ReLU-(dropout)-conv3x3 + shortcut."""
    h = _maybe_batchnorm(x, use_batchnorm, f"{name}_1")
    h = layers.Activation("relu", name=f"{name}_relu1")(h)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        # The projection shares the first activation, as in Zagoruyko & Komodakis.
        shortcut = layers.Conv2D(
            filters,
            1,
            strides=stride,
            padding="same",
            use_bias=False,
            kernel_initializer=kernel_initializer,
            name=f"{name}_shortcut",
        )(h)
    h = layers.Conv2D(
        filters,
        3,
        strides=stride,
        padding="same",
        use_bias=not use_batchnorm,
        kernel_initializer=kernel_initializer,
        name=f"{name}_conv1",
    )(h)
    h = _maybe_batchnorm(h, use_batchnorm, f"{name}_2")
    h = layers.Activation("relu", name=f"{name}_relu2")(h)
    if dropout_rate:
        h = layers.Dropout(dropout_rate, name=f"{name}_dropout")(h)
    h = layers.Conv2D(
        filters,
        3,
        padding="same",
        use_bias=not use_batchnorm,
        kernel_initializer=kernel_initializer,
        name=f"{name}_conv2",
    )(h)
    return layers.Add(name=f"{name}_add")([shortcut, h])


def wide_resnet(
    input_shape,
    depth=28,
    width=10,
    use_batchnorm=False,
    dropout_rate=0.0,
    kernel_initializer="he_normal",
    name=None,
):
    """Pre-activation Wide ResNet WRN-`depth`-`width` ending in global average pooling.

    Three groups of `n = (depth - 4) / 6` residual blocks with `16 * width`, `32 * width` and
    `64 * width` filters (strides 1, 2, 2), after a 16-filter stem convolution; a final
    (BN-)ReLU and global average pooling give features `[batch, 64 * width]`. The CEB paper
    trains its WRNs without BatchNorm (the default here): BatchNorm makes an example's
    encoding depend on the rest of the batch, which the minibatch information estimates do
    not account for.

    Args:
        input_shape: `(height, width, channels)` of one image.
        depth: Total depth, `6 n + 4` with `n >= 1` (10, 16, 22, 28, 40, ...).
        width: Widening factor k (>= 1).
        use_batchnorm: Whether to put BatchNormalization before each ReLU.
        dropout_rate: Dropout between the two convolutions of a block (0 disables it).
        kernel_initializer: Initializer of the convolutions.
        name: Model name; default `"wide_resnet_{depth}_{width}"`.

    Returns:
        A functional `keras.Model` mapping images to features `[batch, 64 * width]`.

    Examples:

        >>> backbone = wide_resnet((32, 32, 3), depth=16, width=4)
        >>> backbone.output_shape
        (None, 256)

    References:
        Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016.
        Fischer, "The Conditional Entropy Bottleneck", Entropy 22(9), 999, 2020.
    """
    input_shape = _check_input_shape(input_shape)
    depth = validation.positive_int(depth, "depth")
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(
            "`depth` must be 6 n + 4 with n >= 1 (10, 16, 22, 28, 40, ...). "
            f"Received: depth={depth!r}"
        )
    width = validation.positive_int(width, "width")
    if not 0.0 <= float(dropout_rate) < 1.0:
        raise ValueError(
            f"`dropout_rate` must be in [0, 1). Received: dropout_rate={dropout_rate!r}"
        )
    blocks_per_group = (depth - 4) // 6
    inputs = keras.Input(input_shape, name="images")
    x = layers.Conv2D(
        16,
        3,
        padding="same",
        use_bias=not use_batchnorm,
        kernel_initializer=kernel_initializer,
        name="stem_conv",
    )(inputs)
    for group, (filters, stride) in enumerate(((16 * width, 1), (32 * width, 2), (64 * width, 2))):
        for block in range(blocks_per_group):
            x = _preact_block(
                x,
                filters,
                stride if block == 0 else 1,
                use_batchnorm,
                dropout_rate,
                f"group{group + 1}_block{block + 1}",
                kernel_initializer,
            )
    x = _maybe_batchnorm(x, use_batchnorm, "final")
    x = layers.Activation("relu", name="final_relu")(x)
    features = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, features, name=name or f"wide_resnet_{depth}_{width}")


def small_convnet(
    input_shape,
    filters=(32, 64),
    dense_units=256,
    use_batchnorm=False,
    activation="relu",
    kernel_initializer="he_normal",
    name="small_convnet",
):
    """A small convnet that trains quickly on a CPU: conv-pool blocks, then a dense layer.

    Each entry of `filters` adds a 3x3 convolution with that many filters followed by 2x2
    max pooling; the result is flattened and mapped by one dense layer to the features.
    With the defaults on 28x28x1 inputs it has about 0.9 M parameters and an epoch of
    Fashion-MNIST takes roughly 20-25 s on two CPU cores with TensorFlow.

    Args:
        input_shape: `(height, width, channels)` of one image.
        filters: Filters of the convolution of each block (a non-empty sequence).
        dense_units: Width of the final dense layer, i.e. the feature dimension F.
        use_batchnorm: Whether to add BatchNormalization after each convolution.
        activation: Activation of the convolutions and the dense layer.
        kernel_initializer: Initializer of the convolutions and the dense layer.
        name: Model name.

    Returns:
        A functional `keras.Model` mapping images to features `[batch, dense_units]`.

    Examples:

        >>> backbone = small_convnet((28, 28, 1))
        >>> backbone.output_shape
        (None, 256)
    """
    input_shape = _check_input_shape(input_shape)
    if isinstance(filters, numbers.Integral) or not filters:
        raise ValueError(f"`filters` must be a non-empty sequence. Received: filters={filters!r}")
    filters = tuple(validation.positive_int(f, "filters") for f in filters)
    dense_units = validation.positive_int(dense_units, "dense_units")
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for i, f in enumerate(filters):
        x = layers.Conv2D(
            f,
            3,
            padding="same",
            use_bias=not use_batchnorm,
            kernel_initializer=kernel_initializer,
            name=f"conv{i + 1}",
        )(x)
        x = _maybe_batchnorm(x, use_batchnorm, f"conv{i + 1}")
        x = layers.Activation(activation, name=f"conv{i + 1}_act")(x)
        x = layers.MaxPooling2D(name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    features = layers.Dense(
        dense_units, activation=activation, kernel_initializer=kernel_initializer, name="features"
    )(x)
    return keras.Model(inputs, features, name=name)


BACKBONES = {"small_convnet": small_convnet, "wide_resnet": wide_resnet}


def get_backbone(backbone, input_shape, **kwargs):
    """Resolves `backbone` (a name in `BACKBONES` or a `keras.Model`) to a feature extractor.

    Args:
        backbone: `"small_convnet"`, `"wide_resnet"`, or a `keras.Model` whose output is
            `[batch, F]`.
        input_shape: Image shape, used to build a named backbone.
        **kwargs: Arguments of the named backbone's builder.

    Returns:
        A `keras.Model` with a rank-2 output.

    Examples:

        >>> get_backbone("wide_resnet", (32, 32, 3), depth=10, width=1).output_shape
        (None, 64)
    """
    if isinstance(backbone, str):
        if backbone not in BACKBONES:
            raise ValueError(
                f"`backbone` must be one of {tuple(BACKBONES)} or a keras.Model. "
                f"Received: backbone={backbone!r}"
            )
        return BACKBONES[backbone](input_shape, **kwargs)
    if not isinstance(backbone, keras.Model):
        raise ValueError(
            "`backbone` must be a name or a keras.Model. "
            f"Received: backbone={type(backbone).__name__}"
        )
    if kwargs:
        raise ValueError(
            "Backbone arguments only apply to a named backbone. "
            f"Received: backbone_kwargs={sorted(kwargs)}"
        )
    try:
        output_shape = backbone.output_shape
    except AttributeError:
        raise ValueError(
            "The backbone must be a built model with a known output shape (give it a "
            f"keras.Input). Received: backbone={backbone.name!r}"
        ) from None
    if not isinstance(output_shape, tuple) or len(output_shape) != 2:
        raise ValueError(
            "The backbone must output features of rank 2 (batch, features); end it with "
            f"global pooling or Flatten. Received: output_shape={output_shape}"
        )
    return backbone
