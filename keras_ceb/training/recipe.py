"""`train(config)`: the one training recipe, below `keras-ceb train`, the reproducer and notebooks.

    from keras_ceb.training import TrainConfig, train
    result = train(TrainConfig(objective="ceb", rho=0.0, epochs=2, out="runs/ceb"))
    result.test["accuracy"], result.out

The recipe: `out` is checked before any data is loaded (a finished run is never replaced
without `overwrite=True`; an unfinished one with the same settings is resumed), the data is
loaded and checked for NaN, the classifier is built and compiled (`keras_ceb.models`), and
`fit` runs with the data order and the encoder's noise as functions of (seed, epoch)
(`EpochBatches`, `EpochSeeding`), the rho anneal, a stop on a non-finite loss or weight, and a
checkpoint of every epoch in `out/.backup` (Keras's `BackupAndRestore`): a run killed at any
point and started again ends with the weights an uninterrupted run would have had. Then the
test metrics, `model.keras`, `history.json`, the two figures and `metrics.json` (last: it
marks a finished run), each written atomically. With `distribute="data-parallel"` the model
is built and fit under the backend's engine (`keras_ceb.distribute`).
"""

import contextlib
import dataclasses
import math
import pathlib
import shutil
import time
from typing import Any
from typing import Optional

import keras

from keras_ceb import callbacks as callbacks_lib
from keras_ceb import console
from keras_ceb import datasets
from keras_ceb import distribute
from keras_ceb import models
from keras_ceb import reporting
from keras_ceb import run_folder
from keras_ceb.evaluation import shift as shift_lib
from keras_ceb.training import data as data_lib
from keras_ceb.training import schedules
from keras_ceb.training.config import TrainConfig
from keras_ceb.training.errors import TrainingError
from keras_ceb.training.errors import TrainingInterrupted
from keras_ceb.training.model_files import first_line

