"""Tests of the feature extractors: shapes, depth validation, BatchNorm switch."""

import keras
import numpy as np
import pytest

from keras_ceb.models import backbones


def _count(model, layer_type, kernel_size=None):
    return sum(
        isinstance(layer, layer_type)
        and (kernel_size is None or tuple(layer.kernel_size) == kernel_size)
        for layer in model.layers
    )


def test_small_convnet_default_features():
    model = backbones.small_convnet((28, 28, 1))
    assert isinstance(model, keras.Model)
    assert model.output_shape == (None, 256)
    features = model.predict(np.zeros((3, 28, 28, 1), "float32"), verbose=0)
    assert features.shape == (3, 256)
    assert _count(model, keras.layers.Conv2D) == 2
    assert _count(model, keras.layers.BatchNormalization) == 0


def test_small_convnet_options():
    model = backbones.small_convnet(
        (32, 32, 3), filters=(4, 8, 16), dense_units=10, use_batchnorm=True
    )
    assert model.output_shape == (None, 10)
    assert _count(model, keras.layers.Conv2D) == 3
    assert _count(model, keras.layers.BatchNormalization) == 3
    assert model(np.ones((2, 32, 32, 3), "float32")).shape == (2, 10)


@pytest.mark.parametrize("depth, width", [(10, 1), (16, 2)])
def test_wide_resnet_features_and_depth(depth, width):
    model = backbones.wide_resnet((32, 32, 3), depth=depth, width=width)
    assert model.name == f"wide_resnet_{depth}_{width}"
    assert model.output_shape == (None, 64 * width)
    assert model(np.zeros((2, 32, 32, 3), "float32")).shape == (2, 64 * width)
    n = (depth - 4) // 6
    # A stem convolution and two 3x3 convolutions per block, in three groups.
    assert _count(model, keras.layers.Conv2D, (3, 3)) == 1 + 6 * n
    assert _count(model, keras.layers.Add) == 3 * n
    assert isinstance(model.layers[-1], keras.layers.GlobalAveragePooling2D)
    # The paper's CEB models use no BatchNorm: off by default.
    assert _count(model, keras.layers.BatchNormalization) == 0


def test_wide_resnet_batchnorm_and_dropout():
    model = backbones.wide_resnet(
        (16, 16, 1), depth=10, width=1, use_batchnorm=True, dropout_rate=0.3
    )
    # Two per block (pre-activation) and one before the pooling.
    assert _count(model, keras.layers.BatchNormalization) == 2 * 3 + 1
    assert _count(model, keras.layers.Dropout) == 3
    assert model.output_shape == (None, 64)


@pytest.mark.parametrize("depth", [27, 4, 8, 0, -2, 28.0, "28", True])
def test_wide_resnet_rejects_bad_depth(depth):
    with pytest.raises(ValueError, match=r"Received: depth="):
        backbones.wide_resnet((32, 32, 3), depth=depth, width=1)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"width": 0}, "width"),
        ({"dropout_rate": 1.0}, "dropout_rate"),
        ({"input_shape": (32, 32)}, "input_shape"),
        ({"input_shape": (32, 0, 3)}, "input_shape"),
    ],
)
def test_wide_resnet_rejects_bad_arguments(kwargs, name):
    kwargs = {"input_shape": (32, 32, 3), "depth": 10, **kwargs}
    with pytest.raises(ValueError, match=rf"Received: {name}="):
        backbones.wide_resnet(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"filters": ()}, "filters"),
        ({"filters": 32}, "filters"),
        ({"filters": (32, 0)}, "filters"),
        ({"dense_units": 0}, "dense_units"),
    ],
)
def test_small_convnet_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"Received: {name}="):
        backbones.small_convnet((28, 28, 1), **kwargs)


def test_get_backbone():
    assert backbones.get_backbone("small_convnet", (28, 28, 1), dense_units=8).output_shape == (
        None,
        8,
    )
    custom = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    assert backbones.get_backbone(custom, (8, 8, 1)) is custom
    with pytest.raises(ValueError, match="Received: backbone='resnet50'"):
        backbones.get_backbone("resnet50", (28, 28, 1))
    conv = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="rank 2"):
        backbones.get_backbone(conv, (8, 8, 1))
    with pytest.raises(ValueError, match="built model"):
        backbones.get_backbone(keras.Sequential([keras.layers.Dense(2)]), (8, 8, 1))
    with pytest.raises(ValueError, match="Received: backbone=int"):
        backbones.get_backbone(3, (8, 8, 1))
    with pytest.raises(ValueError, match="only apply to a named backbone"):
        backbones.get_backbone(custom, (8, 8, 1), depth=10)


def test_backbones_serialize():
    for model in (
        backbones.small_convnet((28, 28, 1), filters=(2,), dense_units=4),
        backbones.wide_resnet((8, 8, 1), depth=10, width=1),
    ):
        clone = keras.Model.from_config(model.get_config())
        assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
        assert clone.output_shape == model.output_shape
