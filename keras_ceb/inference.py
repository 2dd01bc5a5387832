"""Running a model with its encoders sampling z at inference (for Monte Carlo averages)."""

import contextlib

import numpy as np
from keras import ops

from keras_ceb import rho as rho_lib
from keras_ceb import validation


@contextlib.contextmanager
def sampling_at_inference(model):
    """Within the block, every `StochasticEncoder` of `model` samples z when `training=False`.

    Affects direct calls `model(x)`; `model.predict` keeps whatever function it has compiled.

    Example:

    >>> with keras_ceb.inference.sampling_at_inference(model):
    ...     draws = [model(x) for _ in range(8)]
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


def predict_probabilities(model, x, num_samples=1, batch_size=256, output_key=None):
    """Softmax probabilities, averaged over `num_samples` draws of z (1: the encoder's mode).

    Returns:
        NumPy array `[N, C]`.
    """
    validation.positive_int(num_samples, "num_samples")
    if num_samples == 1:
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
