"""The inference side of a classifier: images in, outputs out; and encoders sampling z at
inference (for Monte Carlo averages)."""

import contextlib
import weakref

import numpy as np
from keras import ops

from keras_ceb import rho as rho_lib
from keras_ceb import validation


# model -> its images-only model, so that repeated calls (an attack's compiled loop, a score
# per OoD set) reuse one graph.
_IMAGES_ONLY = weakref.WeakKeyDictionary()


def images_only(model):
    """The images-to-outputs model of `model`, for prediction, scores, attacks and export.

    The paper's models (`keras_ceb.models.build_classifier(head="mlp")` under CEB, and
    `head="catgen"`) take `{"images", "labels"}`: the labels feed b(z|y) in training, while
    their logits do not depend on them. For those this is
    `keras_ceb.models.inference_model(model)` (made once per model, sharing its layers and
    weights); any other model is returned as it is. Every evaluator of keras_ceb (the rate and
    OoD scores, the attacks, the calibration, the callbacks, the export and `keras-ceb
    evaluate`) passes its model through here, so all of them take images alone.

    Examples:

        >>> model = keras_ceb.models.build_classifier("ceb", head="mlp", backbone=keras.Sequential(
        ...     [keras.Input((4,)), keras.layers.Dense(8)]))
        >>> images_only(model).input_shape, images_only(model) is images_only(model)
        ((None, 4), True)
    """
    from keras_ceb import models  # The same layer of the package (docs/architecture.md).

    if not models.takes_labels(model):
        return model
    try:
        return _IMAGES_ONLY[model]
    except (KeyError, TypeError):
        pass
    inference = models.inference_model(model)
    try:
        _IMAGES_ONLY[model] = inference
    except TypeError:  # Not weak-referenceable: no cache.
        pass
    return inference


@contextlib.contextmanager
def sampling_at_inference(model):
    """Within the block, every `StochasticEncoder` of `model` samples z when `training=False`.

    Affects direct calls `model(x)`; `model.predict` keeps whatever function it has compiled.

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)), keras_ceb.StochasticEncoder(2, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> x = np.ones((2, 8), "float32")
        >>> with keras_ceb.inference.sampling_at_inference(model):
        ...     draws = [keras.ops.convert_to_numpy(model(x)) for _ in range(2)]
        >>> bool(np.allclose(draws[0], draws[1]))
        False
    """
    encoders = rho_lib.encoders(model)
    saved = [e.inference for e in encoders]
    for encoder in encoders:
        encoder.inference = "sample"
    try:
        yield model
    finally:
        for encoder, mode in zip(encoders, saved):
            encoder.inference = mode


def output_logits(outputs, output_key=None):
    """The logits from a model's outputs: the tensor itself, or `outputs[output_key]` for a dict."""
    if isinstance(outputs, dict):
        key = output_key or ("classifier" if "classifier" in outputs else next(iter(outputs)))
        if key not in outputs:
            raise ValueError(f"No output named {key!r}. Received: outputs={sorted(outputs)}")
        return outputs[key]
    return outputs


def predict_probabilities(model, x, num_samples=1, batch_size=256, output_key=None, sample=None):
    """Softmax probabilities at the encoder mean, or averaged over `num_samples` draws of z.

    Args:
        model: A classifier returning logits (or a dict with them, see `output_logits`).
        x: Inputs.
        num_samples: Draws of z to average over when sampling.
        batch_size: Batch size.
        output_key: The logits' key when the model returns a dict.
        sample: Whether the encoders sample z; default: when `num_samples > 1`.

    Returns:
        NumPy array `[N, C]`.

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)), keras_ceb.StochasticEncoder(2, seed=0),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> probs = predict_probabilities(model, np.ones((4, 8), "float32"), num_samples=3)
        >>> probs.shape, bool(np.allclose(probs.sum(-1), 1.0))
        ((4, 3), True)
    """
    model = images_only(model)  # The paper's models take labels: images alone here.
    validation.positive_int(num_samples, "num_samples")
    sample = num_samples > 1 if sample is None else bool(sample)
    if not sample:
        logits = output_logits(model.predict(x, batch_size=batch_size, verbose=0), output_key)
        return _softmax(np.asarray(logits, dtype="float64"))
    chunks = []
    with sampling_at_inference(model):
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            total = 0.0
            for _ in range(num_samples):
                logits = output_logits(model(batch, training=False), output_key)
                total = total + _softmax(np.asarray(ops.convert_to_numpy(logits), "float64"))
            chunks.append(total / num_samples)
    return np.concatenate(chunks, axis=0)


def _softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
