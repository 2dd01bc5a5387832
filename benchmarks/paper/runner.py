"""Runs the plan of a reproduction: trains, evaluates and memorizes, skipping what is done.

Every unit writes into its own folder (`storage`), its marker file last. Running the same
command again skips every finished training (a model is never retrained) and every finished
evaluation and memorization run made with the same settings; an interrupted run therefore
picks up at the unit where it stopped. A finished model trained with *other* training settings
is an error, never silently replaced: use another output folder.
"""

import math
import time

import keras
import numpy as np

from benchmarks.paper import measurements
from benchmarks.paper import storage
from benchmarks.paper.errors import ReproduceError
from benchmarks.paper.snapshots import CalibrationSnapshots
from keras_ceb import evaluation
from keras_ceb import models
from keras_ceb import run_folder
from keras_ceb import training
from keras_ceb.training import TrainConfig


def build_model(spec, preset, data, steps_per_epoch, epochs, seed, anneal=True):
    """Builds and compiles the classifier of `spec` under `preset`.

    With `anneal` (and a rho anneal in the preset, not for Determ) the encoder warms up from
    `rho + rho_anneal_offset` down to rho over the preset's anneal epochs (its own warm-up);
    without, it trains at rho from the first step. The learning rate decays to 0 over
    `epochs` with the cosine schedule.
    """
    rho = 0.0 if spec.rho is None else spec.rho
    warm = anneal and spec.rho is not None and bool(preset.anneal_epochs)
    model = models.build_classifier(
        spec.objective,
        input_shape=data.input_shape,
        num_classes=data.num_classes,
        backbone=preset.backbone,
        latent_dim=preset.latent_dim,
        rho=rho,
        marginal_components=preset.marginal_components,
        covariance=preset.covariance,
        head=preset.head,
        seed=seed,
        backbone_kwargs=dict(preset.backbone_kwargs),
        name=f"{spec.name}_seed{seed}",
        warmup_rho=preset.rho_anneal_offset if warm else 0.0,
        warmup_steps=min(preset.anneal_epochs, epochs - 1) * steps_per_epoch if warm else 0,
    )
    decay_steps = steps_per_epoch * epochs if preset.lr_schedule == "cosine" else None
    return models.compile_classifier(
        model, learning_rate=preset.learning_rate, decay_steps=decay_steps
    )


