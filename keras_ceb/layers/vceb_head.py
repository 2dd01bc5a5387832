"""`VCEBHead`: all of VCEB (eq. 15) for one bottleneck, fed the labels, consistent classifier."""

import math

import keras
from keras import ops

from keras_ceb import losses
from keras_ceb import validation
from keras_ceb.layers import bottleneck
from keras_ceb.layers import class_table
from keras_ceb.layers import partial_remat
from keras_ceb.layers import running_mean
from keras_ceb.ops import information


@keras.saving.register_keras_serializable(package="keras_ceb")
class VCEBHead(partial_remat.PartialRemat, class_table.ClassGaussians):
    """The whole per-example VCEB objective of one bottleneck, fed the labels.

    Called on `[bottleneck, labels]`, it owns a learned Gaussian per class, `b(z|k)` (as
    `BackwardEncoder`), uses the consistent classifier `c(y|z) = softmax_y log b(z|y)` and,
    when training, adds eq. 15 exactly (`keras_ceb.losses.vceb`):

        exp(-rho) (log e(z|x) - log b(z|y)) - log c(y|z)

    with rho the encoder's (it arrives in the bottleneck). The model needs no compiled loss.
    At inference it adds only the classifier's cross-entropy `-<log c(y|z)>` at the encoder
    mean, so that `evaluate` reports a loss. It returns the consistent-classifier logits
    `log b(z|k) - log e(z|x)` and logs `rex` and `i_yz` (`log C + log c(y|z)`), prefixed by
    `metric_prefix`.

    **Hierarchical CEB** (Fischer 2020, appendix C.1), `Z2 <- Z1 <- X <-> Y`, is a stack of
    these: each `StochasticEncoder` takes the previous level's `bottleneck["z"]` and gets its
    own head, so level i adds `exp(-rho_i) (log e_i(z_i|z_{i-1}) - log b_i(z_i|y)) -
    log c_i(y|z_i)`, a variational bound on `I(Z_{i-1}; Z_i | Y) - I(Y; Z_i)`: its residual term
    conditions on the sample of the level below, not on X. The sum over levels is
    `keras_ceb.losses.hierarchical_ceb`; `keras_ceb.models.build_hierarchical_ceb` builds the
    stack.

    With a Determ encoder (a plain tensor z) only `-log c(y|z)` is added.

    Args:
        num_classes: Number of classes C (>= 2).
        covariance: `"full"` or `"diag"`, for the class Gaussians.
        min_scale: Lower bound on the class scales' diagonal.
        loc_initializer: Initializer of the class means; default N(0, 1).
        metric_prefix: Prefix of the logged `rex` and `i_yz` (to tell the levels apart).
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: `[bottleneck, labels]`: the bottleneck dict of a CEB `StochasticEncoder` (or a
            Determ z `[batch, D]`), and integer labels `[batch]` (or one-hot `[batch, C]`).
        training: Python boolean; `True` adds eq. 15.

    Returns:
        The consistent-classifier logits `[batch, num_classes]`.

    Examples:

        >>> image = keras.Input((16,), name="image")
        >>> label = keras.Input((), dtype="int32", name="label")
        >>> features = keras.layers.Dense(32, "relu")(image)
        >>> level_1 = keras_ceb.StochasticEncoder(4, metric_prefix="z1_")(features)
        >>> level_2 = keras_ceb.StochasticEncoder(2, metric_prefix="z2_")(level_1["z"])  # e(z2|z1)
        >>> logits_1 = keras_ceb.layers.VCEBHead(10, metric_prefix="z1_")([level_1, label])
        >>> logits_2 = keras_ceb.layers.VCEBHead(10, metric_prefix="z2_")([level_2, label])
        >>> model = keras.Model({"image": image, "label": label}, [logits_1, logits_2])
        >>> model.compile("adam")
        >>> x, y = np.random.rand(64, 16).astype("float32"), np.arange(64) % 10
        >>> history = model.fit({"image": x, "label": y}, [y, y], epochs=1, verbose=0)
        >>> sorted(history.history)
        ['loss', 'z1_i_xz_lower', 'z1_i_yz', 'z1_rex', 'z1_rho', 'z2_i_xz_lower', 'z2_i_yz',
         'z2_rex', 'z2_rho']

    References:
        Fischer, "The Conditional Entropy Bottleneck", Entropy 22(9), 999, 2020 (eq. 15,
        appendix C.1).
    """

    def __init__(
        self,
        num_classes,
        covariance="full",
        min_scale=1e-5,
        loc_initializer=None,
        metric_prefix="",
        **kwargs,
    ):
        super().__init__(num_classes, covariance, min_scale, loc_initializer, **kwargs)
        if not isinstance(metric_prefix, str):
            raise ValueError(
                f"`metric_prefix` must be a string. Received: metric_prefix={metric_prefix!r}"
            )
        self.metric_prefix = metric_prefix

    def build(self, inputs_shape):
        if not isinstance(inputs_shape, (list, tuple)) or len(inputs_shape) != 2:
            raise ValueError(
                "VCEBHead expects two inputs, [bottleneck, labels]. "
                f"Received: inputs_shape={inputs_shape}"
            )
        z_shape, labels_shape = inputs_shape
        if isinstance(z_shape, dict):
            z_shape = z_shape[bottleneck.Z]
        validation.check_rank(z_shape, 2, "VCEBHead", "z_shape")
        class_table.check_labels_shape(labels_shape, self.num_classes, "VCEBHead")
        self.build_class_gaussians(z_shape[-1])
        names = ["rex", "i_yz"] if isinstance(inputs_shape[0], dict) else ["i_yz"]
        self.running_means = running_mean.RunningMeans(
            self, [self.metric_prefix + name for name in names]
        )

    def call(self, inputs, training=False):
        x_side, labels = inputs
        determ = not bottleneck.is_bottleneck(x_side)
        z = x_side if determ else x_side[bottleneck.Z]
        class_log_b = self.remat(self.class_log_prob)(z)
        ids = class_table.label_ids(labels, self.num_classes, "VCEBHead")[:, None]
        log_c = ops.take_along_axis(ops.log_softmax(class_log_b, axis=-1), ids, axis=-1)[:, 0]
        prefix = self.metric_prefix
        if training and not determ:
            log_e, rho = x_side[bottleneck.LOG_PROB], x_side[bottleneck.RHO]
            log_b = ops.take_along_axis(class_log_b, ids, axis=-1)[:, 0]
            self.add_loss(losses.batch_share(losses.vceb(log_e, log_b, log_c, rho)))
            self.running_means.update(
                prefix + "rex", information.residual_information(log_e, log_b)
            )
        else:
            # Determ, and every model at inference: the classifier's cross-entropy.
            self.add_loss(losses.batch_share(-log_c))
        # In training, and in `evaluate` at the mean (not traced into `predict`).
        held_out = self.running_means.records_held_out(training)
        if training or held_out:
            weight = 1.0 if training else ops.convert_to_tensor(self.running_means.held_out)
            self.running_means.update(prefix + "i_yz", log_c + math.log(self.num_classes), weight)
        if held_out and not determ:
            log_b = ops.take_along_axis(class_log_b, ids, axis=-1)[:, 0]
            self.running_means.update(
                prefix + "rex",
                information.residual_information(x_side[bottleneck.LOG_PROB], log_b),
                weight,
            )
        logits = class_log_b if determ else class_log_b - x_side[bottleneck.LOG_PROB][:, None]
        return ops.cast(logits, self.compute_dtype)

    def compute_output_spec(self, inputs, training=False):
        x_side = inputs[0]
        z = x_side[bottleneck.Z] if isinstance(x_side, dict) else x_side
        return keras.KerasTensor((z.shape[0], self.num_classes), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "metric_prefix": self.metric_prefix,
        }
