"""Ready-made CEB, VIB and Determ image classifiers that differ only where the objective must.

    backbone -> StochasticEncoder(objective) -> head

Three heads:

- `head="consistent"` (the default): CEB and Determ end in a `BackwardEncoder`, whose logits
  are the consistent classifier `softmax_y log b(z|y)`; VIB ends in a `Dense` layer. One input
  (the images), cheap, and the rate and the classifier share b(z|y).
- `head="mlp"` (the paper's Fashion-MNIST model, appendix A.1): a two-layer ELU MLP c(y|z) on
  z for every objective; under CEB the labels also feed b(z|y) (a `BackwardEncoder` with
  `output_mode="bottleneck"`), so the model takes `{"images", "labels"}` in training.
  `inference_model(model)` gives the images -> logits model that predictions, attacks and
  serving use.
- `head="catgen"` (the paper's CIFAR-10 model, sec. 3.1.6): a `CatGenHead(num_classes)` on
  `[encoder output, labels]` trains bidirectional CatGen CEB (eq. 26) over the minibatch and
  returns the consistent-classifier logits `log b(z|k) - log e(z|x)`, which evaluation uses.
  The model takes `{"images", "labels"}` and is compiled with no loss (the head adds the whole
  objective); `inference_model(model)` again gives images -> logits.

The models are functional (no subclass), so `model.save("m.keras")` and
`keras.models.load_model(path, safe_mode=True)` work without `custom_objects` once
`keras_ceb` is imported.
"""

import math
import numbers

import keras

from keras_ceb import metrics as metrics_lib
from keras_ceb import rho as rho_lib
from keras_ceb import validation
from keras_ceb.layers import bottleneck as bottleneck_lib
from keras_ceb.layers.backward_encoder import BackwardEncoder
from keras_ceb.layers.catgen_head import CatGenHead
from keras_ceb.layers.mixture_marginal import MixtureMarginal
from keras_ceb.layers.stochastic_encoder import DEFAULT_WARMUP_RHO
from keras_ceb.layers.stochastic_encoder import DEFAULT_WARMUP_STEPS
from keras_ceb.layers.stochastic_encoder import OBJECTIVES
from keras_ceb.layers.stochastic_encoder import StochasticEncoder
from keras_ceb.models import backbones

