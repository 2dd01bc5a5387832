"""A keras-tuner search over rho."""

import keras_tuner as kt

from keras_ceb import rho as rho_lib
from keras_ceb import validation


class RhoHyperModel(kt.HyperModel):
    """Searches rho for a fixed architecture.

    `build_model(rho)` returns a compiled Keras model whose `StochasticEncoder`s use that rho
    (e.g. `lambda rho: keras_ceb.models.build_classifier("ceb", rho=rho)` compiled). The search
    space is either a list of `rho_values` (`hp.Choice`, for a grid) or the interval
    `[rho_min, rho_max]` (`hp.Float`, for random or Bayesian search).

    Args:
        build_model: Callable `rho -> compiled keras.Model`.
        rho_values: Optional list of finite rho values.
        rho_min: Lower end of the interval when `rho_values` is None.
        rho_max: Upper end of the interval.
        name: HyperModel name.

    Examples:

        >>> import keras_tuner
        >>> def build(rho):
        ...     model = keras.Sequential([keras.Input((8,)),
        ...                               keras_ceb.StochasticEncoder(2, rho=rho),
        ...                               keras_ceb.BackwardEncoder(3)])
        ...     model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...                   metrics=["accuracy"])
        ...     return model
        >>> hypermodel = keras_ceb.tuning.RhoHyperModel(build, rho_values=[0.0, 2.0])
        >>> tuner = keras_tuner.GridSearch(hypermodel, objective="val_accuracy",
        ...                                directory="tuning")
        >>> x, y = np.random.rand(64, 8).astype("float32"), np.arange(64) % 3
        >>> tuner.search(x, y, validation_data=(x, y), epochs=1, verbose=0)
        >>> len(tuner.oracle.trials)
        2
    """

    def __init__(
        self, build_model, rho_values=None, rho_min=-1.0, rho_max=10.0, name="rho_search"
    ):
        super().__init__(name=name, tunable=True)
        if not callable(build_model):
            raise ValueError(
                f"`build_model` must be callable. Received: build_model={build_model!r}"
            )
        if rho_values is not None:
            rho_values = list(rho_values)
            if not rho_values or not all(_finite(v) for v in rho_values):
                raise ValueError(
                    "`rho_values` must be a non-empty list of finite numbers. "
                    f"Received: rho_values={rho_values!r}"
                )
        elif not (_finite(rho_min) and _finite(rho_max) and rho_min < rho_max):
            raise ValueError(
                "`rho_min` and `rho_max` must be finite with rho_min < rho_max. "
                f"Received: rho_min={rho_min!r}, rho_max={rho_max!r}"
            )
        self.build_model = build_model
        self.rho_values = rho_values
        self.rho_min = rho_min
        self.rho_max = rho_max

    def build(self, hp):
        if self.rho_values is not None:
            rho = hp.Choice("rho", [float(v) for v in self.rho_values])
        else:
            rho = hp.Float("rho", float(self.rho_min), float(self.rho_max))
        model = self.build_model(rho)
        rho_lib.set_rho(model, rho)  # Also checks that the model has an encoder.
        return model


def search_rho(
    build_model,
    x,
    y,
    validation_data,
    rho_values,
    epochs=5,
    directory="rho_search",
    objective="val_accuracy",
    overwrite=True,
    **fit_kwargs,
):
    """Grid search over `rho_values`; returns the tuner (`tuner.get_best_hyperparameters()`).

    Examples:

        >>> def build(rho):
        ...     model = keras.Sequential([keras.Input((8,)),
        ...                               keras_ceb.StochasticEncoder(2, rho=rho),
        ...                               keras_ceb.BackwardEncoder(3)])
        ...     model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...                   metrics=["accuracy"])
        ...     return model
        >>> x, y = np.random.rand(64, 8).astype("float32"), np.arange(64) % 3
        >>> tuner = keras_ceb.tuning.search_rho(build, x, y, (x, y), [0.0, 1.0], epochs=1,
        ...                                     verbose=0)
        >>> tuner.get_best_hyperparameters()[0]["rho"] in (0.0, 1.0)
        True
    """
    tuner = kt.GridSearch(
        RhoHyperModel(build_model, rho_values=rho_values),
        objective=objective,
        directory=directory,
        project_name="rho",
        overwrite=overwrite,
    )
    tuner.search(x, y, validation_data=validation_data, epochs=epochs, **fit_kwargs)
    return tuner


def _finite(value):
    try:
        validation.finite_float(value, "rho")
    except ValueError:
        return False
    return True
