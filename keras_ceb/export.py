"""SavedModel export with two serving endpoints: the logits and the rate (TensorFlow backend)."""

import os
import shutil
import tempfile

import keras

from keras_ceb import rho as rho_lib
from keras_ceb import validation


def model_input(model):
    """The symbolic input structure of a built Sequential, functional or `CEBClassifier` model."""
    if hasattr(model, "image_input"):  # A CEBClassifier: its backbone's input.
        return model.image_input
    if isinstance(model, keras.Sequential):
        return model.inputs[0]
    return model.input


def feature_model(model, encoder):
    """A model from `model`'s inputs to the features that `encoder` consumes."""
    if getattr(model, "encoder", None) is encoder and hasattr(model, "feature_extractor"):
        return model.feature_extractor  # A CEBClassifier.
    return keras.Model(model_input(model), encoder.input, name=f"{encoder.name}_features")


def rate_encoder(model):
    """The model's encoder that can report a rate (a marginal, or VIB), or a `ValueError`.

    A Determ encoder has no rate: its z is the mean, and the scale head it keeps for the shared
    architecture is never trained.
    """
    candidates = [e for e in rho_lib.encoders(model) if e.has_rate]
    if not candidates:
        raise ValueError(
            "The model has no CEB or VIB StochasticEncoder with a marginal (or objective='vib'), "
            f"so it has no rate. Received: model={model.name!r}"
        )
    return candidates[0]


def export_saved_model(model, path, overwrite=False, rate_estimator="mean"):
    """Writes `model` as a TensorFlow SavedModel with endpoints `serve` and `rate`.

    `serve` returns the model's outputs (logits) with `training=False`: the inference path,
    which computes no information estimate. `rate` returns the per-example rate
    `R = log e(z|x) - log m(z)`, the paper's OoD score, at the encoder mean by default
    (deterministic; see `StochasticEncoder.rate`). Both take the images alone. A model without
    a rate (Determ, or no marginal) gets the `serve` endpoint only. The directory is written
    beside `path` first and
    moved into place only when complete, so a failure leaves no half-written export.

    Args:
        model: A built Keras model containing a `StochasticEncoder` with a marginal.
        path: Output directory.
        overwrite: Replace an existing `path`.
        rate_estimator: `"mean"` (deterministic) or `"sample"` (one draw per call) for the
            `rate` endpoint.

    Returns:
        `path`.

    Examples:

        >>> import tensorflow as tf
        >>> model = keras.Sequential([keras.Input((8,)),
        ...                           keras_ceb.StochasticEncoder(2, marginal=4, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> path = keras_ceb.export.export_saved_model(model, "exported")
        >>> served = tf.saved_model.load(path)
        >>> x = tf.ones((5, 8))
        >>> tuple(served.serve(x).shape), tuple(served.rate(x).shape)
        ((5, 3), (5,))
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "SavedModel export needs the TensorFlow backend. "
            f"Received: backend={keras.backend.backend()!r}"
        )
    import tensorflow as tf

    from keras_ceb.layers.stochastic_encoder import RATE_ESTIMATORS

    validation.one_of(rate_estimator, RATE_ESTIMATORS, "rate_estimator")
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    signature = keras.tree.map_structure(
        lambda t: tf.TensorSpec(t.shape, t.dtype, name=t.name.split(":")[0]), model_input(model)
    )

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda x: model(x, training=False), input_signature=[signature])
    try:
        encoder = rate_encoder(model)
    except ValueError:
        encoder = None
    if encoder is not None:
        features = feature_model(model, encoder)
        archive.track(features)
        archive.add_endpoint(
            "rate",
            lambda x: encoder.rate(features(x, training=False), estimator=rate_estimator),
            input_signature=[signature],
        )
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        archive.write_out(staging, verbose=False)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path
