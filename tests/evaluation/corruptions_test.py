"""Tests of the common corruptions: determinism, shapes and ranges, closed forms and independent
oracles (Pillow, Matplotlib's HSV conversion), the severity order on a plain model, and errors."""

import io

import matplotlib.colors
import numpy as np
import pytest
from PIL import Image

from keras_ceb.evaluation import corruptions

ALL = corruptions.CORRUPTIONS + corruptions.EXTRA_CORRUPTIONS
GREY_ONLY_MISSING = ("saturate",)


def _grey(n=3, size=28, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 1), dtype="float32")


def _colour(n=3, size=32, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3), dtype="float32")


@pytest.mark.parametrize("name", ALL)
def test_shapes_ranges_dtypes_and_the_input_is_untouched(name):
    for x in (
        [_colour(), _colour().astype("float64")[:, :20, :24]]
        if name == "saturate"
        else [
            _grey(),
            _grey()[..., 0],
            _colour(),
            _grey().astype("float64")[:, :20, :24],
        ]
    ):
        before = x.copy()
        for severity in corruptions.SEVERITIES:
            out = corruptions.corrupt(x, name, severity, seed=1)
            assert out.shape == x.shape and out.dtype == x.dtype, (name, severity)
            assert np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1
            assert not np.shares_memory(out, x)
        np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name", ALL)
def test_deterministic_given_the_seed(name):
    x = _colour() if name == "saturate" else _grey()
    first = corruptions.corrupt(x, name, 3, seed=7)
    np.testing.assert_array_equal(first, corruptions.corrupt(x, name, 3, seed=7))
    # Each (corruption, severity) has its own stream: the sets from corrupted_sets are the same.
    sets = corruptions.corrupted_sets(x, seed=7, corruptions=[name], severities=[1, 3])
    for _, severity, images in sets:
        np.testing.assert_array_equal(images, corruptions.corrupt(x, name, severity, seed=7))


RANDOM = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "speckle_noise",
    "glass_blur",
    "motion_blur",
    "snow",
    "frost",
    "fog",
    "elastic_transform",
)


@pytest.mark.parametrize("name", RANDOM)
def test_another_seed_gives_other_images(name):
    x = _grey()
    assert not np.array_equal(
        corruptions.corrupt(x, name, 4, seed=0), corruptions.corrupt(x, name, 4, seed=1)
    )


@pytest.mark.parametrize("name", ALL)
def test_a_stronger_severity_changes_the_images_more_on_average(name):
    """Pixel distance to the clean images, summed over severities 1-2 against 4-5 (the elastic
    transform's parameters trade the affine warp for the local displacement, so its pixel
    distance falls with severity as in CIFAR-10-C's table; it is checked on the model below)."""
    x = _colour(n=16) if name == "saturate" else _grey(n=16)
    x = np.clip(x * 0.5 + 0.25, 0, 1)  # mid-grey pixels: room for every corruption both ways
    distance = [
        float(np.abs(corruptions.corrupt(x, name, s, seed=0) - x).mean())
        for s in corruptions.SEVERITIES
    ]
    if name in ("elastic_transform", "saturate"):
        assert min(distance) > 0
    else:
        assert distance[3] + distance[4] > distance[0] + distance[1], distance


def test_noise_statistics():
    x = np.full((64, 32, 32, 1), 0.5)
    rng_out = corruptions.corrupt(x, "gaussian_noise", 5, seed=0) - 0.5
    assert rng_out.std() == pytest.approx(0.10, rel=0.02)  # CIFAR-10-C's sigma at severity 5
    shot = corruptions.corrupt(x, "shot_noise", 5, seed=0)  # Poisson(50 x) / 50
    assert shot.mean() == pytest.approx(0.5, abs=0.005)
    assert shot.var() == pytest.approx(0.5 / 50, rel=0.05)
    impulse = corruptions.corrupt(x, "impulse_noise", 5, seed=0)
    changed = impulse != 0.5
    assert changed.mean() == pytest.approx(0.07, abs=0.005)
    assert set(np.unique(impulse[changed])) == {0.0, 1.0}
    assert (impulse[changed] == 1).mean() == pytest.approx(0.5, abs=0.03)


