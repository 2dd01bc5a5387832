"""The `keras-ceb tune` command: a keras-tuner search over rho, scored on held-out data.

`keras_ceb.cli` parses the options and calls `run(args)`; each trial's model is the one
`keras_ceb.training.train` builds (`recipe.build_model`), at the trial's rho. Writes
`trials.csv`, `trials.md`, `trials.json`, `objectives.png` and `best_model.keras` into `--out`;
the same command resumes an interrupted search. Errors are one line (`TrainingError`).
"""

import dataclasses
import json
import math
import pathlib
import shutil
import time

from keras_ceb import arguments
from keras_ceb import callbacks
from keras_ceb import console
from keras_ceb import datasets
from keras_ceb import evaluation
from keras_ceb import reporting
from keras_ceb import run_folder
from keras_ceb import tuning
from keras_ceb.training import config as config_lib
from keras_ceb.training import data as training_data
from keras_ceb.training import model_files
from keras_ceb.training import recipe
from keras_ceb.training.errors import TrainingError
from keras_ceb.training.errors import TrainingInterrupted

DEFAULT_RHO_VALUES = "-1,0,1,2,3,4,5"
TUNE_OUTPUTS = ("trials.csv", "trials.md", "trials.json", "objectives.png", "best_model.keras")
TUNER_DIR = "tuner"
TUNE_OPTIONS_FILE = "options.json"
# Options that may change between an interrupted `tune` and the run that resumes it.
TUNE_RESUME_FREE_OPTIONS = ("data_dir", "download", "out", "overwrite", "verbose")


def output_folder(args):
    """`--out`, or `runs/tune_<objective>`."""
    return args.out or pathlib.Path("runs") / f"tune_{args.objective}"


