"""A learned Gaussian per class, `b(z|k) = N(mu_k, L_k L_k^T)`: the weights and the distribution.

`ClassGaussians` is the base of the layers that hold one (`BackwardEncoder`, `VCEBHead`,
`CatGenHead` with class labels): a one-layer map from the one-hot label to the Gaussian's
parameters, with its arguments, weights, saving and config written once.
"""

import keras
from keras import ops

from keras_ceb import validation
from keras_ceb.layers import running_mean
from keras_ceb.ops import gaussian
from keras_ceb.ops import label_check


class ClassGaussians(keras.layers.Layer):
    """Base layer with a Gaussian b(z|k) per class: `num_classes`, `covariance`, `min_scale`
    and `loc_initializer`, the weights (`build_class_gaussians`), `class_distribution`,
    `class_log_prob`, saving and config. `num_classes=None` (allowed where
    `optional_classes`) holds no class Gaussians."""

    optional_classes = False

    def __init__(
        self, num_classes, covariance="full", min_scale=1e-5, loc_initializer=None, **kwargs
    ):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if num_classes is None and self.optional_classes:
            self.num_classes = None
        else:
            self.num_classes = validation.positive_int(num_classes, "num_classes")
            if self.num_classes < 2:
                raise ValueError(
                    f"`num_classes` must be at least 2. Received: num_classes={num_classes}"
                )
        self.covariance = gaussian.check_covariance(covariance)
        self.min_scale = validation.positive_float(min_scale, "min_scale")
        self.loc_initializer = default_loc_initializer(loc_initializer)

    def build_class_gaussians(self, latent_dim):
        """Creates the class means `[C, D]` and scale parameters."""
        self.class_loc, self.class_scale_params = add_class_weights(
            self, self.num_classes, latent_dim, self.covariance, self.loc_initializer
        )

    def class_distribution(self):
        """The C class Gaussians b(z|k), a float32 `Gaussian` with `loc` `[C, D]`."""
        return class_distribution(
            self.class_loc, self.class_scale_params, self.covariance, self.min_scale
        )

    def class_log_prob(self, z):
        """`log b(z|k)` for every class, `[batch, C]` (float32)."""
        return gaussian.pairwise_log_prob(ops.cast(z, "float32"), self.class_distribution())

    def _class_weights(self):
        if self.num_classes is None:
            return []
        return [self.class_loc, self.class_scale_params]

    def save_own_variables(self, store):
        running_mean.save_weights(store, self._class_weights())

    def load_own_variables(self, store):
        running_mean.load_weights(self, store, self._class_weights())

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "covariance": self.covariance,
            "min_scale": self.min_scale,
            "loc_initializer": keras.initializers.serialize(self.loc_initializer),
        }


def add_class_weights(layer, num_classes, dim, covariance, loc_initializer):
    """Creates the class means `[C, D]` and scale parameters on `layer`; returns both."""
    loc = layer.add_weight(
        shape=(num_classes, dim), initializer=loc_initializer, name="class_loc", autocast=False
    )
    scale_params = layer.add_weight(
        shape=(num_classes, gaussian.num_scale_params(dim, covariance)),
        initializer="zeros",
        name="class_scale_params",
        autocast=False,
    )
    return loc, scale_params


def class_distribution(loc, scale_params, covariance, min_scale):
    """The C class Gaussians in float32, a `Gaussian` with `loc` `[C, D]`."""
    loc = ops.cast(loc, "float32")
    scale = gaussian.scale_from_params(
        ops.cast(scale_params, "float32"), loc.shape[-1], covariance, min_scale
    )
    return gaussian.Gaussian(loc, scale)


def label_ids(labels, num_classes, layer_name):
    """Integer class ids `[B]` from integer labels `[B]`, `[B, 1]` or one-hot `[B, C]`.

    Float class ids are refused (a one-hot float matrix is fine), and ids outside `[0, C)`
    are an error, at the first batch inside a compiled step.
    """
    labels = ops.convert_to_tensor(labels)
    one_hot = len(labels.shape) == 2 and labels.shape[-1] == num_classes and num_classes > 1
    if one_hot:
        return ops.cast(ops.argmax(labels, axis=-1), "int32")
    if not keras.backend.is_int_dtype(labels.dtype):
        raise ValueError(
            f"{layer_name}: `labels` must be integer class ids (or one-hot of width "
            f"{num_classes}). Received: labels of dtype "
            f"{keras.backend.standardize_dtype(labels.dtype)}"
        )
    ids = ops.reshape(ops.cast(labels, "int32"), (-1,))
    return label_check.check_label_ids(ids, num_classes, layer_name)


def check_labels_shape(labels_shape, num_classes, layer_name):
    """Labels are `(batch,)`, `(batch, 1)` or one-hot `(batch, num_classes)`."""
    rank = len(labels_shape)
    if rank == 1 or (rank == 2 and labels_shape[-1] in (1, None, num_classes)):
        return
    raise ValueError(
        f"{layer_name}: `labels` must be integer class ids of shape (batch,) or one-hot of "
        f"shape (batch, {num_classes}). Received: labels_shape={tuple(labels_shape)}"
    )


def default_loc_initializer(loc_initializer):
    """N(0, 1) class means by default: spread out so that classes differ from the first step."""
    return keras.initializers.get(loc_initializer or keras.initializers.RandomNormal(stddev=1.0))
