"""The random-label memorization test ("information-free data").

Zhang et al. (2017) showed that ordinary networks fit training images with labels drawn at
random, which carry no information about the images. Fischer (2020, section 3.5) repeats the
test on Fashion-MNIST: a deterministic network memorizes the random labels, while CEB at
`rho < 6` stays at chance, because the labels give it no information worth keeping in `Z`.
"""

import dataclasses
import json
import os
import pathlib

import keras
import numpy as np

from keras_ceb.evaluation.ood import describe_array


def _validate_positive_int(value, name, minimum=1):
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or (value < minimum)
    ):
        raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}")
    return int(value)


def random_labels(num_examples, num_classes, seed):
    """Fixed labels drawn uniformly at random, independent of any input.

    Args:
        num_examples: Number of labels, >= 1.
        num_classes: Number of classes, >= 2.
        seed: Required non-negative int; the same seed gives the same labels.

    Returns:
        An `int64` array `(num_examples,)` with values in `[0, num_classes)`.

    Examples:

        >>> y_random = random_labels(1000, 10, seed=0)
        >>> y_random.shape, bool(np.array_equal(y_random, random_labels(1000, 10, seed=0)))
        ((1000,), True)
    """
    num_examples = _validate_positive_int(num_examples, "num_examples")
    num_classes = _validate_positive_int(num_classes, "num_classes", minimum=2)
    seed = _validate_positive_int(seed, "seed", minimum=0)
    return np.random.default_rng(seed).integers(0, num_classes, size=num_examples, dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class MemorizationResult:
    """The outcome of `memorization_run`.

    Attributes:
        train_accuracy: Per-epoch accuracy on the training inputs against their random labels,
            measured after each epoch by an inference pass (`predict_on_batch`, end-of-epoch
            weights).
        initial_accuracy: The same accuracy before training (near chance).
        chance_level: `1 / num_classes`, the accuracy of a model that memorizes nothing.
        labels: The fixed random labels it was trained on.
        history: `History.history` of the `fit` call (loss and whatever metrics were compiled).
    """

    train_accuracy: list
    initial_accuracy: float
    chance_level: float
    labels: np.ndarray
    history: dict

    @property
    def final_accuracy(self):
        return self.train_accuracy[-1]


def _accuracy(model, x, labels, num_classes, batch_size):
    """Accuracy of `argmax(model output)` against `labels`, in inference mode.

    Runs `model.predict_on_batch` over slices of `x` (arrays, or a dict/list of arrays for a
    multi-input model); it skips the per-call data pipeline of `model.predict`, which costs far
    more than the forward pass on a small set evaluated after every epoch.
    """
    correct = 0
    num_examples = labels.shape[0]
    for start in range(0, num_examples, batch_size):
        batch = keras.tree.map_structure(lambda a: a[start : start + batch_size], x)
        outputs = model.predict_on_batch(batch)
        if isinstance(outputs, (list, tuple, dict)):
            raise ValueError(
                "`memorization_run` needs a model with a single output, the class logits or "
                "probabilities `(num_examples, num_classes)`. Received: model output of type "
                f"{type(outputs).__name__}"
            )
        outputs = np.asarray(keras.ops.convert_to_numpy(outputs))
        expected_shape = (min(batch_size, num_examples - start), num_classes)
        if outputs.shape != expected_shape:
            raise ValueError(
                "The model must output class scores `(num_examples, num_classes)`, here "
                f"{expected_shape}. Received: model output={describe_array(outputs)}"
            )
        correct += int(np.sum(np.argmax(outputs, axis=-1) == labels[start : start + batch_size]))
    return correct / num_examples


ACCURACY_FILE = "train_accuracy.json"


def _write_json_atomically(path, obj):
    """Writes `obj` as JSON to `path` through a temporary file: never a half-written file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(obj))
    os.replace(temporary, path)


class _TrainAccuracy(keras.callbacks.Callback):
    """Records the accuracy on the training set, with the random labels, after every epoch.

    With a `path`, the curve so far is written there after every epoch (before the backup of
    `BackupAndRestore` records the epoch as done), and read back when training resumes.
    """

    def __init__(self, x, labels, num_classes, batch_size, path=None, initial=None):
        super().__init__()
        self.x = x
        self.labels = labels
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.path = path
        self.initial = initial
        self.accuracy = []

    def on_epoch_end(self, epoch, logs=None):
        del self.accuracy[epoch:]  # An epoch redone after an interruption replaces its value.
        self.accuracy.append(
            _accuracy(self.model, self.x, self.labels, self.num_classes, self.batch_size)
        )
        if self.path is not None:
            _write_json_atomically(
                self.path, {"initial_accuracy": self.initial, "train_accuracy": self.accuracy}
            )


def _describe_inputs(x, shapes):
    if isinstance(x, np.ndarray):
        return describe_array(x)
    return f"{type(x).__name__}(shapes={[tuple(shape) for shape in shapes]})"


def memorization_run(
    build_model,
    x,
    num_classes,
    epochs=50,
    batch_size=64,
    seed=0,
    one_hot=False,
    verbose=0,
    accuracy_examples=None,
    backup_dir=None,
):
    """Trains a fresh model on `x` with fixed random labels and tracks its training accuracy.

    Training accuracy is measured, before training and after every epoch, by an inference pass
    (`model.predict_on_batch` over `x`, argmax against the random labels) rather than read from
    the logged `accuracy` metric: the logged value is a running mean over the epoch, taken in
    training mode
    (with dropout or a sampled `z`) and only present if the model was compiled with it. The
    evaluation pass works for any single-output classifier whose output is logits or
    probabilities `(num_examples, num_classes)`, compiled with any loss.

    Args:
        build_model: A callable with no arguments returning a new, *compiled* `keras.Model`
            whose loss takes the labels in the format chosen by `one_hot`. Called once.
        x: Training inputs, e.g. Fashion-MNIST images: an array, or a dict/list of arrays for a
            multi-input model.
        num_classes: Number of classes, >= 2.
        epochs: Number of training epochs.
        batch_size: Batch size of `fit` and of the accuracy pass (the same, so a model whose
            output depends on the batch, such as a CatGen classifier, sees the same batches).
        seed: Seed of the random labels. It also seeds Python, NumPy and the Keras backend
            through `keras.utils.set_random_seed(seed)` before `build_model()` is called, so
            weight initialization and shuffling are reproducible (this sets global state).
        one_hot: If True, pass the labels to `fit` one-hot `(N, num_classes)`; else integer
            indices `(N,)` (for a sparse loss).
        verbose: Verbosity of `model.fit`.
        accuracy_examples: Measure the accuracy on the first this many training inputs only
            (`None`: all of them). The labels are random, so any fixed subset estimates the
            accuracy on all inputs without bias (standard error at most `0.5 / sqrt(n)`); on
            60,000 images, 10,000 cut the cost of the per-epoch pass by a factor of 6.
        backup_dir: A folder that makes the run resumable: a `keras.callbacks.BackupAndRestore`
            there saves the weights and the optimizer's state after every epoch, and the
            accuracy curve is kept beside them, so calling `memorization_run` again with the
            same arguments after an interruption continues from the last finished epoch. What
            it wrote there is removed when the run finishes (the folder too, if then empty).
            `history` then covers the epochs of the
            last call only.

    Returns:
        A `MemorizationResult`: `train_accuracy` (one float per epoch), `initial_accuracy`,
        `chance_level` (`1 / num_classes`), `labels`, `history`.

    Examples:

        >>> def build():
        ...     model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
        ...                               keras.layers.Dense(256, "relu"), keras.layers.Dense(10)])
        ...     model.compile(keras.optimizers.Adam(1e-2),
        ...                   keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        ...     return model
        >>> x = np.random.default_rng(0).random((200, 8, 8, 1)).astype("float32")
        >>> result = memorization_run(build, x, 10, epochs=30, seed=0)
        >>> result.final_accuracy > 0.5, result.chance_level   # Determ memorizes random labels
        (True, 0.1)

    References:
        Zhang, Bengio, Hardt, Recht & Vinyals, "Understanding deep learning requires rethinking
        generalization", ICLR 2017.
        Fischer, "The Conditional Entropy Bottleneck", Entropy 2020 (section 3.5).
    """
    if not callable(build_model):
        raise ValueError(
            "`build_model` must be a callable returning a compiled keras.Model. "
            f"Received: build_model={build_model!r}"
        )
    num_classes = _validate_positive_int(num_classes, "num_classes", minimum=2)
    epochs = _validate_positive_int(epochs, "epochs")
    batch_size = _validate_positive_int(batch_size, "batch_size")
    seed = _validate_positive_int(seed, "seed", minimum=0)
    if accuracy_examples is not None:
        accuracy_examples = _validate_positive_int(accuracy_examples, "accuracy_examples")
    leaves = keras.tree.flatten(x) if x is not None else []
    shapes = [getattr(leaf, "shape", ()) for leaf in leaves]
    if (
        not shapes
        or any(len(shape) < 1 or shape[0] != shapes[0][0] for shape in shapes)
        or (shapes[0][0] < 1)
    ):
        raise ValueError(
            "`x` must be a non-empty array (or a dict/list of arrays with the same first "
            f"dimension) of training inputs. Received: x={_describe_inputs(x, shapes)}"
        )
    labels = random_labels(int(shapes[0][0]), num_classes, seed)

    keras.utils.set_random_seed(seed)
    model = build_model()
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`build_model()` must return a keras.Model. Received: {type(model).__name__} object"
        )
    if not getattr(model, "compiled", False):
        raise ValueError(
            "`build_model()` must return a compiled model (call `model.compile(...)` inside it). "
            f"Received: an uncompiled {type(model).__name__} named {model.name!r}"
        )
    targets = np.eye(num_classes, dtype="float32")[labels] if one_hot else labels
    count = labels.shape[0] if accuracy_examples is None else min(accuracy_examples, len(labels))
    x_measured = keras.tree.map_structure(lambda a: a[:count], x)
    measured_labels = labels[:count]
    callbacks, path, saved = [], None, None
    if backup_dir is not None:
        backup_dir = pathlib.Path(backup_dir)
        backup_dir.mkdir(parents=True, exist_ok=True)
        path = backup_dir / ACCURACY_FILE
        if path.is_file():
            saved = json.loads(path.read_text())
    if saved is None:
        initial_accuracy = _accuracy(model, x_measured, measured_labels, num_classes, batch_size)
    else:
        initial_accuracy = saved["initial_accuracy"]
    tracker = _TrainAccuracy(
        x_measured, measured_labels, num_classes, batch_size, path=path, initial=initial_accuracy
    )
    tracker.accuracy = list(saved["train_accuracy"]) if saved is not None else []
    callbacks.append(tracker)
    if backup_dir is not None:
        # After the tracker: an epoch counts as done only once its accuracy is written.
        callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir / "model")))
    history = model.fit(
        x,
        targets,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=callbacks,
        verbose=verbose,
    )
    train_accuracy = list(tracker.accuracy)
    if backup_dir is not None:
        path.unlink(missing_ok=True)  # BackupAndRestore removed its own folder at the end.
        try:
            backup_dir.rmdir()
        except OSError:
            pass  # Not empty: the user's own files are left in place.
    return MemorizationResult(
        train_accuracy=train_accuracy,
        initial_accuracy=initial_accuracy,
        chance_level=1.0 / num_classes,
        labels=labels,
        history=dict(history.history),
    )
