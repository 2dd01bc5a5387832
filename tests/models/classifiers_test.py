"""Tests of the CEB / VIB / Determ builders: shared architecture, metrics, save/load."""

import keras
import numpy as np
import pytest

import keras_ceb
from keras_ceb.models import build_classifier
from keras_ceb.models import classifier_metrics
from keras_ceb.models import compile_classifier
from keras_ceb.models import model_objective

TINY = {"filters": (4,), "dense_units": 16}
OBJECTIVES = ("ceb", "vib", "determ")


def _tiny(objective, **kwargs):
    return build_classifier(
        objective, backbone_kwargs=TINY, marginal_components=8, seed=1, **kwargs
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 64).astype("int32")
    return x, y


def _weight_shapes(layer):
    """(path inside the layer, shape) of the trainable weights."""
    return sorted(
        (w.path.split(f"{layer.name}/", 1)[-1], tuple(w.shape)) for w in layer.trainable_weights
    )


def test_objectives_share_the_architecture():
    built = {objective: _tiny(objective) for objective in OBJECTIVES}
    for objective, model in built.items():
        assert [layer.name for layer in model.layers] == ["backbone", "encoder", "head"]
        assert model.get_layer("encoder").objective == objective
        assert model_objective(model) == objective
        assert model.output_shape == (None, 10)
    reference = built["ceb"]
    for objective, model in built.items():
        layer, ref = model.get_layer("backbone"), reference.get_layer("backbone")
        assert _weight_shapes(layer) == _weight_shapes(ref)
        encoder_shapes = _weight_shapes(model.get_layer("encoder"))
        if objective == "determ":  # z = mu(x): the same mean map, no scale map.
            expected = [
                w
                for w in _weight_shapes(reference.get_layer("encoder"))
                if not w[0].startswith("scale_projection")
            ]
            assert encoder_shapes == expected
        else:
            assert encoder_shapes == _weight_shapes(reference.get_layer("encoder"))
        assert [type(layer) for layer in model.get_layer("backbone").layers] == [
            type(layer) for layer in reference.get_layer("backbone").layers
        ]
        # Every objective keeps a mixture marginal, so the rate (OoD score) is available.
        assert model.get_layer("encoder").marginal.num_components == 8
    # Determ is CEB with a switch: the same head, the same weights.
    assert isinstance(built["ceb"].get_layer("head"), keras_ceb.BackwardEncoder)
    assert isinstance(built["determ"].get_layer("head"), keras_ceb.BackwardEncoder)
    assert _weight_shapes(built["determ"].get_layer("head")) == _weight_shapes(
        built["ceb"].get_layer("head")
    )
    # Only the running means of the information estimates (and their switch) are absent
    # under Determ.
    extra = {w.name for w in built["ceb"].non_trainable_weights} - {
        w.name for w in built["determ"].non_trainable_weights
    }
    assert extra == {
        "i_xz_lower_total",
        "i_xz_lower_count",
        "rate_total",
        "rate_count",
        "rho_total",
        "rho_count",
        "held_out_estimates",
    }
    # VIB: a plain Dense logits head on z.
    vib_head = built["vib"].get_layer("head")
    assert type(vib_head) is keras.layers.Dense and vib_head.units == 10


@pytest.fixture(scope="module", params=OBJECTIVES)
def trained(request, data):
    """A tiny classifier of each objective after one epoch, and its history."""
    x, y = data
    model = compile_classifier(_tiny(request.param, rho=1.0), learning_rate=1e-3, decay_steps=10)
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return request.param, model, history.history


EXPECTED_LOGS = {
    "ceb": {"loss", "accuracy", "rex", "i_yz", "i_xz_lower", "rate", "rho"},
    "vib": {"loss", "accuracy", "i_yz", "i_xz_lower", "rate", "rho"},
    "determ": {"loss", "accuracy", "i_yz"},
}


def test_compiled_metrics_are_logged(trained):
    objective, model, history = trained
    assert set(history) == EXPECTED_LOGS[objective]
    assert all(np.isfinite(v[0]) for v in history.values())
    config = model.optimizer.get_config()["learning_rate"]
    assert config["class_name"] == "CosineDecay" and config["config"]["decay_steps"] == 10


def test_classifier_metrics_names():
    def names(objective):
        return [getattr(m, "name", m) for m in classifier_metrics(objective)]

    assert names("ceb") == ["accuracy", "rex", "i_yz"]
    assert names("determ") == ["accuracy", "i_yz"]
    assert names("vib") == ["accuracy", "i_yz"]