# Settings that may change between an interrupted run and the run that resumes it: they change
# where the data is read or what is printed, not what is trained.
RESUME_FREE_OPTIONS = ("data_dir", "download", "max_test_examples", "out", "overwrite", "verbose")
OUTPUT_NAMES = (
    "model.keras",
    "history.json",
    "metrics.json",
    "training_curves.png",
    "information_plane.png",
)


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        model: The trained, compiled classifier (on a multi-process job's other processes,
            `None`).
        history: The per-epoch logs, with the consistency C added (`history.json`).
        test: The test metrics (accuracy, loss, rate, ReX, the bounds, consistency).
        out: The run folder.
        metrics: Everything written to `metrics.json` (`config`, `environment`, `test`, ...).
        title: One line naming the model and the data (`"CEB, rho=0 on fashion_mnist ..."`).
    """

    model: Any
    history: dict
    test: dict
    out: pathlib.Path
    metrics: dict
    title: str = ""

    def summary(self):
        """The test metrics as a table, then the files written: what `keras-ceb train` prints
        at the end (`print(result.summary())`)."""
        lines = [
            reporting.format_summary(
                {**self.test, "wall_time_s": self.metrics["wall_time_s"]}, title=self.title
            )
        ]
        if "cifar10_1" in self.metrics:
            lines.append(self.metrics["cifar10_1"]["summary"])
        lines.append(f"Wrote {self.out}/: {', '.join(OUTPUT_NAMES)}")
        return "\n".join(lines)

    @property
    def config(self):
        """The settings as run, as a `TrainConfig` (`metrics["config"]` read back)."""
        return TrainConfig.from_json(self.metrics["config"])


def warmup(config, steps_per_epoch):
    """The encoder's rho warm-up for the anneal: `(warmup_rho, warmup_steps)`, `(0, 0)` for none.

    The anneal is the encoder's own warm-up (`StochasticEncoder(warmup_rho=, warmup_steps=)`),
    linear per optimizer step from `anneal_start` down to `rho` over `rho_anneal_epochs`
    epochs, shortened to `epochs - 1` epochs so that at least the last epoch trains at `rho`.
    """
    if config.anneal_start is None:
        return 0.0, 0
    return config.anneal_start - config.rho, config.anneal_epochs * steps_per_epoch


def build_model(config, info, steps_per_epoch):
    """Builds and compiles the classifier that `config` (resolved) describes.

    The rho anneal is the encoder's warm-up (`warmup`): the encoder holds `rho`, and its
    objective starts at the anneal's start.
    """
    warmup_rho, warmup_steps = warmup(config, steps_per_epoch)
    model = models.build_classifier(
        config.objective,
        input_shape=info.input_shape,
        num_classes=info.num_classes,
        backbone=config.backbone,
        latent_dim=config.latent_dim,
        rho=config.rho,
        marginal_components=config.marginal_components or None,
        covariance=config.covariance,
        head=config.head,
        seed=config.seed,
        backbone_kwargs=config.backbone_kwargs,
        warmup_rho=warmup_rho,
        warmup_steps=warmup_steps,
    )
    decay_steps = steps_per_epoch * config.epochs if config.lr_schedule == "cosine" else None
    optimizer = None
    if config.lr_schedule == "step":
        optimizer = keras.optimizers.Adam(
            schedules.learning_rate_schedule(config.learning_rate, steps_per_epoch * config.epochs)
        )
    return models.compile_classifier(
        model, learning_rate=config.learning_rate, decay_steps=decay_steps, optimizer=optimizer
    )


def evaluate_test_metrics(model, x, y, batch_size):
    """Test accuracy, loss and the information metrics of a compiled classifier.

    Returns:
        A dict with `accuracy`, `loss`, the logged information metrics (`rate`, `rex`,
        `i_xz_lower`, `i_yz`; `None` where the model does not log one), `consistency` and
        `num_examples`.
    """
    logs = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    # `rho` is a setting (in the run's config), not a measurement.
    result = {key: float(value) for key, value in logs.items() if key != "rho"}
    for key in reporting.INFORMATION_KEYS:
        result.setdefault(key, None)
    result = reporting.add_consistency(result)
    result["num_examples"] = int(len(y))
    return result


def title(objective, rho, dataset, num_examples):
    """The summary's title: `CEB, rho=0 on fashion_mnist: 10000 test examples`."""
    rho_text = "" if objective == "determ" else f", rho={rho:g}"
    return f"{objective.upper()}{rho_text} on {dataset}: {num_examples} test examples"


def write_training_outputs(out, model, history, config, info, heading):
    """Writes `model.keras`, `history.json` and the two PNG plots into `out`, each atomically."""
    reporting.replace_atomically(out / "model.keras", model.save)
    reporting.write_json(out / "history.json", history)
    # The test set is the `validation_data` of `fit`: monitored per epoch, never selected on.
    reporting.replace_atomically(
        out / "training_curves.png",
        lambda path: reporting.plot_training_curves(
            history, path, title=heading, validation_label="test"
        ),
    )
    reporting.replace_atomically(
        out / "information_plane.png",
        lambda path: reporting.plot_information_plane(
            history,
            path,
            num_classes=info.num_classes,
            batch_size=config.batch_size,
            title=f"information plane, {config.objective.upper()}"
            + ("" if config.objective == "determ" else f" rho={config.rho:g}"),
            validation_label="test",
        ),
    )


def check_config(config):
    """The checks that need more than one field; returns the output folder."""
    if config.backbone != "wide_resnet" and (config.wrn_depth or config.wrn_width):
        raise TrainingError("`wrn_depth` and `wrn_width` need `backbone='wide_resnet'`")
    if config.wrn_depth is not None and (config.wrn_depth < 10 or (config.wrn_depth - 4) % 6):
        raise TrainingError(
            f"`wrn_depth` must be 6n+4 (10, 16, 22, 28, ...), got {config.wrn_depth}"
        )
    return config.out or config.default_out


def training_options(config):
    """The settings that determine what is trained (see `RESUME_FREE_OPTIONS`), as stored in
    an unfinished run's folder to refuse resuming it with other settings."""
    return {
        key: value
        for key, value in sorted(config.resolved().to_dict().items())
        if key not in RESUME_FREE_OPTIONS
    }


