"""Hierarchical CEB (appendix C.1): the stack's added losses are eq. (A2)'s variational form,

    sum_i exp(-rho_i) (log e_i(z_i|z_{i-1}) - log b_i(z_i|y)) - log c_i(y|z_i),

recomputed here in NumPy/scipy from the layers' weights and the sampled z_i, with level 2's
encoder evaluated at the sample z_1 (not at x)."""

import math

import keras
import numpy as np
import pytest
from scipy import special
from scipy import stats

import keras_ceb
from keras_ceb.layers import bottleneck
from tests.backend_utils import to_numpy

B, F, C = 16, 5, 3
RHOS = (0.5, -0.3)


def _np(v):
    return np.asarray(to_numpy(v), "float64")


def _scale(params, dim, covariance, min_scale=1e-5):
    """NumPy version of the softplus-plus-shift (lower-triangular) scale."""
    offset = math.log(math.e - 1.0)
    softplus = lambda v: np.logaddexp(0.0, v)  # noqa: E731
    if covariance == "diag":
        return softplus(params + offset) + min_scale
    rows, cols = np.tril_indices(dim)
    tril = np.zeros(params.shape[:-1] + (dim, dim))
    tril[..., rows, cols] = params
    diagonal = np.arange(dim)
    tril[..., diagonal, diagonal] = softplus(tril[..., diagonal, diagonal] + offset) + min_scale
    return tril


def _log_normal(points, loc, scale):
    """log N(point_i; loc_i, scale_i scale_i^T) row by row (scale tril or diagonal)."""
    out = []
    for p, m, s in zip(points, loc, scale):
        s = np.diag(s) if s.ndim == 1 else s
        out.append(stats.multivariate_normal(m, s @ s.T).logpdf(p))
    return np.array(out)


def _encoder(layer, inputs, covariance):
    loc = inputs @ _np(layer.loc_projection.kernel) + _np(layer.loc_projection.bias)
    params = inputs @ _np(layer.scale_projection.kernel) + _np(layer.scale_projection.bias)
    return loc, _scale(params, layer.latent_dim, covariance)


def _randomize(model, rng):
    for variable in model.trainable_variables:
        variable.assign((0.4 * rng.normal(size=variable.shape)).astype("float32"))


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_added_losses_are_eq_a2(covariance):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, F)).astype("float32")
    y = (np.arange(B) % C).astype("int32")
    model = keras_ceb.models.build_hierarchical_ceb(
        (F,),
        num_classes=C,
        latent_dims=(3, 2),
        rho=list(RHOS),
        covariance=covariance,
        seed=3,
        backbone=keras.Sequential([keras.Input((F,)), keras.layers.Identity()]),
    )
    _randomize(model, rng)
    for encoder in keras_ceb.rho.encoders(model):
        encoder.set_warmup(0.0, 0)  # The objective at rho itself.
    # The same layers, also returning each level's sample z_i: one training call.
    z_of = {}
    for level in (1, 2):
        flat = model.get_layer(f"encoder_{level}").output
        z_of[f"z{level}"] = keras.tree.pack_sequence_as(
            {key: None for key in bottleneck.KEYS}, flat
        )[bottleneck.Z]
    probe = keras.Model(model.input, {**model.output, **z_of})
    out = probe({"images": x, "labels": y}, training=True)
    z1, z2 = _np(out["z1"]), _np(out["z2"])
    heads = [model.get_layer(f"head_{level}") for level in (1, 2)]
    assert len(probe.losses) == 2 and all(len(h.losses) == 1 for h in heads)

    expected_total = np.zeros(B)
    below, samples = x.astype("float64"), (z1, z2)
    for level, (z, rho, head) in enumerate(zip(samples, RHOS, heads), 1):
        loc, scale = _encoder(model.get_layer(f"encoder_{level}"), below, covariance)
        log_e = _log_normal(z, loc, scale)  # e_i(z_i | z_{i-1}), z_0 = x
        class_loc = _np(head.class_loc)
        class_scale = _scale(_np(head.class_scale_params), z.shape[1], covariance)
        class_log_b = np.stack(
            [
                _log_normal(
                    z,
                    np.repeat(class_loc[k : k + 1], B, 0),
                    np.repeat(class_scale[k : k + 1], B, 0),
                )
                for k in range(C)
            ],
            axis=1,
        )
        log_b = class_log_b[np.arange(B), y]
        log_c = (class_log_b - special.logsumexp(class_log_b, axis=1, keepdims=True))[
            np.arange(B), y
        ]
        term = math.exp(-rho) * (log_e - log_b) - log_c
        np.testing.assert_allclose(float(np.sum(to_numpy(head.losses[0]))), term.mean(), rtol=1e-4)
        np.testing.assert_allclose(
            _np(out[f"level_{level}"]), class_log_b - log_e[:, None], rtol=1e-4, atol=1e-4
        )
        expected_total += term
        below = z  # the next level conditions on this sample, not on x
    added = sum(float(np.sum(to_numpy(v))) for v in probe.losses)
    np.testing.assert_allclose(added, expected_total.mean(), rtol=1e-4)
    # keras_ceb.losses.hierarchical_ceb is the same sum.
    assert math.isclose(
        float(
            np.mean(
                to_numpy(
                    keras_ceb.losses.hierarchical_ceb(
                        [[1.0, 2.0]], [[0.5, 0.5]], [[-1.0, -0.5]], rho=[0.0]
                    )
                )
            )
        ),
        (1.5 + 2.0) / 2,
    )


def test_the_stack_trains_and_logs_every_level():
    rng = np.random.default_rng(1)
    y = (np.arange(96) % C).astype("int32")
    x = (rng.normal(size=(C, F))[y] * 2 + rng.normal(size=(96, F))).astype("float32")
    model = keras_ceb.models.build_hierarchical_ceb(
        (F,),
        num_classes=C,
        latent_dims=(4, 2),
        seed=0,
        backbone=keras.Sequential([keras.Input((F,)), keras.layers.Dense(16, "relu")]),
    )
    model.compile(keras.optimizers.Adam(1e-2), metrics={"level_2": ["accuracy"]})
    history = model.fit(
        {"images": x, "labels": y},
        {"level_1": y, "level_2": y},
        batch_size=32,
        epochs=2,
        verbose=0,
    ).history
    for name in (
        "level1_i_xz_lower",
        "level2_i_xz_lower",
        "level1_rex",
        "level2_rex",
        "level1_i_yz",
        "level2_i_yz",
        "level_2_accuracy",
    ):
        assert np.all(np.isfinite(history[name])), name
    assert history["loss"][-1] < history["loss"][0]
    with pytest.raises(ValueError, match=r"Received: rho=\[0.0\]$"):
        keras_ceb.models.build_hierarchical_ceb(
            (F,), latent_dims=(4, 2), rho=[0.0], backbone=keras.Sequential([keras.Input((F,))])
        )
