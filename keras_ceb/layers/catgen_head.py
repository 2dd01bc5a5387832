"""`CatGenHead`: CatGen CEB over the minibatch, optionally in both directions (eq. 26)."""

import keras
from keras import ops

from keras_ceb import losses
from keras_ceb import validation
from keras_ceb.layers import bottleneck
from keras_ceb.layers import class_table
from keras_ceb.layers import cross_replica
from keras_ceb.layers import partial_remat
from keras_ceb.layers import running_mean
from keras_ceb.ops import catgen
from keras_ceb.ops import gaussian
from keras_ceb.ops import information


@keras.saving.register_keras_serializable(package="keras_ceb")
class CatGenHead(partial_remat.PartialRemat, class_table.ClassGaussians):
    """CatGen CEB between an encoder e(z|x) and a backward encoder b(z|y), over the minibatch.

    When training it adds the CatGen CEB objective (Fischer 2020, sec. 2.4 and eq. 26)

        exp(-rho_X) (log e(z_X|x) - log b(z_X|y)) - log c(y|z_X)
      + exp(-rho_Y) (log b(z_Y|y) - log e(z_Y|x)) - log d(x|z_Y)    (bidirectional only)

    with `c(y_i|z_i) = softmax_j log b(z_i|y_j)` and `d(x_i|z_i) = softmax_j log e(z_i|x_j)`
    over the K examples of the batch (InfoNCE / CPC; their I(Y;Z) bound is at most log K),
    `z_X ~ e(z|x)` and `z_Y ~ b(z|y)`. Under a distribution the K examples are the global
    batch: under `tf.distribute` each replica scores its own rows against the columns of every
    replica, with exact gradients (`keras_ceb.layers.cross_replica`). The model needs no other
    loss: compile it with `loss=None`. It logs `rex` (X side) and `i_yz` (the CatGen bound
    `log K + <log c(y|z)>`). At inference it adds only the CatGen cross-entropy
    `-<log c(y|z_X)>` at the mean, so that `evaluate` reports a loss (as the compiled
    cross-entropy does for the other heads).

    Two ways to give it b(z|y):

    - `num_classes=C`: called on `[bottleneck_x, labels]`, the layer owns b(z|y), a learned
      Gaussian per class (as `BackwardEncoder`), and returns the consistent-classifier logits
      `log b(z_X|k) - log e(z_X|x)` (the paper's CIFAR-10 setup). Both directions use the
      encoder's rho.
    - `num_classes=None`: called on `[bottleneck_x, bottleneck_y]`, the bottleneck dicts of two
      CEB `StochasticEncoder`s (the second encodes the other view: a noised image, the future
      of a sequence, ...), each with its own rho; returns `z_X`.

    With a Determ encoder (a plain tensor z_X) only `-log c(y|z_X)` is added.

    Args:
        num_classes: Number of classes C, or `None` for a second encoder.
        bidirectional: Also add the Y -> Z direction (eq. 26).
        covariance: `"full"` or `"diag"`, for the class Gaussians (with `num_classes`).
        min_scale: Lower bound on the class scales' diagonal.
        loc_initializer: Initializer of the class means; default N(0, 1).
        seed: Seed of the sampling of `z_Y ~ b(z|y)` (with `num_classes`).
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: `[bottleneck_x, labels]` (with `num_classes`) or `[bottleneck_x, bottleneck_y]`.
        training: Python boolean; `True` adds the objective.

    Returns:
        Logits `[K, num_classes]`, or `z_X` `[K, D]`.

    Examples:

        >>> image = keras.Input((16,), name="image")
        >>> label = keras.Input((), dtype="int32", name="label")
        >>> bottleneck_x = keras_ceb.StochasticEncoder(4)(keras.layers.Dense(32, "relu")(image))
        >>> logits = keras_ceb.CatGenHead(num_classes=10)([bottleneck_x, label])
        >>> model = keras.Model({"image": image, "label": label}, logits)
        >>> model.compile("adam", metrics=["accuracy"])
        >>> x, y = np.random.rand(64, 16).astype("float32"), np.arange(64) % 10
        >>> history = model.fit({"image": x, "label": y}, y, epochs=1, verbose=0)
        >>> sorted(history.history)
        ['accuracy', 'i_xz_lower', 'i_yz', 'loss', 'rex', 'rho']

    References:
        Fischer, "The Conditional Entropy Bottleneck", Entropy 22(9), 999, 2020 (sec. 2.4, eq. 26).
        van den Oord et al., "Representation Learning with Contrastive Predictive Coding", 2018.
    """

    optional_classes = True  # `num_classes=None`: CatGen between two encoders

    def __init__(
        self,
        num_classes=None,
        bidirectional=True,
        covariance="full",
        min_scale=1e-5,
        loc_initializer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(num_classes, covariance, min_scale, loc_initializer, **kwargs)
        if not isinstance(bidirectional, bool):
            raise ValueError(
                f"`bidirectional` must be True or False. Received: bidirectional={bidirectional!r}"
            )
        self.bidirectional = bidirectional
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, inputs_shape):
        if not isinstance(inputs_shape, (list, tuple)) or len(inputs_shape) != 2:
            raise ValueError(
                "CatGenHead expects two inputs, [bottleneck_x, labels] (with num_classes) or "
                f"[bottleneck_x, bottleneck_y]. Received: inputs_shape={inputs_shape}"
            )
        x_shape, y_shape = inputs_shape
        z_shape = x_shape[bottleneck.Z] if isinstance(x_shape, dict) else x_shape
        validation.check_rank(z_shape, 2, "CatGenHead", "z_x shape")
        if self.num_classes is not None:
            class_table.check_labels_shape(y_shape, self.num_classes, "CatGenHead")
            self.build_class_gaussians(z_shape[-1])
        elif not isinstance(y_shape, dict) or y_shape[bottleneck.Z][-1] != z_shape[-1]:
            raise ValueError(
                "Without num_classes, CatGenHead takes the bottleneck dicts of two CEB "
                "StochasticEncoders of the same latent dimension. Received: "
                f"inputs_shape={inputs_shape}"
            )
        names = ["rex", "i_yz"] if isinstance(x_shape, dict) else ["i_yz"]
        self.running_means = running_mean.RunningMeans(self, names)

    def call(self, inputs, training=False):
        output, term = self.objective(inputs, training=training)
        self.add_loss(losses.batch_share(term))
        return output

    def objective(self, inputs, training=False):
        """The head's output and its per-example term `[K]`, without adding it.

        What `call` adds (as `batch_share(term)`): the CatGen CEB objective when training, the
        CatGen cross-entropy `-log c(y|z_X)` for Determ and at inference. It records the
        estimates (`rex`, `i_yz`) as `call` does. `keras_ceb.models.CEBClassifier` calls it
        from `compute_loss`, where the labels are.
        """
        x_side, y_side = inputs
        determ = not bottleneck.is_bottleneck(x_side)  # Determ: z_X = mu(x), no density.
        z_x = ops.cast(x_side, "float32") if determ else x_side[bottleneck.Z]
        ids = None
        if self.num_classes is not None:
            class_log_b = self._pairwise(z_x, self.class_distribution())
            ids = class_table.label_ids(y_side, self.num_classes, "CatGenHead")
            # [i, j] = log b(z_i|y_j), the columns j over the global batch (own rows first).
            (global_ids,) = cross_replica.gather([ids])
            pairwise_b = ops.take(class_log_b, global_ids, axis=1)
            output = class_log_b if determ else class_log_b - x_side[bottleneck.LOG_PROB][:, None]
        else:
            self._check_bottleneck_y(y_side)
            pairwise_b = self._pairwise(z_x, _global_distribution(y_side))
            output = z_x
        if training and not determ:
            term = self._objective(x_side, y_side, pairwise_b, ids)
        else:
            # Determ, and every model at inference: the CatGen cross-entropy -<log c(y|z_X)>
            # (at the mean at inference), so that `evaluate` reports a loss as the compiled
            # cross-entropy of the other heads does.
            term = -catgen.catgen_log_likelihood(pairwise_b)
            if training:
                self._update_estimates(None, pairwise_b)
            elif self.running_means.records_held_out(training):
                # `evaluate`'s estimates, at the mean (not traced into `predict`).
                log_e_x = None if determ else x_side[bottleneck.LOG_PROB]
                weight = ops.convert_to_tensor(self.running_means.held_out)
                self._update_estimates(log_e_x, pairwise_b, weight)
        return ops.cast(output, self.compute_dtype), term

    def class_logits(self, x_side):
        """The consistent-classifier logits `log b(z|k) - log e(z|x)` (with `num_classes`),
        `[K, C]`; no labels, no term, no estimate (`log b(z|k)` for a Determ z)."""
        if self.num_classes is None:
            raise ValueError(
                "class_logits needs a CatGenHead with num_classes. Received: num_classes=None"
            )
        determ = not bottleneck.is_bottleneck(x_side)
        z_x = ops.cast(x_side, "float32") if determ else x_side[bottleneck.Z]
        class_log_b = self._pairwise(z_x, self.class_distribution())
        output = class_log_b if determ else class_log_b - x_side[bottleneck.LOG_PROB][:, None]
        return ops.cast(output, self.compute_dtype)

    def _objective(self, x_side, y_side, pairwise_b, ids):
        log_e_x, rho_x = x_side[bottleneck.LOG_PROB], x_side[bottleneck.RHO]
        if self.num_classes is not None:
            dist_y = gaussian.take(self.class_distribution(), ids)
            rho_y = rho_x
        else:
            dist_y = bottleneck.distribution(y_side)
            rho_y = y_side[bottleneck.RHO]
        objective = losses.catgen_term(log_e_x, pairwise_b, rho_x)
        if self.bidirectional:
            if self.num_classes is not None:
                z_y, log_b_y = gaussian.sample_and_log_prob(dist_y, seed=self.seed_generator)
            else:
                z_y, log_b_y = y_side[bottleneck.Z], y_side[bottleneck.LOG_PROB]
            pairwise_e = self._pairwise(z_y, _global_distribution(x_side))
            objective = objective + losses.catgen_term(log_b_y, pairwise_e, rho_y)
        self._update_estimates(log_e_x, pairwise_b)
        return objective

    def _update_estimates(self, log_e_x, pairwise_b, weight=1.0):
        batch = ops.cast(ops.shape(pairwise_b)[1], "float32")  # the global batch
        log_c = catgen.catgen_log_likelihood(pairwise_b)
        self.running_means.update("i_yz", ops.log(batch) + log_c, weight)
        if log_e_x is not None and "rex" in self.running_means:
            self.running_means.update(
                "rex",
                information.residual_information(log_e_x, ops.diagonal(pairwise_b)),
                weight,
            )

    def _check_bottleneck_y(self, y_side):
        if not bottleneck.is_bottleneck(y_side):
            raise ValueError(
                "Without num_classes, CatGenHead's second input must be the bottleneck dict of "
                f"a CEB StochasticEncoder. Received: {bottleneck.describe(y_side)}"
            )

    def _pairwise(self, x, dist):
        """`log N(x_i; dist_j)`, `[N, M]`, rematerialized under a `keras.RematScope`."""
        return self.remat(
            lambda x, loc, scale: gaussian.pairwise_log_prob(x, gaussian.Gaussian(loc, scale))
        )(x, dist.loc, dist.scale)

    def compute_output_spec(self, inputs, training=False):
        x_side = inputs[0]
        z = x_side[bottleneck.Z] if isinstance(x_side, dict) else x_side
        width = self.num_classes if self.num_classes is not None else z.shape[-1]
        return keras.KerasTensor((z.shape[0], width), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "bidirectional": self.bidirectional,
            "seed": self.seed,
        }


def _global_distribution(side):
    """The Gaussians of a bottleneck dict over the global batch (this replica's rows first)."""
    return gaussian.Gaussian(*cross_replica.gather([side[bottleneck.LOC], side[bottleneck.SCALE]]))
