"""The bottleneck structure: how e(z|x) travels from a CEB encoder to the layers that need it.

A CEB `StochasticEncoder` returns a plain dict of tensors, an ordinary Keras output structure
(like the tuple `MultiHeadAttention` returns with `return_attention_scores=True`):

| key | shape | dtype | what |
|---|---|---|---|
| `"z"` | `[B, D]` | compute dtype | a draw of e(z|x) in training; the mean (or a draw) later |
| `"loc"` | `[B, D]` | float32 | the mean of e(z|x) |
| `"scale"` | `[B, D, D]` or `[B, D]` | float32 | its lower-triangular or diagonal scale |
| `"log_prob"` | `[B]` | float32 | `log e(z|x)` at `"z"` |
| `"rho"` | `[B]` | float32 | the encoder's rho, broadcast over the batch |

Consumers (`BackwardEncoder`, `CatGenHead`) read what they need from it, so the link is a
tensor edge of the graph: it survives autocast, mixed precision, `clone_model`, saving and
export, and a layer that passes a structure through (`keras.layers.Identity`) may sit in
between. Any other layer takes `bottleneck["z"]`.
"""

from keras_ceb.ops import gaussian

Z = "z"
LOC = "loc"
SCALE = "scale"
LOG_PROB = "log_prob"
RHO = "rho"
KEYS = (Z, LOC, SCALE, LOG_PROB, RHO)


def make(z, dist, log_prob, rho):
    """The bottleneck dict for a sample `z` of `dist` with density `log_prob`."""
    return {Z: z, LOC: dist.loc, SCALE: dist.scale, LOG_PROB: log_prob, RHO: rho}


def is_bottleneck(value):
    """Whether `value` is a bottleneck dict (it has exactly the bottleneck's keys)."""
    return isinstance(value, dict) and set(value) == set(KEYS)


def distribution(value):
    """The `Gaussian` e(z|x) of a bottleneck dict."""
    return gaussian.Gaussian(value[LOC], value[SCALE])


def describe(value):
    """A short description of a value a consumer received, for error messages."""
    if isinstance(value, dict):
        return f"a dict with keys {sorted(value)}"
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape) if shape is not None else None}"
