"""`run_search`: a rho search from a `TuneConfig`, with the run folder of `keras-ceb train`'s
kind: checked before any work, resumable (the tuner's trials are kept in `out/tuner`), every
output written atomically. Errors are one line (`TrainingError`) and name the config's fields.
"""

import dataclasses
import json
import math
import pathlib
import shutil
import time

from keras_ceb import callbacks
from keras_ceb import console
from keras_ceb import datasets
from keras_ceb import evaluation
from keras_ceb import reporting
from keras_ceb import run_folder
from keras_ceb.training import config as config_lib
from keras_ceb.training import data as training_data
from keras_ceb.training import model_files
from keras_ceb.training import recipe
from keras_ceb.training.errors import TrainingError
from keras_ceb.training.errors import TrainingInterrupted
from keras_ceb.tuning import report
from keras_ceb.tuning import rho_tuner

OUTPUTS = ("trials.csv", "trials.md", "trials.json", "objectives.png", "best_model.keras")
TUNER_DIR = "tuner"
OPTIONS_FILE = "options.json"


def run_search(config, progress=None):
    """Runs (or resumes) the search of `config` and writes its outputs into `config.out_folder`.

    Args:
        config: A `TuneConfig`.
        progress: `progress(line)` for a line per trial and the resume notice (e.g. `print`);
            `None` is silent.

    Returns:
        `(result, written)`: the `RhoSearchResult` and the names of the files written.

    Examples:

        ```python
        result, written = run_search(TuneConfig(rho_values=(0.0, 2.0), epochs=2), print)
        result.best["rho"]
        ```
    """
    start = time.time()
    out = config.out_folder
    resume = check_out(config)
    data_dir = training_data.check_data_dir(config.data_dir)
    training_data.check_data_env()
    info = datasets.dataset_info(config.dataset)
    x_train, y_train, x_val, y_val = held_out_split(config, data_dir)
    ood_name = config.held_out_ood_set
    ood_x = held_out_ood_images(ood_name, x_val, config)
    steps = math.ceil(len(x_train) / config.batch_size)

    # Each trial's model is `train`'s, built at the trial's rho without a warm-up: the tuner
    # sets the anneal as the encoders' warm-up (`rho_anneal=None` leaves none).
    trial_config = config_lib.TrainConfig(
        objective=config.objective,
        rho_anneal=None,
        dataset=config.dataset,
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        lr_schedule=config.lr_schedule,
        latent_dim=config.latent_dim,
        covariance=config.covariance,
        marginal_components=config.marginal_components,
        head=config.head,
        seed=config.seed,
    ).resolved()

    def build(rho):
        return recipe.build_model(dataclasses.replace(trial_config, rho=float(rho)), info, steps)

    mode = console.progress_mode(config.verbose)
    fit_callbacks = [callbacks.EpochLines(prefix="  ")] if mode == "lines" else []
    if resume:
        if progress is not None:
            progress(
                f"Resuming the unfinished search in {run_folder.show_path(out)} "
                "(finished trials are kept; overwriting the folder starts over)"
            )
    else:
        run_folder.clear(out, OUTPUTS, backup=False)
        shutil.rmtree(out / TUNER_DIR, ignore_errors=True)
        (out / TUNER_DIR).mkdir(parents=True)
        reporting.write_json(out / TUNER_DIR / OPTIONS_FILE, config.options())
    try:
        result = rho_tuner.tune_rho(
            build,
            x_train,
            y_train,
            (x_val, y_val),
            ood_x=ood_x,
            objective=config.tune_objective,
            search=config.search,
            rho_values=config.grid,
            rho_min=config.rho_min,
            rho_max=config.rho_max,
            max_trials=config.trials,
            epochs=config.epochs,
            batch_size=config.batch_size,
            rho_anneal=config.rho_anneal,
            rho_anneal_epochs=config.rho_anneal_epochs,
            seed=config.seed,
            directory=out / TUNER_DIR,
            project_name="keras_tuner",
            overwrite=False,
            progress=progress,
            verbose=1 if mode == "bar" else 0,
            callbacks=fit_callbacks,
            shuffle=True,
        )
    except RuntimeError as e:
        raise TrainingError(
            f"{model_files.first_line(e)}; see the trials in "
            f"{run_folder.show_path(out / TUNER_DIR)}"
        ) from None
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted; the finished trials are kept in "
            f"{run_folder.show_path(out / TUNER_DIR)}: run the same command "
            "again to resume"
        ) from None
    search = dict(result.settings)
    search["tune_objective"] = search.pop("objective")  # `objective` is the training one.
    settings = {
        **config.settings(),
        **search,
        "out": str(out.absolute()),
        "data_dir": None if data_dir is None else str(pathlib.Path(data_dir).absolute()),
        "data_files": {"train": training_data.data_files(config.dataset, data_dir, "train")},
        "ood_set": ood_name,
        "wall_time_s": time.time() - start,
    }
    written = report.save_results(
        result, out, extra={"settings": settings, "environment": reporting.environment()}
    )
    return result, written


def held_out_split(config, data_dir):
    """`(x_train, y_train, x_val, y_val)`: the training set less its last
    `validation_examples`, which are held out to score the trials."""
    x_all, y_all = training_data.load_split(config.dataset, data_dir, "train", config.download)
    training_data.check_finite_data(x_all, f"{config.dataset} training images")
    held_out = config.validation_examples
    if held_out >= len(x_all):
        raise TrainingError(
            f"`validation_examples` {held_out} leaves no training example: the "
            f"{config.dataset} training set has {len(x_all)}"
        )
    train_end = len(x_all) - held_out
    if config.max_train_examples is not None:
        train_end = min(train_end, config.max_train_examples)
    return x_all[:train_end], y_all[:train_end], x_all[-held_out:], y_all[-held_out:]


def check_out(config):
    """Checks `config.out_folder` before any work; returns whether to resume the search in it."""
    out = config.out_folder
    try:
        run_folder.check_writable_folder(out, "`out`")
    except run_folder.RunFolderError as e:
        raise TrainingError(str(e)) from None
    shown = run_folder.show_path(out)
    finished = (out / "trials.json").exists()
    if finished and not config.overwrite:
        raise TrainingError(
            f"`out` {shown} already holds a finished search (trials.json); pass "
            "`overwrite=True` to replace it, or choose another `out`"
        )
    options_file = out / TUNER_DIR / OPTIONS_FILE
    if finished or config.overwrite or not options_file.is_file():
        return False
    try:
        saved = json.loads(options_file.read_text())
    except ValueError:
        saved = None
    differences = run_folder.option_differences(saved or {}, config.options())
    if differences:
        raise TrainingError(
            f"`out` {shown} holds an unfinished search with other options: "
            f"{'; '.join(differences)}; run it with its own options to resume it, "
            "or pass `overwrite=True` to start over"
        )
    return True


def held_out_ood_images(name, x_val, config):
    """The held-out OoD images of the search: as many as the held-out examples."""
    if name == "mnist":
        x = training_data.load_mnist_ood(config.data_dir, config.download, len(x_val))
        if x.shape[1:] != x_val.shape[1:]:
            raise TrainingError(
                f"`ood_set='mnist'` has images of shape {x.shape[1:]}, the "
                f"{config.dataset} images {x_val.shape[1:]}: choose another `ood_set`"
            )
        return x
    return evaluation.paper_ood_sets(x_val, seed=config.seed)[name]
