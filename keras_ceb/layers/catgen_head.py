"""`CatGenHead`: the CatGen decoder and (bidirectional) CEB over the minibatch."""


import keras
from keras import ops

from keras_ceb.layers import running_mean
from keras_ceb import validation
from keras_ceb.layers.bottleneck_sample import find_sample
from keras_ceb.ops import catgen
from keras_ceb.ops import gaussian
from keras_ceb.ops import information


@keras.saving.register_keras_serializable(package="keras_ceb")
class CatGenHead(keras.layers.Layer):
    """CatGen CEB between two stochastic encoders, optionally in both directions.

    Called on `[z_x, z_y]`, two outputs of `StochasticEncoder`s in the same forward pass
    (`z_x ~ e(z|x)` from the input, `z_y ~ b(z|y)` from the other view: a label embedding, a
    noised image, the future of a sequence), it adds the CatGen CEB objective

        exp(-rho_X) * (log e(z_X|x) - log b(z_X|y)) - log c(y|z_X)
      + exp(-rho_Y) * (log b(z_Y|y) - log e(z_Y|x)) - log d(x|z_Y)    (bidirectional only)

    with `c(y_i|z_i) = softmax_j log b(z_i|y_j)` and `d(x_i|z_i) = softmax_j log e(z_i|x_j)`
    over the K examples of the batch (InfoNCE / CPC; their I(Y;Z) bound is at most log K).
    `rho_X` and `rho_Y` come from the two encoders. The model needs no other loss:
    compile it with `loss=None` (the labels, if any, enter through the `y` encoder).

    Returns the consistent-classifier logits `log b(z_X|k) - log e(z_X|x)` over
    `num_classes` classes when the `y` encoder takes one-hot labels of width `num_classes`
    (so the model also predicts classes), else `z_x` unchanged.

    Logged metrics: `rex` (X side) and `i_yz` (the CatGen bound `log K + <log c(y|z)>`).

    Args:
        num_classes: If given, the `y` encoder's input is one-hot labels of this width and the
            layer returns class logits.
        bidirectional: Also add the Y -> Z direction (Fischer 2020, eq. 26).
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: `[z_x, z_y]`, each `[K, D]`.

    Returns:
        Logits `[K, num_classes]`, or `z_x`.

    Example:

    >>> image = keras.Input((32, 32, 3)); label = keras.Input((), dtype="int32")
    >>> z_x = keras_ceb.StochasticEncoder(4)(backbone(image))
    >>> one_hot = keras.layers.CategoryEncoding(10, output_mode="one_hot")(label)
    >>> z_y = keras_ceb.StochasticEncoder(4, metric_prefix="y_")(one_hot)
    >>> logits = keras_ceb.CatGenHead(num_classes=10)([z_x, z_y])
    >>> model = keras.Model({"image": image, "label": label}, logits)

    References:
        Fischer, "The Conditional Entropy Bottleneck", Entropy 22(9), 999, 2020 (sec. 2.4, eq. 26).
        van den Oord et al., "Representation Learning with Contrastive Predictive Coding", 2018.
    """

    consumes_bottleneck = True  # Reads e(z|x) from the StochasticEncoder that made z.

    def __init__(self, num_classes=None, bidirectional=True, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = (
            None if num_classes is None else validation.positive_int(num_classes, "num_classes")
        )
        self.bidirectional = bool(bidirectional)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"CatGenHead expects two inputs [z_x, z_y]. Received: input_shape={input_shape}"
            )
        for shape in input_shape:
            validation.check_rank(shape, 2, "CatGenHead")
        if input_shape[0][-1] != input_shape[1][-1]:
            raise ValueError(
                "z_x and z_y must have the same latent dimension. "
                f"Received: input_shape={input_shape}"
            )
        self.rex_total, self.rex_count, self.rex_metric = running_mean.add_running_mean(self, "rex")
        self.i_yz_total, self.i_yz_count, self.i_yz_metric = running_mean.add_running_mean(
            self, "i_yz"
        )

    def call(self, inputs):
        z_x, z_y = inputs
        sx, sy = find_sample(z_x), find_sample(z_y)
        if sx is None or sy is None:
            raise ValueError(
                "CatGenHead must be called on the outputs of two StochasticEncoders in the same "
                f"forward pass. Received: z_x {'with' if sx else 'without'} an encoder, "
                f"z_y {'with' if sy else 'without'} an encoder"
            )
        pairwise_b = gaussian.pairwise_log_prob(z_x, sy.loc, **sy.scale_kwargs)  # b(z_x,i|y_j)
        log_c = catgen.catgen_log_likelihood(pairwise_b)
        rex_x = information.residual_information(sx.log_prob, ops.diagonal(pairwise_b))
        loss = self._direction_loss(sx.encoder, rex_x, log_c)
        if self.bidirectional:
            pairwise_e = gaussian.pairwise_log_prob(z_y, sx.loc, **sx.scale_kwargs)
            log_d = catgen.catgen_log_likelihood(pairwise_e)
            rex_y = information.residual_information(sy.log_prob, ops.diagonal(pairwise_e))
            loss = loss + self._direction_loss(sy.encoder, rex_y, log_d)
        self.add_loss(ops.mean(loss))
        batch = ops.cast(ops.shape(z_x)[0], log_c.dtype)
        running_mean.update_running_mean(self.rex_total, self.rex_count, rex_x)
        running_mean.update_running_mean(self.i_yz_total, self.i_yz_count, ops.log(batch) + log_c)
        if self.num_classes is None:
            return z_x
        return self._class_logits(z_x, sx, sy)

    @staticmethod
    def _direction_loss(encoder, rex, log_c):
        if encoder.objective == "determ":
            return -log_c
        if encoder.objective != "ceb":
            raise ValueError(
                "CatGenHead trains CEB; both encoders need objective='ceb' (or 'determ'). "
                f"Received: objective={encoder.objective!r} on {encoder.name}"
            )
        return information.ceb_weight(encoder.rho_variable) * rex - log_c

    def _class_logits(self, z_x, sx, sy):
        label_encoder = sy.encoder
        width = label_encoder.loc_projection.kernel.shape[0]
        if width != self.num_classes:
            raise ValueError(
                "With num_classes, the y encoder must take one-hot labels of width num_classes. "
                f"Received: num_classes={self.num_classes}, y encoder input width={width}"
            )
        loc, scale = label_encoder.distribution(ops.eye(self.num_classes, dtype=z_x.dtype))
        log_b = gaussian.pairwise_log_prob(
            z_x, loc, **gaussian.scale_kwargs(scale, label_encoder.covariance))
        return log_b - ops.expand_dims(sx.log_prob, -1)

    def compute_output_shape(self, input_shape):
        z_shape = input_shape[0]
        if self.num_classes is None:
            return tuple(z_shape)
        return (z_shape[0], self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "bidirectional": self.bidirectional,
        }


