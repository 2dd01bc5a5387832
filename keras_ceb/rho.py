"""Reading and setting a model's rho: the one knob of CEB and VIB, held by its encoders."""

from keras_ceb import validation
from keras_ceb.layers.stochastic_encoder import StochasticEncoder


def encoders(model):
    """Every `StochasticEncoder` in `model` (nested models included), in layer order."""
    if isinstance(model, StochasticEncoder):
        return [model]
    found = []
    for layer in getattr(model, "layers", []):
        found.extend(encoders(layer))
    return found


def _select(model, name):
    found = encoders(model)
    if name is not None:
        found = [e for e in found if e.name == name]
    if not found:
        raise ValueError(
            "The model has no StochasticEncoder"
            + (f" named {name!r}" if name else "")
            + f". Received: model={getattr(model, 'name', model)!r}"
        )
    return found


def get_rho(model, name=None):
    """The rho of the model's encoder (or of the one called `name`).

    Raises a `ValueError` if the encoders disagree and no `name` is given.
    """
    values = {e.name: e.rho for e in _select(model, name)}
    if len(set(values.values())) > 1:
        raise ValueError(f"The encoders have different rho; pass `name`. Received: rho={values}")
    return next(iter(values.values()))


def set_rho(model, value, name=None):
    """Sets rho on every encoder of `model` (or on the one called `name`), without retracing.

    Examples:

        >>> model = keras.Sequential([keras.Input((8,)), keras_ceb.StochasticEncoder(2),
        ...                           keras_ceb.BackwardEncoder(3)])
        >>> keras_ceb.set_rho(model, 2.0)
        >>> keras_ceb.get_rho(model)
        2.0
    """
    value = validation.finite_float(value, "rho")
    for encoder in _select(model, name):
        encoder.set_rho(value)
