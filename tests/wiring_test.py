"""How the bottleneck is wired: the cases that broke an attribute-on-tensor design, as tests.

The encoder hands e(z|x) to its consumers as tensors of the graph (the bottleneck dict), so
it survives mixed precision, a float32 head, rematerialization, `clone_model`, nesting,
sharing and saving; a layer between encoder and consumer either passes the structure through
or fails at construction with an error.
"""

import math
import pathlib
import re

import keras
import numpy as np
import pytest

import keras_ceb
from tests.backend_utils import to_numpy

FEATURES, CLASSES = 8, 3


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, size=n).astype("int32")
    x = rng.normal(size=(CLASSES, FEATURES))[y] * 2 + rng.normal(size=(n, FEATURES))
    return x.astype("float32"), y


def classifier(objective="ceb", covariance="full", head_dtype=None, dtype=None, encoder=None):
    encoder = encoder or keras_ceb.StochasticEncoder(
        3,
        objective=objective,
        covariance=covariance,
        marginal=keras_ceb.MixtureMarginal(4, covariance=covariance),
        seed=1,
        dtype=dtype,
    )
    if objective == "vib":
        head = keras.layers.Dense(CLASSES, dtype=head_dtype or dtype)
    else:
        head = keras_ceb.BackwardEncoder(CLASSES, covariance=covariance, dtype=head_dtype or dtype)
    return keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(16, "relu", dtype=dtype), encoder, head]
    )


def compile_and_fit(model, x, y, epochs=2, **compile_kwargs):
    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        **compile_kwargs,
    )
    return model.fit(x, y, epochs=epochs, batch_size=32, verbose=0).history


@pytest.mark.parametrize(
    "policy", ["mixed_float16", pytest.param("mixed_bfloat16", marks=pytest.mark.long)]
)  # 10-25 s each: `make test-long`
@pytest.mark.parametrize("objective", ["ceb", "vib", "determ"])
def test_mixed_precision(policy, objective, tmp_path):
    """Train, evaluate, predict, save, reload (export on TF); with and without a float32 head."""
    x, y = data()
    for covariance in ("full", "diag"):
        for head_dtype in (None, "float32"):
            model = classifier(objective, covariance, head_dtype=head_dtype, dtype=policy)
            history = compile_and_fit(model, x, y, epochs=1)
            assert math.isfinite(history["loss"][0]), (covariance, head_dtype, history)
            assert math.isfinite(model.evaluate(x, y, verbose=0, return_dict=True)["loss"])
            logits = model.predict(x, verbose=0)
            expected = head_dtype or policy.split("_")[1]
            assert keras.backend.standardize_dtype(logits.dtype) == expected
            assert np.all(np.isfinite(logits.astype("float32")))
            path = tmp_path / f"{covariance}_{head_dtype}.keras"
            model.save(path)
            reloaded = keras.models.load_model(path, safe_mode=True)
            np.testing.assert_allclose(
                reloaded.predict(x, verbose=0).astype("float32"),
                logits.astype("float32"),
                rtol=1e-3,
                atol=1e-3,
            )
            # Export (slow) once per policy and objective: the mixed head, full covariance.
            if keras.backend.backend() == "tensorflow" and (covariance, head_dtype) == (
                "full",
                None,
            ):
                import tensorflow as tf

                exported = keras_ceb.export.export_saved_model(
                    model, tmp_path / f"exported_{covariance}_{head_dtype}"
                )
                served = tf.saved_model.load(exported)
                assert served.serve(tf.constant(x)).shape == (len(x), CLASSES)
                if objective != "determ":
                    assert np.all(np.isfinite(served.rate(tf.constant(x)).numpy()))


def test_information_math_is_float32_under_mixed_precision():
    x, _ = data(8)
    encoder = keras_ceb.StochasticEncoder(3, marginal=4, dtype="mixed_float16")
    out = encoder(x, training=True)
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in out.values())
    head = keras_ceb.BackwardEncoder(CLASSES, dtype="mixed_float16")
    logits = head(out, training=True)
    assert keras.backend.standardize_dtype(logits.dtype) == "float16"
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in head.losses)


