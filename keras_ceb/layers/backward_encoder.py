"""`BackwardEncoder`: the class-conditional backward encoder b(z|y), also the consistent classifier."""

import keras
from keras import ops

from keras_ceb.layers import running_mean
from keras_ceb import validation
from keras_ceb.layers.bottleneck_sample import find_sample
from keras_ceb.ops import gaussian
from keras_ceb.ops import information


@keras.saving.register_keras_serializable(package="keras_ceb")
class BackwardEncoder(keras.layers.Layer):
    """Backward encoder `b(z|y)` for class labels; returns consistent-classifier logits.

    Each class `k` has its own learned Gaussian `b(z|k) = N(mu_k, L_k L_k^T)` (a one-layer map
    from the one-hot label). Called on the `z` returned by a `StochasticEncoder`, it returns
    the logits

        logits[:, k] = log b(z|k) - log e(z|x)   (= minus the residual information if y were k)

    whose softmax is the **consistent classifier** `c(y|z) = softmax_y(log b(z|y) + log p(y))`
    for a uniform `p(y)` (the `log e(z|x)` shift cancels in the softmax). It reads `rho` and the
    objective from the encoder that produced `z`, and adds the CEB term itself:

    - `labels` not given (consistent classifier, Sequential models): VCEB with the consistent
      classifier is `exp(-rho) * (log e - logsumexp_k log b(z|k)) + (1 + exp(-rho)) * CE`, so
      the layer adds `sigmoid(-rho) * <log e(z|x) - logsumexp_k log b(z|k)>` and the model is
      compiled with `SparseCategoricalCrossentropy(from_logits=True)` on these logits: the
      total is VCEB scaled by `1 / (1 + exp(-rho))`, which leaves its minimizer unchanged.
      `keras_ceb.metrics.ResidualInformation()` reads `rex` off these logits.
    - `labels` given (a separate classifier head `c(y|z)` carries the cross-entropy): the layer
      adds `exp(-rho) * <log e(z|x) - log b(z|y)>` (eq. 15 exactly) and logs `rex`.

    Under `objective="determ"` it adds nothing; under `"vib"` it refuses to run (VIB has no
    backward encoder), so a mismatched objective is an error, never a silent extra term.

    Args:
        num_classes: Number of classes C (>= 2).
        covariance: `"full"` or `"diag"`.
        min_scale: Lower bound on the scales' diagonal.
        loc_initializer: Initializer of the class means (C, D); default N(0, 1), spread out so
            that the classes are distinguishable from the first step.
        **kwargs: Base layer arguments.

    Call arguments:
        z: The output of a `StochasticEncoder`, `[batch, D]`, in the same forward pass.
        labels: Optional integer labels `[batch]` (or one-hot `[batch, C]`).

    Returns:
        Logits `[batch, C]`.

    Example:

    >>> model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(64, "relu"),
    ...                           keras_ceb.StochasticEncoder(4), keras_ceb.BackwardEncoder(10)])
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...               metrics=["accuracy", keras_ceb.metrics.ResidualInformation()])

    References:
        Fischer, "The Conditional Entropy Bottleneck", Entropy 22(9), 999, 2020 (sec. 2.3).
    """

    consumes_bottleneck = True  # Reads e(z|x) from the StochasticEncoder that made z.

    def __init__(
        self,
        num_classes,
        covariance="full",
        min_scale=1e-5,
        loc_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = validation.positive_int(num_classes, "num_classes")
        if self.num_classes < 2:
            raise ValueError(f"`num_classes` must be at least 2. Received: num_classes={num_classes}")
        self.covariance = gaussian.check_covariance(covariance)
        self.min_scale = validation.positive_float(min_scale, "min_scale")
        self.loc_initializer = keras.initializers.get(
            loc_initializer or keras.initializers.RandomNormal(stddev=1.0)
        )

    def build(self, z_shape, labels_shape=None):
        validation.check_rank(z_shape, 2, "BackwardEncoder", "z_shape")
        dim = z_shape[-1]
        c = self.num_classes
        self.loc = self.add_weight(shape=(c, dim), initializer=self.loc_initializer, name="loc")
        self.scale_params = self.add_weight(
            shape=(c, gaussian.num_scale_params(dim, self.covariance)),
            initializer="zeros",
            name="scale_params",
        )
        if labels_shape is not None:
            self._check_labels_shape(labels_shape)
            self.rex_total, self.rex_count, self.rex_metric = running_mean.add_running_mean(
                self, "rex"
            )

    def _check_labels_shape(self, labels_shape):
        rank = len(labels_shape)
        if rank == 2 and labels_shape[-1] == 1:
            return
        if rank not in (1, 2) or (rank == 2 and labels_shape[-1] not in (None, self.num_classes)):
            raise ValueError(
                "`labels` must be integer class ids of shape (batch,) or one-hot of shape "
                f"(batch, {self.num_classes}). Received: labels_shape={tuple(labels_shape)}"
            )

    def scale(self):
        """Class scales: `scale_tril` `[C, D, D]` or `scale_diag` `[C, D]`."""
        return gaussian.scale_from_params(
            self.scale_params, self.loc.shape[-1], self.covariance, self.min_scale
        )

    def class_log_prob(self, z):
        """`log b(z|k)` for every class, `[batch, C]`."""
        return gaussian.pairwise_log_prob(
            z, self.loc, **gaussian.scale_kwargs(self.scale(), self.covariance))

    def call(self, z, labels=None):
        sample = find_sample(z)
        if sample is None:
            raise ValueError(
                "BackwardEncoder must be called directly on the output of a StochasticEncoder "
                "in the same forward pass (it reads e(z|x) from it). Received: z of type "
                f"{type(z).__name__} with no encoder attached"
            )
        encoder = sample.encoder
        if encoder.objective == "vib":
            raise ValueError(
                "BackwardEncoder adds the CEB residual-information term, which has no place in "
                "VIB: use objective='ceb' on the StochasticEncoder, or a plain classifier head "
                f"for VIB. Received: objective={encoder.objective!r} on {encoder.name}"
            )
        log_b = self.class_log_prob(z)
        logits = log_b - ops.expand_dims(sample.log_prob, -1)
        ceb = encoder.objective == "ceb"
        if labels is None:
            if ceb:
                weight = ops.sigmoid(-encoder.rho_variable)
                self.add_loss(weight * ops.mean(-ops.logsumexp(logits, axis=-1)))
            return logits
        rex = -ops.take_along_axis(logits, self._label_ids(labels), axis=-1)[:, 0]
        if ceb:
            self.add_loss(ops.mean(information.ceb_weight(encoder.rho_variable) * rex))
        running_mean.update_running_mean(self.rex_total, self.rex_count, rex)
        return logits

    def _label_ids(self, labels):
        labels = ops.convert_to_tensor(labels)
        if len(labels.shape) == 2 and labels.shape[-1] == self.num_classes and self.num_classes > 1:
            labels = ops.argmax(labels, axis=-1)
        labels = ops.reshape(ops.cast(labels, "int32"), (-1, 1))
        return labels

    def compute_output_shape(self, z_shape, labels_shape=None):
        return (z_shape[0], self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "covariance": self.covariance,
            "min_scale": self.min_scale,
            "loc_initializer": keras.initializers.serialize(self.loc_initializer),
        }
