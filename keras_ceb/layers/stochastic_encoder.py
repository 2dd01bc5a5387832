"""`StochasticEncoder`: the forward encoder e(z|x) of CEB and VIB."""

import keras
from keras import ops

from keras_ceb.layers import running_mean
from keras_ceb import validation
from keras_ceb.layers.bottleneck_sample import BottleneckSample
from keras_ceb.layers.bottleneck_sample import attach_sample
from keras_ceb.layers.mixture_marginal import MixtureMarginal
from keras_ceb.ops import gaussian
from keras_ceb.ops import information

OBJECTIVES = ("ceb", "vib", "determ")
INFERENCE_MODES = ("mean", "sample")


@keras.saving.register_keras_serializable(package="keras_ceb")
class StochasticEncoder(keras.layers.Layer):
    """Gaussian encoder `e(z|x) = N(mu(x), L(x) L(x)^T)`; returns a sample `z`.

    Two Dense maps take features to the mean and to the scale (lower-triangular with a softplus
    diagonal, or diagonal; its kernel starts at zero, so every input starts at scale ~1). `z = mu + L eps` is reparameterized, so the layer trains by
    backpropagation. The layer also holds the model's single knob `rho` and the objective:

    - `"ceb"`: the Conditional Entropy Bottleneck. The encoder itself adds no objective term;
      the `BackwardEncoder` (or `CatGenHead`) that consumes `z` adds the residual-information
      term `exp(-rho) * (log e(z|x) - log b(z|y))`, reading `rho` from this layer. An optional
      `marginal` is trained on `stop_gradient(z)` only, so that the rate can be reported and
      used for OoD detection without changing the CEB objective.
    - `"vib"`: the Variational Information Bottleneck. Adds `R / (exp(rho) + 1)` with the rate
      `R = log e(z|x) - log m(z)`, against `marginal` (a `MixtureMarginal`, or a fixed standard
      normal when `marginal=None`). Pair it with any classifier head and a cross-entropy loss.
    - `"determ"`: the same network with `z = mu(x)` and no information term, for baselines.

    `rho` is a non-trainable variable: `keras_ceb.set_rho(model, value)` or a
    `keras_ceb.callbacks.RhoScheduler` changes it during `fit` without retracing. `rho = 0`
    targets the Minimum Necessary Information point; `rho > 0` keeps more information.

    At inference (`training=False`) the layer returns the mean `mu(x)` when
    `inference="mean"` (the default: deterministic predictions, reproducible after saving), or
    a fresh sample when `inference="sample"`.

    Logged metrics: `i_xz_lower` (minibatch lower bound on I(X;Z), at most log(batch size)) and,
    with a marginal or under VIB, `rate` (the batch mean of R). They are estimated at a sample
    of `e(z|x)` in training and evaluation alike.

    Args:
        latent_dim: Dimension D of z (>= 1). The paper uses 4 on Fashion-MNIST.
        covariance: `"full"` or `"diag"`.
        objective: `"ceb"`, `"vib"` or `"determ"`.
        rho: Initial rho (finite). `gamma = exp(rho)` for CEB; `beta_IB = exp(rho) + 1` for VIB.
        marginal: `None`, a number of mixture components, or a `MixtureMarginal`.
        inference: `"mean"` or `"sample"`, what to return when `training=False`.
        min_scale: Lower bound on the scale diagonal.
        kernel_initializer: Initializer of the Dense map to the mean.
        seed: Integer seed of the layer's `SeedGenerator`.
        metric_prefix: Prefix of the logged metric names, to tell several encoders apart
            (e.g. `"y_"` for the label encoder of a bidirectional model).
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Features `[batch, features]`.
        training: Python boolean; `True` samples z.

    Returns:
        z, `[batch, latent_dim]`.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(64, "relu"),
    ...     keras_ceb.StochasticEncoder(4, rho=0.0),
    ...     keras_ceb.BackwardEncoder(10),  # consistent-classifier logits
    ... ])
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    References:
        Fischer, "The Conditional Entropy Bottleneck", Entropy 22(9), 999, 2020.
        Alemi et al., "Deep Variational Information Bottleneck", ICLR 2017.
    """

    def __init__(
        self,
        latent_dim,
        covariance="full",
        objective="ceb",
        rho=0.0,
        marginal=None,
        inference="mean",
        min_scale=1e-5,
        kernel_initializer="glorot_uniform",
        seed=None,
        metric_prefix="",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(metric_prefix, str):
            raise ValueError(f"`metric_prefix` must be a string. Received: metric_prefix={metric_prefix!r}")
        self.metric_prefix = metric_prefix
        self.latent_dim = validation.positive_int(latent_dim, "latent_dim")
        self.covariance = gaussian.check_covariance(covariance)
        self.objective = validation.one_of(objective, OBJECTIVES, "objective")
        initial_rho = validation.finite_float(rho, "rho")
        self.inference = validation.one_of(inference, INFERENCE_MODES, "inference")
        self.min_scale = validation.positive_float(min_scale, "min_scale")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed
        self.marginal = _as_marginal(marginal)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.rho_variable = keras.Variable(
            initial_rho, dtype="float32", trainable=False, name="rho"
        )

    @property
    def rho(self):
        """The current rho, as a Python float."""
        return float(ops.convert_to_numpy(self.rho_variable))

    def set_rho(self, value):
        """Sets rho (a finite number); takes effect in the next step without retracing."""
        self.rho_variable.assign(validation.finite_float(value, "rho"))

    def build(self, input_shape):
        validation.check_rank(input_shape, 2, "StochasticEncoder")
        if input_shape[-1] is None:
            raise ValueError(
                "StochasticEncoder needs a known feature dimension. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.loc_projection = keras.layers.Dense(
            self.latent_dim, kernel_initializer=self.kernel_initializer, name="loc_projection",
            dtype=self.dtype_policy,
        )
        # Zero kernel: every input starts at scale ~1, however large its features are.
        self.scale_projection = keras.layers.Dense(
            gaussian.num_scale_params(self.latent_dim, self.covariance),
            kernel_initializer="zeros", name="scale_projection", dtype=self.dtype_policy,
        )
        self.loc_projection.build(input_shape)
        self.scale_projection.build(input_shape)
        if self.marginal is not None and not self.marginal.built:
            self.marginal.build((None, self.latent_dim))
        if self.objective != "determ":
            self.i_xz_total, self.i_xz_count, self.i_xz_metric = running_mean.add_running_mean(
                self, f"{self.metric_prefix}i_xz_lower"
            )
            if self.marginal is not None or self.objective == "vib":
                self.rate_total, self.rate_count, self.rate_metric = (
                    running_mean.add_running_mean(self, f"{self.metric_prefix}rate")
                )

    def distribution(self, inputs):
        """`(loc, scale)` of `e(z|x)` for `inputs`: `scale` is `scale_tril` or `scale_diag`."""
        if not self.built:
            self.build(tuple(inputs.shape))
        loc = self.loc_projection(inputs)
        scale = gaussian.scale_from_params(
            self.scale_projection(inputs), self.latent_dim, self.covariance, self.min_scale
        )
        return loc, scale

    def log_marginal(self, z):
        """`log m(z)`: the mixture marginal, or a standard normal under VIB without one."""
        if self.marginal is not None:
            return self.marginal(z)
        return gaussian.log_prob(z, ops.zeros_like(z), scale_diag=ops.ones_like(z))

    def rate(self, inputs, training=False):
        """Per-example rate `R = log e(z|x) - log m(z)` at one sample `z ~ e(z|x)`.

        The out-of-distribution score of the paper: in-distribution inputs have a low rate.
        Needs a marginal (or `objective="vib"`, whose default marginal is a standard normal).
        """
        if self.marginal is None and self.objective != "vib":
            raise ValueError(
                "The rate needs a marginal m(z): build the encoder with `marginal=` "
                f"(e.g. marginal=240). Received: marginal=None, objective={self.objective!r}"
            )
        loc, scale = self.distribution(inputs)
        z, log_e = gaussian.sample_and_log_prob(
            loc, seed=self.seed_generator, **gaussian.scale_kwargs(scale, self.covariance))
        return information.rate(log_e, self.log_marginal(z))

    def _check_ceb_partner(self):
        """Under CEB, a graph in which no BackwardEncoder or CatGenHead reads z is an error.

        Such a model would train a noisy network with no CEB term at all. Checked from the
        layer graph of Sequential / functional models; a layer called on its own is not.
        """
        consumers = [node.operation for node in getattr(self, "_outbound_nodes", [])]
        if consumers and not any(getattr(c, "consumes_bottleneck", False) for c in consumers):
            raise ValueError(
                "StochasticEncoder(objective='ceb') must feed a BackwardEncoder or CatGenHead "
                "directly: they add the CEB term. For VIB use objective='vib'; for a plain "
                "network use objective='determ'. Received: z consumed by "
                f"{[type(c).__name__ for c in consumers]}"
            )

    def call(self, inputs, training=False):
        if training and self.objective == "ceb":
            self._check_ceb_partner()
        loc, scale = self.distribution(inputs)
        kw = gaussian.scale_kwargs(scale, self.covariance)
        if self.objective == "determ":
            z = loc
            if self.marginal is not None:
                # Trained on the (stopped) means so that log m(mu) is available; adds zero
                # to the loss value.
                self.add_loss(_gradient_only(-ops.mean(self.marginal(ops.stop_gradient(z)))))
            log_e = gaussian.log_prob(z, loc, **kw)
            return attach_sample(z, BottleneckSample(self, loc, scale, self.covariance, log_e))

        z_sample, log_e_sample = gaussian.sample_and_log_prob(loc, seed=self.seed_generator, **kw)
        if training or self.inference == "sample":
            z, log_e = z_sample, log_e_sample
        else:
            # At the mean eps = 0, so the log-density needs no solve.
            z = loc
            log_e = -gaussian.log_det_scale(**kw) - 0.5 * self.latent_dim * gaussian.LOG_2PI

        pairwise = gaussian.pairwise_log_prob(ops.stop_gradient(z_sample), loc, **kw)
        # The diagonal is log e(z_i|x_i), known exactly from the sampling noise.
        on_diagonal = ops.eye(ops.shape(pairwise)[0], dtype="bool")
        pairwise = ops.where(on_diagonal, ops.expand_dims(log_e_sample, -1), pairwise)
        running_mean.update_running_mean(
            self.i_xz_total, self.i_xz_count, information.minibatch_i_xz_lower_bound(pairwise)
        )
        if self.objective == "vib":
            rate = information.rate(log_e_sample, self.log_marginal(z_sample))
            self.add_loss(ops.mean(information.vib_weight(self.rho_variable) * rate))
            running_mean.update_running_mean(self.rate_total, self.rate_count, rate)
        elif self.marginal is not None:
            log_m = self.marginal(ops.stop_gradient(z_sample))
            self.add_loss(_gradient_only(-ops.mean(log_m)))
            running_mean.update_running_mean(
                self.rate_total, self.rate_count, log_e_sample - log_m
            )
        return attach_sample(z, BottleneckSample(self, loc, scale, self.covariance, log_e))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.latent_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "covariance": self.covariance,
            "objective": self.objective,
            "rho": self.rho,
            "marginal": (
                keras.saving.serialize_keras_object(self.marginal) if self.marginal else None
            ),
            "inference": self.inference,
            "min_scale": self.min_scale,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "seed": self.seed,
            "metric_prefix": self.metric_prefix,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("marginal"), dict):
            config["marginal"] = keras.saving.deserialize_keras_object(config["marginal"])
        return cls(**config)


def _as_marginal(marginal):
    if marginal is None or isinstance(marginal, MixtureMarginal):
        return marginal
    if isinstance(marginal, bool) or not isinstance(marginal, int):
        raise ValueError(
            "`marginal` must be None, a number of mixture components or a MixtureMarginal. "
            f"Received: marginal={marginal!r}"
        )
    return MixtureMarginal(validation.positive_int(marginal, "marginal"), name="marginal")


def _gradient_only(loss):
    """`loss - stop_gradient(loss)`: contributes `loss`'s gradient and zero to the loss value."""
    return loss - ops.stop_gradient(loss)
