"""The `keras-ceb` command: train and evaluate CEB / VIB / Determ image classifiers.

    keras-ceb train --objective ceb --rho 0 --out runs/ceb
    keras-ceb train --dataset cifar10 --wrn-depth 16 --wrn-width 4   # the paper's CIFAR-10 recipe
    keras-ceb evaluate runs/ceb/model.keras
    keras-ceb reproduce cifar10 --preset cpu --out runs/cifar10_cpu

`main(argv)` returns 0 on success; bad arguments, missing files and missing data end with a
one-line `keras-ceb <command>: error: ...` on stderr and a non-zero exit (`SystemExit`).
"""

import argparse
import math
import pathlib
import sys
import time

import keras
import numpy as np

from keras_ceb import callbacks
from keras_ceb import datasets
from keras_ceb import evaluation
from keras_ceb import models
from keras_ceb import reporting
from keras_ceb import rho as rho_lib
from keras_ceb.evaluation import report as report_lib

RHO_HELP = (
    "rho = log gamma: 0 targets the Minimum Necessary Information point; larger keeps more "
    "information about X"
)
DEFAULT_EPOCHS = 20
DEFAULT_BATCH_SIZE = 128
DEFAULT_LEARNING_RATE = 1e-3
# The default anneal starts at --rho + 3 and reaches --rho after 5 epochs. Measured on
# Fashion-MNIST, CEB at rho=0, 20 epochs: 92.2% test accuracy with it, 90.3% without
# (benchmarks/main_job.md). Higher starts (rho 10) now train without NaN too, but were not
# measured to be better.
DEFAULT_RHO_ANNEAL = "auto"
RHO_ANNEAL_AUTO_OFFSET = 3.0
DEFAULT_RHO_ANNEAL_EPOCHS = 5
OBJECTIVES = ("ceb", "vib", "determ")
HEADS = ("consistent", "catgen")
AUGMENTATIONS = ("none", "crop_flip", "autoaugment")
LR_SCHEDULES = ("cosine", "constant", "step")
# What `train` uses where an option is not given; `--dataset cifar10` takes the paper's recipe
# (`keras_ceb.reproduce.cifar10.TRAIN_RECIPE`).
DEFAULT_RECIPE = {"backbone": "small_convnet", "head": "consistent", "augment": "none",
                  "lr_schedule": "cosine"}
EXIT_USAGE = 2
EXIT_FAILURE = 1


class CLIError(Exception):
    """An error reported to the user as one line, without a traceback."""


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line (no usage block) on stderr."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


# Argument types: each raises `argparse.ArgumentTypeError`, which argparse reports as one line.


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _finite_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive_float(text):
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _non_negative_float(text):
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _anneal_start(text):
    if text.lower() in ("off", "none"):
        return None
    if text.lower() == "auto":
        return "auto"
    try:
        return _finite_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a finite number, 'auto' or 'off', got {text!r}"
        ) from None


def _dataset(text):
    names = datasets.DATASET_NAMES
    if text not in names:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {text!r}; expected one of {', '.join(names)}"
        )
    return text