PAPER_MARGINAL_COMPONENTS = 240
HEADS = ("consistent", "mlp", "catgen")
DEFAULT_HEAD_UNITS = (256, 256)


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
    head="consistent",
    head_units=DEFAULT_HEAD_UNITS,
    seed=None,
    backbone_kwargs=None,
    name=None,
    warmup_rho=DEFAULT_WARMUP_RHO,
    warmup_steps=DEFAULT_WARMUP_STEPS,
):
    """Builds an (uncompiled) CEB, VIB or Determ classifier; compile it with `compile_classifier`.

    The three objectives share the backbone and the `StochasticEncoder`; they differ only in
    the encoder's `objective` and, with the consistent head, the head it needs:

    - `"ceb"`: the CEB term at `rho`, added by the `BackwardEncoder`.
    - `"vib"`: the rate at `rho`, added by the encoder.
    - `"determ"`: the same network with `z = mu(x)` and cross-entropy only.

    With `marginal_components` the encoder also learns a mixture marginal `m(z)` (on stopped
    gradients under CEB and Determ, so it does not change their objectives): the rate R is
    then logged and available as an out-of-distribution score for CEB and VIB.

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
        head: `"consistent"`, `"mlp"` or `"catgen"` (see the module docstring).
        head_units: Widths of the MLP head's two ELU layers (`head="mlp"`).
        seed: Seed of the encoder's sampling.
        backbone_kwargs: Arguments of a named backbone's builder, e.g. `{"depth": 16}`.
        name: Model name; default `"{objective}_classifier"`.
        warmup_rho, warmup_steps: The encoder's rho warm-up (see `StochasticEncoder`): the
            objective starts at `rho + warmup_rho` and reaches `rho` after `warmup_steps`
            optimizer steps; `warmup_steps=0` trains at `rho` from the first step.

    Returns:
        An uncompiled functional `keras.Model` with layers named `"backbone"` (a `keras.Model`
        given as `backbone` keeps its own name), `"encoder"` and `"head"` (and `"backward"`
        for CEB with the MLP head). Its input is the images, or `{"images", "labels"}` for
        CEB with the MLP head and for the CatGen head; its output is the logits
        `[batch, num_classes]`.

    Examples:

        >>> model = build_classifier("ceb", backbone=keras.Sequential(
        ...     [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(32, "relu")]))
        >>> model = compile_classifier(model, learning_rate=1e-3)
        >>> model.output_shape
        (None, 10)
    """
    _check_objective(objective)
    validation.one_of(head, HEADS, "head")
    if not _is_int(num_classes, 2):
        raise ValueError(
            f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes!r}"
        )
    if marginal_components is not None and not _is_int(marginal_components, 1):
        raise ValueError(
            "`marginal_components` must be a positive integer or None. "
            f"Received: marginal_components={marginal_components!r}"
        )
    head_units = _check_head_units(head_units)
    backbone_kwargs = dict(backbone_kwargs or {})
    if isinstance(backbone, str):
        backbone_kwargs.setdefault("name", "backbone")
    features_model = backbones.get_backbone(backbone, input_shape, **backbone_kwargs)
    input_shape = tuple(features_model.input_shape[1:])
    images = keras.Input(input_shape, name="images")
    encoded = StochasticEncoder(
        latent_dim,
        covariance=covariance,
        objective=objective,
        rho=rho,
        marginal=(None if marginal_components is None
                  else MixtureMarginal(int(marginal_components), covariance=covariance,
                                       name="marginal")),
        seed=seed,
        warmup_rho=warmup_rho,
        warmup_steps=warmup_steps,
        name="encoder",
    )(features_model(images))
    name = name or f"{objective}_classifier"
    if head == "consistent":
        if objective == "vib":
            logits = keras.layers.Dense(num_classes, name="head")(encoded)
        else:
            logits = BackwardEncoder(num_classes, covariance=covariance, name="head")(encoded)
        return keras.Model(images, logits, name=name)
    if head == "catgen":
        labels = keras.Input((), dtype="int32", name="labels")
        logits = CatGenHead(num_classes, covariance=covariance, seed=seed, name="head")(
            [encoded, labels])
        return keras.Model({"images": images, "labels": labels}, logits, name=name)
    mlp = mlp_head(num_classes, head_units)
    if objective != "ceb":
        return keras.Model(images, mlp(encoded), name=name)
    labels = keras.Input((), dtype="int32", name="labels")
    encoded = BackwardEncoder(
        num_classes, covariance=covariance, output_mode="bottleneck", name="backward"
    )(encoded, labels=labels)
    return keras.Model({"images": images, "labels": labels}, mlp(encoded[bottleneck_lib.Z]),
                       name=name)


def mlp_head(num_classes, units=DEFAULT_HEAD_UNITS, name="head"):
    """The classifier c(y|z): ELU layers of `units`, then logits; a `keras.Sequential`.

    Examples:

        >>> tuple(mlp_head(10)(keras.ops.zeros((2, 4))).shape)
        (2, 10)
    """
    layers = [keras.layers.Dense(u, activation="elu", name=f"dense_{i}")
              for i, u in enumerate(_check_head_units(units))]
    return keras.Sequential(layers + [keras.layers.Dense(num_classes, name="logits")], name=name)


def _check_head_units(units):
    units = tuple(units) if isinstance(units, (list, tuple)) else units
    if not isinstance(units, tuple) or not units or not all(_is_int(u, 1) for u in units):
        raise ValueError(
            "`head_units` must be a non-empty sequence of positive integers. "
            f"Received: head_units={units!r}"
        )
    return units


def head_takes_labels(objective, head):
    """Whether `build_classifier(objective, head=head)` takes `{"images", "labels"}`: the
    CatGen head, and the MLP head under CEB (its b(z|y) is fed the labels).

    Examples:

        >>> head_takes_labels("ceb", "mlp"), head_takes_labels("vib", "mlp")
        (True, False)
    """
    return head == "catgen" or (head == "mlp" and objective == "ceb")


def takes_labels(model):
    """Whether `model` takes `{"images", "labels"}` (CEB with the MLP head, or the CatGen head).

    Examples:

        >>> takes_labels(build_classifier("vib", backbone=keras.Sequential(
        ...     [keras.Input((4,)), keras.layers.Dense(8)])))
        False
    """
    try:
        inputs = model.input
    except (AttributeError, ValueError):  # A model that was never built or called.
        return False
    return isinstance(inputs, dict) and "labels" in inputs


