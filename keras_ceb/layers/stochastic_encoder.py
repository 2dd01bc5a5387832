"""`StochasticEncoder`: the forward encoder e(z|x) of CEB and VIB."""

import keras
from keras import ops

from keras_ceb import losses
from keras_ceb import validation
from keras_ceb.layers import bottleneck
from keras_ceb.layers import cross_replica
from keras_ceb.layers import partial_remat
from keras_ceb.layers import running_mean
from keras_ceb.layers.mixture_marginal import MixtureMarginal
from keras_ceb.ops import gaussian
from keras_ceb.ops import information

INFERENCE_MODES = ("mean", "sample")
RATE_ESTIMATORS = ("mean", "sample")
# The default rho warm-up: the objective starts at rho + 3 and reaches rho after 2,000 optimizer
# steps (benchmarks/keras_native.py measures it).
DEFAULT_WARMUP_RHO = 3.0
DEFAULT_WARMUP_STEPS = 2000
# The seed of the draws of z behind `evaluate`'s estimates (stateless: the same per batch shape).
HELD_OUT_SEED = 1234


# An epoch whose mean I(X;Z) lower bound is below this many nats warns (EncoderCollapseWarning).
COLLAPSE_NATS = 0.01


class EncoderCollapseWarning(UserWarning):
    """A `StochasticEncoder`'s I(X;Z) estimate fell to about 0: z ignores the input."""