def test_contrast_and_brightness_closed_forms():
    x = _grey() * 0.8 + 0.1
    for severity, factor in enumerate((0.75, 0.5, 0.4, 0.3, 0.15), start=1):
        out = corruptions.corrupt(x, "contrast", severity, seed=0)
        means = x.mean(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(out, (x - means) * factor + means, atol=1e-6)
    out = corruptions.corrupt(x, "brightness", 5, seed=0)
    np.testing.assert_allclose(out, np.clip(x + 0.3, 0, 1), atol=1e-6)


@pytest.mark.parametrize("name, channel, change", [("brightness", 2, None), ("saturate", 1, 0)])
def test_hsv_corruptions_against_matplotlib(name, channel, change):
    """Colour brightness and saturation against Matplotlib's RGB <-> HSV conversion."""
    x = _colour().astype("float64")
    params = {
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
        "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
    }[name]
    for severity, parameter in enumerate(params, start=1):
        hsv = matplotlib.colors.rgb_to_hsv(x)
        if name == "brightness":
            hsv[..., 2] = np.clip(hsv[..., 2] + parameter, 0, 1)
        else:
            hsv[..., 1] = np.clip(hsv[..., 1] * parameter[0] + parameter[1], 0, 1)
        expected = matplotlib.colors.hsv_to_rgb(hsv)
        out = corruptions.corrupt(x, name, severity, seed=0)
        np.testing.assert_allclose(out, expected, atol=1e-9)


def test_saturate_of_grey_pixels_takes_hue_zero():
    grey = np.full((1, 8, 8, 3), 0.5)
    out = corruptions.corrupt(grey, "saturate", 5, seed=0)  # saturation 0 * 2.5 + 0.2
    np.testing.assert_allclose(out[0, 0, 0], [0.5, 0.4, 0.4], atol=1e-12)


@pytest.mark.parametrize("severity, factor", [(1, 0.95), (3, 0.85), (5, 0.65)])
def test_pixelate_against_pillow_box_resampling(severity, factor):
    x = _grey(n=2, size=28).astype("float64")
    out = corruptions.corrupt(x, "pixelate", severity, seed=0)
    size = int(28 * factor)
    for image, got in zip(x[..., 0], out[..., 0]):
        small = Image.fromarray(image.astype("float32"), mode="F").resize((size, size), Image.BOX)
        expected = np.asarray(small.resize((28, 28), Image.BOX), "float64")
        np.testing.assert_allclose(got, np.clip(expected, 0, 1), atol=1e-5)


def test_jpeg_against_pillow():
    x = _grey(n=2)
    out = corruptions.corrupt(x, "jpeg_compression", 5, seed=0)
    for image, got in zip(x[..., 0], out[..., 0]):
        buffer = io.BytesIO()
        Image.fromarray(np.round(image * 255).astype("uint8")).save(
            buffer, format="JPEG", quality=40
        )
        expected = np.asarray(Image.open(buffer), "float32") / 255
        np.testing.assert_array_equal(got, expected)


def test_motion_blur_spreads_a_point_along_a_line_with_gaussian_weights():
    """ImageMagick's kernel: 2 * ceil(radius) + 1 taps of weight exp(-i^2 / 2 sigma^2); at
    angle 0 an output pixel averages the pixels to its right, so a point spreads leftwards."""
    x = np.zeros((1, 9, 40, 1))
    x[0, 4, 30, 0] = 1.0
    out = corruptions._motion_blur_of(x, radius=6, sigma=2, angles=[0.0])
    taps = np.exp(-(np.arange(13) ** 2) / 8.0)
    taps /= taps.sum()
    expected = np.zeros((9, 40))
    expected[4, 30 - np.arange(13)] = taps
    np.testing.assert_allclose(out[0, ..., 0], expected, atol=1e-12)
    # At 90 degrees the line runs down the rows.
    x = np.transpose(x, (0, 2, 1, 3))
    out = corruptions._motion_blur_of(x, radius=6, sigma=2, angles=[90.0])
    np.testing.assert_allclose(out[0, ..., 0], expected.T, atol=1e-12)


@pytest.mark.parametrize(
    "name", ["defocus_blur", "zoom_blur", "motion_blur", "gaussian_blur", "pixelate"]
)
def test_blurs_keep_a_constant_image(name):
    x = np.full((2, 28, 28, 1), 0.3)
    for severity in corruptions.SEVERITIES:
        np.testing.assert_allclose(corruptions.corrupt(x, name, severity, seed=0), x, atol=1e-9)


def test_the_defocus_kernel_is_a_normalized_disk():
    kernel = corruptions._disk_kernel(1.5, 0.1)
    assert kernel.shape == (17, 17) and kernel.sum() == pytest.approx(1.0)
    assert kernel[8, 8] == kernel.max() and kernel[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_weather_brightens_and_glass_blur_stays_local():
    x = _grey(n=8) * 0.5
    for name in ("frost", "snow"):
        assert corruptions.corrupt(x, name, 5, seed=0).mean() > x.mean() + 0.02, name
    # Fog lays a smooth haze over the image and rescales it to its old peak: less contrast.
    foggy = corruptions.corrupt(x, "fog", 5, seed=0)
    assert foggy.std(axis=(1, 2, 3)).max() < x.std(axis=(1, 2, 3)).min()
    # Glass blur moves each pixel at most its shift per iteration: a bright block's left and
    # top neighbours may light up, pixels two away from it stay as the blur leaves them.
    block = np.zeros((1, 28, 28, 1))
    block[0, 10:18, 10:18] = 1.0
    out = corruptions.corrupt(block, "glass_blur", 1, seed=0)  # sigma 0.05: no visible blur
    assert out[0, 20:, :, 0].max() < 1e-6 and out[0, :, 20:, 0].max() < 1e-6


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"corruption": "rain"}, "`corruption` must be one of"),
        ({"severity": 0}, "`severity` must be an int in 1..5. Received: severity=0"),
        ({"severity": 6}, "Received: severity=6"),
        ({"severity": True}, "Received: severity=True"),
        ({"severity": 2.5}, "Received: severity=2.5"),
        ({"severity": 3.0}, "Received: severity=3.0"),
        ({"seed": -1}, "`seed` must be an integer >= 0"),
        ({"seed": None}, "Received: seed=None"),
        ({"x": np.full((2, 28, 28, 1), 255, "uint8")}, "in [0, 1] (divide 8-bit images by 255)"),
        ({"x": np.full((2, 28, 28, 1), np.nan)}, "finite pixel values"),
        ({"x": np.zeros((0, 28, 28, 1))}, "non-empty batch"),
        ({"x": np.zeros((2, 28, 28, 2))}, "1 or 3 channels"),
        ({"x": np.zeros((28, 28))}, "non-empty batch"),
        ({"x": np.zeros((2, 28, 28, 1)), "corruption": "saturate"}, "needs colour"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, needle):
    arguments = {"x": _grey(), "corruption": "fog", "severity": 3, "seed": 0, **kwargs}
    seed = arguments.pop("seed")
    with pytest.raises(ValueError, match=None) as error:
        corruptions.corrupt(**arguments, seed=seed)
    assert needle in str(error.value)


def test_corrupted_sets_checks_before_it_yields():
    with pytest.raises(ValueError, match="`severity` must be an int"):
        next(corruptions.corrupted_sets(_grey(), seed=0, severities=[1, 9]))
    with pytest.raises(ValueError, match="must not be empty"):
        next(corruptions.corrupted_sets(_grey(), seed=0, corruptions=[]))