def check_out(out, config):
    """Checks `out` before any work; returns whether to resume the unfinished run in it.

    A finished run is refused without `overwrite`; an unfinished one is resumed, unless
    its settings differ from these (refused) or `overwrite` is set (started over).
    """
    try:
        run_folder.check_writable_folder(out, "`out`")
        state = run_folder.train_state(out)
    except run_folder.RunFolderError as e:
        raise TrainingError(str(e)) from None
    shown = run_folder.show_path(out)
    if state == run_folder.FINISHED and not config.overwrite:
        found = ", ".join(run_folder.present(out, run_folder.TRAIN_OUTPUTS))
        raise TrainingError(
            f"`out` {shown} already holds a finished run ({found}); pass `overwrite=True` to "
            "replace it, or choose another `out`"
        )
    if state != run_folder.UNFINISHED or config.overwrite:
        return False
    saved = run_folder.read_options(out)
    if saved is not None:
        differences = run_folder.option_differences(saved, training_options(config))
        if differences:
            raise TrainingError(
                f"`out` {shown} holds an unfinished run with other options: "
                f"{'; '.join(differences)}; run it with its own options to resume it, or "
                "pass `overwrite=True` to start over"
            )
    return True


def data_parallel(config):
    """The `distribute` engine (`keras_ceb.distribute.DataParallel`), or `None` for `none`.

    Keras's multi-process variables without `distribute="data-parallel"` are an error, so
    that a job never trains N independent copies by mistake.
    """
    try:
        if config.distribute == "none":
            if distribute.environment_num_processes() > 1:
                raise TrainingError(
                    f"${distribute.NUM_PROCESSES_VARIABLE} asks for several processes: "
                    "pass `distribute='data-parallel'`"
                )
            return None
        parallel = distribute.data_parallel()
    except ValueError as e:
        raise TrainingError(str(e)) from e
    if config.batch_size % parallel.num_replicas:
        raise TrainingError(
            f"`batch_size` {config.batch_size} must be divisible by the "
            f"{parallel.num_replicas} devices of `distribute='data-parallel'`"
        )
    return parallel


def recorded_config(config, out, data_dir, num_train_examples, num_test_examples, data_files=None):
    """The settings a run actually used, for `metrics.json`.

    Every field, with the defaults and shortcuts resolved: absolute paths, the data files
    read, the rho anneal's start and length (`None` and 0 without an anneal; the length cut
    to `epochs - 1`), the Wide ResNet's depth and width, the number of examples.
    `TrainConfig.from_json` reads it back. `data_files` replaces the search for the files
    read (for arrays given to `train`).
    """
    recorded = {key: value for key, value in config.to_dict().items() if key != "rho_anneal"}
    data_folder = None if data_dir is None else pathlib.Path(data_dir).expanduser().absolute()
    recorded.update(
        # Whether a missing copy would have been downloaded (the loader's default or never).
        download=bool(config.download and datasets.dataset_info(config.dataset).download_default),
        out=str(pathlib.Path(out).absolute()),
        data_dir=None if data_folder is None else str(data_folder),
        data_files=data_files
        or {
            split: data_lib.data_files(config.dataset, data_dir, split)
            for split in ("train", "test")
        },
        num_train_examples=int(num_train_examples),
        num_test_examples=int(num_test_examples),
        rho_anneal_start=config.anneal_start,
        rho_anneal_epochs=config.anneal_epochs,
        lr_decay_steps=(
            math.ceil(num_train_examples / config.batch_size) * config.epochs
            if config.lr_schedule == "cosine"
            else None
        ),
        marginal_components=config.marginal_components or None,
    )
    if config.backbone_kwargs:
        recorded.update(
            wrn_depth=config.backbone_kwargs["depth"], wrn_width=config.backbone_kwargs["width"]
        )
    return recorded


