"""`CEBClassifier`: every head and objective, images in and logits out, through Keras's own API."""

import os
import warnings

import keras
import numpy as np
import pytest
from scipy import special

import keras_ceb
from keras_ceb.models import CEBClassifier
from tests.backend_utils import to_numpy

HEADS = ("consistent", "mlp", "catgen")
OBJECTIVES = ("ceb", "vib", "determ")


def data(n=64):
    rng = np.random.default_rng(0)
    y = (np.arange(n) % 4).astype("int32")
    x = np.clip(rng.normal(0.5, 0.2, (n, 8, 8, 1)) + 0.2 * y[:, None, None, None], 0, 1)
    return x.astype("float32"), y


def backbone():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
        ],
        name="tiny",
    )


def classifier(head, objective, **kwargs):
    keras.utils.set_random_seed(0)
    model = CEBClassifier(
        backbone(),
        num_classes=4,
        head=head,
        objective=objective,
        marginal=4,
        warmup_steps=0,
        seed=0,
        **kwargs,
    )
    model.compile(keras.optimizers.Adam(1e-3))
    return model


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("head", HEADS)
def test_fit_evaluate_predict_and_reload(head, objective, tmp_path):
    x, y = data()
    model = classifier(head, objective)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, validation_data=(x, y)).history
    trained = {k for k in history if not k.startswith("val_")}
    assert {f"val_{k}" for k in trained} == {k for k in history if k.startswith("val_")}
    assert all(np.isfinite(v[0]) for v in history.values()), history
    if objective != "determ":
        assert {"rate", "i_xz_lower", "rho"} <= trained
    if objective == "ceb":
        assert "rex" in trained
    logits = model.predict(x, verbose=0)  # the images alone, for every head
    assert logits.shape == (64, 4)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(reloaded, CEBClassifier) and reloaded.head_kind == head
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), logits, atol=1e-5)
    assert reloaded.compiled and reloaded.evaluate(x, y, verbose=0, return_dict=True).keys() == (
        model.evaluate(x, y, verbose=0, return_dict=True).keys()
    )


@pytest.mark.parametrize("head", HEADS)
def test_zero_sample_weights_leave_every_term_unweighted_out(head):
    x, y = data()
    model = classifier(head, "ceb")
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    loss = model.fit(x, y, sample_weight=np.zeros(64), batch_size=32, verbose=0).history["loss"]
    assert abs(loss[0]) < 1e-6
    assert all(np.array_equal(a, to_numpy(w)) for a, w in zip(before, model.trainable_weights))


def test_the_labelled_term_reaches_b_of_z_given_y_in_compute_loss():
    # CEB with the MLP head: loss = CE(c(y|z)) + exp(-rho) <log e(z|x) - log b(z|y)>, at the
    # sample of z that `call` drew; computed here in NumPy from that sample.
    x, y = data(16)
    model = classifier("mlp", "ceb", rho=0.5)
    outputs = model(x, training=True)
    loss = float(to_numpy(model.compute_loss(x, y, outputs, training=True)))
    logits = to_numpy(outputs["logits"]).astype("float64")
    bottleneck = {k: to_numpy(v).astype("float64") for k, v in outputs["bottleneck"].items()}
    log_b = to_numpy(model.backward.class_log_prob(outputs["bottleneck"]["z"]))[np.arange(16), y]
    cross_entropy = np.mean(special.logsumexp(logits, axis=-1) - logits[np.arange(16), y])
    residual = np.mean(np.exp(-0.5) * (bottleneck["log_prob"] - log_b))
    assert "rex" in [m.name for m in model.backward.metrics]
    np.testing.assert_allclose(loss, cross_entropy + residual, rtol=1e-4, atol=1e-5)


def test_a_frozen_backbone_stays_put_and_unfreezes():
    # keras.applications end to end: tests/models/classifier_guide_test.py (the guide's code).
    x, y = data()
    model = classifier("consistent", "ceb")
    model.backbone.trainable = False
    model.compile(keras.optimizers.Adam(1e-3))
    frozen = [to_numpy(w).copy() for w in model.backbone.weights]
    encoder = [to_numpy(w).copy() for w in model.encoder.trainable_weights]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert all(np.array_equal(a, to_numpy(w)) for a, w in zip(frozen, model.backbone.weights))
    assert any(
        not np.array_equal(a, to_numpy(w))
        for a, w in zip(encoder, model.encoder.trainable_weights)
    )
    model.backbone.trainable = True
    model.compile(keras.optimizers.Adam(1e-3))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert any(not np.array_equal(a, to_numpy(w)) for a, w in zip(frozen, model.backbone.weights))


