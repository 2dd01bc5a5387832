"""`CEBClassifier`: a CEB, VIB or Determ image classifier as one Keras model, images to logits.

    backbone -> StochasticEncoder(objective) -> head

Where a head needs the labels (b(z|y) of CEB with the MLP head, the CatGen head), they reach it
through `Model.compute_loss`, which Keras gives `(x, y, y_pred, sample_weight)`, not through
the model's input: `model.predict(images)` works for every head (KerasHub builds its tasks
the same way). In training `call` returns the logits and the bottleneck (tensors, no side
channel) so that `compute_loss` can add the labelled term at the same sample of z; at inference
it returns the logits.
"""

import keras
from keras import ops

from keras_ceb import losses
from keras_ceb import metrics as metrics_lib
from keras_ceb import validation
from keras_ceb.layers import bottleneck as bottleneck_lib
from keras_ceb.layers.backward_encoder import BackwardEncoder
from keras_ceb.layers.catgen_head import CatGenHead
from keras_ceb.layers.mixture_marginal import MixtureMarginal
from keras_ceb.layers.stochastic_encoder import DEFAULT_WARMUP_RHO
from keras_ceb.layers.stochastic_encoder import DEFAULT_WARMUP_STEPS
from keras_ceb.layers.stochastic_encoder import StochasticEncoder
from keras_ceb.models import backbones
from keras_ceb.models import weighted

HEADS = ("consistent", "mlp", "catgen")
POOLINGS = ("avg", "max", "flatten")
DEFAULT_HEAD_UNITS = (256, 256)
PAPER_MARGINAL_COMPONENTS = 240
_LOGITS, _BOTTLENECK = "logits", "bottleneck"


