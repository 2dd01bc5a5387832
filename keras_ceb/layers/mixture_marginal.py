"""`MixtureMarginal`: a learned marginal m(z), a mixture of K Gaussians."""

import keras
from keras import ops

from keras_ceb import validation
from keras_ceb.ops import gaussian
from keras_ceb.ops import mixture


@keras.saving.register_keras_serializable(package="keras_ceb")
class MixtureMarginal(keras.layers.Layer):
    """Learned marginal `m(z)`: a mixture of `num_components` Gaussians.

    Called on `z` (`[batch, D]`), returns `log m(z)` (`[batch]`, float32: a density is
    information math, computed in float32 under any dtype policy). The paper uses K=240
    full-covariance components for D=4. Give it to a `StochasticEncoder` as `marginal=` to get
    the rate `R = log e(z|x) - log m(z)` (VIB's regularizer, and the OoD score).

    Args:
        num_components: Number of mixture components K (>= 1).
        covariance: `"full"` (lower-triangular scales) or `"diag"`.
        min_scale: Lower bound on the scales' diagonal.
        loc_initializer: Initializer of the component means (K, D); default N(0, 1).
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        z: Points `[batch, D]`.

    Returns:
        `log m(z)`, shape `[batch]`.

    Examples:

        >>> marginal = keras_ceb.MixtureMarginal(240)
        >>> tuple(marginal(keras.random.normal((8, 4))).shape)
        (8,)
    """

    def __init__(
        self,
        num_components,
        covariance="full",
        min_scale=1e-5,
        loc_initializer=None,
        **kwargs,
    ):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.num_components = validation.positive_int(num_components, "num_components")
        self.covariance = gaussian.check_covariance(covariance)
        self.min_scale = validation.positive_float(min_scale, "min_scale")
        self.loc_initializer = keras.initializers.get(
            loc_initializer or keras.initializers.RandomNormal(stddev=1.0)
        )

    def build(self, input_shape):
        validation.check_rank(input_shape, 2, "MixtureMarginal", "input_shape")
        dim = input_shape[-1]
        k = self.num_components
        self.logits = self.add_weight(
            shape=(k,), initializer="zeros", name="logits", autocast=False
        )
        self.loc = self.add_weight(
            shape=(k, dim), initializer=self.loc_initializer, name="loc", autocast=False
        )
        self.scale_params = self.add_weight(
            shape=(k, gaussian.num_scale_params(dim, self.covariance)),
            initializer="zeros",
            name="scale_params",
            autocast=False,
        )

    def components(self):
        """The K components in float32, a `Gaussian` with `loc` `[K, D]`."""
        loc = ops.cast(self.loc, "float32")
        scale = gaussian.scale_from_params(
            ops.cast(self.scale_params, "float32"), loc.shape[-1], self.covariance, self.min_scale
        )
        return gaussian.Gaussian(loc, scale)

    def call(self, z):
        return mixture.mixture_log_prob(
            ops.cast(z, "float32"), ops.cast(self.logits, "float32"), self.components()
        )

    def compute_output_spec(self, z):
        return keras.KerasTensor((z.shape[0],), dtype="float32")

    def get_config(self):
        return {
            **super().get_config(),
            "num_components": self.num_components,
            "covariance": self.covariance,
            "min_scale": self.min_scale,
            "loc_initializer": keras.initializers.serialize(self.loc_initializer),
        }
