"""How a bottleneck sample `z` carries its encoder distribution to the layers that consume it.

A `StochasticEncoder` returns an ordinary tensor `z`, so it can be followed by any Keras layer.
Beside it, the encoder attaches a `BottleneckSample` (the distribution `e(z|x)` and
`log e(z|x)`) to that tensor object, the way Keras attaches `_keras_mask` to a layer's output.
A `BackwardEncoder` or `CatGenHead` called directly on `z` in the same forward pass finds it and
can form `log e(z|x) - log b(z|y)` without a second input, which is what lets a plain
`keras.Sequential` model train CEB. The attachment lives as long as the tensor object does.
"""

import dataclasses
import weakref

from keras_ceb.ops import gaussian

_ATTR = "_keras_ceb_sample"
_by_id = {}


@dataclasses.dataclass(frozen=True)
class BottleneckSample:
    """The encoder distribution behind one bottleneck tensor.

    Attributes:
        encoder: The `StochasticEncoder` that produced the tensor.
        loc: Means `[B, D]`.
        scale: `scale_tril` `[B, D, D]` or `scale_diag` `[B, D]` (see `covariance`).
        covariance: `"full"` or `"diag"`.
        log_prob: `log e(z|x)` at the tensor's value, `[B]`.
    """

    encoder: object
    loc: object
    scale: object
    covariance: str
    log_prob: object

    @property
    def scale_kwargs(self):
        """`{"scale_tril": ...}` or `{"scale_diag": ...}` for the functions in `ops.gaussian`."""
        return gaussian.scale_kwargs(self.scale, self.covariance)


def attach_sample(tensor, sample):
    """Attaches `sample` to `tensor` (in place) and returns `tensor`."""
    try:
        setattr(tensor, _ATTR, sample)
    except (AttributeError, TypeError):
        key = id(tensor)
        _by_id[key] = sample
        weakref.finalize(tensor, _by_id.pop, key, None)
    return tensor


def find_sample(tensor):
    """The `BottleneckSample` attached to `tensor`, or `None`."""
    sample = getattr(tensor, _ATTR, None)
    if sample is None:
        sample = _by_id.get(id(tensor))
    return sample