def uses_catgen(model):
    """Whether `model`'s head is a `CatGenHead` (it adds the whole objective: no compiled loss).

    Examples:

        >>> uses_catgen(build_classifier("ceb", head="catgen", backbone=keras.Sequential(
        ...     [keras.Input((4,)), keras.layers.Dense(8)])))
        True
    """
    return any(isinstance(layer, CatGenHead) for layer in model.layers)


def inference_model(model):
    """The images -> logits model that predictions, attacks and serving use.

    A model built with `head="mlp"` under CEB also takes the labels (they feed b(z|y) when
    training); this returns a model of the same layers that needs only the images. A model
    with the CatGen head takes the labels too; its logits (the consistent classifier) do not
    depend on them, so the returned model feeds the head placeholder labels (zeros). Any
    other model is returned as is.

    Examples:

        >>> model = build_classifier("ceb", head="mlp", backbone=keras.Sequential(
        ...     [keras.Input((4,)), keras.layers.Dense(8)]))
        >>> inference_model(model).input_shape
        (None, 4)
    """
    if not takes_labels(model):
        return model
    # The same graph, from the images through the encoder straight to the head: the encoder's
    # output does not depend on the labels, and staying in one graph keeps `encoder.input`
    # meaningful for the rate (`keras_ceb.export.feature_model`).
    encoded = model.get_layer("encoder").output
    if isinstance(encoded, (list, tuple)):
        # `Layer.output` is the flat list of the encoder's output tensors; rebuild the dict.
        encoded = keras.tree.pack_sequence_as({key: None for key in bottleneck_lib.KEYS},
                                              encoded)
    head = model.get_layer("head")
    if isinstance(head, CatGenHead):
        z = encoded[bottleneck_lib.Z] if isinstance(encoded, dict) else encoded
        placeholder_labels = keras.ops.cast(keras.ops.zeros_like(z[:, 0]), "int32")
        logits = head([encoded, placeholder_labels])
    else:
        logits = head(encoded[bottleneck_lib.Z])
    return keras.Model(model.input["images"], logits, name=f"{model.name}_inference")


def classifier_metrics(objective, head="consistent"):
    """The compiled metrics for a classifier of `objective` and `head`.

    `["accuracy", rex, i_yz]` for CEB with the consistent head (ReX is read off its logits),
    `["accuracy"]` with the CatGen head (the head logs `rex` and its `i_yz` bound itself),
    `["accuracy", i_yz]` otherwise (with the MLP head, the `BackwardEncoder` fed with labels
    logs `rex` itself). The encoder logs `i_xz_lower` and `rate` when training.

    Examples:

        >>> [getattr(m, "name", m) for m in classifier_metrics("vib")]
        ['accuracy', 'i_yz']
    """
    _check_objective(objective)
    validation.one_of(head, HEADS, "head")
    if head == "catgen":
        return ["accuracy"]
    consistent = objective == "ceb" and head == "consistent"
    return ["accuracy", *metrics_lib.information_metrics(consistent_classifier=consistent)]


def model_objective(model):
    """The objective of the (first) `StochasticEncoder` of `model`.

    Examples:

        >>> model_objective(build_classifier("vib", backbone=keras.Sequential(
        ...     [keras.Input((4,)), keras.layers.Dense(8)])))
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
    information terms are added by the layers. A model with the CatGen head is compiled with
    no loss: its head adds the whole objective. The optimizer is Adam with a cosine decay of
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

    Examples:

        >>> model = build_classifier("vib", backbone=keras.Sequential(
        ...     [keras.Input((4,)), keras.layers.Dense(8)]))
        >>> model = compile_classifier(model, learning_rate=1e-3, decay_steps=4690)
        >>> model.loss.name
        'sparse_categorical_crossentropy'
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
    if uses_catgen(model):
        loss, head = None, "catgen"
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        head = "mlp" if takes_labels(model) else "consistent"
    model.compile(optimizer=optimizer, loss=loss, metrics=classifier_metrics(objective, head),
                  **compile_kwargs)
    return model
