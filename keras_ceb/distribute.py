"""Data-parallel training on an existing engine: `tf.distribute` or `keras.distribution`.

keras_ceb has no distribution code of its own: `data_parallel()` picks the backend's engine,

- **JAX**: `keras.distribution.DataParallel` over every device of the job. Several processes
  (hosts) join one job through Keras's own environment variables, read by
  `keras.distribution.initialize()`: `KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator's
  `host:port`, or all of them comma-separated), `KERAS_DISTRIBUTION_NUM_PROCESSES` and
  `KERAS_DISTRIBUTION_PROCESS_ID`. The train step is one `jax.jit` program over the global,
  sharded batch, so the layers' minibatch bounds see the whole batch.
- **TensorFlow**: `tf.distribute.MirroredStrategy` over the local GPUs (or the logical CPUs
  when there is no GPU), one host. Multi-worker TensorFlow (`MultiWorkerMirroredStrategy`)
  fails in Keras 3's `fit` (keras-team/keras#20585); `data_parallel()` refuses the
  multi-process variables there.

Build, compile and fit the model inside `scope()`. Under a multi-process job each process
feeds its share of every global batch: `keras_ceb.datasets.as_dataset` does it (the
distribution is made with `auto_shard_dataset=False` so that any pipeline can be used).
"""

import contextlib
import os

import keras

NUM_PROCESSES_VARIABLE = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID_VARIABLE = "KERAS_DISTRIBUTION_PROCESS_ID"
JOB_ADDRESSES_VARIABLE = "KERAS_DISTRIBUTION_JOB_ADDRESSES"


def environment_num_processes():
    """The process count that Keras's environment variables ask for (1 when unset).

    Examples:

        >>> environment_num_processes()
        1
    """
    text = os.environ.get(NUM_PROCESSES_VARIABLE, "").strip()
    if not text:
        return 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"${NUM_PROCESSES_VARIABLE} must be a positive integer. "
            f"Received: {NUM_PROCESSES_VARIABLE}={text!r}"
        )
    return value


def initialize():
    """Joins the multi-process job that Keras's environment variables describe (JAX only).

    Does nothing for one process or when the job is already initialized. Must run before
    anything uses a JAX device.

    Raises:
        ValueError: on a backend other than JAX, or with a variable missing.
    """
    num_processes = environment_num_processes()
    if num_processes == 1:
        return
    backend = keras.backend.backend()
    if backend != "jax":
        raise ValueError(
            "Multi-process training runs on the JAX backend (keras.distribution); Keras 3's "
            "fit fails under TensorFlow's MultiWorkerMirroredStrategy (keras-team/keras#20585). "
            f"Received: KERAS_BACKEND={backend!r}, {NUM_PROCESSES_VARIABLE}={num_processes}"
        )
    for name in (JOB_ADDRESSES_VARIABLE, PROCESS_ID_VARIABLE):
        if not os.environ.get(name, "").strip():
            raise ValueError(
                f"A {num_processes}-process job needs ${name} too. Received: {name}=None"
            )
    import jax

    if not jax.distributed.is_initialized():
        keras.distribution.initialize()


class DataParallel:
    """The backend's data-parallel engine. Make it with `data_parallel()`.

    Attributes:
        engine: The `tf.distribute.MirroredStrategy` or the `keras.distribution.DataParallel`.
        num_replicas: Devices that each hold a share of every batch.
        num_processes: Processes of the job (1 on TensorFlow).
        process_id: This process's index.
    """

    def __init__(self, engine, num_replicas, num_processes=1, process_id=0):
        self.engine = engine
        self.num_replicas = num_replicas
        self.num_processes = num_processes
        self.process_id = process_id

    @property
    def is_chief(self):
        """Whether this process writes the results (process 0)."""
        return self.process_id == 0

    def scope(self):
        """Context in which to build, compile and fit the model."""
        return self.engine.scope()

    def __repr__(self):
        return (
            f"DataParallel({type(self.engine).__name__}, num_replicas={self.num_replicas}, "
            f"num_processes={self.num_processes}, process_id={self.process_id})"
        )


def data_parallel(devices=None):
    """Data parallelism on the backend's own engine, over all devices by default.

    Args:
        devices: Devices to use (TensorFlow device names, or JAX devices); default: every
            GPU (TensorFlow: every logical CPU when there is none) or every JAX device of the
            job.

    Returns:
        A `DataParallel`: build, compile and fit the model inside its `scope()`.

    Raises:
        ValueError: on PyTorch, or with multi-process variables on TensorFlow.

    Examples:

        >>> parallel = data_parallel()
        >>> with parallel.scope():
        ...     model = keras.Sequential([keras.Input((8,)), keras_ceb.StochasticEncoder(2),
        ...                               keras_ceb.BackwardEncoder(3)])
        ...     model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        ...     history = model.fit(np.random.rand(32, 8), np.arange(32) % 3, verbose=0)
        >>> parallel.num_processes
        1
    """
    initialize()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if devices is None:
            devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
                d.name for d in tf.config.list_logical_devices("CPU")
            ]
        strategy = tf.distribute.MirroredStrategy(list(devices))
        return DataParallel(strategy, strategy.num_replicas_in_sync)
    if backend == "jax":
        import jax

        devices = list(jax.devices() if devices is None else devices)
        distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        return DataParallel(distribution, len(devices), jax.process_count(), jax.process_index())
    raise ValueError(
        "Data parallelism runs on TensorFlow (tf.distribute) and JAX (keras.distribution). "
        f"Received: backend={backend!r}"
    )


def process_local_copy(model):
    """A copy of `model` on this process's devices alone, for evaluation after a multi-process fit.

    Keras cannot fetch outputs that span several processes (`predict` fails there), while
    the weights of a data-parallel model are replicated on every process. The copy (same
    architecture, same weights, uncompiled) runs outside the distribution. With one process
    it is `model` itself.

    Examples:

        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> process_local_copy(model) is model
        True
    """
    if keras.backend.backend() != "jax":
        return model
    import jax

    if jax.process_count() < 2:
        return model
    weights = model.get_weights()
    with _no_distribution():
        copy = keras.models.clone_model(model)
        copy.set_weights(weights)
    return copy


@contextlib.contextmanager
def _no_distribution():
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)