def build_parser():
    """The `argparse` parser of `keras-ceb`, with the `train` and `evaluate` subcommands.

    Example:

    >>> args = build_parser().parse_args(["train", "--objective", "vib", "--rho", "2"])
    >>> args.objective, args.rho
    ('vib', 2.0)
    """
    parser = _Parser(
        prog="keras-ceb",
        description="Train and evaluate Conditional Entropy Bottleneck (CEB), VIB and "
        "deterministic image classifiers with Keras 3.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    _add_train_parser(commands)
    _add_evaluate_parser(commands)
    _add_reproduce_parser(commands)
    return parser


def _add_data_arguments(parser):
    parser.add_argument(
        "--dataset", type=_dataset, metavar="NAME", default="fashion_mnist",
        help="dataset name (default: fashion_mnist; also mnist, cifar10)",
    )
    parser.add_argument(
        "--data-dir", type=pathlib.Path, metavar="DIR", default=None,
        help="folder searched first for the data files (then $KERAS_CEB_DATA, the Keras cache, "
        "/usr/share/datasets)",
    )
    parser.add_argument(
        "--no-download", dest="download", action="store_false",
        help="never download: fail if no local copy of the data is found",
    )
    parser.add_argument(
        "--max-test-examples", type=_positive_int, metavar="N", default=None,
        help="evaluate on the first N test examples only (quick runs and tests)",
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, metavar="N", default=DEFAULT_BATCH_SIZE,
        help=f"batch size (default: {DEFAULT_BATCH_SIZE})",
    )


def _add_train_parser(commands):
    train = commands.add_parser(
        "train", help="train a classifier and write model, history, metrics and plots",
        description="Train a CEB, VIB or Determ classifier (small convnet -> 4-d Gaussian "
        "encoder -> head), then evaluate it on the test set. Writes model.keras, history.json, "
        "metrics.json, training_curves.png and information_plane.png into --out.",
    )
    train.add_argument("--objective", choices=OBJECTIVES, default="ceb",
                       help="training objective (default: ceb)")
    train.add_argument("--rho", type=_finite_float, metavar="RHO", default=0.0,
                       help=f"{RHO_HELP} (default: 0)")
    train.add_argument(
        "--rho-anneal", type=_anneal_start, default=DEFAULT_RHO_ANNEAL, metavar="START|auto|off",
        help="anneal rho linearly from START down to --rho over the first --rho-anneal-epochs "
        f"epochs; 'auto' starts at --rho + {RHO_ANNEAL_AUTO_OFFSET:g}, 'off' trains at --rho "
        "throughout; ignored for determ (default: auto)",
    )
    train.add_argument(
        "--rho-anneal-epochs", type=_non_negative_int, metavar="N",
        default=DEFAULT_RHO_ANNEAL_EPOCHS,
        help="length of the rho anneal in epochs, at most --epochs - 1 "
        f"(default: {DEFAULT_RHO_ANNEAL_EPOCHS})",
    )
    _add_data_arguments(train)
    train.add_argument("--epochs", type=_positive_int, metavar="N", default=DEFAULT_EPOCHS,
                       help=f"training epochs (default: {DEFAULT_EPOCHS})")
    train.add_argument(
        "--learning-rate", type=_positive_float, metavar="LR", default=DEFAULT_LEARNING_RATE,
        help=f"initial Adam learning rate (default: {DEFAULT_LEARNING_RATE:g})",
    )
    train.add_argument(
        "--lr-schedule", choices=LR_SCHEDULES, default=None,
        help="learning-rate schedule: cosine decay to 0 over the run, constant, or step (divided "
        "by 10 at 1/2 and 3/4 of the run) (default: step for cifar10, else cosine)",
    )
    train.add_argument(
        "--head", choices=HEADS, default=None,
        help="classifier head: the consistent classifier b(z|y), or bidirectional CatGen CEB "
        "(eq. 26) evaluated with the consistent classifier (default: catgen for cifar10, else "
        "consistent)",
    )
    train.add_argument(
        "--augment", choices=AUGMENTATIONS, default=None,
        help="training augmentation: none, pad-crop-flip, or AutoAugment's CIFAR-10 policy then "
        "pad-crop-flip (default: autoaugment for cifar10, else none)",
    )
    train.add_argument("--latent-dim", type=_positive_int, metavar="D", default=4,
                       help="dimension of the bottleneck z (default: 4, as in the paper)")
    train.add_argument("--covariance", choices=("full", "diag"), default="full",
                       help="Gaussian covariance of e(z|x), b(z|y) and m(z) (default: full)")
    train.add_argument(
        "--marginal-components", type=_non_negative_int, metavar="K", default=240,
        help="mixture components of the learned marginal m(z), used for the rate; 0 for none "
        "(default: 240, the paper's)",
    )
    train.add_argument(
        "--backbone", choices=("small_convnet", "wide_resnet"), default=None,
        help="feature extractor (default: wide_resnet for cifar10, else small_convnet; "
        "a Wide ResNet wants a GPU: use --wrn-depth 16 --wrn-width 4 or smaller on a CPU)",
    )
    train.add_argument("--wrn-depth", type=_positive_int, metavar="DEPTH", default=None,
                       help="Wide ResNet depth, 6n+4 (default: 28; needs --backbone wide_resnet)")
    train.add_argument("--wrn-width", type=_positive_int, metavar="K", default=None,
                       help="Wide ResNet widening factor (default: 10)")
    train.add_argument(
        "--max-train-examples", type=_positive_int, metavar="N", default=None,
        help="train on the first N training examples only (quick runs and tests)",
    )
    train.add_argument("--seed", type=int, metavar="SEED", default=0,
                       help="random seed (default: 0)")
    train.add_argument("--out", type=pathlib.Path, metavar="DIR", default=None,
                       help="output folder (default: runs/<objective>_rho<rho>)")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="Keras fit verbosity: 1 progress bar, 2 one line per epoch, 0 silent")
    train.set_defaults(handler=run_train)


