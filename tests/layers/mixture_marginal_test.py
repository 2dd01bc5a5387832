"""`MixtureMarginal`."""

import keras
import numpy as np
import pytest
from scipy import special
from scipy import stats

import keras_ceb
from tests.backend_utils import to_numpy


def test_output_matches_scipy_mixture():
    layer = keras_ceb.MixtureMarginal(5)
    z = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    log_m = to_numpy(layer(z))
    assert log_m.shape == (8,)
    logits, components = to_numpy(layer.logits), layer.components()
    loc, scale = to_numpy(components.loc), to_numpy(components.scale)
    comps = np.stack(
        [stats.multivariate_normal(loc[k], scale[k] @ scale[k].T).logpdf(z) for k in range(5)], -1
    )
    expected = special.logsumexp(comps + logits - special.logsumexp(logits), axis=-1)
    np.testing.assert_allclose(log_m, expected, rtol=1e-5)


def test_diag_variant_shapes():
    layer = keras_ceb.MixtureMarginal(4, covariance="diag")
    layer(np.zeros((2, 6), "float32"))
    assert tuple(layer.components().scale.shape) == (4, 6)


def test_float32_under_mixed_precision():
    layer = keras_ceb.MixtureMarginal(4, dtype="mixed_float16")
    log_m = layer(np.zeros((2, 3), "float16"))
    assert keras.backend.standardize_dtype(log_m.dtype) == "float32"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_components": 0}, "num_components=0"),
        ({"num_components": 3, "covariance": "x"}, "covariance='x'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_ceb.MixtureMarginal(**kwargs)


def test_wrong_rank():
    with pytest.raises(ValueError, match="input_shape"):
        keras_ceb.MixtureMarginal(3)(np.zeros((2, 3, 4), "float32"))


def test_config_round_trip():
    layer = keras_ceb.MixtureMarginal(240, covariance="diag", min_scale=1e-3, name="m")
    assert (
        keras_ceb.MixtureMarginal.from_config(layer.get_config()).get_config()
        == layer.get_config()
    )