@pytest.mark.parametrize("mode", ["full", "larger_than"])
def test_remat_scope_around_the_layers(mode):
    x, y = data()
    kwargs = {"output_size_threshold": 1} if mode == "larger_than" else {}
    with keras.RematScope(mode=mode, **kwargs):
        encoder = keras_ceb.StochasticEncoder(3, marginal=4, seed=1)
        head = keras_ceb.BackwardEncoder(CLASSES)
    assert encoder.remat_pure_part is False  # Set on the first call under the scope's mode.
    model = keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(16, "relu"), encoder, head]
    )
    history = compile_and_fit(model, x, y)
    assert encoder.remat_pure_part and head.remat_pure_part
    assert all(math.isfinite(v) for v in history["loss"] + history["rate"]), history


def test_identity_between_encoder_and_consumer():
    x, y = data()
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras_ceb.StochasticEncoder(3, seed=1),
            keras.layers.Identity(),
            keras_ceb.BackwardEncoder(CLASSES),
        ]
    )
    history = compile_and_fit(model, x, y)
    assert all(math.isfinite(v) for v in history["loss"])


def test_dense_between_ceb_encoder_and_head_fails_at_construction():
    """A CEB encoder returns the bottleneck dict; a Dense cannot take it: an error before fit."""
    with pytest.raises(ValueError, match="expects 1 input"):
        keras.Sequential(
            [keras.Input((FEATURES,)), keras_ceb.StochasticEncoder(3), keras.layers.Dense(CLASSES)]
        )
    # Taking z explicitly is the supported way to feed other layers.
    inputs = keras.Input((FEATURES,))
    out = keras_ceb.StochasticEncoder(3)(inputs)
    keras.Model(inputs, keras.layers.Dense(CLASSES)(out["z"]))


def test_jit_compile_and_clone_model():
    x, y = data()
    history = compile_and_fit(classifier(), x, y, jit_compile=True)
    assert all(math.isfinite(v) for v in history["loss"])
    clone = keras.models.clone_model(classifier())
    history = compile_and_fit(clone, x, y)
    assert "rate" in history and all(math.isfinite(v) for v in history["loss"])


def test_nested_encoder_model():
    x, y = data()
    inner_in = keras.Input((FEATURES,))
    inner = keras.Model(
        inner_in,
        keras_ceb.StochasticEncoder(3, marginal=4, seed=1)(
            keras.layers.Dense(16, "relu")(inner_in)
        ),
        name="inner",
    )
    outer_in = keras.Input((FEATURES,))
    model = keras.Model(outer_in, keras_ceb.BackwardEncoder(CLASSES)(inner(outer_in)))
    history = compile_and_fit(model, x, y)
    assert "rate" in history and all(math.isfinite(v) for v in history["loss"])
    keras_ceb.set_rho(model, 1.0)
    assert keras_ceb.get_rho(model) == 1.0


def test_shared_encoder_feeds_two_heads():
    x, y = data()
    inputs = keras.Input((FEATURES,))
    encoder = keras_ceb.StochasticEncoder(3, seed=1)
    features = keras.layers.Dense(16, "relu")(inputs)
    a = keras_ceb.BackwardEncoder(CLASSES, name="a")(encoder(features))
    b = keras_ceb.BackwardEncoder(CLASSES, name="b")(encoder(features))
    model = keras.Model(inputs, {"a": a, "b": b})
    model.compile(
        "adam",
        loss={
            "a": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "b": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        },
    )
    history = model.fit(x, {"a": y, "b": y}, epochs=2, verbose=0).history
    assert all(math.isfinite(v) for v in history["loss"])


def test_predict_pays_for_no_estimate_and_changes_no_state():
    x, y = data()
    model = classifier()
    compile_and_fit(model, x, y)
    model.evaluate(x, y, verbose=0)  # Its held-out estimates are switched off at its end.
    before = [to_numpy(v).copy() for v in model.variables]
    model.predict(x, verbose=0)
    model(x, training=False)
    for a, v in zip(before, model.variables):
        np.testing.assert_array_equal(a, to_numpy(v))


def test_no_private_keras_attributes_and_no_side_channels():
    """The package reads no Keras private attribute and attaches nothing to tensors."""
    root = pathlib.Path(keras_ceb.__file__).parent
    pattern = re.compile(
        r"keras\.src|_outbound_nodes|_inbound_nodes|_keras_history|"
        r"_keras_mask|setattr\(tensor|_losses_override|_remat_mode"
    )
    offenders = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in root.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders
