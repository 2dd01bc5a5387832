"""AutoAugment's CIFAR-10 policy: the published table, the magnitudes, and every operation
against PIL (which the authors' reference code calls) and inside [0, 1]."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from PIL import ImageEnhance
from PIL import ImageOps

from keras_ceb.datasets import as_dataset
from keras_ceb.datasets import autoaugment

# TensorFlow ops in a tf.data pipeline, the same under every Keras backend: tested once.
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="TensorFlow ops, independent of the Keras backend",
)

# Cubuk et al. 2019, appendix, "Policy found on reduced CIFAR-10": 25 sub-policies of
# (operation, probability, magnitude level).
PAPER_TABLE = """
Invert 0.1 7, Contrast 0.2 6
Rotate 0.7 2, TranslateX 0.3 9
Sharpness 0.8 1, Sharpness 0.9 3
ShearY 0.5 8, TranslateY 0.7 9
AutoContrast 0.5 8, Equalize 0.9 2
ShearY 0.2 7, Posterize 0.3 7
Color 0.4 3, Brightness 0.6 7
Sharpness 0.3 9, Brightness 0.7 9
Equalize 0.6 5, Equalize 0.5 1
Contrast 0.6 7, Sharpness 0.6 5
Color 0.7 7, TranslateX 0.5 8
Equalize 0.3 7, AutoContrast 0.4 8
TranslateY 0.4 3, Sharpness 0.2 6
Brightness 0.9 6, Color 0.2 8
Solarize 0.5 2, Invert 0.0 3
Equalize 0.2 0, AutoContrast 0.6 0
Equalize 0.2 8, Equalize 0.6 4
Color 0.9 9, Equalize 0.6 6
AutoContrast 0.8 4, Solarize 0.2 8
Brightness 0.1 3, Color 0.7 0
Solarize 0.4 5, AutoContrast 0.9 3
TranslateY 0.9 9, TranslateY 0.7 9
AutoContrast 0.9 2, Solarize 0.8 3
Equalize 0.8 8, Invert 0.1 3
TranslateY 0.7 9, AutoContrast 0.9 1
"""


def _parse(table):
    policy = []
    for line in table.strip().splitlines():
        steps = []
        for step in line.split(","):
            op, probability, level = step.split()
            steps.append((op, float(probability), int(level)))
        policy.append(tuple(steps))
    return tuple(policy)


def test_policy_is_the_published_table():
    policy = autoaugment.CIFAR10_POLICY
    assert policy == _parse(PAPER_TABLE)
    assert len(policy) == 25 and all(len(sub) == 2 for sub in policy)
    assert autoaugment.check_policy(policy) == policy
    used = {op for sub in policy for op, _, _ in sub}
    assert used == set(autoaugment.OPS) - {"ShearX"}  # ShearX is in the search space only


def test_magnitudes_follow_the_reference_code():
    assert [autoaugment.magnitude("ShearX", level) for level in (0, 5, 9)] == [0.0, 0.15, 0.27]
    assert [autoaugment.magnitude("TranslateY", level) for level in (0, 3, 9)] == [0.0, 3.0, 9.0]
    assert autoaugment.magnitude("TranslateX", 9, image_size=64) == 18.0
    assert [autoaugment.magnitude("Rotate", level) for level in (2, 9)] == [6.0, 27.0]
    assert [autoaugment.magnitude("Brightness", level) for level in (0, 9)] == [0.1, 1.72]
    assert [autoaugment.magnitude("Solarize", level) for level in (0, 2, 9)] == [
        256.0,
        205.0,
        26.0,
    ]
    assert [autoaugment.magnitude("Posterize", level) for level in range(10)] == [
        8,
        8,
        8,
        7,
        7,
        6,
        6,
        6,
        5,
        5,
    ]  # within the paper's range, 4 to 8 bits
    assert autoaugment.magnitude("Equalize", 7) is None


@pytest.mark.parametrize(
    "call, received",
    [
        (lambda: autoaugment.magnitude("Cutout", 1), "op='Cutout'"),
        (lambda: autoaugment.magnitude("Rotate", 10), "level=10"),
        (lambda: autoaugment.check_policy([[("Rotate", 1.5, 2)]]), "probability=1.5"),
        (lambda: autoaugment.check_policy([]), r"policy=\(\)"),
    ],
)
def test_argument_validation(call, received):
    with pytest.raises(ValueError, match=f"Received: {received}$"):
        call()


def _test_images():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    noise[:10] = noise[:10] // 4 + 60  # a region of low contrast
    extremes = np.zeros((32, 32, 3), np.uint8)
    extremes[:, 16:] = 255
    return [noise, extremes, np.full((32, 32, 3), 255, np.uint8)]


def test_every_op_maps_the_image_range_into_itself():
    for image in _test_images():
        x = tf.constant(image.astype("float32") / 255.0)
        for op in autoaugment.OPS:
            for level in range(autoaugment.NUM_LEVELS):
                for sign in (1.0, -1.0) if op in autoaugment.SIGNED_OPS else (1.0,):
                    out = autoaugment.apply_op(x, op, level, sign).numpy()
                    assert out.shape == image.shape and out.dtype == np.float32, op
                    assert 0.0 <= out.min() and out.max() <= 1.0, (op, level, sign)
    black_white = tf.constant(_test_images()[1].astype("float32") / 255.0)
    # The range is preserved, not only kept inside: these keep both ends.
    for op in ("Invert", "AutoContrast", "Equalize", "TranslateX"):
        out = autoaugment.apply_op(black_white, op, 9).numpy()
        assert out.min() == 0.0 and out.max() == 1.0, op


def _pil_reference(pil, op, value):
    fill = (128, 128, 128)
    return {
        "ShearX": lambda: pil.transform(
            (32, 32), Image.AFFINE, (1, value, 0, 0, 1, 0), fillcolor=fill
        ),
        "ShearY": lambda: pil.transform(
            (32, 32), Image.AFFINE, (1, 0, 0, value, 1, 0), fillcolor=fill
        ),
        "TranslateX": lambda: pil.transform(
            (32, 32), Image.AFFINE, (1, 0, value, 0, 1, 0), fillcolor=fill
        ),
        "TranslateY": lambda: pil.transform(
            (32, 32), Image.AFFINE, (1, 0, 0, 0, 1, value), fillcolor=fill
        ),
        "Rotate": lambda: pil.rotate(value, fillcolor=fill),
        "AutoContrast": lambda: ImageOps.autocontrast(pil),
        "Equalize": lambda: ImageOps.equalize(pil),
        "Invert": lambda: ImageOps.invert(pil),
        "Solarize": lambda: ImageOps.solarize(pil, value),
        "Posterize": lambda: ImageOps.posterize(pil, value),
        "Color": lambda: ImageEnhance.Color(pil).enhance(value),
        "Contrast": lambda: ImageEnhance.Contrast(pil).enhance(value),
        "Brightness": lambda: ImageEnhance.Brightness(pil).enhance(value),
        "Sharpness": lambda: ImageEnhance.Sharpness(pil).enhance(value),
    }[op]()


@pytest.mark.parametrize("op", autoaugment.OPS)
def test_ops_match_pil(op):
    image = _test_images()[0]
    x = tf.constant(image.astype("float32") / 255.0)
    for level, sign in ((3, 1.0), (9, -1.0)):
        value = autoaugment.magnitude(op, level)
        if op in autoaugment.SIGNED_OPS:
            value *= sign
        ours = autoaugment.apply_op(x, op, level, sign, fill_value=128 / 255).numpy()
        reference = np.asarray(_pil_reference(Image.fromarray(image), op, value), "int32")
        difference = np.abs(np.round(ours * 255).astype("int32") - reference)
        # Exact, except PIL's enhancers, which round their blend to uint8 (off by at most 1).
        assert difference.max() <= (1 if op in autoaugment.ENHANCE_OPS else 0), (op, level)


def test_apply_policy_is_seeded_and_applies_the_table():
    x = tf.constant(_test_images()[0].astype("float32") / 255.0)
    first = autoaugment.apply_policy(x, tf.constant([1, 2]))
    np.testing.assert_array_equal(first, autoaugment.apply_policy(x, tf.constant([1, 2])))
    outputs = [autoaugment.apply_policy(x, tf.constant([1, s])).numpy() for s in range(12)]
    assert sum(not np.array_equal(o, x.numpy()) for o in outputs) >= 6
    # A one-step policy that always inverts.
    inverted = autoaugment.apply_policy(x, tf.constant([0, 0]), policy=[[("Invert", 1.0, 0)]])
    np.testing.assert_allclose(inverted, 1.0 - x.numpy(), atol=1e-6)
    never = autoaugment.apply_policy(x, tf.constant([0, 0]), policy=[[("Invert", 0.0, 0)]])
    np.testing.assert_array_equal(never, x)


def test_as_dataset_autoaugment():
    images = np.stack(_test_images()[:2] * 4).astype("float32") / 255.0
    labels = np.arange(8, dtype="int32")
    ds = as_dataset(images, labels, batch_size=4, augment="autoaugment", seed=0)
    epochs = [[(x.numpy(), y.numpy()) for x, y in ds] for _ in range(2)]
    for epoch in epochs:
        assert [x.shape for x, _ in epoch] == [(4, 32, 32, 3), (4, 32, 32, 3)]
        assert sorted(np.concatenate([y for _, y in epoch]).tolist()) == list(range(8))
        for x, y in epoch:
            assert 0.0 <= x.min() and x.max() <= 1.0
            assert not np.array_equal(x, images[y])  # augmented (at least cropped)
    # Every epoch draws new augmentations.
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(*epochs))
    (batch,) = list(as_dataset(images[:2], batch_size=2, shuffle=False, augment="autoaugment"))
    assert batch.shape == (2, 32, 32, 3)  # images only
    with pytest.raises(ValueError, match=r"Received: x.shape=\(8, 3072\)$"):
        as_dataset(images.reshape(8, -1), labels, augment="autoaugment")
