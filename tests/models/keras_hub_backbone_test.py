"""CEB on KerasHub image backbones (random weights): a ResNet's feature map `[batch, H, W, C]`
and a ViT's tokens `[batch, tokens, C]`, pooled by `CEBClassifier`, through fit, evaluate,
predict, save / load and the SavedModel, frozen then fine-tuned.

KerasHub is a test dependency installed by the README's command 1 (`pip install --no-deps
keras-hub`, see docs/guide/classifier.md for why `--no-deps`); without it these tests skip, and
fail under `KERAS_CEB_TEST_REQUIRE_DATA=1` (CI skips nothing).
"""

import os

import keras
import numpy as np
import pytest

import keras_ceb
from keras_ceb.models import CEBClassifier
from tests.backend_utils import to_numpy
from tests.conftest import REQUIRE_DATA_ENV

try:
    import keras_hub
except ImportError:  # pragma: no cover - depends on the environment
    keras_hub = None
    if os.environ.get(REQUIRE_DATA_ENV) == "1":
        raise
pytestmark = pytest.mark.skipif(
    keras_hub is None, reason="keras-hub not installed: pip install --no-deps keras-hub==0.32.0"
)

IMAGE_SHAPE = (16, 16, 1)


def data(n=64):
    rng = np.random.default_rng(0)
    y = (np.arange(n) % 4).astype("int32")
    x = np.clip(rng.normal(0.5, 0.2, (n, *IMAGE_SHAPE)) + 0.2 * y[:, None, None, None], 0, 1)
    return x.astype("float32"), y


def resnet():
    # KerasHub's ResNet needs a 64-filter stem; one basic block per stage keeps it small.
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=IMAGE_SHAPE,
    )


def vit():
    return keras_hub.models.ViTBackbone(
        image_shape=IMAGE_SHAPE, patch_size=4, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32
    )


def classifier(backbone, head, **kwargs):
    keras.utils.set_random_seed(0)
    model = CEBClassifier(
        backbone, num_classes=4, head=head, marginal=4, warmup_steps=0, seed=0, **kwargs
    )
    model.compile(keras.optimizers.Adam(1e-3))
    return model


@pytest.mark.parametrize(
    "make_backbone, head",
    [(resnet, "consistent"), (resnet, "mlp"), (resnet, "catgen"), (vit, "mlp")],
)
def test_a_keras_hub_backbone_trains_under_ceb(make_backbone, head, tmp_path):
    x, y = data()
    model = classifier(make_backbone(), head)
    assert model.pooling is not None  # a feature map or tokens, pooled to [batch, C]
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y)).history
    assert all(np.isfinite(v[-1]) for v in history.values()), history
    assert {"rate", "i_xz_lower", "rex", "val_loss", "val_rex"} <= history.keys()
    logits = model.predict(x, verbose=0)
    assert logits.shape == (64, 4)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(reloaded.backbone, type(model.backbone))
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), logits, atol=1e-5)
    rate = keras_ceb.evaluation.rate_scores(model, x)
    np.testing.assert_allclose(rate, to_numpy(reloaded.rate(x)), rtol=1e-5, atol=1e-4)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        served = tf.saved_model.load(
            keras_ceb.export.export_saved_model(model, os.path.join(tmp_path, "saved"))
        )
        np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(), logits, atol=1e-5)
        np.testing.assert_allclose(served.rate(tf.constant(x)).numpy(), rate, rtol=1e-5, atol=1e-4)


def test_a_frozen_keras_hub_backbone_stays_put_then_fine_tunes():
    x, y = data()
    model = classifier(resnet(), "consistent")
    model.backbone.trainable = False
    model.compile(keras.optimizers.Adam(1e-3))
    frozen = [to_numpy(w).copy() for w in model.backbone.weights]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert all(np.array_equal(a, to_numpy(w)) for a, w in zip(frozen, model.backbone.weights))
    model.backbone.trainable = True
    model.compile(keras.optimizers.Adam(1e-4))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert any(not np.array_equal(a, to_numpy(w)) for a, w in zip(frozen, model.backbone.weights))


@pytest.mark.parametrize("pooling, size", [("avg", 32), ("max", 32), ("flatten", 2 * 2 * 32)])
def test_pooling_reduces_the_feature_map(pooling, size):
    model = classifier(resnet(), "consistent", pooling=pooling)
    assert tuple(model.feature_extractor.output.shape) == (None, size)
    assert tuple(model.features(data(2)[0]).shape) == (2, size)
