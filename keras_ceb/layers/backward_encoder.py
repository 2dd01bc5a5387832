"""`BackwardEncoder`: the class-conditional backward encoder b(z|y) and consistent classifier."""

import keras
from keras import ops

from keras_ceb import losses
from keras_ceb import validation
from keras_ceb.layers import bottleneck
from keras_ceb.layers import class_table
from keras_ceb.layers import partial_remat
from keras_ceb.layers import running_mean
from keras_ceb.ops import gaussian
from keras_ceb.ops import information

OUTPUT_MODES = ("logits", "bottleneck")


@keras.saving.register_keras_serializable(package="keras_ceb")
class BackwardEncoder(partial_remat.PartialRemat, class_table.ClassGaussians):
    """Backward encoder `b(z|y)` for class labels; returns consistent-classifier logits.

    Each class `k` has its own learned Gaussian `b(z|k) = N(mu_k, L_k L_k^T)` (a one-layer map
    from the one-hot label). Called on the bottleneck dict of a CEB `StochasticEncoder`, it
    returns the logits

        logits[:, k] = log b(z|k) - log e(z|x)   (= minus the residual information if y were k)

    whose softmax is the **consistent classifier** `c(y|z) = softmax_y(log b(z|y) + log p(y))`
    for a uniform `p(y)`. When training it adds the CEB term, weighted by the encoder's rho
    (which arrives in the bottleneck):

    - `labels` not given (Sequential models): VCEB with the consistent classifier is
      `exp(-rho) (log e - logsumexp_k log b(z|k)) + (1 + exp(-rho)) CE`, so the layer adds
      `sigmoid(-rho) <log e(z|x) - logsumexp_k log b(z|k)>` and the model is compiled with
      `SparseCategoricalCrossentropy(from_logits=True)` on these logits: the total is VCEB
      scaled by `1 / (1 + exp(-rho))`, with the same minimizer
      (`keras_ceb.losses.consistent_classifier_term`).
    - `labels` given (a separate classifier head carries the cross-entropy): the layer adds
      `exp(-rho) <log e(z|x) - log b(z|y)>` (eq. 15's first term, `keras_ceb.losses.residual_term`)
      and logs `rex` in training.

    Called on a plain tensor z (from a VIB or Determ encoder) it is an ordinary Gaussian
    class-conditional classifier: logits `log b(z|k)`, nothing added.

    With `output_mode="bottleneck"` the layer returns its input unchanged after adding its
    term (like `keras.layers.ActivityRegularization`): the paper's Fashion-MNIST model feeds
    the labels to b(z|y) this way while a separate head c(y|z) reads `bottleneck["z"]`.

    The math runs in float32 (the layer does not autocast its inputs); the logits follow the
    layer's compute dtype, so `BackwardEncoder(10, dtype="float32")` gives float32 logits
    under a mixed precision policy.

    Args:
        num_classes: Number of classes C (>= 2).
        covariance: `"full"` or `"diag"`.
        min_scale: Lower bound on the scales' diagonal.
        loc_initializer: Initializer of the class means (C, D); default N(0, 1), spread out so
            that the classes are distinguishable from the first step.
        output_mode: `"logits"` (default) or `"bottleneck"` (return the input).
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: The bottleneck dict of a CEB `StochasticEncoder`, or z `[batch, D]`.
        labels: Optional integer labels `[batch]` (or one-hot `[batch, C]`).
        training: Python boolean; `True` adds the CEB term.

    Returns:
        Logits `[batch, C]`, or the input with `output_mode="bottleneck"`.

    Examples:

        >>> model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(64, "relu"),
        ...                           keras_ceb.StochasticEncoder(4),
        ...                           keras_ceb.BackwardEncoder(10)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...               metrics=["accuracy", keras_ceb.metrics.ResidualInformation()])
        >>> x, y = np.random.rand(64, 784).astype("float32"), np.arange(64) % 10
        >>> history = model.fit(x, y, epochs=1, verbose=0)
        >>> sorted(history.history)
        ['accuracy', 'i_xz_lower', 'loss', 'rex', 'rho']

    References:
        Fischer, "The Conditional Entropy Bottleneck", Entropy 22(9), 999, 2020 (sec. 2.3).
    """

    def __init__(
        self,
        num_classes,
        covariance="full",
        min_scale=1e-5,
        loc_initializer=None,
        output_mode="logits",
        **kwargs,
    ):
        super().__init__(num_classes, covariance, min_scale, loc_initializer, **kwargs)
        self.output_mode = validation.one_of(output_mode, OUTPUT_MODES, "output_mode")
        self.running_means = None

    def build(self, inputs_shape, labels_shape=None):
        z_shape = _z_shape(inputs_shape, self.name)
        self.build_class_gaussians(z_shape[-1])
        if labels_shape is not None:
            class_table.check_labels_shape(labels_shape, self.num_classes, "BackwardEncoder")
            if isinstance(inputs_shape, dict):
                self.running_means = running_mean.RunningMeans(self, ["rex"])

    def call(self, inputs, labels=None, training=False):
        passthrough = self.output_mode == "bottleneck"
        if not bottleneck.is_bottleneck(inputs):
            z = _plain_z(inputs, self.name)
            if passthrough:
                return inputs
            return ops.cast(self.remat(self.class_log_prob)(z), self.compute_dtype)
        if labels is not None:
            term = self.residual_loss(inputs, labels, training=training)
            if term is not None:
                self.add_loss(losses.batch_share(term))
        if labels is not None or not training:
            return inputs if passthrough else self._logits(inputs)
        class_log_b = self.remat(self.class_log_prob)(inputs[bottleneck.Z])
        log_e, rho = inputs[bottleneck.LOG_PROB], inputs[bottleneck.RHO]
        self.add_loss(
            losses.batch_share(losses.consistent_classifier_term(log_e, class_log_b, rho))
        )
        if passthrough:
            return inputs
        return ops.cast(class_log_b - log_e[:, None], self.compute_dtype)

    def _logits(self, inputs):
        class_log_b = self.remat(self.class_log_prob)(inputs[bottleneck.Z])
        return ops.cast(class_log_b - inputs[bottleneck.LOG_PROB][:, None], self.compute_dtype)

    def residual_loss(self, inputs, labels, training=False):
        """eq. 15's first term `exp(-rho) (log e(z|x) - log b(z|y))` per example `[B]` when
        training (it logs `rex`), else `None` (it logs `evaluate`'s `rex`); adds nothing.

        What `call` adds given `labels`; `keras_ceb.models.CEBClassifier` calls it from
        `compute_loss`, where the labels are. The layer must have been built with labels.
        """
        if not training:
            if self.running_means is not None and self.running_means.records_held_out(training):
                self._record_held_out_rex(inputs, labels)
            return None
        class_log_b = self.remat(self.class_log_prob)(inputs[bottleneck.Z])
        log_e, rho = inputs[bottleneck.LOG_PROB], inputs[bottleneck.RHO]
        ids = class_table.label_ids(labels, self.num_classes, "BackwardEncoder")
        log_b = ops.take_along_axis(class_log_b, ids[:, None], axis=-1)[:, 0]
        self.running_means.update("rex", information.residual_information(log_e, log_b))
        return losses.residual_term(log_e, log_b, rho)

    def _record_held_out_rex(self, inputs, labels):
        """`evaluate`'s `rex` (skipped by `predict`): the expectation over z ~ e(z|x) of the
        training estimate, `KL(e(z|x) || b(z|y))`, in closed form."""
        ids = class_table.label_ids(labels, self.num_classes, "BackwardEncoder")
        encoder = gaussian.Gaussian(
            ops.stop_gradient(inputs[bottleneck.LOC]), ops.stop_gradient(inputs[bottleneck.SCALE])
        )

        def rex():
            return [gaussian.kl_divergence(encoder, gaussian.take(self.class_distribution(), ids))]

        means = self.running_means
        (values,) = means.held_out_values(rex, [encoder.loc[:, 0]])
        means.update("rex", values, weight=ops.convert_to_tensor(means.held_out))

    def compute_output_spec(self, inputs, labels=None, training=False):
        if self.output_mode == "bottleneck":
            return keras.tree.map_structure(
                lambda t: keras.KerasTensor(t.shape, dtype=t.dtype), inputs
            )
        z = inputs[bottleneck.Z] if isinstance(inputs, dict) else inputs
        return keras.KerasTensor((z.shape[0], self.num_classes), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "output_mode": self.output_mode,
        }


def _z_shape(inputs_shape, layer_name):
    """The shape of z from the shape of a bottleneck dict or of a plain tensor."""
    if isinstance(inputs_shape, dict):
        if set(inputs_shape) != set(bottleneck.KEYS):
            raise ValueError(
                f"{layer_name} takes the bottleneck dict of a StochasticEncoder (keys "
                f"{list(bottleneck.KEYS)}) or a tensor z. Received: a dict with keys "
                f"{sorted(inputs_shape)}"
            )
        inputs_shape = inputs_shape[bottleneck.Z]
    validation.check_rank(inputs_shape, 2, layer_name, "z_shape")
    return inputs_shape


def _plain_z(inputs, layer_name):
    if isinstance(inputs, dict) or len(getattr(inputs, "shape", ())) != 2:
        raise ValueError(
            f"{layer_name} takes the bottleneck dict of a CEB StochasticEncoder or a tensor z "
            f"[batch, D]. Received: {bottleneck.describe(inputs)}"
        )
    return inputs
