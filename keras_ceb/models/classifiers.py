"""Ready-made CEB, VIB and Determ image classifiers that differ only where the objective must.

    backbone -> StochasticEncoder(objective) -> head
                                                CEB, Determ: BackwardEncoder (consistent classifier)
                                                VIB:         Dense logits

The models are functional (no subclass), so `model.save("m.keras")` and
`keras.models.load_model(path, safe_mode=True)` work without `custom_objects`.
"""

import math
import numbers

import keras

from keras_ceb import metrics as metrics_lib
from keras_ceb import rho as rho_lib
from keras_ceb.layers.backward_encoder import BackwardEncoder
from keras_ceb.layers.stochastic_encoder import OBJECTIVES
from keras_ceb.layers.mixture_marginal import MixtureMarginal
from keras_ceb.layers.stochastic_encoder import StochasticEncoder
from keras_ceb.models import backbones

PAPER_MARGINAL_COMPONENTS = 240


def _is_int(value, minimum):
    return (
        not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= minimum
    )


def _check_objective(objective):
    if objective not in OBJECTIVES:
        raise ValueError(
            f"`objective` must be one of {OBJECTIVES}. Received: objective={objective!r}"
        )


def build_classifier(
    objective="ceb",
    input_shape=(28, 28, 1),
    num_classes=10,
    backbone="small_convnet",
    latent_dim=4,
    rho=0.0,
    marginal_components=PAPER_MARGINAL_COMPONENTS,
    covariance="full",
    seed=None,
    backbone_kwargs=None,
    name=None,
):
    """Builds an (uncompiled) CEB, VIB or Determ classifier; compile it with `compile_classifier`.

    The three objectives share the backbone and the `StochasticEncoder`; they differ only in
    the encoder's `objective` and the head it needs:

    - `"ceb"`: `BackwardEncoder(num_classes)`, whose outputs are the consistent-classifier
      logits `log b(z|k) - log e(z|x)`; it adds the residual-information term at `rho`.
    - `"vib"`: a `Dense(num_classes)` logits head; the encoder adds the rate at `rho`.
    - `"determ"`: the CEB architecture with `z = mu(x)` and cross-entropy only.

    With `marginal_components` the encoder also learns a mixture marginal `m(z)` (on stopped
    gradients under CEB and Determ, so it does not change their objectives): the rate R is
    then logged and available as an out-of-distribution score under every objective.

    Args:
        objective: `"ceb"`, `"vib"` or `"determ"`.
        input_shape: Shape of one image, `(height, width, channels)`.
        num_classes: Number of classes (>= 2).
        backbone: `"small_convnet"`, `"wide_resnet"` or a `keras.Model` mapping images to
            features `[batch, F]` (it is used as is, so do not share it between models).
        latent_dim: Dimension of z (the paper uses 4 on Fashion-MNIST).
        rho: Initial rho: `rho = log gamma`; 0 targets the Minimum Necessary Information point,
            larger keeps more information about X. Ignored in effect under `"determ"`.
        marginal_components: Mixture components of the marginal m(z) (the paper's 240), or
            `None` for no marginal (VIB then uses a standard normal).
        covariance: `"full"` or `"diag"` for the encoder, the marginal and b(z|y).
        seed: Seed of the encoder's sampling.
        backbone_kwargs: Arguments of a named backbone's builder, e.g. `{"depth": 16}`.
        name: Model name; default `"{objective}_classifier"`.

    Returns:
        An uncompiled functional `keras.Model` from images to logits `[batch, num_classes]`,
        with layers named `"backbone"` (a `keras.Model` given as `backbone` keeps its own
        name), `"encoder"` and `"head"`.

    Example:

    >>> model = build_classifier("ceb", rho=0.0)
    >>> model = compile_classifier(model, learning_rate=1e-3)
    >>> model.fit(x_train, y_train, epochs=1)  # doctest: +SKIP
    """
    _check_objective(objective)
    if not _is_int(num_classes, 2):
        raise ValueError(
            f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes!r}"
        )
    if marginal_components is not None and not _is_int(marginal_components, 1):
        raise ValueError(
            "`marginal_components` must be a positive integer or None. "
            f"Received: marginal_components={marginal_components!r}"
        )
    backbone_kwargs = dict(backbone_kwargs or {})
    if isinstance(backbone, str):
        backbone_kwargs.setdefault("name", "backbone")
    features_model = backbones.get_backbone(backbone, input_shape, **backbone_kwargs)
    input_shape = tuple(features_model.input_shape[1:])
    inputs = keras.Input(input_shape, name="images")
    features = features_model(inputs)
    z = StochasticEncoder(
        latent_dim,
        covariance=covariance,
        objective=objective,
        rho=rho,
        marginal=(None if marginal_components is None
                  else MixtureMarginal(int(marginal_components), covariance=covariance,
                                       name="marginal")),
        seed=seed,
        name="encoder",
    )(features)
    if objective == "vib":
        logits = keras.layers.Dense(num_classes, name="head")(z)
    else:
        logits = BackwardEncoder(num_classes, covariance=covariance, name="head")(z)
    return keras.Model(inputs, logits, name=name or f"{objective}_classifier")