def interrupted_message(log, trained, epochs, backup):
    """What a Ctrl-C kept, and how to go on."""
    shown = run_folder.show_path(backup)
    if trained:
        return (
            f"interrupted while evaluating and saving; the {epochs} trained epochs are kept "
            f"in {shown}: run the same command again to finish"
        )
    if log.epoch is None:
        return "interrupted before training started: run the same command again to start"
    current = min(log.saved_epochs + 1, epochs)  # What the checkpoint lacks is lost.
    if log.saved_epochs == 0:
        return (
            f"interrupted in epoch {current} of {epochs}, before any epoch was saved: "
            "run the same command again to start"
        )
    return (
        f"interrupted in epoch {current} of {epochs}; epochs 1-{log.saved_epochs} are "
        f"saved in {shown}: run the same command again to resume"
    )


def train(
    config: TrainConfig,
    *,
    callbacks: tuple = (),
    verbose: Optional[int] = None,
    data: Optional[tuple] = None,
):
    """Trains, evaluates and saves the classifier of `config`; returns a `TrainResult`.

    Args:
        config: The settings (`TrainConfig`); fields left `None` take the dataset's recipe.
        callbacks: More Keras callbacks for `fit`, run after the recipe's own (the rho anneal
            first, the checkpoint last).
        verbose: Overrides `config.verbose` (0: no progress, only a line when a run resumes;
            1: a progress bar on a terminal, one line per epoch otherwise; 2: one line per
            epoch).
        data: `(x_train, y_train, x_test, y_test)` arrays of `config.dataset`'s kind to train
            and evaluate on, instead of loading them (`max_train_examples` and
            `max_test_examples` still cut them); the reproducer passes its own split.

    Returns:
        A `TrainResult` (`print(result.summary())` for the test metrics and the files
        written); on the other processes of a multi-process job, one whose `model` is `None`
        (process 0 evaluates and writes).

    Raises:
        TrainingError: bad settings, missing or damaged data, an unusable `out`, a run that
            diverged (the last finite checkpoint is kept), a disk that filled up.
        TrainingInterrupted: on Ctrl-C, saying what was kept (run again to resume).

    Examples:

        >>> from keras_ceb.training import TrainConfig, train
        >>> result = train(TrainConfig(epochs=1, max_train_examples=256,
        ...                            max_test_examples=64, out="/tmp/run"))
        ... # doctest: +SKIP
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"`config` must be a TrainConfig. Received: config={config!r}")
    if verbose is not None:
        config = dataclasses.replace(config, verbose=verbose)
    run = prepare_run(config, data)
    log = run_folder.HistoryLog(run.out, write=run.chief)
    seeding = callbacks_lib.EpochSeeding(run.config.seed)
    trained = False
    try:
        model, train_time = fit_model(run, callbacks, log, seeding)
        trained = True
        if run.multi_process and not run.chief:
            _notice(
                run.config,
                f"process {run.parallel.process_id} of {run.parallel.num_processes}: training "
                "done; process 0 writes the results",
            )
            history = reporting.history_with_consistency(log.history)
            return TrainResult(None, history, {}, run.out, {})
        result, history, heading = finish_run(run, model, log, seeding, train_time)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            interrupted_message(log, trained, run.config.epochs, run.backup)
        ) from None
    except OSError as e:  # A full disk, a folder removed under us, ...
        name = run_folder.show_path(e.filename) if e.filename else run_folder.show_path(run.out)
        raise TrainingError(
            f"cannot write {name}: {e.strerror or e}; the epochs saved so far are kept in "
            f"{run_folder.show_path(run.backup)}: fix it and run the same command again"
        ) from e
    shutil.rmtree(run.backup, ignore_errors=True)
    return TrainResult(model, history, result["test"], run.out, result, heading)


def _notice(config, line):
    """Prints a notice about the run folder (a resume, a finished training being saved), at
    every verbosity: the one thing `train` prints besides the progress of `fit`."""
    print(line, flush=True)


@dataclasses.dataclass
class Run:
    """What `train` works with once the settings, the folder and the data are checked."""

    config: TrainConfig  # resolved
    out: pathlib.Path
    parallel: Any  # a `distribute.DataParallel`, or None
    resume: bool
    data_dir: Optional[pathlib.Path]
    arrays: tuple  # (x_train, y_train, x_test, y_test)
    given_data: bool
    start: float

    @property
    def chief(self):
        """Whether this process owns `out` (process 0 of a multi-process job)."""
        return self.parallel is None or self.parallel.is_chief

    @property
    def multi_process(self):
        return self.parallel is not None and self.parallel.num_processes > 1

    @property
    def backup(self):
        return self.out / run_folder.BACKUP_DIR

    def scope(self):
        """The engine's scope (a new context manager for each `with`)."""
        return self.parallel.scope() if self.parallel is not None else contextlib.nullcontext()