def run(args):
    """Runs `keras-ceb tune` from its parsed arguments; returns the `RhoSearchResult`."""
    start = time.time()
    out = output_folder(args)
    if args.search != "grid" and args.rho_values is None and args.rho_min >= args.rho_max:
        raise TrainingError(
            f"--rho-min must be below --rho-max, got {args.rho_min:g} and {args.rho_max:g}"
        )
    if args.tune_objective == "ood_auroc" and not args.marginal_components:
        raise TrainingError("--tune-objective ood_auroc needs the rate: --marginal-components > 0")
    resume = check_tune_out(out, args)
    data_dir = training_data.check_data_dir(args.data_dir)
    training_data.check_data_env()
    download = arguments.download_flag(args)
    info = datasets.dataset_info(args.dataset)
    x_all, y_all = training_data.load_split(args.dataset, data_dir, "train", download)
    training_data.check_finite_data(x_all, f"{args.dataset} training images")
    held_out = args.validation_examples
    if held_out >= len(x_all):
        raise TrainingError(
            f"--validation-examples {held_out} leaves no training example: the "
            f"{args.dataset} training set has {len(x_all)}"
        )
    x_val, y_val = x_all[-held_out:], y_all[-held_out:]
    train_end = len(x_all) - held_out
    if args.max_train_examples is not None:
        train_end = min(train_end, args.max_train_examples)
    x_train, y_train = x_all[:train_end], y_all[:train_end]
    ood_name = args.ood_set or ("mnist" if args.dataset == "fashion_mnist" else "vertical_flip")
    ood_x = tune_ood_set(ood_name, x_val, args)
    # A random or Bayesian search draws from --rho-values too, when given.
    rho_values = args.rho_values or (
        arguments.rho_list(DEFAULT_RHO_VALUES) if args.search == "grid" else None
    )
    steps = math.ceil(len(x_train) / args.batch_size)

    # Each trial's model is `train`'s, built at the trial's rho without a warm-up: the tuner
    # sets the anneal as the encoders' warm-up (`--rho-anneal off` leaves none).
    trial_config = config_lib.TrainConfig(
        objective=args.objective,
        rho_anneal=None,
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule,
        latent_dim=args.latent_dim,
        covariance=args.covariance,
        marginal_components=args.marginal_components,
        head=args.head,
        seed=args.seed,
    ).resolved()

    def build(rho):
        return recipe.build_model(dataclasses.replace(trial_config, rho=float(rho)), info, steps)

    train_x, val_x = x_train, x_val
    progress = console.progress_mode(args.verbose)
    fit_callbacks = [callbacks.EpochLines(prefix="  ")] if progress == "lines" else []
    settings = {
        key: (str(value) if isinstance(value, pathlib.Path) else value)
        for key, value in vars(args).items()
        if key not in ("handler", "command")
    }
    if resume:
        print(
            f"Resuming the unfinished search in {run_folder.show_path(out)} "
            "(finished trials are kept; --overwrite starts over)"
        )
    else:
        run_folder.clear(out, TUNE_OUTPUTS, backup=False)
        shutil.rmtree(out / TUNER_DIR, ignore_errors=True)
        (out / TUNER_DIR).mkdir(parents=True)
        reporting.write_json(out / TUNER_DIR / TUNE_OPTIONS_FILE, tune_options(args))
    max_trials = None if args.search == "grid" else (args.max_trials or 8)
    try:
        result = tuning.tune_rho(
            build,
            train_x,
            y_train,
            (val_x, y_val),
            ood_x=ood_x,
            objective=args.tune_objective,
            search=args.search,
            rho_values=rho_values,
            rho_min=args.rho_min,
            rho_max=args.rho_max,
            max_trials=max_trials,
            epochs=args.epochs,
            batch_size=args.batch_size,
            rho_anneal=args.rho_anneal,
            rho_anneal_epochs=args.rho_anneal_epochs,
            seed=args.seed,
            directory=out / TUNER_DIR,
            project_name="keras_tuner",
            overwrite=False,
            progress=print if args.verbose >= console.PROGRESS else None,
            verbose=1 if progress == "bar" else 0,
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
    config = {
        **settings,
        **search,
        "out": str(out.absolute()),
        "data_dir": None if data_dir is None else str(pathlib.Path(data_dir).absolute()),
        "data_files": {"train": training_data.data_files(args.dataset, data_dir, "train")},
        "ood_set": ood_name,
        "wall_time_s": time.time() - start,
    }
    written = tuning.save_results(
        result, out, extra={"settings": config, "environment": reporting.environment()}
    )
    print()
    print(tuning.format_table(result))
    best = result.best
    print(
        f"Best: rho = {best['rho']:g} ({result.objective} = {best[result.objective]:.4f}, "
        f"{'higher' if result.direction == 'max' else 'lower'} is better)"
        + (f"; {len(result.failed)} trial(s) failed" if result.failed else "")
    )
    print(f"Wrote {out}/: {', '.join(written)}")
    return result


def tune_options(args):
    """The options of `tune` that determine the search (see `TUNE_RESUME_FREE_OPTIONS`)."""
    return {
        key: (str(value) if isinstance(value, pathlib.Path) else value)
        for key, value in sorted(vars(args).items())
        if key not in ("handler", "command", *TUNE_RESUME_FREE_OPTIONS)
    }


def check_tune_out(out, args):
    """Checks `tune --out` before any work; returns whether to resume the search in it."""
    try:
        run_folder.check_writable_folder(out, "--out")
    except run_folder.RunFolderError as e:
        raise TrainingError(str(e)) from None
    shown = run_folder.show_path(out)
    finished = (out / "trials.json").exists()
    if finished and not args.overwrite:
        raise TrainingError(
            f"--out {shown} already holds a finished search (trials.json); pass "
            "--overwrite to replace it, or choose another --out"
        )
    options_file = out / TUNER_DIR / TUNE_OPTIONS_FILE
    if finished or args.overwrite or not options_file.is_file():
        return False
    try:
        saved = json.loads(options_file.read_text())
    except ValueError:
        saved = None
    differences = run_folder.option_differences(saved or {}, tune_options(args))
    if differences:
        raise TrainingError(
            f"--out {shown} holds an unfinished search with other options: "
            f"{'; '.join(differences)}; run it with its own options to resume it, "
            "or pass --overwrite to start over"
        )
    return True


def tune_ood_set(name, x_val, args):
    """The held-out OoD images of `tune`: as many as the held-out examples."""
    if name == "mnist":
        x, _ = training_data.load_split(
            "mnist",
            training_data.mnist_ood_data_dir(args.data_dir),
            "test",
            arguments.download_flag(args),
        )
        x = x[: len(x_val)]
        if x.shape[1:] != x_val.shape[1:]:
            raise TrainingError(
                f"--ood-set mnist has images of shape {x.shape[1:]}, the "
                f"{args.dataset} images {x_val.shape[1:]}: choose another --ood-set"
            )
        return x
    return evaluation.paper_ood_sets(x_val, seed=args.seed)[name]
