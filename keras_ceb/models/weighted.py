"""`Sequential` and `Model`: Keras's own, with sample weights on every term of the objective.

Keras weights the compiled loss by `sample_weight` (and `class_weight`), but adds the losses
of `add_loss` unweighted: it passes no weights to layers. The keras_ceb layers add their
terms (CEB, VIB, CatGen) as per-example shares of the batch mean (`keras_ceb.losses.
batch_share`), so a model that sees the weights in `Model.compute_loss` can weight each
example's share the way the compiled loss weights its cross-entropy. These two classes do
that and nothing else: use them where you would use `keras.Sequential` and `keras.Model`.
"""

import keras
from keras import ops


def weighted_added_losses(added_losses, sample_weight):
    """What weighting the per-example added losses adds to their unweighted sum.

    Keras's compiled loss reduces `sum_i w_i l_i / B`; a term added as shares `t_i / B` sums
    to `sum_i t_i / B` unweighted, so weighting it adds `sum_i (w_i - 1) t_i / B`. Scalars
    (a weight regularizer, say) are left alone.

    Args:
        added_losses: The model's `losses`: scalars, and `[B]` shares.
        sample_weight: `[B]` (or `[B, 1]`) weights, or `None`.

    Returns:
        A scalar to add to the loss (0 without weights).

    Examples:

        >>> shares = [ops.convert_to_tensor([0.5, 1.5])]  # terms 1 and 3, batch of 2
        >>> float(weighted_added_losses(shares, np.array([0.0, 1.0], "float32")))
        -0.5
    """
    if sample_weight is None:
        return ops.zeros((), "float32")
    correction = ops.zeros((), "float32")
    for loss in added_losses:
        if len(loss.shape) != 1:
            continue
        weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        correction = correction + ops.sum((weight - 1.0) * ops.cast(loss, "float32"))
    return correction


class WeightedAddedLosses:
    """A mixin: Keras's `compute_loss`, plus the weighting of the added shares (the
    `compute_loss` of `Sequential`, `Model` and `keras_ceb.models.CEBClassifier`)."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        correction = as_added_loss(self, weighted_added_losses(self.losses, sample_weight))
        return total + ops.cast(correction, total.dtype)


def as_added_loss(model, value):
    """`value` as Keras adds an `add_loss` term to `model`'s loss: a float scalar, scaled by
    1 / replicas under `tf.distribute` (each replica's loss is summed over the replicas).

    Keras's `Trainer._aggregate_additional_loss` does this for the terms it adds itself
    (`keras.losses.loss.scale_loss_for_distribution` on TensorFlow); a term added in
    `compute_loss` needs the same, or it counts once per replica.
    """
    return model._aggregate_additional_loss(value)


@keras.saving.register_keras_serializable(package="keras_ceb")
class Sequential(WeightedAddedLosses, keras.Sequential):
    """`keras.Sequential` whose sample and class weights weight the layers' terms too.

    Examples:

        >>> model = keras_ceb.models.Sequential([
        ...     keras.Input((8,)), keras_ceb.StochasticEncoder(2), keras_ceb.BackwardEncoder(3)])
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.random.rand(32, 8).astype("float32"), np.arange(32) % 3
        >>> before = [np.array(w) for w in model.trainable_weights]
        >>> _ = model.fit(x, y, sample_weight=np.zeros(32), verbose=0)  # weight 0: no step
        >>> all(np.array_equal(a, np.array(w)) for a, w in zip(before, model.trainable_weights))
        True
    """


@keras.saving.register_keras_serializable(package="keras_ceb")
class Model(WeightedAddedLosses, keras.Model):
    """`keras.Model` (functional) whose sample and class weights weight the layers' terms too.

    Examples:

        >>> inputs = keras.Input((8,))
        >>> logits = keras_ceb.BackwardEncoder(3)(keras_ceb.StochasticEncoder(2)(inputs))
        >>> model = keras_ceb.models.Model(inputs, logits)
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.random.rand(32, 8).astype("float32"), np.arange(32) % 3
        >>> history = model.fit(x, y, sample_weight=np.ones(32), verbose=0)
    """
