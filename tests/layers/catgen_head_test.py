"""`CatGenHead`: eq. 26's value against NumPy, both modes, one direction, Determ, errors."""

import math

import keras
import numpy as np
import pytest
from scipy import special
from scipy import stats

import keras_ceb
from keras_ceb.ops import gaussian
from tests.backend_utils import to_numpy
from tests.layers.harness import run_layer_test

K, D, C = 12, 3, 4


def pairwise(z, loc, scale):
    """`log N(z_i; loc_j, scale_j)` with scipy; `scale` is tril [M, D, D] or diag [M, D]."""
    if scale.ndim == 2:
        scale = np.stack([np.diag(s) for s in scale])
    return np.array(
        [
            [
                stats.multivariate_normal(loc[j], scale[j] @ scale[j].T).logpdf(z[i])
                for j in range(len(loc))
            ]
            for i in range(len(z))
        ]
    )


def direction(log_own, pair, rho):
    """exp(-rho) (log own(z_i) - log other(z_i|i)) - log softmax_j other(z_i|j) at i."""
    log_c = np.diag(pair - special.logsumexp(pair, axis=1, keepdims=True))
    return math.exp(-rho) * (log_own - np.diag(pair)) - log_c


def bottlenecks(rho_x=0.5, rho_y=-0.5, covariance="full"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(K, 6)).astype("float32")
    views = rng.normal(size=(K, 5)).astype("float32")
    options = dict(covariance=covariance, warmup_steps=0)  # The objective at rho itself.
    enc_x = keras_ceb.StochasticEncoder(D, rho=rho_x, seed=1, **options)
    enc_y = keras_ceb.StochasticEncoder(D, rho=rho_y, seed=2, **options)
    return enc_x(x, training=True), enc_y(views, training=True)


def as_numpy(bottleneck):
    return {k: np.asarray(to_numpy(v), "float64") for k, v in bottleneck.items()}


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_two_encoders_objective_is_eq_26(bidirectional, covariance):
    bx, by = bottlenecks(covariance=covariance)
    head = keras_ceb.CatGenHead(bidirectional=bidirectional)
    out = head([bx, by], training=True)
    np.testing.assert_array_equal(to_numpy(out), to_numpy(bx["z"]))
    nx, ny = as_numpy(bx), as_numpy(by)
    expected = direction(nx["log_prob"], pairwise(nx["z"], ny["loc"], ny["scale"]), 0.5)
    if bidirectional:
        expected = expected + direction(
            ny["log_prob"], pairwise(ny["z"], nx["loc"], nx["scale"]), -0.5
        )
    assert len(head.losses) == 1
    np.testing.assert_allclose(float(np.sum(to_numpy(head.losses[0]))), expected.mean(), rtol=1e-4)


def test_class_labels_objective_and_logits():
    bx, _ = bottlenecks(rho_x=0.3)
    labels = np.arange(K) % C
    head = keras_ceb.CatGenHead(num_classes=C, seed=7)
    logits = to_numpy(head([bx, labels], training=True))
    classes = head.class_distribution()
    loc, scale = (np.asarray(to_numpy(v), "float64") for v in classes)
    nx = as_numpy(bx)
    class_log_b = pairwise(nx["z"], loc, scale)
    np.testing.assert_allclose(logits, class_log_b - nx["log_prob"][:, None], rtol=1e-4, atol=1e-4)
    x_side = direction(nx["log_prob"], class_log_b[:, labels], 0.3)
    # The Y side samples z_Y ~ b(z|y_i) with the head's seed: draw the same sample again.
    z_y, log_b_y = gaussian.sample_and_log_prob(
        gaussian.take(classes, labels), seed=keras.random.SeedGenerator(7)
    )
    y_side = direction(
        np.asarray(to_numpy(log_b_y), "float64"),
        pairwise(np.asarray(to_numpy(z_y), "float64"), nx["loc"], nx["scale"]),
        0.3,
    )
    np.testing.assert_allclose(
        float(np.sum(to_numpy(head.losses[0]))), (x_side + y_side).mean(), rtol=1e-4
    )


def test_one_direction_with_class_labels():
    bx, _ = bottlenecks(rho_x=0.0)
    labels = np.arange(K) % C
    head = keras_ceb.CatGenHead(num_classes=C, bidirectional=False)
    head([bx, labels], training=True)
    loc, scale = (np.asarray(to_numpy(v), "float64") for v in head.class_distribution())
    nx = as_numpy(bx)
    expected = direction(nx["log_prob"], pairwise(nx["z"], loc, scale)[:, labels], 0.0)
    np.testing.assert_allclose(float(np.sum(to_numpy(head.losses[0]))), expected.mean(), rtol=1e-4)


