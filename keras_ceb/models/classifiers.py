"""`build_classifier` and `compile_classifier`: the package's CEB, VIB and Determ image
classifiers, as `keras_ceb.models.CEBClassifier`s that differ only where the objective must.

    backbone -> StochasticEncoder(objective) -> head

The three heads (`"consistent"`, `"mlp"`, `"catgen"`) are described in `CEBClassifier`. Every
model takes the images alone (the labels reach b(z|y) through `compute_loss`), and
`model.save("m.keras")` / `keras.models.load_model(path, safe_mode=True)` work without
`custom_objects` once `keras_ceb` is imported.
"""

import keras

from keras_ceb import rho as rho_lib
from keras_ceb import validation
from keras_ceb.layers.stochastic_encoder import DEFAULT_WARMUP_RHO
from keras_ceb.layers.stochastic_encoder import DEFAULT_WARMUP_STEPS
from keras_ceb.models.ceb_classifier import DEFAULT_HEAD_UNITS
from keras_ceb.models.ceb_classifier import HEADS
from keras_ceb.models.ceb_classifier import PAPER_MARGINAL_COMPONENTS
from keras_ceb.models.ceb_classifier import CEBClassifier
from keras_ceb.models.ceb_classifier import classifier_metrics
from keras_ceb.models.ceb_classifier import mlp_head

__all__ = [
    "HEADS",
    "PAPER_MARGINAL_COMPONENTS",
    "build_classifier",
    "classifier_metrics",
    "compile_classifier",
    "mlp_head",
    "model_objective",
]


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
        An uncompiled `keras_ceb.models.CEBClassifier` with attributes `backbone`, `encoder`
        and `head` (and `backward`, b(z|y), for CEB with the MLP head). Its input is the
        images, its output the logits `[batch, num_classes]`, for every head.

    Examples:

        >>> model = build_classifier("ceb", backbone=keras.Sequential(
        ...     [keras.Input((28, 28, 1)), keras.layers.Flatten(),
        ...      keras.layers.Dense(32, "relu")]))
        >>> model = compile_classifier(model, learning_rate=1e-3)
        >>> model.predict(np.zeros((2, 28, 28, 1), "float32"), verbose=0).shape
        (2, 10)
    """
    # `CEBClassifier` checks the other arguments; this one has another name there.
    if marginal_components is not None:
        validation.positive_int(marginal_components, "marginal_components")
    return CEBClassifier(
        backbone=backbone,
        num_classes=num_classes,
        latent_dim=latent_dim,
        objective=objective,
        head=head,
        rho=rho,
        marginal=marginal_components,
        covariance=covariance,
        input_shape=tuple(input_shape),
        head_units=head_units,
        seed=seed,
        warmup_rho=warmup_rho,
        warmup_steps=warmup_steps,
        backbone_kwargs=backbone_kwargs,
        name=name or f"{objective}_classifier",
    )


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
        schedule = validation.positive_float(learning_rate, "learning_rate")
        if decay_steps is not None:
            decay_steps = validation.positive_int(decay_steps, "decay_steps")
            schedule = keras.optimizers.schedules.CosineDecay(
                float(learning_rate), int(decay_steps)
            )
        optimizer = keras.optimizers.Adam(schedule)
    if isinstance(model, CEBClassifier):
        model.compile(optimizer=optimizer, **compile_kwargs)  # the head's loss and metrics
    else:
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=classifier_metrics(objective),
            **compile_kwargs,
        )
    return model