@keras.saving.register_keras_serializable(package="keras_ceb")
class CEBClassifier(weighted.WeightedAddedLosses, keras.Model):
    """A CEB, VIB or Determ image classifier on any backbone; `predict(images)` gives logits.

    Three heads:

    - `"consistent"` (default): CEB and Determ end in a `BackwardEncoder` whose logits are the
      consistent classifier `softmax_y log b(z|y)`; VIB ends in a `Dense` layer.
    - `"mlp"` (the paper's Fashion-MNIST model, appendix A.1): a two-layer ELU MLP c(y|z);
      under CEB the labels feed b(z|y) in `compute_loss`.
    - `"catgen"` (the paper's CIFAR-10 model, sec. 3.1.6): a `CatGenHead` adds bidirectional
      CatGen CEB over the minibatch in `compute_loss`; the logits are its consistent
      classifier. Compiled with no loss (the head's objective is the whole loss).

    Sample and class weights weight every term. `evaluate` reports the loss and every
    estimate `fit` logs (a head that needs the labels recomputes the bottleneck at the mean
    there: one more backbone pass in `evaluate`, none in `fit` or `predict`).

    Args:
        backbone: `"small_convnet"`, `"wide_resnet"`, or any `keras.Model` mapping images to
            features: a vector `[batch, F]` (a `keras.applications` model with
            `include_top=False, pooling="avg"`, your own) or a feature map `[batch, H, W, C]` or
            `[batch, tokens, C]` (a KerasHub image backbone), which `pooling` reduces.
        num_classes: Number of classes (>= 2).
        latent_dim: Dimension of z.
        objective: `"ceb"`, `"vib"` or `"determ"`.
        head: `"consistent"`, `"mlp"` or `"catgen"`.
        rho: `rho = log gamma` (0: the Minimum Necessary Information point).
        marginal: Mixture components of m(z) (the paper's 240), or `None`.
        covariance: `"full"` or `"diag"`.
        input_shape: Image shape for a named backbone (a `keras.Model` brings its own).
        head_units: Widths of the MLP head's ELU layers.
        seed: Seed of the sampling.
        warmup_rho, warmup_steps: The encoder's rho warm-up (see `StochasticEncoder`).
        backbone_kwargs: Arguments of a named backbone's builder, e.g. `{"depth": 16}`.
        pooling: How a feature map becomes a vector: `"avg"` (global average, as KerasHub's
            `ImageClassifier`), `"max"` or `"flatten"`. Unused for vector features.
        **kwargs: `keras.Model` arguments (`name`, `dtype`).

    Examples:

        >>> model = keras_ceb.models.CEBClassifier(
        ...     backbone=keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
        ...                                keras.layers.Dense(32, "relu")]),
        ...     head="mlp", warmup_steps=0)
        >>> model.compile(keras.optimizers.Adam(1e-3))
        >>> x, y = np.random.rand(64, 28, 28, 1).astype("float32"), np.arange(64) % 10
        >>> history = model.fit(x, y, epochs=1, verbose=0)
        >>> model.predict(x, verbose=0).shape
        (64, 10)
    """

    def __init__(
        self,
        backbone="small_convnet",
        num_classes=10,
        latent_dim=4,
        objective="ceb",
        head="consistent",
        rho=0.0,
        marginal=PAPER_MARGINAL_COMPONENTS,
        covariance="full",
        input_shape=(28, 28, 1),
        head_units=DEFAULT_HEAD_UNITS,
        seed=None,
        warmup_rho=DEFAULT_WARMUP_RHO,
        warmup_steps=DEFAULT_WARMUP_STEPS,
        backbone_kwargs=None,
        pooling="avg",
        **kwargs,
    ):
        validation.one_of(objective, validation.OBJECTIVES, "objective")
        validation.one_of(head, HEADS, "head")
        validation.one_of(pooling, POOLINGS, "pooling")
        num_classes = validation.positive_int(num_classes, "num_classes")
        if num_classes < 2:
            raise ValueError(
                f"`num_classes` must be at least 2. Received: num_classes={num_classes}"
            )
        if marginal is not None:
            marginal = validation.positive_int(marginal, "marginal")
        head_units = check_head_units(head_units)
        kwargs.setdefault("name", f"{objective}_classifier")
        super().__init__(**kwargs)
        self.objective, self.head_kind, self.num_classes = objective, head, num_classes
        self.latent_dim, self.marginal_components = latent_dim, marginal
        self.covariance, self.head_units, self.seed = covariance, head_units, seed
        self.backbone_kwargs = dict(backbone_kwargs or {})
        if isinstance(backbone, str):
            backbone = backbones.get_backbone(
                backbone, tuple(input_shape), name="backbone", **self.backbone_kwargs
            )
        elif not isinstance(backbone, keras.Model):
            raise ValueError(
                "`backbone` must be a backbone name or a `keras.Model`. "
                f"Received: backbone={backbone!r}"
            )
        self.backbone, self.pooling_kind = backbone, pooling
        self.pooling = feature_pooling(backbone, pooling)
        self.encoder = StochasticEncoder(
            latent_dim,
            covariance=covariance,
            objective=objective,
            rho=rho,
            marginal=(
                None
                if marginal is None
                else MixtureMarginal(marginal, covariance=covariance, name="marginal")
            ),
            seed=seed,
            warmup_rho=warmup_rho,
            warmup_steps=warmup_steps,
            name="encoder",
        )
        self.backward = None
        if head == "catgen":
            self.head = CatGenHead(num_classes, covariance=covariance, seed=seed, name="head")
        elif head == "mlp":
            self.head = mlp_head(num_classes, head_units)
            if objective == "ceb":
                self.backward = BackwardEncoder(
                    num_classes, covariance=covariance, output_mode="bottleneck", name="backward"
                )
        elif objective == "vib":
            self.head = keras.layers.Dense(num_classes, name="head")
        else:
            self.head = BackwardEncoder(num_classes, covariance=covariance, name="head")
        self.build((None, *self.backbone.input_shape[1:]))

    @property
    def needs_labels(self):
        """Whether a term of the objective needs the labels (added in `compute_loss`)."""
        return self.head_kind == "catgen" or self.backward is not None

    def build(self, input_shape):
        images = keras.KerasTensor(tuple(input_shape))
        encoded = self.encoder(self.features(images))
        labels = keras.KerasTensor((input_shape[0],), dtype="int32")
        if self.backward is not None:
            self.backward(encoded, labels=labels)
        if self.head_kind == "catgen":
            self.head([encoded, labels])
        else:
            self.head(_z(encoded) if self.head_kind == "mlp" else encoded)
        self.built = True

    def features(self, images, training=False):
        """The backbone's features of `images`, pooled to `[batch, F]`: the encoder's input."""
        features = self.backbone(images, training=training)
        return features if self.pooling is None else self.pooling(features)

    @property
    def feature_extractor(self):
        """A `keras.Model` from the images to `features` (the backbone itself for vectors)."""
        if self.pooling is None:
            return self.backbone
        return keras.Model(
            self.backbone.inputs,
            self.pooling(self.backbone.outputs[0]),
            name=f"{self.backbone.name}_pooled",
        )

    def call(self, images, training=None):
        encoded = self.encoder(self.features(images, training=training), training=training)
        logits = self._logits(encoded, training)
        if training and self.needs_labels:
            return {_LOGITS: logits, _BOTTLENECK: encoded}
        return logits

    def _logits(self, encoded, training):
        if self.head_kind == "catgen":
            return self.head.class_logits(encoded)
        if self.head_kind == "mlp":
            return self.head(_z(encoded), training=training)
        return self.head(encoded, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        logits, encoded = _split(y_pred)
        if self.loss is None and not self.losses:
            total = ops.zeros((), "float32")
        else:
            total = super().compute_loss(x, y, logits, sample_weight, training=training)
        if not self.needs_labels or y is None:
            return total
        if encoded is None:  # `evaluate`: the labelled estimates (and CatGen's loss) need z.
            if self.head_kind != "catgen" and not self.backward.running_means.records_held_out(
                training
            ):
                return total
            encoded = self._bottleneck_at_the_mean(x)
        if self.head_kind == "catgen":
            _, term = self.head.objective([encoded, y], training=training)
        else:
            term = self.backward.residual_loss(encoded, y, training=training)
            if term is None:
                return total
        share = losses.batch_share(ops.cast(term, "float32"))
        labelled = ops.sum(share) + weighted.weighted_added_losses([share], sample_weight)
        return total + ops.cast(weighted.as_added_loss(self, labelled), total.dtype)

    def _bottleneck_at_the_mean(self, images):
        """The bottleneck `call` computes at inference, recording no estimate."""
        return self.encoder.bottleneck_at_mean(self.features(images, training=False))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, _split(y_pred)[0], sample_weight)

    def compile(self, optimizer="adam", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile` with this head's defaults.

        `loss="auto"`: `SparseCategoricalCrossentropy(from_logits=True)` on the logits (none
        for the CatGen head, whose objective is the loss); `metrics="auto"`: accuracy and the
        information metrics that suit the head (`classifier_metrics`).
        """
        if loss == "auto":
            loss = (
                None
                if self.head_kind == "catgen"
                else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            )
        if metrics == "auto":
            metrics = classifier_metrics(self.objective, self.head_kind)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Restores the compiled loss, metrics and optimizer of a saved model (`load_model`)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def rate(self, images, estimator="mean", num_samples=1):
        """The per-example rate `log e(z|x) - log m(z)` of `images` (`StochasticEncoder.rate`)."""
        return self.encoder.rate(
            self.features(images, training=False), estimator=estimator, num_samples=num_samples
        )

    @property
    def input_shape(self):
        """`(None, *image shape)`: the images the model takes."""
        return (None, *self.backbone.input_shape[1:])

    @property
    def output_shape(self):
        """`(None, num_classes)`: the logits."""
        return (None, self.num_classes)

    @property
    def image_input(self):
        """The symbolic images the backbone takes."""
        return self.backbone.inputs[0]

    def get_config(self):
        encoder = self.encoder
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "latent_dim": self.latent_dim,
            "objective": self.objective,
            "head": self.head_kind,
            "rho": encoder.rho,
            "marginal": self.marginal_components,
            "covariance": self.covariance,
            "head_units": list(self.head_units),
            "seed": self.seed,
            "warmup_rho": encoder.warmup_rho,
            "warmup_steps": encoder.warmup_steps,
            "pooling": self.pooling_kind,
        }

    @classmethod
    def from_functional(cls, model):
        """The `CEBClassifier` of a functional model built by keras_ceb 0.x's `build_classifier`
        (layers `"encoder"`, `"head"`, `"backward"` and a backbone model), with its weights.

        Those models took `{"images", "labels"}` for the MLP and CatGen heads;
        `keras_ceb.training.load_classifier` converts them when it loads them.

        Examples:

            ```python
            old = keras.models.load_model("old.keras", safe_mode=True)  # {"images", "labels"}
            model = keras_ceb.models.CEBClassifier.from_functional(old)
            model.predict(images)
            ```
        """
        encoder, head = model.get_layer("encoder"), model.get_layer("head")
        backbone = next(
            layer for layer in model.layers if isinstance(layer, keras.Model) and layer is not head
        )
        if isinstance(head, CatGenHead):
            kind, num_classes, units = "catgen", head.num_classes, DEFAULT_HEAD_UNITS
        elif isinstance(head, keras.Sequential):
            kind, num_classes = "mlp", head.layers[-1].units
            units = tuple(layer.units for layer in head.layers[:-1])
        else:
            kind, units = "consistent", DEFAULT_HEAD_UNITS
            num_classes = getattr(head, "num_classes", None) or head.units
        marginal = encoder.marginal.num_components if encoder.marginal is not None else None
        converted = cls(
            backbone=backbone,
            num_classes=num_classes,
            latent_dim=encoder.latent_dim,
            objective=encoder.objective,
            head=kind,
            rho=encoder.rho,
            marginal=marginal,
            covariance=encoder.covariance,
            head_units=units,
            seed=encoder.seed,
            warmup_rho=encoder.warmup_rho,
            warmup_steps=encoder.warmup_steps,
            name=model.name,
        )
        converted.encoder.set_weights(encoder.get_weights())
        converted.head.set_weights(head.get_weights())
        if converted.backward is not None:
            converted.backward.set_weights(model.get_layer("backward").get_weights())
        return converted

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def feature_pooling(backbone, pooling):
    """The layer that reduces `backbone`'s feature map to a vector, or `None` for vectors."""
    rank = len(backbone.outputs[0].shape) if getattr(backbone, "outputs", None) else None
    if rank is None:
        rank = len(backbone.compute_output_shape(backbone.input_shape))
    if rank == 2:
        return None
    if rank not in (3, 4):
        raise ValueError(
            "`backbone` must map images to features `[batch, F]`, `[batch, tokens, C]` or "
            f"`[batch, H, W, C]`. Received: a backbone with outputs of rank {rank}"
        )
    if pooling == "flatten":
        return keras.layers.Flatten(name="pooling")
    layers = {
        ("avg", 3): keras.layers.GlobalAveragePooling1D,
        ("avg", 4): keras.layers.GlobalAveragePooling2D,
        ("max", 3): keras.layers.GlobalMaxPooling1D,
        ("max", 4): keras.layers.GlobalMaxPooling2D,
    }
    return layers[pooling, rank](name="pooling")


def mlp_head(num_classes, units=DEFAULT_HEAD_UNITS, name="head"):
    """The classifier c(y|z): ELU layers of `units`, then logits; a `keras.Sequential`.

    Examples:

        >>> tuple(mlp_head(10)(keras.ops.zeros((2, 4))).shape)
        (2, 10)
    """
    layers = [
        keras.layers.Dense(u, activation="elu", name=f"dense_{i}")
        for i, u in enumerate(check_head_units(units))
    ]
    return keras.Sequential(layers + [keras.layers.Dense(num_classes, name="logits")], name=name)


def check_head_units(units):
    units = tuple(units) if isinstance(units, (list, tuple)) else units
    if (
        not isinstance(units, tuple)
        or not units
        or not all(isinstance(u, int) and not isinstance(u, bool) and u >= 1 for u in units)
    ):
        raise ValueError(
            "`head_units` must be a non-empty sequence of positive integers. "
            f"Received: head_units={units!r}"
        )
    return units


def classifier_metrics(objective, head="consistent"):
    """The compiled metrics for a classifier of `objective` and `head`.

    `["accuracy", rex, i_yz]` for CEB with the consistent head (ReX is read off its logits),
    `["accuracy"]` with the CatGen head (the head logs `rex` and its `i_yz` bound itself),
    `["accuracy", i_yz]` otherwise (with the MLP head, b(z|y) logs `rex` itself). The
    encoder logs `i_xz_lower`, `rate` and `rho`.

    Examples:

        >>> [getattr(m, "name", m) for m in classifier_metrics("vib")]
        ['accuracy', 'i_yz']
    """
    validation.one_of(objective, validation.OBJECTIVES, "objective")
    validation.one_of(head, HEADS, "head")
    if head == "catgen":
        return ["accuracy"]
    consistent = objective == "ceb" and head == "consistent"
    return ["accuracy", *metrics_lib.information_metrics(consistent_classifier=consistent)]


def _z(encoded):
    return encoded[bottleneck_lib.Z] if isinstance(encoded, dict) else encoded


def _split(y_pred):
    if isinstance(y_pred, dict) and _LOGITS in y_pred:
        return y_pred[_LOGITS], y_pred[_BOTTLENECK]
    return y_pred, None