@keras.saving.register_keras_serializable(package="keras_ceb")
class StochasticEncoder(partial_remat.PartialRemat, keras.layers.Layer):
    """Gaussian encoder `e(z|x) = N(mu(x), L(x) L(x)^T)` of CEB and VIB.

    Two Dense maps take features to the mean and to the scale (lower-triangular with a
    softplus diagonal, or diagonal; its kernel starts at zero, so every input starts at scale
    ~1). `z = mu + L eps` is reparameterized. The layer holds the model's one knob `rho` and
    the objective, which decides what it returns:

    - `"ceb"` (the Conditional Entropy Bottleneck): the **bottleneck dict**
      `{"z", "loc", "scale", "log_prob", "rho"}` (see `keras_ceb.layers.bottleneck`), for a
      `BackwardEncoder` or `CatGenHead`, which adds the CEB term; other layers take
      `bottleneck["z"]`. An optional `marginal` m(z) is trained on `stop_gradient(z)` so that
      the rate can be reported and used for OoD detection without changing the objective.
    - `"vib"`: the sample `z`; the layer adds `R / (exp(rho) + 1)` with the rate
      `R = log e(z|x) - log m(z)` (m a `MixtureMarginal`, or a standard normal). Any head.
    - `"determ"`: the mean `z = mu(x)` and no information term, for baselines.

    The objective's terms and the training estimates are computed only when `training=True`.
    At inference the layer returns the mean (`inference="mean"`, the default: deterministic
    and cheap) or a sample (`inference="sample"`), computes no estimate and changes no state
    but its seed. The information math runs in float32 under any dtype policy: the bottleneck
    dict is float32 (layers that take `bottleneck["z"]` autocast it), and the `z` of VIB and
    Determ follows the layer's compute dtype.

    `rho` is a non-trainable variable: `keras_ceb.set_rho(model, value)` or a
    `keras_ceb.callbacks.RhoScheduler` changes it during `fit` without retracing.

    Logged by `fit` and `evaluate`: `rho` (the epoch's mean rho of the objective, warm-up
    included), `i_xz_lower` (minibatch lower bound on I(X;Z), at most log(batch size), over
    the global batch under a distribution: `keras_ceb.layers.cross_replica`) and, with a
    marginal or under VIB, `rate` (the batch mean of R), both at samples. `predict` computes
    none of them.

    The objective warms up by default: it starts at `rho + warmup_rho` and comes down
    linearly to `rho` over the first `warmup_steps` training steps (2,000), after which `rho`
    is exactly the knob; without it CEB at rho 0 compresses before the backbone has learned
    anything (docs/guide/layers.md, "The warm-up"). The step count is saved with the model.

    Args:
        latent_dim: Dimension D of z (>= 1). The paper uses 4 on Fashion-MNIST.
        covariance: `"full"` or `"diag"`.
        objective: `"ceb"`, `"vib"` or `"determ"`.
        rho: Initial rho (finite). `gamma = exp(rho)` for CEB; `beta_IB = exp(rho) + 1` for VIB.
        marginal: `None`, a number of mixture components, or a `MixtureMarginal`.
        inference: `"mean"` or `"sample"`, the z returned when `training=False`.
        min_scale: Lower bound on the scale diagonal.
        kernel_initializer: Initializer of the Dense map to the mean.
        seed: Integer seed of the layer's `SeedGenerator`.
        metric_prefix: Prefix of the logged metric names, to tell several encoders apart
            (e.g. `"y_"` for the second encoder of a bidirectional model).
        warmup_rho: How much higher rho starts (>= 0; 3 by default).
        warmup_steps: Training steps over which the warm-up comes down to `rho`; 0 turns the
            warm-up off.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Features `[batch, features]`.
        training: Python boolean; `True` samples z and adds the objective's terms.

    Returns:
        The bottleneck dict (CEB) or z `[batch, latent_dim]` (VIB, Determ).

    Examples:

        >>> model = keras.Sequential([
        ...     keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(64, "relu"),
        ...     keras_ceb.StochasticEncoder(4, rho=0.0),
        ...     keras_ceb.BackwardEncoder(10),  # consistent-classifier logits, adds the CEB term
        ... ])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> model.output_shape
        (None, 10)

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
        warmup_rho=DEFAULT_WARMUP_RHO,
        warmup_steps=DEFAULT_WARMUP_STEPS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(metric_prefix, str):
            raise ValueError(
                f"`metric_prefix` must be a string. Received: metric_prefix={metric_prefix!r}"
            )
        self.metric_prefix = metric_prefix
        self.latent_dim = validation.positive_int(latent_dim, "latent_dim")
        self.covariance = gaussian.check_covariance(covariance)
        self.objective = validation.one_of(objective, validation.OBJECTIVES, "objective")
        initial_rho = validation.finite_float(rho, "rho")
        self.inference = validation.one_of(inference, INFERENCE_MODES, "inference")
        self.min_scale = validation.positive_float(min_scale, "min_scale")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed
        self.marginal = _as_marginal(marginal)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.rho_variable = keras.Variable(
            initial_rho, dtype="float32", trainable=False, name="rho", autocast=False
        )
        self.warmup_rho = validation.non_negative_float(warmup_rho, "warmup_rho")
        self.warmup_steps = validation.non_negative_int(warmup_steps, "warmup_steps")
        # Training calls so far: the warm-up's clock, saved with the model so that a resumed
        # or reloaded model does not warm up again. Every replica counts its own calls (on
        # read, the mean): no cross-replica step inside the training step.
        self.warmup_step = keras.Variable(
            0.0,
            dtype="float32",
            trainable=False,
            name="warmup_step",
            autocast=False,
            synchronization="on_read",
            aggregation="mean",
        )
        self.running_means = None

    @property
    def rho(self):
        """The current rho, as a Python float."""
        return float(ops.convert_to_numpy(self.rho_variable))

    def set_rho(self, value):
        """Sets rho (finite in float32); takes effect in the next step without retracing."""
        self.rho_variable.assign(validation.finite_float(value, "rho"))

    def effective_rho(self):
        """The rho of the objective now: `rho` plus what is left of the warm-up (a tensor).

        `rho + warmup_rho * max(0, 1 - step / warmup_steps)`, with `step` the number of
        training calls so far: the encoder starts at `rho + warmup_rho` and reaches `rho`
        after `warmup_steps` optimizer steps, where it stays.
        """
        rho = ops.convert_to_tensor(self.rho_variable)
        if not self.warmup_steps or not self.warmup_rho:
            return rho
        left = ops.relu(1.0 - ops.convert_to_tensor(self.warmup_step) / self.warmup_steps)
        return rho + self.warmup_rho * left

    @property
    def warming_up(self):
        """Whether the warm-up is still adding to rho (a Python bool, read eagerly)."""
        step = float(ops.convert_to_numpy(self.warmup_step))
        return bool(self.warmup_steps and self.warmup_rho and step < self.warmup_steps)

    def set_warmup(self, warmup_rho, warmup_steps):
        """Restarts the warm-up with these values; call it before the model's first `fit`.

        The two values are constants of the compiled training step, so a model that has
        already been fitted keeps the old ones until Keras compiles a new step (`compile`).
        """
        self.warmup_rho = validation.non_negative_float(warmup_rho, "warmup_rho")
        self.warmup_steps = validation.non_negative_int(warmup_steps, "warmup_steps")
        self.warmup_step.assign(0.0)

    def finish_warmup(self):
        """Ends the warm-up: from the next step on the objective uses `rho` itself."""
        self.warmup_step.assign(float(self.warmup_steps))

    @property
    def has_rate(self):
        """Whether the encoder can report a rate: a marginal, or VIB's standard normal."""
        return self.objective != "determ" and (
            self.marginal is not None or self.objective == "vib"
        )

    def build(self, input_shape):
        validation.check_rank(input_shape, 2, "StochasticEncoder")
        if input_shape[-1] is None:
            raise ValueError(
                "StochasticEncoder needs a known feature dimension. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.loc_projection = keras.layers.Dense(
            self.latent_dim,
            kernel_initializer=self.kernel_initializer,
            name="loc_projection",
            dtype=self.dtype_policy,
        )
        self.loc_projection.build(input_shape)
        if self.objective != "determ":  # Determ's z is the mean: it has no scale to learn.
            # Zero kernel: every input starts at scale ~1, however large its features are.
            self.scale_projection = keras.layers.Dense(
                gaussian.num_scale_params(self.latent_dim, self.covariance),
                kernel_initializer="zeros",
                name="scale_projection",
                dtype=self.dtype_policy,
            )
            self.scale_projection.build(input_shape)
        if self.marginal is not None and not self.marginal.built:
            self.marginal.build((None, self.latent_dim))
        if self.objective != "determ":
            names = ["rho", "i_xz_lower"] + (["rate"] if self.has_rate else [])
            self.running_means = running_mean.RunningMeans(
                self, [self.metric_prefix + name for name in names]
            )
            i_xz = self.running_means.metrics[names.index("i_xz_lower")]
            # Not on PyTorch: its trainer reads the metrics after every batch, and a fresh
            # encoder's first batches read near 0 (docs/guide/known-problems.md).
            if keras.backend.backend() != "torch":
                i_xz.warn_below(
                    COLLAPSE_NATS,
                    f"StochasticEncoder {self.name!r} has collapsed: its I(X;Z) lower bound is "
                    "{value:.2g} nats (below "
                    f"{COLLAPSE_NATS:g}"
                    "), so z carries next to no "
                    "information about the input (uninformative features, e.g. a frozen "
                    "backbone, or rho too low for the model).",
                    EncoderCollapseWarning,
                )

    def distribution(self, inputs):
        """e(z|x) for `inputs`, a float32 `Gaussian` (`loc` `[B, D]`, `scale` per covariance)."""
        if not self.built:
            self.build(tuple(inputs.shape))
        if self.objective == "determ":
            raise ValueError(
                "A Determ encoder has no distribution: its z is the mean "
                f"`loc_projection(inputs)`. Received: objective={self.objective!r}"
            )
        loc = ops.cast(self.loc_projection(inputs), "float32")
        scale = gaussian.scale_from_params(
            ops.cast(self.scale_projection(inputs), "float32"),
            self.latent_dim,
            self.covariance,
            self.min_scale,
        )
        return gaussian.Gaussian(loc, scale)

    def log_marginal(self, z):
        """`log m(z)`: the mixture marginal, or a standard normal under VIB without one."""
        z = ops.cast(z, "float32")
        if self.marginal is not None:
            return self.marginal(z)
        prior = gaussian.Gaussian(ops.zeros_like(z), ops.ones_like(z))
        return gaussian.log_prob(prior, z)

    def rate(self, inputs, estimator="mean", num_samples=1):
        """Per-example rate `R = log e(z|x) - log m(z)`, `[B]`: the paper's OoD score.

        In-distribution inputs have a low rate. Needs a marginal (or `objective="vib"`).

        Args:
            inputs: Features `[B, F]` (what the layer is called on).
            estimator: `"mean"` (default): R at the encoder mean,
                `log e(mu|x) - log m(mu) = -log|det L| - D/2 log 2 pi - log m(mu)`,
                deterministic. `"sample"`: the average of R over `num_samples` draws of
                `z ~ e(z|x)`, an unbiased estimate of the expected rate whose single-draw noise
                (about 0.7 nats per example at rho = 0) can hide the OoD signal.
            num_samples: Draws for `"sample"`.

        Examples:

            >>> encoder = keras_ceb.StochasticEncoder(2, marginal=5, seed=0)
            >>> tuple(encoder.rate(ops.ones((3, 8))).shape)
            (3,)
        """
        if not self.has_rate:
            raise ValueError(
                "The rate needs a marginal m(z) and a CEB or VIB objective: build the encoder "
                f"with `marginal=` (e.g. marginal=240). Received: marginal={self.marginal!r}, "
                f"objective={self.objective!r}"
            )
        estimator = validation.one_of(estimator, RATE_ESTIMATORS, "estimator")
        num_samples = validation.positive_int(num_samples, "num_samples")
        dist = self.distribution(ops.convert_to_tensor(inputs))
        if estimator == "mean":
            return gaussian.log_prob_at_mean(dist) - self.log_marginal(dist.loc)
        total = 0.0
        for _ in range(num_samples):
            z, log_e = gaussian.sample_and_log_prob(dist, seed=self.seed_generator)
            total = total + information.rate(log_e, self.log_marginal(z))
        return total / num_samples

    def call(self, inputs, training=False):
        if self.objective == "determ":
            loc = self.remat(self.loc_projection)(inputs)
            if training and self.marginal is not None:
                # Trained on the (stopped) means so that log m(mu) is available.
                log_m = self.marginal(ops.stop_gradient(loc))
                self.add_loss(losses.gradient_only(losses.batch_share(-log_m)))
            return ops.cast(loc, self.compute_dtype)
        dist = gaussian.Gaussian(*self.remat(lambda x: tuple(self.distribution(x)))(inputs))

        if training or self.inference == "sample":
            z, log_e = gaussian.sample_and_log_prob(dist, seed=self.seed_generator)
        else:
            z, log_e = dist.loc, gaussian.log_prob_at_mean(dist)
        if training:
            rho = self.effective_rho()
            self._add_training_terms(z, dist, log_e, rho)
            self.running_means.update(self.metric_prefix + "rho", ops.zeros_like(log_e) + rho)
            self.warmup_step.assign_add(1.0)
        else:
            rho = ops.convert_to_tensor(self.rho_variable)
            if self.running_means is not None and self.running_means.records_held_out(training):
                self._record_held_out_estimates(dist, rho)
        return self._output(z, dist, log_e, rho)

    def bottleneck_at_mean(self, inputs):
        """What `call` returns at inference (z at the encoder mean), recording no estimate.

        For a model that needs the bottleneck of held-out data outside `call` (e.g.
        `CEBClassifier.compute_loss` in `evaluate`).

        Examples:

            >>> encoder = keras_ceb.StochasticEncoder(2, marginal=None, seed=0)
            >>> sorted(encoder.bottleneck_at_mean(np.zeros((3, 5), "float32")))
            ['loc', 'log_prob', 'rho', 'scale', 'z']
        """
        if self.objective == "determ":
            return ops.cast(self.loc_projection(inputs), self.compute_dtype)
        dist = self.distribution(inputs)
        return self._output(
            dist.loc,
            dist,
            gaussian.log_prob_at_mean(dist),
            ops.convert_to_tensor(self.rho_variable),
        )

    def _output(self, z, dist, log_e, rho):
        if self.objective == "vib":
            return ops.cast(z, self.compute_dtype)
        # Float32 throughout, so that z and log e(z|x) agree exactly; Keras layers that take
        # bottleneck["z"] autocast it to their compute dtype.
        return bottleneck.make(z, dist, log_e, ops.zeros_like(log_e) + rho)

    def _add_training_terms(self, z, dist, log_e, rho):
        """The objective's terms and the training estimates, at the sample `z`."""
        stopped = ops.stop_gradient(z)
        log_m = None
        if self.objective == "vib":
            log_m = self.log_marginal(z)
            self.add_loss(losses.batch_share(losses.rate_term(log_e, log_m, rho)))
        elif self.marginal is not None:
            log_m = self.marginal(stopped)
            self.add_loss(losses.gradient_only(losses.batch_share(-log_m)))
        self._record_estimates(stopped, dist, ops.stop_gradient(log_e), log_m)

    def _record_held_out_estimates(self, dist, rho):
        """`evaluate`'s estimates: `fit`'s, on held-out data (skipped by `predict`)."""
        names = [self.metric_prefix + "i_xz_lower"]
        if self.has_rate:
            names.append(self.metric_prefix + "rate")
        dist = gaussian.Gaussian(ops.stop_gradient(dist.loc), ops.stop_gradient(dist.scale))

        def estimates():
            # A fixed integer seed: no SeedGenerator state may change inside the condition.
            z, log_e = gaussian.sample_and_log_prob(dist, seed=HELD_OUT_SEED)
            columns = cross_replica.gather([dist.loc, dist.scale])
            values = [
                information.minibatch_i_xz_lower_bound(z, gaussian.Gaussian(*columns), log_e)
            ]
            if self.has_rate:
                values.append(information.rate(log_e, self.log_marginal(z)))
            return values

        means = self.running_means
        like = [dist.loc[:, 0]] * len(names)
        values = means.held_out_values(estimates, like) + [ops.zeros_like(like[0]) + rho]
        for name, value in zip(names + [self.metric_prefix + "rho"], values):
            means.update(name, value, weight=ops.convert_to_tensor(means.held_out))

    def _record_estimates(self, z, dist, log_e, log_m):
        """Adds the batch's `i_xz_lower` (and `rate`, given `log m(z)`) to the running means."""
        # The bound's sum runs over the global batch: under tf.distribute, every replica's
        # e(z|x_j) (this replica's first); a stop-gradient estimate, so no gradient to route.
        columns = cross_replica.gather(
            [ops.stop_gradient(dist.loc), ops.stop_gradient(dist.scale)]
        )
        self.running_means.update(
            self.metric_prefix + "i_xz_lower",
            information.minibatch_i_xz_lower_bound(z, gaussian.Gaussian(*columns), log_e),
        )
        if log_m is not None:
            self.running_means.update(
                self.metric_prefix + "rate", information.rate(log_e, ops.stop_gradient(log_m))
            )

    def compute_output_spec(self, inputs, training=False):
        batch = inputs.shape[0]
        if self.objective != "ceb":
            return keras.KerasTensor((batch, self.latent_dim), dtype=self.compute_dtype)
        scale_shape = (batch, self.latent_dim) + (
            (self.latent_dim,) if self.covariance == "full" else ()
        )
        per_example = keras.KerasTensor((batch,), dtype="float32")
        return bottleneck.make(
            keras.KerasTensor((batch, self.latent_dim), dtype="float32"),
            gaussian.Gaussian(
                keras.KerasTensor((batch, self.latent_dim), dtype="float32"),
                keras.KerasTensor(scale_shape, dtype="float32"),
            ),
            per_example,
            keras.KerasTensor((batch,), dtype="float32"),
        )

    def save_own_variables(self, store):
        # rho and the warm-up's clock: the running means are training statistics, not weights.
        running_mean.save_weights(store, [self.rho_variable, self.warmup_step])

    def load_own_variables(self, store):
        if len(store.keys()) == 1:
            # Saved before the warm-up existed (keras_ceb 0.1.0): rho only, warm-up over.
            self.rho_variable.assign(store["0"])
            self.finish_warmup()
            return
        running_mean.load_weights(self, store, [self.rho_variable, self.warmup_step])

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
            "warmup_rho": self.warmup_rho,
            "warmup_steps": self.warmup_steps,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # A config saved before the warm-up existed describes a model trained without one.
        config.setdefault("warmup_steps", 0)
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