def _add_evaluate_parser(commands):
    evaluate = commands.add_parser(
        "evaluate", help="evaluate a saved .keras model on the test set",
        description="Reload a saved .keras classifier and report its test accuracy and "
        "information metrics (rate, ReX, I(X;Z) and I(Y;Z) bounds, consistency).",
    )
    evaluate.add_argument("model", type=pathlib.Path, metavar="MODEL",
                          help="path of a model saved by `keras-ceb train` (model.keras)")
    _add_data_arguments(evaluate)
    evaluate.add_argument("--out", type=pathlib.Path, metavar="DIR", default=None,
                          help="folder to write metrics.json (and the figures) into "
                          "(default: print only)")
    robustness = evaluate.add_argument_group(
        "robustness (the paper's Table 1)",
        "OoD detection is scored with in-distribution as the positive class.")
    robustness.add_argument("--ood", action="store_true",
                            help="OoD detection by rate R, entropy H and max-softmax on U(0,1) "
                            "noise, vertically flipped test images and (for Fashion-MNIST) the "
                            "MNIST test set")
    robustness.add_argument("--cw-ood-examples", type=_non_negative_int, metavar="N", default=0,
                            help="with --ood, also use N Carlini-Wagner L2 adversarial examples "
                            "as an OoD set (slow: 5 x 1000 iterations; default: 0)")
    robustness.add_argument("--attack", choices=report_lib.ATTACKS, default=None,
                            help="adversarial attack to run on the test set")
    robustness.add_argument("--eps", type=_non_negative_float, metavar="EPS", default=0.1,
                            help="attack radius for PGD (default: 0.1)")
    robustness.add_argument("--attack-steps", type=_positive_int, metavar="N", default=7,
                            help="PGD steps (default: 7)")
    robustness.add_argument("--attack-step-size", type=_positive_float, metavar="S", default=None,
                            help="PGD step size in the attack's norm (default: "
                            "min(2.5 * EPS / N, cap), N the --attack-steps and cap 0.03 for "
                            "L-inf, 0.03 * sqrt(pixels) for L2)")
    robustness.add_argument("--attack-examples", type=_positive_int, metavar="N", default=1000,
                            help="attack the first N test examples (default: 1000)")
    robustness.add_argument("--target-class", type=_non_negative_int, metavar="K", default=None,
                            help="targeted attack towards class K (default: untargeted)")
    robustness.add_argument("--calibration", action="store_true",
                            help="expected calibration error and the reliability diagram (5%% bins)")
    robustness.add_argument("--num-samples", type=_positive_int, metavar="N", default=1,
                            help="draws of z to average the scores and the PGD gradients (EOT) "
                            "over (default: 1)")
    robustness.add_argument("--seed", type=_non_negative_int, metavar="SEED", default=0,
                            help="seed of the noise images, the attack's random start and its "
                            "draws of z")
    evaluate.set_defaults(handler=run_evaluate)


# Pieces shared by the commands.


def load_split(dataset, data_dir, split, download=None, max_examples=None):
    """Loads one split of `dataset` as `(x, y)`; missing or damaged data raise `CLIError`.

    Args:
        dataset: A name of `keras_ceb.datasets.DATASET_NAMES`.
        data_dir: Folder searched first, or `None`.
        split: `"train"` or `"test"`.
        download: Whether to download when no local copy is found (`None`: the loader's
            default).
        max_examples: Keep only the first `max_examples` examples, or `None` for all.
    """
    info = datasets.dataset_info(dataset)
    if split not in info.splits:
        raise CLIError(
            f"dataset {dataset!r} has no {split!r} split (it has {', '.join(info.splits)})"
        )
    try:
        x, y = datasets.load(dataset, data_dir=data_dir, download=download, split=split)
    except (datasets.DatasetNotFoundError, datasets.CorruptDatasetError) as e:
        if dataset.startswith("cifar10") and isinstance(e, datasets.DatasetNotFoundError):
            raise CLIError(
                f"{e}\n  - keras-ceb: pass --data-dir DIR (the tensorflow-datasets data dir that "
                f"holds {dataset}/) or set $TFDS_DATA_DIR to it") from e
        raise CLIError(str(e)) from e
    if max_examples is not None:
        x, y = x[:max_examples], y[:max_examples]
    return x, y


def _download_flag(args):
    return None if args.download else False