def prepare_run(config, data=None):
    """Resolves and checks `config`, its output folder and its engine, loads the data, and
    clears the folder for a new run (or the killed run's temporary files to resume): a `Run`."""
    start = time.time()
    config = config.resolved()
    out = check_config(config)
    parallel = data_parallel(config)
    chief = parallel is None or parallel.is_chief
    resume = check_out(out, config) if chief else False  # Process 0 alone reads `out`.
    data_dir, arrays = load_data(config, data)
    run = Run(config, out, parallel, resume, data_dir, arrays, data is not None, start)
    if not chief:
        pass  # Process 0 owns `out`.
    elif not resume:  # A new run, or overwrite: the old outputs go now, not before the data.
        run_folder.clear(out, run_folder.TRAIN_OUTPUTS)
        run.backup.mkdir(parents=True)
        run_folder.write_options(out, training_options(config))
    else:
        run_folder.clear(out, (), backup=False)  # Temporary files of the killed run.
        _notice(
            config,
            f"Resuming the unfinished run in {run_folder.show_path(out)} "
            f"(from {run_folder.BACKUP_DIR}/; overwriting the run starts over)",
        )
    return run


def load_data(config, data=None):
    """`(data_dir, (x_train, y_train, x_test, y_test))`: `data` if given, else the dataset's
    splits, cut to `max_train_examples` / `max_test_examples` and checked finite."""
    if data is None:
        data_dir = data_lib.check_data_dir(config.data_dir)
        data_lib.check_data_env()
        x_train, y_train = data_lib.load_split(
            config.dataset, data_dir, "train", config.download, config.max_train_examples
        )
        x_test, y_test = data_lib.load_split(
            config.dataset, data_dir, "test", config.download, config.max_test_examples
        )
    else:
        data_dir = None
        x_train, y_train, x_test, y_test = data
        x_train, y_train = (
            x_train[: config.max_train_examples],
            y_train[: config.max_train_examples],
        )
        x_test, y_test = x_test[: config.max_test_examples], y_test[: config.max_test_examples]
    data_lib.check_finite_data(x_train, f"{config.dataset} training images")
    data_lib.check_finite_data(x_test, f"{config.dataset} test images")
    return data_dir, (x_train, y_train, x_test, y_test)