class _EpochTimer(keras.callbacks.Callback):
    """First callback: the wall and CPU (all threads) time of each epoch's training steps."""

    def __init__(self):
        super().__init__()
        self.train_seconds, self.total_seconds, self.start = [], [], None
        self.train_cpu_seconds, self.total_cpu_seconds, self.cpu_start = [], [], None

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.cpu_start = time.monotonic(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds.append(time.monotonic() - self.start)
        self.train_cpu_seconds.append(time.process_time() - self.cpu_start)


class _EpochDone(keras.callbacks.Callback):
    """Last callback: the epoch's time with the held-out estimates, and the progress note."""

    def __init__(self, timer, progress, epochs):
        super().__init__()
        self.timer, self.progress, self.epochs = timer, progress, epochs

    def on_epoch_end(self, epoch, logs=None):
        self.timer.total_seconds.append(time.monotonic() - self.timer.start)
        self.timer.total_cpu_seconds.append(time.process_time() - self.timer.cpu_start)
        if self.progress is not None:
            self.progress.update(f"epoch {epoch + 1}/{self.epochs} done")


def training_config(spec, preset, data, seed, folder):
    """The `keras_ceb.training.TrainConfig` of one model: the preset's settings, `folder` its
    run folder. With a rho anneal in the preset (not for Determ) rho starts at
    `rho + rho_anneal_offset`."""
    anneal = spec.rho is not None and bool(preset.anneal_epochs)
    backbone = dict(preset.backbone_kwargs)
    return TrainConfig(
        objective=spec.objective,
        rho=0.0 if spec.rho is None else float(spec.rho),
        rho_anneal=spec.rho + preset.rho_anneal_offset if anneal else None,
        rho_anneal_epochs=preset.anneal_epochs if anneal else 0,
        dataset=data.dataset,
        backbone=preset.backbone,
        wrn_depth=backbone.get("depth"),
        wrn_width=backbone.get("width"),
        head=preset.head,
        augment="none",
        latent_dim=preset.latent_dim,
        covariance=preset.covariance,
        marginal_components=preset.marginal_components or 0,
        epochs=preset.epochs,
        batch_size=preset.batch_size,
        learning_rate=preset.learning_rate,
        lr_schedule=preset.lr_schedule,
        seed=seed,
        out=folder,
        verbose=0,
    )


def train(unit, preset, data, out, progress=None):
    """Trains one model with `keras_ceb.training.train` and writes its folder; returns the
    marker record.

    The recipe of `keras-ceb train`: the data order and the encoder's noise are functions of
    (seed, epoch), a non-finite loss or weight stops with one line, and every epoch is
    checkpointed, so an interrupted model resumes from its last epoch (with the calibration
    snapshots already taken). The held-out estimates of every epoch and the final test
    metrics use the first `information_examples` test images.
    """
    folder = storage.model_folder(out, unit)
    resuming = (folder / run_folder.BACKUP_DIR).is_dir()
    stale = (storage.EVAL_MARKER, storage.EVAL_ARRAYS) + (
        () if resuming else (storage.CALIBRATION_FILE,)
    )  # of a model being replaced
    for name in stale:
        (folder / name).unlink(missing_ok=True)
    spec, seed = unit.spec, unit.seed
    config = training_config(spec, preset, data, seed, folder)
    snapshots = CalibrationSnapshots(
        data.x_test[: preset.calibration_examples],
        preset.calibration_epochs,
        path=folder / storage.CALIBRATION_FILE,
    )
    timer = _EpochTimer()
    count = preset.information_examples
    start = time.monotonic()
    try:
        result = training.train(
            config,
            callbacks=[timer, snapshots, _EpochDone(timer, progress, preset.epochs)],
            data=(
                data.x_train,
                np.asarray(data.y_train, "int32"),
                data.x_test[:count],
                np.asarray(data.y_test[:count], "int32"),
            ),
        )
    except training.TrainingError as e:
        raise ReproduceError(f"training {spec.name} (seed {seed}): {e}") from None
    seconds = time.monotonic() - start  # The snapshots saved themselves as they were taken.
    record = {
        **result.metrics,
        "model": spec.name,
        "objective": spec.objective,
        "rho": spec.rho,
        "seed": seed,
        "training_config": preset.training_config(),
        "num_train": int(len(data.x_train)),
        "train_seconds": seconds,
        "epoch_train_seconds": timer.train_seconds,
        "epoch_seconds": timer.total_seconds,
        "epoch_train_cpu_seconds": timer.train_cpu_seconds,
        "epoch_cpu_seconds": timer.total_cpu_seconds,
        "calibration_epochs": sorted(snapshots.probabilities),
    }
    storage.write_json(folder / storage.TRAINED_MARKER, record)
    return record


def evaluate(unit, preset, data, out):
    """Measures one trained model and writes `eval.npz`, then `eval.json`; returns the record."""
    folder = storage.model_folder(out, unit)
    model = keras.models.load_model(folder / storage.MODEL_FILE, safe_mode=True, compile=False)
    start = time.monotonic()
    record, arrays = measurements.evaluate_model(
        model, data, preset, unit.seed, name=unit.spec.name
    )
    record.update(
        model=unit.spec.name,
        seed=unit.seed,
        evaluation_config=preset.evaluation_config(),
        evaluate_seconds=time.monotonic() - start,
    )
    storage.write_arrays(folder / storage.EVAL_ARRAYS, arrays)
    storage.write_json(folder / storage.EVAL_MARKER, record)
    return record


def memorize(unit, preset, data, out):
    """Trains a fresh model on random labels (no rho anneal); writes and returns the record.

    Every epoch is backed up in the unit's folder, so an interrupted run resumes from its last
    finished epoch (`evaluation.memorization_run`'s `backup_dir`)."""
    spec, seed = unit.spec, unit.seed
    n = min(preset.memorization_examples, len(data.x_train))
    x = data.x_train[:n]
    steps_per_epoch = math.ceil(n / preset.batch_size)

    def build():
        return build_model(
            spec, preset, data, steps_per_epoch, preset.memorization_epochs, seed, anneal=False
        )

    folder = storage.memorization_folder(out, unit)
    start, cpu_start = time.monotonic(), time.process_time()
    result = evaluation.memorization_run(
        build,
        x,
        data.num_classes,
        epochs=preset.memorization_epochs,
        batch_size=preset.batch_size,
        seed=seed,
        accuracy_examples=preset.memorization_accuracy_examples,
        backup_dir=folder / storage.MEMORIZATION_BACKUP,
    )
    record = {
        "model": spec.name,
        "objective": spec.objective,
        "rho": spec.rho,
        "seed": seed,
        "memorization_config": preset.memorization_config(),
        "num_examples": int(n),
        "accuracy_examples": int(min(n, preset.memorization_accuracy_examples or n)),
        "train_accuracy": [float(a) for a in result.train_accuracy],
        "initial_accuracy": float(result.initial_accuracy),
        "chance_level": float(result.chance_level),
        "seconds": time.monotonic() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }
    storage.write_json(folder / storage.MEMORIZATION_FILE, record)
    return record


def trained_record(unit, preset, out):
    """The marker of a finished model, `None` if not finished; an error if made otherwise."""
    path = storage.model_folder(out, unit) / storage.TRAINED_MARKER
    record = storage.read_json(path)
    if record is None or not (path.parent / storage.MODEL_FILE).is_file():
        return None
    if record.get("training_config") != preset.training_config():
        changed = sorted(
            k
            for k, v in preset.training_config().items()
            if (record.get("training_config") or {}).get(k) != v
        )
        raise ReproduceError(
            f"{path.parent} holds a model trained with other settings ({', '.join(changed)}); "
            "use another --out, or delete that folder to retrain it"
        )
    return record


def evaluated_record(unit, preset, out):
    """The record of a finished evaluation made with the preset's settings, else `None`."""
    folder = storage.model_folder(out, unit)
    record = storage.finished(
        folder / storage.EVAL_MARKER, "evaluation_config", preset.evaluation_config()
    )
    if record is None or storage.read_arrays(folder / storage.EVAL_ARRAYS) is None:
        return None
    return record


def memorized_record(unit, preset, out):
    """The record of a finished memorization run with the preset's settings, else `None`."""
    return storage.finished(
        storage.memorization_folder(out, unit) / storage.MEMORIZATION_FILE,
        "memorization_config",
        preset.memorization_config(),
    )


def run_units(units, preset, data, out, progress, report):
    """Runs every unit of the plan in order (skipping those done); `report(status)` for the
    report unit.

    Returns:
        A dict `{unit.key: "ran" | "cached"}`.
    """
    status = {}
    for unit in units:
        progress.start(unit)
        if unit.kind == "train":
            done = trained_record(unit, preset, out)
            if done is None:
                keras.backend.clear_session()  # each unit builds its own models
                train(unit, preset, data, out, progress)
        elif unit.kind == "evaluate":
            done = evaluated_record(unit, preset, out)
            if done is None:
                keras.backend.clear_session()
                evaluate(unit, preset, data, out)
        elif unit.kind == "memorize":
            done = memorized_record(unit, preset, out)
            if done is None:
                keras.backend.clear_session()
                memorize(unit, preset, data, out)
        else:
            done = None
            report(status)
        status[unit.key] = "cached" if done is not None else "ran"
        progress.finish(unit, cached=done is not None)
    return status