def test_rate_scores_and_export_take_images(tmp_path):
    x, y = data()
    model = classifier("catgen", "ceb")
    model.fit(x, y, batch_size=16, verbose=0)
    rate = keras_ceb.evaluation.rate_scores(model, x)
    np.testing.assert_allclose(rate, to_numpy(model.rate(x)), rtol=1e-5, atol=1e-5)
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    path = keras_ceb.export.export_saved_model(model, os.path.join(tmp_path, "saved"))
    served = tf.saved_model.load(path)
    np.testing.assert_allclose(
        served.serve(tf.constant(x)).numpy(), model.predict(x, verbose=0), atol=1e-5
    )
    np.testing.assert_allclose(served.rate(tf.constant(x)).numpy(), rate, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(head="linear"), "Received: head='linear'"),
        (dict(objective="ib"), "Received: objective='ib'"),
        (dict(num_classes=1), "Received: num_classes=1"),
        (dict(backbone=3), "Received: backbone=3"),
        (dict(marginal=0), "Received: marginal=0"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    arguments = dict(backbone=backbone(), num_classes=4)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        CEBClassifier(**arguments)


def test_a_functional_model_of_the_old_layout_loads_as_a_classifier(tmp_path):
    # keras_ceb 0.x saved the MLP head under CEB as a functional model of
    # {"images", "labels"}; load_classifier converts it, weights included.
    from keras_ceb.training import model_files

    keras.utils.set_random_seed(0)
    images = keras.Input((8, 8, 1), name="images")
    labels = keras.Input((), dtype="int32", name="labels")
    encoded = keras_ceb.StochasticEncoder(
        4, marginal=keras_ceb.MixtureMarginal(4, name="marginal"), seed=0, name="encoder"
    )(backbone()(images))
    encoded = keras_ceb.BackwardEncoder(4, output_mode="bottleneck", name="backward")(
        encoded, labels=labels
    )
    logits = keras_ceb.models.mlp_head(4, (8, 8))(encoded["z"])
    old = keras.Model({"images": images, "labels": labels}, logits)
    old.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data(32)
    old.fit({"images": x, "labels": y}, y, epochs=1, verbose=0)
    old.save(tmp_path / "old.keras")
    model = model_files.load_classifier(tmp_path / "old.keras")
    assert isinstance(model, CEBClassifier) and model.head_kind == "mlp"
    assert model.head_units == (8, 8) and model.needs_labels
    np.testing.assert_allclose(
        model.predict(x, verbose=0), old.predict({"images": x, "labels": y}, verbose=0), atol=1e-5
    )
    assert np.isfinite(model.fit(x, y, epochs=1, verbose=0).history["rex"][0])


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="off on PyTorch: its trainer reads the metrics after every batch",
)
def test_a_collapsed_encoder_is_reported_in_one_line_per_epoch():
    # Constant features: nothing about x can reach z, and the I(X;Z) bound is 0.
    x, y = np.zeros((64, 8, 8, 1), "float32"), (np.arange(64) % 4).astype("int32")
    model = classifier("consistent", "ceb")
    with pytest.warns(keras_ceb.layers.EncoderCollapseWarning) as caught:
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    messages = [
        str(w.message)
        for w in caught
        if issubclass(w.category, keras_ceb.layers.EncoderCollapseWarning)
    ]
    assert len(messages) == 1 and "\n" not in messages[0], messages
    assert "'encoder' has collapsed" in messages[0], messages
    healthy = classifier("consistent", "ceb", rho=3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", keras_ceb.layers.EncoderCollapseWarning)
        healthy.fit(*data(), batch_size=16, epochs=2, verbose=0)


@pytest.mark.parametrize("head", HEADS)
def test_clone_model_and_mixed_precision(head):
    # `clone_model` of a subclassed model rebuilds it from its config: same config, fresh
    # weights, and it trains. Under mixed_float16 the information math stays in float32.
    x, y = data()
    model = classifier(head, "ceb")
    clone = keras.models.clone_model(model)
    assert isinstance(clone, CEBClassifier) and clone.get_config() == model.get_config()
    clone.compile(keras.optimizers.Adam(1e-3))
    assert np.isfinite(clone.fit(x, y, batch_size=16, verbose=0).history["loss"][0])
    keras.utils.set_random_seed(0)
    mixed = CEBClassifier(
        backbone(),
        num_classes=4,
        head=head,
        marginal=4,
        warmup_steps=0,
        seed=0,
        dtype="mixed_float16",
    )
    mixed.compile(keras.optimizers.Adam(1e-3))
    history = mixed.fit(x, y, batch_size=16, verbose=0, validation_data=(x, y)).history
    assert all(np.isfinite(v[0]) for v in history.values()), history
    assert np.all(np.isfinite(mixed.predict(x, verbose=0).astype("float32")))


DISTRIBUTED = """
import json, numpy as np, keras, keras_ceb
rng = np.random.default_rng(0)
y = (np.arange(256) % 4).astype("int32")
x = np.clip(rng.normal(0.5, 0.2, (256, 8, 8, 1)) + 0.2 * y[:, None, None, None], 0, 1)
x = x.astype("float32")
WEIGHTS = [None, (np.arange(256) % 3).astype("float32")]  # unweighted, and weights 0, 1, 2

def build(head):
    backbone = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                 keras.layers.Dense(16, activation="relu")])
    model = keras_ceb.models.CEBClassifier(backbone, num_classes=4, head=head, marginal=4,
                                           warmup_steps=0, seed=0)
    model.compile(keras.optimizers.Adam(1e-2))
    return model

report = {}
for head in ("mlp", "catgen"):
    with SCOPE():
        model = build(head)
        history = model.fit(x, y, epochs=2, batch_size=64, verbose=0).history
        distributed = [model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True,
                                      sample_weight=weight) for weight in WEIGHTS]
    single = build(head)
    single.set_weights(model.get_weights())
    report[head] = {"history": history, "distributed": distributed,
                    "single": [single.evaluate(x, y, batch_size=64, verbose=0, return_dict=True,
                                               sample_weight=weight) for weight in WEIGHTS]}
print(json.dumps({"replicas": REPLICAS, "report": report}))
"""

MIRRORED = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
SCOPE, REPLICAS = strategy.scope, strategy.num_replicas_in_sync
"""

DATA_PARALLEL = """
import contextlib, jax, keras
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
SCOPE, REPLICAS = contextlib.nullcontext, len(jax.devices())
"""


@pytest.mark.skipif(
    keras.backend.backend() not in ("tensorflow", "jax"),
    reason="tf.distribute on TensorFlow, keras.distribution on JAX",
)
def test_the_labelled_terms_under_a_distribution_strategy():
    # The MLP head's b(z|y) term and CatGen's objective are added in `compute_loss`: with two
    # replicas (each holding half of every batch) the evaluation of the same weights must give
    # what one device gives, so the labelled terms are scaled to the global batch.
    from tests.distribution_test import run_script

    tensorflow = keras.backend.backend() == "tensorflow"
    setup = MIRRORED if tensorflow else DATA_PARALLEL
    result = run_script(
        setup + DISTRIBUTED,
        keras.backend.backend(),
        None if tensorflow else {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    assert result["replicas"] == 2
    for head, report in result["report"].items():
        assert all(np.isfinite(v[-1]) for v in report["history"].values()), (head, report)
        for distributed, single in zip(report["distributed"], report["single"]):
            for name in ("loss", "accuracy"):  # deterministic at the encoder mean
                assert distributed[name] == pytest.approx(single[name], abs=1e-4), (
                    head,
                    name,
                    report,
                )


@pytest.mark.long
@pytest.mark.parametrize("order", ["keras, keras_ceb", "keras_ceb, keras"])
def test_a_fresh_process_loads_it_after_import_keras_ceb(order, tmp_path):
    """`import keras, keras_ceb` then `load_model`, as `keras-ceb train` tells its users: the
    classifier and `keras_ceb.models.Sequential` are registered without touching
    `keras_ceb.models` (they were not, before: only the layers and metrics were)."""
    import subprocess
    import sys

    model = classifier("mlp", "ceb")
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "classifier.keras")
    sequential = keras_ceb.models.Sequential(
        [keras.Input((8,)), keras_ceb.StochasticEncoder(2, marginal=4, seed=0)]
    )
    sequential.save(tmp_path / "sequential.keras")
    code = (
        f"import {order}\n"
        "import sys\n"
        "for path in sys.argv[1:]:\n"
        "    print(type(keras.models.load_model(path, safe_mode=True)).__name__)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(tmp_path / "classifier.keras"),
            str(tmp_path / "sequential.keras"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["CEBClassifier", "Sequential"]
