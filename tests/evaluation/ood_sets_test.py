"""Tests for `keras_ceb.evaluation.ood_sets`: shapes, ranges, and no mutation of the inputs."""

import numpy as np
import pytest

from keras_ceb.evaluation import mnist_test_images
from keras_ceb.evaluation import paper_ood_sets
from keras_ceb.evaluation import uniform_noise
from keras_ceb.evaluation import vertical_flip


def read_only_images(shape=(6, 5, 4, 1), seed=0, dtype="float32"):
    """Images whose buffer cannot be written: any write by the code under test would raise."""
    images = np.random.default_rng(seed).random(shape).astype(dtype)
    images.flags.writeable = False
    return images


def test_uniform_noise_like_an_array():
    x = read_only_images((200, 8, 8, 1))
    original = x.copy()
    noise = uniform_noise(x, seed=3)
    assert noise.shape == x.shape and noise.dtype == np.float32
    assert noise.min() >= 0.0 and noise.max() < 1.0
    assert abs(noise.mean() - 0.5) < 0.01 and abs(noise.var() - 1 / 12) < 0.005
    np.testing.assert_array_equal(x, original)
    assert not np.shares_memory(noise, x)
    np.testing.assert_array_equal(uniform_noise(x, seed=3), noise)  # reproducible
    assert not np.array_equal(uniform_noise(x, seed=4), noise)
    assert uniform_noise(x.astype("float64"), seed=3).dtype == np.float64
    assert uniform_noise(np.zeros((2, 3, 3), "uint8"), seed=0).dtype == np.float32


def test_uniform_noise_from_a_count():
    noise = uniform_noise(7, seed=0, image_shape=(28, 28, 1))
    assert noise.shape == (7, 28, 28, 1) and noise.dtype == np.float32
    assert uniform_noise(7, seed=0, image_shape=(28, 28, 1), dtype="float64").dtype == np.float64
    with pytest.raises(ValueError, match="Received: image_shape=None"):
        uniform_noise(7, seed=0)
    with pytest.raises(ValueError, match="Received: shape_like_or_n=0"):
        uniform_noise(0, seed=0, image_shape=(2, 2))
    with pytest.raises(ValueError, match="Received: seed=-1"):
        uniform_noise(3, seed=-1, image_shape=(2, 2))
    with pytest.raises(ValueError, match="Received: image_shape="):
        uniform_noise(np.zeros((2, 3, 3)), seed=0, image_shape=(3, 3))
    with pytest.raises(ValueError, match="Received: dtype="):
        uniform_noise(3, seed=0, image_shape=(2, 2), dtype="int32")
    with pytest.raises(TypeError):
        uniform_noise(3, image_shape=(2, 2))  # the seed is required


def test_vertical_flip_reverses_rows_without_mutation():
    x = read_only_images()
    original = x.copy()
    flipped = vertical_flip(x)
    assert flipped.shape == x.shape and flipped.dtype == x.dtype
    height = x.shape[1]
    for i in range(height):
        np.testing.assert_array_equal(flipped[:, i], x[:, height - 1 - i])
    np.testing.assert_array_equal(flipped[:, 0, :, 0], original[:, -1, :, 0])
    np.testing.assert_array_equal(x, original)
    assert not np.shares_memory(flipped, x) and flipped.flags.writeable
    flipped[:] = 0.0  # writing the result leaves the input alone
    np.testing.assert_array_equal(x, original)
    np.testing.assert_array_equal(vertical_flip(vertical_flip(x)), x)
    # Columns are not flipped (only rows).
    column_marker = np.zeros((1, 3, 4, 1))
    column_marker[0, :, 0, 0] = 1.0
    np.testing.assert_array_equal(vertical_flip(column_marker), column_marker)


def test_vertical_flip_accepts_images_without_channels():
    x = np.arange(2 * 3 * 2).reshape(2, 3, 2).astype("float32")
    np.testing.assert_array_equal(vertical_flip(x), x[:, ::-1, :])


@pytest.mark.parametrize(
    "bad", [np.zeros((3, 4)), np.zeros((0, 2, 2, 1)), None, np.array([["a"]])]
)
def test_vertical_flip_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="Received: x="):
        vertical_flip(bad)


def test_mnist_test_images_scales_and_adds_channels():
    raw = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28)).astype("uint8")
    raw.flags.writeable = False
    original = raw.copy()
    images = mnist_test_images(raw, image_shape=(28, 28, 1))
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.float32
    np.testing.assert_allclose(images[..., 0], original / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(raw, original)
    floats = read_only_images((3, 28, 28, 1))
    passed = mnist_test_images(floats)
    np.testing.assert_array_equal(passed, floats)
    assert not np.shares_memory(passed, floats)


def test_mnist_test_images_rejects_bad_input():
    with pytest.raises(ValueError, match="Received: x="):
        mnist_test_images(np.full((2, 28, 28), 2.0))  # floats outside [0, 1]
    with pytest.raises(ValueError, match="Received: image_shape="):
        mnist_test_images(np.zeros((2, 28, 28), "uint8"), image_shape=(32, 32, 3))


def test_paper_ood_sets():
    x = read_only_images((4, 28, 28, 1))
    original = x.copy()
    mnist = np.zeros((3, 28, 28), "uint8")
    sets = paper_ood_sets(x, seed=0, mnist_x=mnist)
    assert list(sets) == ["uniform_noise", "vertical_flip", "mnist"]
    assert sets["uniform_noise"].shape == x.shape and sets["mnist"].shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(sets["vertical_flip"], x[:, ::-1])
    np.testing.assert_array_equal(x, original)
    assert list(paper_ood_sets(x, seed=0)) == ["uniform_noise", "vertical_flip"]
