"""The global batch across replicas: the one backend-specific helper of the layers.

The minibatch estimates compare every example with every other example of the batch: CatGen's
softmax `c(y_i|z_i) = softmax_j log b(z_i|y_j)` and the I(X;Z) lower bound's
`(1/B) sum_j e(z_i|x_j)`. Their bounds are `log B`, so they must see the *global* batch, not a
replica's share of it.

- **JAX, `keras.distribution.DataParallel`** (one or many processes): the train step is one
  `jax.jit` program over the global, sharded batch; the layers already see every row (XLA
  inserts the collectives), so `gather` returns its input.
- **TensorFlow, `tf.distribute.MirroredStrategy`**: each replica runs the layers on its own
  rows. `gather` all-gathers the other replicas' rows inside the replica function, so that
  each replica scores its own rows against all columns of the global batch.
- Anywhere else (one device, PyTorch, no strategy) it returns its input.

**Why not `tf.distribute.get_replica_context().all_gather`.** Under `MirroredStrategy` it is a
`merge_call`: the replica threads stop there and resume one after the other. Keras 3 keeps a
layer's `add_loss` values in one Python list per layer object, shared by the replica threads,
and clears it when a replica's forward pass starts; with a pause in the middle of the forward
pass, one replica's `model.losses` holds the other replica's losses too (measured: a
two-encoder CatGen model reported a loss of 9.0 against 6.1 on one device, replica losses 6.0
and 12.1). So inside a compiled step (`tf.function`, as `fit`, `evaluate` and `predict` run)
`gather` emits the strategy's own collective all-gather op for the replica's device directly
(the launcher that `MirroredStrategy` uses for its collectives), which synchronizes the
devices at run time and never pauses the Python threads. Other strategies fall back to
`ReplicaContext.all_gather`.

**Gradients.** The gathered rows keep their gradient, as `ReplicaContext.all_gather` does: the
gradient of the gather all-reduces (sums) the upstream gradients over the replicas and gives
each replica the slice of its own rows. With Keras's loss scaling (each replica's loss divided
by the number of replicas, the gradients summed across replicas), each replica's loss over its
own rows against all columns then has exactly the gradient of the global-batch objective, as
on one device. (The common shortcut, the other replicas' columns with stopped gradients, drops
the terms through those columns.) The estimates are stop-gradient anyway.

The local rows come first in what `gather` returns, so "column `i` is row `i`'s own" holds for
the first `B_local` columns and the consumers take the diagonal of a `[B_local, B_global]`
matrix.
"""

import keras


def _replica_context():
    """The `tf.distribute` replica context when several replicas run in sync, else `None`."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf  # The TensorFlow backend is active: TensorFlow is installed.

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync < 2:
        return None
    return context


def num_replicas():
    """Replicas whose rows `gather` concatenates: 1 outside a multi-replica `tf.distribute` step.

    Examples:

        >>> num_replicas()
        1
    """
    context = _replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def gather(values):
    """The global batch of `values`, with this replica's rows first.

    Args:
        values: A list of tensors `[B_local, ...]` (their first axis the batch).

    Returns:
        A list of tensors `[B_global, ...]`: this replica's rows (the inputs themselves),
        then the other replicas' rows in replica order. Without several `tf.distribute`
        replicas (one device, or JAX, whose jitted step already sees the global batch), the
        inputs unchanged.

    Examples:

        >>> [tuple(v.shape) for v in gather([keras.ops.ones((4, 2)), keras.ops.zeros((4,))])]
        [(4, 2), (4,)]
    """
    values = list(values)
    context = _replica_context()
    if context is None:
        return values
    import tensorflow as tf

    all_gather, all_reduce_sum = _collectives(context)
    sizes = all_gather(tf.shape(values[0])[:1])
    offset = tf.reduce_sum(sizes[: context.replica_id_in_sync_group])
    end = offset + tf.shape(values[0])[0]

    @tf.custom_gradient
    def differentiable_gather(local):
        def grad(upstream):
            return all_reduce_sum(upstream)[offset:end]

        return all_gather(local), grad

    def gather_one(local):
        local = tf.convert_to_tensor(local)
        every = differentiable_gather(local) if local.dtype.is_floating else all_gather(local)
        return tf.concat([local, every[:offset], every[end:]], axis=0)

    return [gather_one(value) for value in values]


def _collectives(context):
    """`(all_gather, all_reduce_sum)` along axis 0 for this replica, without a `merge_call`.

    `MirroredStrategy` keeps one `CollectiveReplicaLauncher` per local device (its own
    collective all-reduce and all-gather run through them); called from the replica function
    inside a `tf.function`, it adds the collective op to that replica's graph. Other
    strategies use `ReplicaContext.all_gather` (a `merge_call`).
    """
    import tensorflow as tf

    strategy = context.strategy
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        if tf.executing_eagerly():
            raise ValueError(
                "keras_ceb layers under MirroredStrategy gather the global batch inside a "
                "compiled step: compile the model with run_eagerly=False (the default). "
                "Received: tf.executing_eagerly()=True"
            )
        launchers = getattr(
            getattr(strategy.extended, "_collective_ops", None), "_launchers", None
        )
        replica = tf.get_static_value(context.replica_id_in_sync_group)
        if launchers and replica is not None and len(launchers) == context.num_replicas_in_sync:
            launcher = launchers[int(replica)]
            return (
                lambda value: launcher.all_gather(value, axis=0),
                lambda value: launcher.all_reduce(value),
            )
    return (
        lambda value: context.all_gather(value, axis=0),
        lambda value: context.all_reduce("sum", value),
    )
