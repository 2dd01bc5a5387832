"""The inference side of a classifier: its logits, its probabilities, and encoders sampling z
at inference (for Monte Carlo averages)."""

import contextlib

import numpy as np
from keras import ops

from keras_ceb import rho as rho_lib
from keras_ceb import validation


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
    """A model's logits: the tensor itself, or `outputs[output_key]` for a dict."""
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