def fit_model(run, callbacks, log, seeding):
    """Builds the model and fits it (resuming from the backup); returns `(model, seconds)`.

    On a multi-process job's process 0 the model is a local copy, ready to evaluate.
    """
    config = run.config
    x_train, y_train, x_test, y_test = run.arrays
    keras.utils.set_random_seed(config.seed)
    with run.scope():  # The model, its variables and the data shards belong to the engine.
        # Data order and the encoder's noise are functions of (seed, epoch), and rho follows
        # the step: a resumed run repeats the uninterrupted run's epochs exactly.
        model = build_model(
            config,
            datasets.dataset_info(config.dataset),
            math.ceil(len(x_train) / config.batch_size),
        )
        augment = None if config.augment == "none" else config.augment
        train_data = datasets.EpochBatches(
            x_train, y_train, config.batch_size, seed=config.seed, augment=augment
        )
        test_data = datasets.as_dataset(
            x_test, y_test, batch_size=config.batch_size, shuffle=False
        )
    progress = console.progress_mode(config.verbose)
    fit_callbacks = list(callbacks) + fit_callbacks_of(run, train_data, log, seeding, progress)
    train_start = time.time()
    try:
        with run.scope():
            model.fit(
                train_data,
                epochs=config.epochs,
                validation_data=test_data,
                callbacks=fit_callbacks,
                verbose=1 if progress == "bar" else 0,
                shuffle=False,  # `train_data` orders each epoch itself.
            )
    except callbacks_lib.NonFiniteTrainingError as e:
        raise TrainingError(
            f"training diverged: {e}; the last finite state (epoch {log.saved_epochs}) is "
            f"kept in {run_folder.show_path(run.backup)}. Try a lower `learning_rate` (now "
            f"{config.learning_rate:g}) and check the data; `overwrite=True` starts over with "
            "new options"
        ) from None
    except Exception as e:
        if run.resume and log.first_epoch is None:  # BackupAndRestore could not restore.
            raise TrainingError(
                f"cannot resume from {run_folder.show_path(run.backup)}: "
                f"{first_line(e)}; pass `overwrite=True` to start over"
            ) from e
        raise
    if run.resume and log.first_epoch is None:
        _notice(config, f"All {config.epochs} epochs were done; evaluating and saving.")
    train_time = time.time() - train_start
    if run.multi_process and run.chief:
        model = models.compile_classifier(distribute.process_local_copy(model))
        # Seeding the distributed model's generators on process 0 alone would be a
        # collective that process 1 never joins (it waited at shutdown for 5 minutes).
        seeding.set_model(model)
    return model, train_time


def fit_callbacks_of(run, train_data, log, seeding, progress):
    """The recipe's callbacks of `fit`, after the caller's own, in order."""
    # Keras's validation logs the held-out estimates (`val_rate`, `val_i_xz_lower`, ...) with
    # the layers' fixed seed, so a resumed run logs what an uninterrupted one would. A
    # multi-process job is not resumable: it keeps no backup.
    fit_callbacks = [
        train_data.epoch_callback(),
        seeding,
        # Before the backup: a non-finite epoch is not saved.
        callbacks_lib.TerminateOnNonFinite(),
        log,
    ]
    if not run.multi_process:
        fit_callbacks += [
            keras.callbacks.BackupAndRestore(
                run.backup / run_folder.KERAS_BACKUP_DIR,
                double_checkpoint=True,
                delete_checkpoint=False,
            ),
            log.saved_callback(),
        ]
    if progress == "lines":
        fit_callbacks.append(callbacks_lib.EpochLines())  # Last: it prints the logs.
    return fit_callbacks


def finish_run(run, model, log, seeding, train_time):
    """Evaluates the trained model and writes the run's files, `metrics.json` last (it marks a
    finished run); returns `(metrics, history, heading)`."""
    config, out = run.config, run.out
    x_train, _, x_test, y_test = run.arrays
    seeding.seed_epoch(config.epochs)  # The evaluation's draws, as after an uninterrupted run.
    test = evaluate_test_metrics(model, x_test, y_test, config.batch_size)
    heading = title(config.objective, config.rho, config.dataset, len(x_test))
    history = reporting.history_with_consistency(log.history)
    write_training_outputs(
        out, model, history, config, datasets.dataset_info(config.dataset), heading
    )
    given = {split: "arrays given to train()" for split in ("train", "test")}
    result = {
        "config": recorded_config(
            config,
            out,
            run.data_dir,
            len(x_train),
            len(x_test),
            given if run.given_data else None,
        ),
        "environment": reporting.environment(),
        "test": test,
        "train_time_s": train_time,
        "wall_time_s": time.time() - run.start,
    }
    if config.dataset == "cifar10":  # The paper's distribution shift set, when prepared.
        result["cifar10_1"] = shift_lib.evaluate_cifar10_1(model, run.data_dir, config.batch_size)
    if run.resume:  # How many epochs the interrupted run(s) had completed.
        result["resumed_after_epochs"] = (
            config.epochs if log.first_epoch is None else log.first_epoch
        )
    reporting.write_json(out / "metrics.json", result)
    return result, history, heading