def test_logged_estimates():
    bx, by = bottlenecks()
    head = keras_ceb.CatGenHead()
    head([bx, by], training=True)
    nx, ny = as_numpy(bx), as_numpy(by)
    pair = pairwise(nx["z"], ny["loc"], ny["scale"])
    log_c = np.diag(pair - special.logsumexp(pair, axis=1, keepdims=True))
    total, count = (to_numpy(v) for v in head.running_means.variables["i_yz"])
    np.testing.assert_allclose(total / count, np.log(K) + log_c.mean(), rtol=1e-4)
    assert total / count <= np.log(K) + 1e-5
    total, count = (to_numpy(v) for v in head.running_means.variables["rex"])
    np.testing.assert_allclose(total / count, (nx["log_prob"] - np.diag(pair)).mean(), rtol=1e-4)


def test_determ_adds_only_the_catgen_likelihood():
    x = np.random.default_rng(0).normal(size=(K, 6)).astype("float32")
    z = keras_ceb.StochasticEncoder(D, objective="determ")(x)
    labels = np.arange(K) % C
    head = keras_ceb.CatGenHead(num_classes=C)
    logits = to_numpy(head([z, labels], training=True))
    loc, scale = (np.asarray(to_numpy(v), "float64") for v in head.class_distribution())
    class_log_b = pairwise(np.asarray(to_numpy(z), "float64"), loc, scale)
    np.testing.assert_allclose(logits, class_log_b, rtol=1e-4, atol=1e-4)
    pair = class_log_b[:, labels]
    log_c = np.diag(pair - special.logsumexp(pair, axis=1, keepdims=True))
    np.testing.assert_allclose(float(np.sum(to_numpy(head.losses[0]))), -log_c.mean(), rtol=1e-4)


def test_inference_adds_only_the_catgen_cross_entropy():
    bx, by = bottlenecks()
    head = keras_ceb.CatGenHead()
    head([bx, by], training=False)
    nx, ny = as_numpy(bx), as_numpy(by)
    pair = pairwise(nx["z"], ny["loc"], ny["scale"])
    log_c = np.diag(pair - special.logsumexp(pair, axis=1, keepdims=True))
    assert len(head.losses) == 1
    np.testing.assert_allclose(float(np.sum(to_numpy(head.losses[0]))), -log_c.mean(), rtol=1e-4)
    for total, count in head.running_means.variables.values():
        assert float(to_numpy(count)) == 0.0


def test_layer_harness_class_labels(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, C, size=96).astype("int32")
    x = (rng.normal(size=(C, 6))[y] * 2 + rng.normal(size=(96, 6))).astype("float32")

    def build(dtype):
        features = keras.Input((6,), name="features")
        labels = keras.Input((), dtype="int32", name="labels")
        encoded = keras_ceb.StochasticEncoder(D, seed=1, dtype=dtype)(
            keras.layers.Dense(16, "relu", dtype=dtype)(features)
        )
        logits = keras_ceb.CatGenHead(num_classes=C, seed=2, name="under_test", dtype=dtype)(
            [encoded, labels]
        )
        return keras.Model({"features": features, "labels": labels}, logits)

    run_layer_test(
        build, {"features": x, "labels": y}, y, 1, tmp_path, loss=None, inference_num_losses=1
    )


def test_layer_harness_two_encoders(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96, 6)).astype("float32")
    noisy = (x + 0.1 * rng.normal(size=x.shape)).astype("float32")

    def build(dtype):
        clean_in = keras.Input((6,), name="clean")
        noisy_in = keras.Input((6,), name="noisy")
        bx = keras_ceb.StochasticEncoder(D, seed=1, dtype=dtype)(clean_in)
        by = keras_ceb.StochasticEncoder(D, seed=2, metric_prefix="y_", dtype=dtype)(noisy_in)
        z = keras_ceb.CatGenHead(name="under_test", dtype=dtype)([bx, by])
        return keras.Model({"clean": clean_in, "noisy": noisy_in}, z)

    run_layer_test(
        build,
        {"clean": x, "noisy": noisy},
        np.zeros(96),
        1,
        tmp_path,
        loss=None,
        inference_num_losses=1,
    )


def test_input_errors():
    bx, by = bottlenecks()
    with pytest.raises(ValueError, match="two inputs"):
        keras_ceb.CatGenHead()(bx)
    with pytest.raises(ValueError, match="bottleneck dicts of two CEB"):
        keras_ceb.CatGenHead()([bx, np.zeros((K, D), "float32")])
    with pytest.raises(ValueError, match="labels_shape"):
        keras_ceb.CatGenHead(num_classes=C)([bx, np.zeros((K, 2, 2), "int32")])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_classes": 1}, "num_classes=1"),
        ({"bidirectional": "yes"}, "bidirectional='yes'"),
        ({"covariance": "x"}, "covariance='x'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_ceb.CatGenHead(**kwargs)