def classifier_metrics(objective):
    """The compiled metrics for a classifier of `objective`.

    `["accuracy", rex, i_yz]` for CEB, `["accuracy", i_yz]` for VIB and Determ. The
    encoder logs `i_xz_lower` and `rate` itself. Determ's logits are also
    `log b(z|k) - log e(z|x)`, but at `z = mu(x)` with an encoder scale that nothing
    trains, so the residual information read off them has no meaning and is not logged.

    Example:

    >>> [getattr(m, "name", m) for m in classifier_metrics("vib")]
    ['accuracy', 'i_yz']
    """
    _check_objective(objective)
    return ["accuracy", *metrics_lib.information_metrics(consistent_classifier=objective == "ceb")]


def model_objective(model):
    """The objective of the (first) `StochasticEncoder` of `model`.

    Example:

    >>> model_objective(build_classifier("vib"))
    'vib'
    """
    return rho_lib.encoders(model)[0].objective if rho_lib.encoders(model) else _no_encoder(model)


def _no_encoder(model):
    raise ValueError(f"The model has no StochasticEncoder. Received: model={model.name!r}")


def compile_classifier(
    model,
    objective=None,
    learning_rate=1e-3,
    decay_steps=None,
    optimizer=None,
    **compile_kwargs,
):
    """Compiles a classifier with cross-entropy on its logits and the information metrics.

    The loss is `SparseCategoricalCrossentropy(from_logits=True)` for every objective: the
    information terms are added by the layers. The optimizer is Adam with a cosine decay of
    the learning rate to 0 over `decay_steps` steps (or a constant rate without them).

    Args:
        model: A model from `build_classifier` (or any model with a `StochasticEncoder`).
        objective: `"ceb"`, `"vib"` or `"determ"`; default: read from the model's encoder.
        learning_rate: Initial learning rate (positive).
        decay_steps: Total training steps for the cosine decay, or `None` for a constant rate.
        optimizer: An optimizer to use instead of Adam (then `learning_rate` and
            `decay_steps` are ignored).
        **compile_kwargs: More arguments of `model.compile` (e.g. `jit_compile`).

    Returns:
        `model`, compiled.

    Example:

    >>> model = compile_classifier(build_classifier("vib"), learning_rate=1e-3, decay_steps=4690)
    """
    objective = objective or model_objective(model)
    if optimizer is None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or not (
            math.isfinite(learning_rate) and learning_rate > 0
        ):
            raise ValueError(
                "`learning_rate` must be a positive number. "
                f"Received: learning_rate={learning_rate!r}"
            )
        schedule = float(learning_rate)
        if decay_steps is not None:
            if not _is_int(decay_steps, 1):
                raise ValueError(
                    "`decay_steps` must be a positive integer or None. "
                    f"Received: decay_steps={decay_steps!r}"
                )
            schedule = keras.optimizers.schedules.CosineDecay(
                float(learning_rate), int(decay_steps)
            )
        optimizer = keras.optimizers.Adam(schedule)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=classifier_metrics(objective),
        **compile_kwargs,
    )
    return model