def test_save_and_load_with_safe_mode(trained, data, tmp_path):
    objective, model, _ = trained
    x, _ = data
    keras_ceb.set_rho(model, 1.5)
    path = tmp_path / f"{objective}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    # Inference uses z = mu(x): the predictions are deterministic and must match exactly.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x))
    )
    assert keras_ceb.get_rho(loaded) == 1.5
    assert model_objective(loaded) == objective
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for new, old in zip(loaded.trainable_weights, model.trainable_weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(new), keras.ops.convert_to_numpy(old)
        )
    # The compile configuration (loss, metrics, optimizer and its state) is restored too.
    assert loaded.compiled
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 2
    assert loaded.optimizer.get_config()["learning_rate"]["class_name"] == "CosineDecay"


def test_custom_backbone_model():
    backbone = keras.Sequential(
        [keras.Input((12, 12, 3)), keras.layers.Flatten(), keras.layers.Dense(8)], name="mine"
    )
    model = build_classifier(
        "vib", backbone=backbone, num_classes=3, latent_dim=2, marginal_components=None
    )
    assert model.input_shape == (None, 12, 12, 3)
    assert model.get_layer("mine") is backbone
    assert model.get_layer("encoder").marginal is None
    assert model(np.zeros((2, 12, 12, 3), "float32")).shape == (2, 3)


def test_wide_resnet_classifier():
    model = build_classifier(
        "ceb",
        input_shape=(16, 16, 3),
        backbone="wide_resnet",
        backbone_kwargs={"depth": 10, "width": 1},
    )
    assert model.get_layer("backbone").output_shape == (None, 64)
    assert model(np.zeros((2, 16, 16, 3), "float32")).shape == (2, 10)


def test_rho_reaches_the_encoder():
    model = _tiny("ceb", rho=2.5)
    assert keras_ceb.get_rho(model) == 2.5


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"objective": "ib"}, "objective"),
        ({"num_classes": 1}, "num_classes"),
        ({"marginal_components": 0}, "marginal_components"),
        ({"rho": float("nan")}, "rho"),
        ({"backbone": "vgg"}, "backbone"),
    ],
)
def test_build_classifier_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"Received: {name}="):
        build_classifier(**{"backbone_kwargs": None, **kwargs})


def test_compile_classifier_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Received: learning_rate=-1"):
        compile_classifier(_tiny("ceb"), learning_rate=-1)
    with pytest.raises(ValueError, match="Received: decay_steps=0"):
        compile_classifier(_tiny("ceb"), decay_steps=0)
    with pytest.raises(ValueError, match="no StochasticEncoder"):
        compile_classifier(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]))


def test_covariance_applies_to_the_marginal_too():
    model = build_classifier("ceb", covariance="diag", marginal_components=5, seed=0)
    encoder = model.get_layer("encoder")
    assert encoder.covariance == "diag" and encoder.marginal.covariance == "diag"
    assert model.get_layer("head").covariance == "diag"


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_mlp_head_is_the_papers_model(objective, data, tmp_path):
    """head="mlp": an ELU MLP c(y|z) for every objective; under CEB b(z|y) is fed the labels."""
    x, y = data
    model = compile_classifier(_tiny(objective, head="mlp"), learning_rate=1e-3)
    head = model.head
    assert [layer.activation.__name__ for layer in head.layers[:-1]] == ["elu", "elu"]
    assert model.needs_labels == (objective == "ceb")
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0).history
    if objective == "ceb":
        assert {"rex", "rate", "i_xz_lower"} <= set(history)
        assert isinstance(model.backward, keras_ceb.BackwardEncoder)
    logits = model.predict(x, verbose=0)
    assert logits.shape == (64, 10)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), logits, rtol=1e-5, atol=1e-5)


def test_bad_head_arguments():
    with pytest.raises(ValueError, match="head='linear'"):
        _tiny("ceb", head="linear")
    with pytest.raises(ValueError, match=r"head_units=\(\)"):
        _tiny("ceb", head="mlp", head_units=())


def test_the_mlp_head_has_a_rate(data):
    x, y = data
    model = compile_classifier(_tiny("ceb", head="mlp"))
    model.fit(x, y, epochs=1, verbose=0)
    rate = keras_ceb.evaluation.rate_scores(model, x[:8])
    assert rate.shape == (8,) and np.all(np.isfinite(rate))