def evaluate_test_metrics(model, x, y, batch_size):
    """Test accuracy, loss and the information metrics of a compiled classifier.

    Returns:
        A dict with `accuracy`, `loss`, the logged information metrics (`rate`, `rex`,
        `i_xz_lower`, `i_yz`; `None` where the model does not log one), `consistency` and
        `num_examples`.
    """
    inputs = model_inputs(model, x, y)
    logs = model.evaluate(inputs, y, batch_size=batch_size, verbose=0, return_dict=True)
    result = {key: float(value) for key, value in logs.items()}
    # The layers estimate the rate and the I(X;Z) bound only when training (evaluate reports
    # NaN for them): estimate them on the test set the same way.
    result.update(evaluation.information_estimates(model, inputs, batch_size=batch_size))
    for key in reporting.INFORMATION_KEYS:
        result.setdefault(key, None)
    result = reporting.add_consistency(result)
    result["num_examples"] = int(len(x))
    return result


def model_inputs(model, x, y):
    """What `model` takes: the images, or `{"images", "labels"}` for a model that takes labels."""
    return {"images": x, "labels": y} if models.takes_labels(model) else x


def load_classifier(path):
    """Loads a `.keras` classifier with `safe_mode=True`; compiles it if it was saved uncompiled."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise CLIError(f"model file not found: {path}")
    if path.suffix != ".keras":
        raise CLIError(f"expected a .keras model file, got {path}")
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as e:  # load_model raises many types for unreadable files.
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CLIError(f"could not load {path}: {first_line}") from e
    if not rho_lib.encoders(model):
        raise CLIError(f"{path} is not a keras_ceb classifier: it has no StochasticEncoder")
    if not getattr(model, "compiled", False) or model.loss is None:
        models.compile_classifier(model)
    return model


def _check_input_shape(model, x, dataset):
    expected = tuple(model.input_shape[1:])
    if tuple(x.shape[1:]) != expected:
        raise CLIError(
            f"the model expects inputs of shape {expected} but {dataset} has {tuple(x.shape[1:])}"
        )


# Commands.


def _title(objective, rho, dataset, num_examples):
    rho_text = "" if objective == "determ" else f", rho={rho:g}"
    return f"{objective.upper()}{rho_text} on {dataset}: {num_examples} test examples"


def _backbone_kwargs(args):
    if args.backbone == "wide_resnet":
        return {"depth": args.wrn_depth or 28, "width": args.wrn_width or 10}
    return {}


def anneal_start(args):
    """The rho at which training starts: `--rho-anneal` resolved, or `None` without anneal."""
    if args.rho_anneal is None or args.objective == "determ":
        return None
    if args.rho_anneal == "auto":
        return args.rho + RHO_ANNEAL_AUTO_OFFSET
    return args.rho_anneal


def resolve_recipe(args):
    """Fills the `train` options left unset with the dataset's recipe (in place); returns `args`.

    `--dataset cifar10` takes the paper's CIFAR-10 recipe (a Wide ResNet, bidirectional CatGen
    CEB, AutoAugment, the step schedule); the other datasets the small-convnet defaults.
    """
    recipe = dict(DEFAULT_RECIPE)
    if args.dataset == "cifar10":
        from keras_ceb.reproduce import cifar10

        recipe = dict(cifar10.TRAIN_RECIPE)
    for key, value in recipe.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def build_model(args, info, steps_per_epoch):
    """Builds and compiles the classifier that `keras-ceb train` describes.

    With a rho anneal the encoder starts at its first rho (the `RhoScheduler` of
    `train_callbacks` then moves it to `--rho`).
    """
    resolve_recipe(args)
    start_rho = anneal_start(args)
    model = models.build_classifier(
        args.objective,
        input_shape=info.input_shape,
        num_classes=info.num_classes,
        backbone=args.backbone,
        latent_dim=args.latent_dim,
        rho=args.rho if start_rho is None else start_rho,
        marginal_components=args.marginal_components or None,
        covariance=args.covariance,
        seed=args.seed,
        backbone_kwargs=_backbone_kwargs(args),
        head=args.head,
    )
    decay_steps = steps_per_epoch * args.epochs if args.lr_schedule == "cosine" else None
    optimizer = None
    if args.lr_schedule == "step":
        from keras_ceb.reproduce import cifar10

        optimizer = keras.optimizers.Adam(cifar10.learning_rate_schedule(
            args.learning_rate, steps_per_epoch * args.epochs))
    return models.compile_classifier(
        model, learning_rate=args.learning_rate, decay_steps=decay_steps, optimizer=optimizer
    )


def train_callbacks(args):
    """The callbacks of `fit`: a linear rho anneal with `--rho-anneal` (not for Determ).

    The anneal is shortened to `epochs - 1` epochs if needed, so that at least the last epoch
    trains (and the saved model ends) at `--rho`.
    """
    start_rho = anneal_start(args)
    if start_rho is None:
        return []
    anneal_epochs = min(args.rho_anneal_epochs, args.epochs - 1)
    schedule = callbacks.linear_anneal(start_rho, args.rho, anneal_epochs)
    return [callbacks.RhoScheduler(schedule)]


def estimate_callbacks(args, x_test):
    """`val_rate` and `val_i_xz_lower` on the test set every epoch (the information plane)."""
    if args.objective == "determ":
        return []
    return [callbacks.InformationEstimates(x_test, batch_size=args.batch_size, seed=args.seed)]


def write_training_outputs(out, model, history, args, info, title):
    """Writes `model.keras`, `history.json` and the two PNG plots into `out`."""
    model.save(out / "model.keras")
    reporting.write_json(out / "history.json", history)
    # The test set is the `validation_data` of `fit`: monitored per epoch, never selected on.
    reporting.plot_training_curves(
        history, out / "training_curves.png", title=title, validation_label="test"
    )
    reporting.plot_information_plane(
        history, out / "information_plane.png", num_classes=info.num_classes,
        batch_size=args.batch_size, title=f"information plane, {args.objective.upper()}"
        + ("" if args.objective == "determ" else f" rho={args.rho:g}"),
        validation_label="test",
    )


def _check_train_args(args):
    resolve_recipe(args)
    if args.backbone != "wide_resnet" and (args.wrn_depth or args.wrn_width):
        raise CLIError("--wrn-depth and --wrn-width need --backbone wide_resnet")
    if args.wrn_depth is not None and (args.wrn_depth < 10 or (args.wrn_depth - 4) % 6):
        raise CLIError(f"--wrn-depth must be 6n+4 (10, 16, 22, 28, ...), got {args.wrn_depth}")
    out = args.out or pathlib.Path("runs") / f"{args.objective}_rho{args.rho:g}"
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out exists and is not a folder: {out}")
    return out


def run_train(args):
    """Runs `keras-ceb train`; returns the metrics dict written to `metrics.json`."""
    start = time.time()
    out = _check_train_args(args)
    download = _download_flag(args)
    x_train, y_train = load_split(
        args.dataset, args.data_dir, "train", download, args.max_train_examples
    )
    x_test, y_test = load_split(
        args.dataset, args.data_dir, "test", download, args.max_test_examples
    )
    info = datasets.dataset_info(args.dataset)
    out.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(args.seed)
    steps_per_epoch = int(np.ceil(len(x_train) / args.batch_size))
    model = build_model(args, info, steps_per_epoch)
    augment = None if args.augment == "none" else args.augment
    train_data = _with_inputs(model, datasets.as_dataset(
        x_train, y_train, batch_size=args.batch_size, seed=args.seed, augment=augment))
    test_data = _with_inputs(model, datasets.as_dataset(
        x_test, y_test, batch_size=args.batch_size, shuffle=False))
    train_start = time.time()
    history = model.fit(
        train_data, epochs=args.epochs, validation_data=test_data,
        callbacks=train_callbacks(args)
        + estimate_callbacks(args, model_inputs(model, x_test, y_test)),
        verbose=args.verbose,
        shuffle=False,  # `train_data` reshuffles itself every epoch.
    )
    train_time = time.time() - train_start
    test = evaluate_test_metrics(model, x_test, y_test, args.batch_size)
    shift = None
    if args.dataset == "cifar10":
        from keras_ceb.reproduce import cifar10

        shift = cifar10.evaluate_cifar10_1(model, args.data_dir, args.batch_size)

    title = _title(args.objective, args.rho, args.dataset, len(x_test))
    history = reporting.history_with_consistency(history.history)
    write_training_outputs(out, model, history, args, info, title)
    config = {
        key: (str(value) if isinstance(value, pathlib.Path) else value)
        for key, value in vars(args).items()
        if key not in ("handler", "command")
    }
    config["num_train_examples"] = int(len(x_train))
    config["rho_anneal_start"] = anneal_start(args)
    result = {
        "config": config,
        "test": test,
        "train_time_s": train_time,
        "wall_time_s": time.time() - start,
    }
    if shift is not None:
        result["cifar10_1"] = shift
    reporting.write_json(out / "metrics.json", result)
    print(reporting.format_summary({**test, "wall_time_s": result["wall_time_s"]}, title=title))
    if shift is not None:
        print(shift["summary"])
    print(f"Wrote {out}/: model.keras, history.json, metrics.json, training_curves.png, "
          "information_plane.png")
    return result


def _with_inputs(model, dataset):
    """`dataset` of `(images, labels)` batches in the input format of `model`."""
    if not models.takes_labels(model):
        return dataset
    return dataset.map(lambda x, y: ({"images": x, "labels": y}, y))


def run_evaluate(args):
    """Runs `keras-ceb evaluate`; returns the metrics dict (also written to `--out`).

    Each evaluation is a separate function that returns one section of the result (here
    `"test"`, from `evaluate_test_metrics`); more (OoD, attacks, calibration) plug in as
    further options that add their own sections.
    """
    start = time.time()
    model = load_classifier(args.model)
    x_test, y_test = load_split(
        args.dataset, args.data_dir, "test", _download_flag(args), args.max_test_examples
    )
    _check_input_shape(model, x_test, args.dataset)

    objective = models.model_objective(model)
    test = evaluate_test_metrics(model, x_test, y_test, args.batch_size)
    result = {
        "model": str(args.model),
        "dataset": args.dataset,
        "objective": objective,
        "test": test,
    }
    title = _title(objective, rho_lib.get_rho(model), args.dataset, len(x_test))
    robustness = evaluate_robustness(model, x_test, y_test, args)
    if robustness is not None:
        result["robustness"] = robustness
    result["wall_time_s"] = time.time() - start
    print(reporting.format_summary({**test, "wall_time_s": result["wall_time_s"]}, title=title))
    if robustness is not None:
        print()
        print(report_lib.format_report(robustness))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        reporting.write_json(args.out / "metrics.json", result)
        written = ["metrics.json"]
        if robustness is not None:
            written += [pathlib.Path(p).name for p in
                        report_lib.save_report_figures(robustness, args.out, title=title)]
        print(f"Wrote {args.out}/: {', '.join(written)}")
    return result


def evaluate_robustness(model, x, y, args):
    """The `--ood`, `--attack` and `--calibration` section, or `None` when none is asked for."""
    if not (args.ood or args.attack or args.calibration):
        return None
    if args.target_class is not None:
        num_classes = datasets.dataset_info(args.dataset).num_classes
        if args.target_class >= num_classes:
            raise CLIError(f"--target-class must be below {num_classes}, got {args.target_class}")
    mnist_x = None
    if args.ood and args.dataset == "fashion_mnist":
        mnist_x, _ = load_split("mnist", args.data_dir, "test", _download_flag(args))
        mnist_x = mnist_x[: len(x)]
    return report_lib.robustness_report(
        models.inference_model(model), x, y, ood=args.ood, mnist_x=mnist_x,
        cw_ood_examples=args.cw_ood_examples,
        attack=args.attack, eps=args.eps, attack_steps=args.attack_steps,
        attack_step_size=args.attack_step_size,
        attack_examples=args.attack_examples, target_class=args.target_class,
        run_calibration=args.calibration, num_samples=args.num_samples, seed=args.seed,
        batch_size=args.batch_size,
    )


def _add_reproduce_parser(commands):
    """`keras-ceb reproduce EXPERIMENT`: each experiment's module adds its own subcommand."""
    from keras_ceb.reproduce import cifar10

    reproduce = commands.add_parser(
        "reproduce", help="reproduce an experiment of the paper at a chosen scale",
        description="Reproduce an experiment of the CEB paper: train its models, evaluate them "
        "and write the results and figures into --out.",
    )
    experiments = reproduce.add_subparsers(dest="experiment", metavar="EXPERIMENT",
                                           parser_class=_Parser)
    experiments.required = True
    cifar10.add_parser(experiments)


def main(argv=None):
    """Entry point of `keras-ceb` and `python -m keras_ceb`.

    Args:
        argv: Arguments without the program name; default `sys.argv[1:]`.

    Returns:
        0 on success. Errors raise `SystemExit` with a non-zero code after a one-line
        message on stderr.

    Example:

    >>> main(["train", "--epochs", "1", "--max-train-examples", "512", "--out", "/tmp/run"])
    ... # doctest: +SKIP
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except CLIError as e:
        message = str(e)
        prog = f"{parser.prog} {args.command}"
        print(f"{prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    return 0
