"""The `keras-ceb` command: train and evaluate CEB / VIB / Determ image classifiers.

    keras-ceb train --objective ceb --rho 0 --out runs/ceb
    keras-ceb train --dataset cifar10 --wrn-depth 16 --wrn-width 4   # the paper's CIFAR-10 recipe
    keras-ceb evaluate runs/ceb/model.keras
    keras-ceb reproduce fashion-mnist --preset cpu --out runs/paper
    keras-ceb reproduce cifar10 --preset cpu

`main(argv)` returns 0 on success; bad arguments, missing files, missing or damaged data and
unusable output folders end with a one-line `keras-ceb <command>: error: ...` on stderr and a
non-zero exit (`SystemExit`: 2 for bad arguments, 1 otherwise); Ctrl-C ends with one line and
exit code 130.

`train` checks `--out` before loading any data, never replaces a finished run without
`--overwrite`, writes every file atomically, and keeps a checkpoint of every epoch in
`--out/.backup` (Keras's `BackupAndRestore`): running the same command again after a kill or a
Ctrl-C resumes from the last completed epoch and ends with the weights an uninterrupted run
would have had (see `keras_ceb.run_folder`).
"""

import argparse
import contextlib
import importlib
import json
import math
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time

from keras_ceb import console
from keras_ceb import validation
from keras_ceb.reproduce.errors import ReproduceError


class _LazyModule:
    """A module imported on its first use, so that `keras-ceb --help` never imports Keras.

    Attribute reads, writes and deletions go to the module (tests monkeypatch through it), and
    so does `__dict__` (pytest's monkeypatch reads the old value from it, to restore it).
    """

    __slots__ = ("_name",)

    def __init__(self, name):
        object.__setattr__(self, "_name", name)

    def _module(self):
        return importlib.import_module(object.__getattribute__(self, "_name"))

    @property
    def __dict__(self):
        return vars(self._module())

    def __getattr__(self, attr):
        return getattr(self._module(), attr)

    def __setattr__(self, attr, value):
        setattr(self._module(), attr, value)

    def __delattr__(self, attr):
        delattr(self._module(), attr)

    def __repr__(self):
        return f"<lazy module {object.__getattribute__(self, '_name')!r}>"


keras = _LazyModule("keras")
np = _LazyModule("numpy")
callbacks = _LazyModule("keras_ceb.callbacks")
datasets = _LazyModule("keras_ceb.datasets")
distribute = _LazyModule("keras_ceb.distribute")
evaluation = _LazyModule("keras_ceb.evaluation")
models = _LazyModule("keras_ceb.models")
reporting = _LazyModule("keras_ceb.reporting")
rho_lib = _LazyModule("keras_ceb.rho")
run_folder = _LazyModule("keras_ceb.run_folder")
locate = _LazyModule("keras_ceb.datasets.locate")
mnist_loaders = _LazyModule("keras_ceb.datasets.mnist")
report_lib = _LazyModule("keras_ceb.evaluation.report")
reproduce_command = _LazyModule("keras_ceb.reproduce.command")
tuning = _LazyModule("keras_ceb.tuning")

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
DISTRIBUTE_CHOICES = ("none", "data-parallel")
AUGMENTATIONS = ("none", "crop_flip", "autoaugment")
LR_SCHEDULES = ("cosine", "constant", "step")
# What `train` uses where an option is not given; `--dataset cifar10` takes the paper's recipe
# (`keras_ceb.reproduce.cifar10.TRAIN_RECIPE`).
DEFAULT_RECIPE = {"backbone": "small_convnet", "head": "consistent", "augment": "none",
                  "lr_schedule": "cosine"}
EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C.
# Options that may change between an interrupted `train` and the run that resumes it: they
# change where the data is read or what is printed, not what is trained.
RESUME_FREE_OPTIONS = ("data_dir", "download", "max_test_examples", "out", "overwrite", "verbose")
# Copies of keras_ceb's own tuples (tests/cli checks that they are equal), so that building
# and running the parser imports no Keras: `keras-ceb --help` answers at once.
DATASET_NAMES = ("fashion_mnist", "mnist", "cifar10", "cifar10_1")  # datasets.DATASET_NAMES
HEADS = ("consistent", "mlp", "catgen")  # keras_ceb.models.HEADS
ATTACKS = ("pgd-linf", "pgd-l2", "cw-l2")  # keras_ceb.evaluation.report.ATTACKS
# The one-line help of each command, shown by `keras-ceb --help`.
COMMAND_HELP = {
    "train": "train a classifier and write model, history, metrics and plots",
    "evaluate": "evaluate a saved .keras model on the test set",
    "tune": "search rho with keras-tuner and write the trials, a plot and the best model",
    "reproduce": "reproduce a section of the paper and write its report",
}


class CLIError(Exception):
    """An error reported to the user as one line, without a traceback."""


class Interrupted(Exception):
    """A Ctrl-C, reported as one line (what was kept, how to go on) with exit code 130."""


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
    """A number that is finite in float32, the dtype of rho and of the learning rate."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    if abs(value) > validation.FLOAT32_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a number of magnitude at most {validation.FLOAT32_MAX:.4g} "
            f"(finite in float32), got {text!r}"
        )
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
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, 'auto' or 'off', got {text!r}")
    if abs(value) > validation.FLOAT32_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a number of magnitude at most {validation.FLOAT32_MAX:.4g} "
            f"(finite in float32), 'auto' or 'off', got {text!r}"
        )
    return value


def _dataset(text):
    names = DATASET_NAMES
    if text not in names:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {text!r}; expected one of {', '.join(names)}"
        )
    return text


def build_parser(command=None):
    """The `argparse` parser of `keras-ceb`: `train`, `evaluate`, `tune` and `reproduce`.

    Args:
        command: Build only this command's sub-parser in full, and the others as their
            one-line help (what `keras-ceb --help` lists): `main` passes the command named
            on the command line, or `""` for none, so that `--help` imports nothing heavy
            (`reproduce` imports its dataset modules). Default: every command in full.

    Examples:

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
    builders = {
        "train": _add_train_parser,
        "evaluate": _add_evaluate_parser,
        "tune": _add_tune_parser,
        "reproduce": lambda sub: reproduce_command.add_parser(sub, handler=run_reproduce),
    }
    for name, add in builders.items():
        if command is None or command == name:
            add(commands)
        else:
            commands.add_parser(name, help=COMMAND_HELP[name])
    return parser


def _command_in(argv):
    """The command named in `argv` (its first word that is not an option), or `""`."""
    return next((word for word in argv if not word.startswith("-")), "")


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
        "train", help=COMMAND_HELP["train"],
        description="Train a CEB, VIB or Determ classifier (small convnet -> 4-d Gaussian "
        "encoder -> head), then evaluate it on the test set. Writes model.keras, history.json, "
        "metrics.json, training_curves.png and information_plane.png into --out, each "
        "atomically. Every epoch is checkpointed in --out/.backup: after a kill or Ctrl-C, "
        "the same command resumes from the last completed epoch.",
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
        "--head", choices=HEADS, default=None,
        help="classifier head: 'consistent' (softmax of the class Gaussians b(z|y); cheap, one "
        "input), 'mlp' (the paper's two-layer ELU MLP c(y|z), with b(z|y) fed the labels "
        "under CEB) or 'catgen' (bidirectional CatGen CEB, eq. 26, evaluated with the "
        "consistent classifier) (default: catgen for cifar10, else consistent)",
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
                       help="output folder (default: runs/<objective>_rho<rho>); an unfinished "
                       "run there is resumed, a finished one is kept unless --overwrite")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run in --out (finished or not) instead of refusing "
                       "or resuming it")
    _add_verbose_argument(train)
    train.add_argument(
        "--distribute", choices=DISTRIBUTE_CHOICES, default="none",
        help="data-parallel: split every batch of --batch-size over all devices, with the "
        "backend's engine (TensorFlow: MirroredStrategy on one host; JAX: keras.distribution, "
        "over the processes that $KERAS_DISTRIBUTION_NUM_PROCESSES, _PROCESS_ID and "
        "_JOB_ADDRESSES describe) (default: none)",
    )
    train.set_defaults(handler=run_train)


def _add_verbose_argument(parser):
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2, 3), default=console.PROGRESS,
                        metavar="0|1|2|3", help=f"{console.VERBOSE_HELP} (default: 1)")


def _rho_list(text):
    values = []
    for part in text.split(","):
        try:
            values.append(_finite_float(part.strip()))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected finite numbers separated by commas, got {text!r}") from None
    if len(set(values)) < 1:
        raise argparse.ArgumentTypeError(f"expected at least one rho, got {text!r}")
    return sorted(set(values))


TUNE_OBJECTIVES = ("combined", "val_accuracy", "mni_distance", "ood_auroc")  # tuning.OBJECTIVES
TUNE_SEARCHES = ("grid", "random", "bayesian")  # keras_ceb.tuning.SEARCHES
DEFAULT_TUNE_RHOS = "-1,0,1,2,3,4,5"
DEFAULT_TUNE_EPOCHS = 5
DEFAULT_VALIDATION_EXAMPLES = 5000
OOD_SETS = ("mnist", "uniform_noise", "vertical_flip")


def _add_tune_parser(commands):
    tune = commands.add_parser(
        "tune", help=COMMAND_HELP["tune"],
        description="Search rho with keras-tuner (grid, random or Bayesian). Each trial "
        "trains the `train` command's classifier at one rho on the training set less a "
        "held-out part, then scores it on that held-out part: validation accuracy; the "
        "distance to the Minimum Necessary Information point, |I(X;Z) lower bound - I(Y;Z) "
        "lower bound|; the AUROC of the rate at the encoder mean against a held-out OoD set; "
        "and 'combined', the mean of accuracy, AUROC and 1 - min(distance / log C, 1). The "
        "search optimizes --tune-objective and records them all. Writes trials.csv, "
        "trials.md, trials.json, objectives.png (each objective against rho) and "
        "best_model.keras into --out; run the same command again to resume an interrupted "
        "search.",
    )
    search = tune.add_argument_group("the search")
    search.add_argument("--search", choices=TUNE_SEARCHES, default="grid",
                        help="grid over --rho-values, or random / Bayesian over [--rho-min, "
                        "--rho-max] (default: grid)")
    search.add_argument("--tune-objective", choices=TUNE_OBJECTIVES, default="combined",
                        help="what the search optimizes (default: combined)")
    search.add_argument("--rho-values", type=_rho_list, metavar="LIST", default=None,
                        help=f"comma-separated rho values of the grid (default: "
                        f"{DEFAULT_TUNE_RHOS})")
    search.add_argument("--rho-min", type=_finite_float, metavar="RHO", default=-1.0,
                        help="lower end of a random or Bayesian search (default: -1)")
    search.add_argument("--rho-max", type=_finite_float, metavar="RHO", default=5.0,
                        help="upper end of a random or Bayesian search (default: 5)")
    search.add_argument("--max-trials", type=_positive_int, metavar="N", default=None,
                        help="trials of a random or Bayesian search (default: 8; a grid "
                        "tries every value)")
    search.add_argument("--validation-examples", type=_positive_int, metavar="N",
                        default=DEFAULT_VALIDATION_EXAMPLES,
                        help="the last N training examples are held out to score the trials "
                        f"(default: {DEFAULT_VALIDATION_EXAMPLES})")
    search.add_argument("--ood-set", choices=OOD_SETS, default=None,
                        help="held-out OoD set of --tune-objective ood_auroc and combined, "
                        "as many images as --validation-examples (default: mnist for "
                        "fashion_mnist, else vertical_flip)")
    model = tune.add_argument_group("each trial (as in `train`)")
    model.add_argument("--objective", choices=("ceb", "vib"), default="ceb",
                       help="training objective (default: ceb)")
    model.add_argument("--epochs", type=_positive_int, metavar="N", default=DEFAULT_TUNE_EPOCHS,
                       help=f"training epochs per trial (default: {DEFAULT_TUNE_EPOCHS})")
    model.add_argument(
        "--rho-anneal", type=_anneal_offset, default=RHO_ANNEAL_AUTO_OFFSET,
        metavar="OFFSET|off",
        help="anneal each trial's rho from rho + OFFSET down to rho over the first "
        f"--rho-anneal-epochs epochs (default: {RHO_ANNEAL_AUTO_OFFSET:g})")
    model.add_argument("--rho-anneal-epochs", type=_non_negative_int, metavar="N", default=None,
                       help="length of the anneal, at most --epochs - 1 (default: --epochs // 2)")
    model.add_argument("--learning-rate", type=_positive_float, metavar="LR",
                       default=DEFAULT_LEARNING_RATE,
                       help=f"initial Adam learning rate (default: {DEFAULT_LEARNING_RATE:g})")
    model.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine",
                       help="learning-rate schedule (default: cosine)")
    model.add_argument("--latent-dim", type=_positive_int, metavar="D", default=4,
                       help="dimension of the bottleneck z (default: 4)")
    model.add_argument("--covariance", choices=("full", "diag"), default="full",
                       help="Gaussian covariance (default: full)")
    model.add_argument("--marginal-components", type=_non_negative_int, metavar="K", default=240,
                       help="components of m(z); the rate and ood_auroc need K > 0 (default: "
                       "240)")
    model.add_argument("--head", choices=HEADS, default="consistent",
                       help="classifier head, as in train (default: consistent)")
    data = tune.add_argument_group("data")
    data.add_argument("--dataset", type=_dataset, metavar="NAME", default="fashion_mnist",
                      help="dataset name (default: fashion_mnist; also mnist, cifar10)")
    data.add_argument("--data-dir", type=pathlib.Path, metavar="DIR", default=None,
                      help="folder searched first for the data files")
    data.add_argument("--no-download", dest="download", action="store_false",
                      help="never download: fail if no local copy of the data is found")
    data.add_argument("--batch-size", type=_positive_int, metavar="N", default=DEFAULT_BATCH_SIZE,
                      help=f"batch size (default: {DEFAULT_BATCH_SIZE})")
    data.add_argument("--max-train-examples", type=_positive_int, metavar="N", default=None,
                      help="train each trial on the first N training examples only")
    data.add_argument("--seed", type=int, metavar="SEED", default=0,
                      help="seed of every trial (same initial weights and data order) and "
                      "of the search (default: 0)")
    tune.add_argument("--out", type=pathlib.Path, metavar="DIR", default=None,
                      help="output folder (default: runs/tune_<objective>); an unfinished "
                      "search there is resumed, a finished one is kept unless --overwrite")
    tune.add_argument("--overwrite", action="store_true",
                      help="replace the search in --out (finished or not)")
    _add_verbose_argument(tune)
    tune.set_defaults(handler=run_tune)


def _anneal_offset(text):
    if text.lower() in ("off", "none"):
        return None
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'off', got {text!r}")
    return value


def _add_evaluate_parser(commands):
    evaluate = commands.add_parser(
        "evaluate", help=COMMAND_HELP["evaluate"],
        description="Reload a saved .keras classifier and report its test accuracy and "
        "information metrics (rate, ReX, I(X;Z) and I(Y;Z) bounds, consistency).",
    )
    evaluate.add_argument("model", type=pathlib.Path, metavar="MODEL",
                          help="path of a model saved by `keras-ceb train` (model.keras)")
    _add_data_arguments(evaluate)
    evaluate.add_argument("--out", type=pathlib.Path, metavar="DIR", default=None,
                          help="folder to write metrics.json (and the figures) into "
                          "(default: print only); an existing metrics.json there is kept "
                          "unless --overwrite")
    evaluate.add_argument("--overwrite", action="store_true",
                          help="replace the metrics.json and figures already in --out")
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
    robustness.add_argument("--attack", choices=ATTACKS, default=None,
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
    robustness.add_argument(
        "--rate-estimator", choices=("mean", "sample"), default=None,
        help="OoD scores at the encoder mean (deterministic; the default for one draw) or "
        "averaged over --num-samples draws of z (the default for several)")
    robustness.add_argument("--num-samples", type=_positive_int, metavar="N", default=1,
                            help="draws of z to average the scores and the PGD gradients (EOT) "
                            "over (default: 1)")
    robustness.add_argument("--seed", type=_non_negative_int, metavar="SEED", default=0,
                            help="seed of the noise images, the attack's random start and its "
                            "draws of z")
    _add_verbose_argument(evaluate)
    evaluate.set_defaults(handler=run_evaluate)


# Pieces shared by the commands.


def load_split(dataset, data_dir, split, download=None, max_examples=None):
    """Loads one split of `dataset` as `(x, y)`; missing, damaged or unreadable data raise
    `CLIError`, worded with the command-line flags.

    Args:
        dataset: A name of `keras_ceb.datasets.DATASET_NAMES`.
        data_dir: Folder searched first, or `None`.
        split: `"train"` or `"test"`.
        download: Whether to download when no local copy is found (`None`: the loader's
            default; `False`: `--no-download`).
        max_examples: Keep only the first `max_examples` examples, or `None` for all.
    """
    info = datasets.dataset_info(dataset)
    if split not in info.splits:
        raise CLIError(
            f"dataset {dataset!r} has no {split!r} split (it has {', '.join(info.splits)})"
        )
    try:
        x, y = datasets.load(dataset, data_dir=data_dir, download=download, split=split)
    except datasets.DatasetNotFoundError as e:
        raise CLIError(str(cli_worded(e, download))) from e
    except datasets.CorruptDatasetError as e:
        raise CLIError(f"corrupt data file {run_folder.show_path(e.path)}: {e.reason}") from e
    except OSError as e:  # No permission, a folder where a file should be, ...
        name = run_folder.show_path(e.filename) if e.filename else f"the {dataset} data"
        raise CLIError(f"cannot read {name}: {e.strerror or e}") from e
    if max_examples is not None:
        x, y = x[:max_examples], y[:max_examples]
    return x, y


def cli_worded(error, download=None):
    """The `DatasetNotFoundError` of a loader with the CLI's words: `--data-dir` and
    `--no-download` instead of the Python arguments `data_dir=` and `download=`.

    Examples:

        >>> error = datasets.DatasetNotFoundError(
        ...     "MNIST", ["/d (data_dir argument): no such folder",
        ...               "download: not tried (download=False)"],
        ...     ["put mnist.npz in a folder and pass it as `data_dir=`"])
        >>> print(cli_worded(error, download=False))
        Could not find MNIST. Looked in, in this order:
          1. /d (--data-dir): no such folder
          2. download: not tried (--no-download)
        To get the data:
          - put mnist.npz in a folder and pass it as --data-dir
    """
    not_tried = (
        "download: not tried (--no-download)" if download is False
        else "download: not tried (keras-ceb downloads only Fashion-MNIST and MNIST)"
    )
    replacements = (
        ("(data_dir argument)", "(--data-dir)"),
        ("download: not tried (download=False)", not_tried),
        ("pass it as `data_dir=`", "pass it as --data-dir"),
        ("pass its parent as `data_dir=`", "pass its parent as --data-dir"),
        ("or pass `download=True` on a machine with internet access",
         "or run without --no-download on a machine with internet access"),
        (", or call this loader with `download=True`", ""),
    )

    def reword(text):
        for python, cli in replacements:
            text = text.replace(python, cli)
        return text

    # The hint about `load_mnist_test()` is for Python users only.
    hints = [reword(h) for h in error.hints if "load_mnist_test()" not in h]
    return datasets.DatasetNotFoundError(
        error.dataset, [reword(p) for p in error.places], hints
    )


def check_data_dir(data_dir):
    """`--data-dir` must be an existing folder: a typo is an error, not a silent fall-back."""
    if data_dir is None:
        return None
    shown = run_folder.show_path(data_dir)
    try:
        if not run_folder.is_folder_entry(pathlib.Path(data_dir).expanduser()):
            raise CLIError(f"--data-dir {shown}: no such folder")
    except NotADirectoryError:
        raise CLIError(f"--data-dir {shown} is not a folder") from None
    except OSError as e:
        raise CLIError(f"--data-dir {shown} cannot be used: {e.strerror or e}") from None
    return data_dir


def check_data_env():
    """Each folder of `$KERAS_CEB_DATA` that exists must be a usable folder.

    A missing one is allowed (it is listed among the places looked at, like a missing entry
    of `$PATH`); a file, a name too long for the file system or a folder that cannot be
    examined is an error.
    """
    for entry in os.environ.get(locate.ENV_VAR, "").split(os.pathsep):
        if not entry:
            continue
        shown = run_folder.show_path(entry)
        try:
            run_folder.is_folder_entry(os.path.expanduser(entry))
        except NotADirectoryError:
            raise CLIError(f"${locate.ENV_VAR} names {shown}, which is not a folder") from None
        except OSError as e:
            raise CLIError(
                f"${locate.ENV_VAR} names {shown}, which cannot be used: {e.strerror or e}"
            ) from None


def check_finite_data(x, name):
    """Refuses inputs with NaN or infinite values: they turn the weights NaN silently."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating) or np.all(np.isfinite(x)):
        return
    bad = ~np.isfinite(x.reshape(len(x), -1))
    examples = np.flatnonzero(bad.any(axis=1))
    raise CLIError(
        f"the {name} hold {int(bad.sum())} non-finite values (NaN or inf) in "
        f"{len(examples)} examples, the first in example {int(examples[0])}; "
        "fix or re-create the data files"
    )


def _download_flag(args):
    return None if args.download else False


def _mnist_ood_data_dir(data_dir):
    """Where `--data-dir` holds the MNIST OoD set: its `mnist-test/` or `mnist/` subfolder,
    or itself when it holds `mnist.npz`; else `None` (the usual search, ending with the
    copy shipped with keras_ceb). Loose t10k files in it are Fashion-MNIST's: same names."""
    if data_dir is None:
        return None
    for candidate in (data_dir / "mnist-test", data_dir / "mnist"):
        if candidate.is_dir():
            return candidate
    return data_dir if (data_dir / mnist_loaders.MNIST_NPZ).is_file() else None


def evaluate_test_metrics(model, x, y, batch_size):
    """Test accuracy, loss and the information metrics of a compiled classifier.

    Returns:
        A dict with `accuracy`, `loss`, the logged information metrics (`rate`, `rex`,
        `i_xz_lower`, `i_yz`; `None` where the model does not log one), `consistency` and
        `num_examples`.
    """
    logs = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    result = {key: float(value) for key, value in logs.items()}
    # The layers estimate the rate and the I(X;Z) bound only when training (evaluate reports
    # NaN for them): estimate them on the test set the same way.
    result.update(evaluation.information_estimates(model, x, batch_size=batch_size))
    for key in reporting.INFORMATION_KEYS:
        result.setdefault(key, None)
    result = reporting.add_consistency(result)
    result["num_examples"] = int(len(y))
    return result


def load_classifier(path):
    """Loads a `.keras` classifier with `safe_mode=True`; compiles it if it was saved uncompiled."""
    path = pathlib.Path(path)
    try:
        found = path.is_file()
    except OSError as e:  # e.g. a name too long for the file system.
        raise CLIError(f"cannot read {run_folder.show_path(path)}: {e.strerror or e}") from None
    if not found:
        raise CLIError(f"model file not found: {path}")
    if path.suffix != ".keras":
        raise CLIError(f"expected a .keras model file, got {path}")
    problem = keras_archive_problem(path)
    if problem is not None:
        raise CLIError(f"not a valid .keras file: {run_folder.show_path(path)} {problem}")
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


# The members every `.keras` archive holds (Keras 3's saving format).
KERAS_ARCHIVE_MEMBERS = ("config.json", "metadata.json")


def keras_archive_problem(path):
    """What is wrong with the `.keras` archive at `path`, or `None` if it looks whole.

    Keras reports a truncated or non-zip file as "File not found", which misleads when the
    file is there: this names the actual problem (not a zip archive, a damaged member, a
    missing `config.json`).

    Examples:

        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile(suffix=".keras") as f:
        ...     _ = f.write(b"not a zip")
        ...     f.flush()
        ...     keras_archive_problem(f.name)
        'is not a zip archive (truncated, or not written by model.save)'
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [m for m in KERAS_ARCHIVE_MEMBERS if m not in names]
            if missing:
                return f"has no {', '.join(missing)} (not written by model.save)"
            damaged = archive.testzip()
    except zipfile.BadZipFile:
        return "is not a zip archive (truncated, or not written by model.save)"
    except (OSError, EOFError, RuntimeError, ValueError) as e:
        return f"cannot be read as a zip archive: {_first_line(e)}"
    if damaged is not None:
        return f"is damaged: its member {damaged} fails its checksum"
    return None


def _check_input_shape(model, x, dataset):
    expected = tuple(models.inference_model(model).input_shape[1:])
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
    if getattr(args, "dataset", None) == "cifar10":
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
        head=args.head,
        seed=args.seed,
        backbone_kwargs=_backbone_kwargs(args),
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


def model_inputs(model, x, y):
    """`x`, or `{"images": x, "labels": y}` for a model that takes the labels (the MLP head)."""
    return {"images": x, "labels": y} if models.takes_labels(model) else x


def estimate_callbacks(args, x_test):
    """`val_rate` and `val_i_xz_lower` on the test set every epoch (the information plane)."""
    if args.objective == "determ":
        return []
    return [callbacks.InformationEstimates(x_test, batch_size=args.batch_size, seed=args.seed)]


def write_training_outputs(out, model, history, args, info, title):
    """Writes `model.keras`, `history.json` and the two PNG plots into `out`, each atomically."""
    reporting.replace_atomically(out / "model.keras", model.save)
    reporting.write_json(out / "history.json", history)
    # The test set is the `validation_data` of `fit`: monitored per epoch, never selected on.
    reporting.replace_atomically(
        out / "training_curves.png",
        lambda path: reporting.plot_training_curves(
            history, path, title=title, validation_label="test"
        ),
    )
    reporting.replace_atomically(
        out / "information_plane.png",
        lambda path: reporting.plot_information_plane(
            history, path, num_classes=info.num_classes, batch_size=args.batch_size,
            title=f"information plane, {args.objective.upper()}"
            + ("" if args.objective == "determ" else f" rho={args.rho:g}"),
            validation_label="test",
        ),
    )


def _check_train_args(args):
    resolve_recipe(args)
    if args.backbone != "wide_resnet" and (args.wrn_depth or args.wrn_width):
        raise CLIError("--wrn-depth and --wrn-width need --backbone wide_resnet")
    if args.wrn_depth is not None and (args.wrn_depth < 10 or (args.wrn_depth - 4) % 6):
        raise CLIError(f"--wrn-depth must be 6n+4 (10, 16, 22, 28, ...), got {args.wrn_depth}")
    return args.out or pathlib.Path("runs") / f"{args.objective}_rho{args.rho:g}"


def training_options(args):
    """The options of `train` that determine what is trained (see `RESUME_FREE_OPTIONS`)."""
    resolve_recipe(args)  # The dataset's defaults are options like the others.
    return {
        key: (str(value) if isinstance(value, pathlib.Path) else value)
        for key, value in sorted(vars(args).items())
        if key not in ("handler", "command", *RESUME_FREE_OPTIONS)
    }


def check_train_out(out, args):
    """Checks `--out` before any work; returns whether to resume the unfinished run in it.

    A finished run is refused without `--overwrite`; an unfinished one is resumed, unless
    its options differ from these (refused) or `--overwrite` is given (started over).
    """
    try:
        run_folder.check_writable_folder(out, "--out")
        state = run_folder.train_state(out)
    except run_folder.RunFolderError as e:
        raise CLIError(str(e)) from None
    shown = run_folder.show_path(out)
    if state == run_folder.FINISHED and not args.overwrite:
        found = ", ".join(run_folder.present(out, run_folder.TRAIN_OUTPUTS))
        raise CLIError(
            f"--out {shown} already holds a finished run ({found}); pass --overwrite to "
            "replace it, or choose another --out"
        )
    if state != run_folder.UNFINISHED or args.overwrite:
        return False
    saved = run_folder.read_options(out)
    if saved is not None:
        differences = run_folder.option_differences(saved, training_options(args))
        if differences:
            raise CLIError(
                f"--out {shown} holds an unfinished run with other options: "
                f"{'; '.join(differences)}; run it with its own options to resume it, or "
                "pass --overwrite to start over"
            )
    return True


def data_parallel(args):
    """The `--distribute` engine (`keras_ceb.distribute.DataParallel`), or `None` for `none`.

    Keras's multi-process variables without `--distribute data-parallel` are an error, so
    that a job never trains N independent copies by mistake.
    """
    try:
        if args.distribute == "none":
            if distribute.environment_num_processes() > 1:
                raise CLIError(
                    f"${distribute.NUM_PROCESSES_VARIABLE} asks for several processes: "
                    "pass --distribute data-parallel"
                )
            return None
        parallel = distribute.data_parallel()
    except ValueError as e:
        raise CLIError(str(e)) from e
    if args.batch_size % parallel.num_replicas:
        raise CLIError(
            f"--batch-size {args.batch_size} must be divisible by the {parallel.num_replicas} "
            "devices of --distribute data-parallel"
        )
    return parallel


def run_train(args):
    """Runs `keras-ceb train`; returns the metrics dict written to `metrics.json`.

    With `--distribute data-parallel` the model is built, compiled and fit inside the
    engine's scope. In a multi-process job the held-out estimates of every epoch are
    skipped (Keras cannot fetch `predict` outputs that span processes); after `fit`, process
    0 evaluates a process-local copy of the model and writes the results, the other
    processes return `None`.
    """
    start = time.time()
    out = _check_train_args(args)
    parallel = data_parallel(args)
    multi_process = parallel is not None and parallel.num_processes > 1
    chief = parallel is None or parallel.is_chief
    # In a multi-process job only process 0 reads or writes `--out`.
    resume = check_train_out(out, args) if chief else False
    data_dir = check_data_dir(args.data_dir)
    check_data_env()
    download = _download_flag(args)
    x_train, y_train = load_split(
        args.dataset, data_dir, "train", download, args.max_train_examples
    )
    x_test, y_test = load_split(args.dataset, data_dir, "test", download, args.max_test_examples)
    check_finite_data(x_train, f"{args.dataset} training images")
    check_finite_data(x_test, f"{args.dataset} test images")
    info = datasets.dataset_info(args.dataset)
    backup = out / run_folder.BACKUP_DIR
    if not chief:
        pass  # Process 0 owns `--out`.
    elif not resume:  # A new run, or --overwrite: the old outputs go now, not before the data.
        run_folder.clear(out, run_folder.TRAIN_OUTPUTS)
        backup.mkdir(parents=True)
        run_folder.write_options(out, training_options(args))
    else:
        run_folder.clear(out, (), backup=False)  # Temporary files of the killed run.
        print(f"Resuming the unfinished run in {run_folder.show_path(out)} "
              f"(from {run_folder.BACKUP_DIR}/; --overwrite starts over)")

    keras.utils.set_random_seed(args.seed)
    def scope():  # A new context manager for each `with`.
        return parallel.scope() if parallel is not None else contextlib.nullcontext()

    with scope():  # The model, its variables and the data shards belong to the engine.
        # Data order and the encoder's noise are functions of (seed, epoch), and rho is set
        # per epoch by the anneal: a resumed run repeats the uninterrupted run's epochs exactly.
        model = build_model(args, info, math.ceil(len(x_train) / args.batch_size))
        # The paper's MLP head under CEB, and the CatGen head, feed the labels to b(z|y):
        # they are a model input.
        labels_as_input = models.takes_labels(model)
        train_data = datasets.EpochBatches(
            x_train, y_train, args.batch_size, seed=args.seed, labels_as_input=labels_as_input,
            augment=None if args.augment == "none" else args.augment)
        if labels_as_input:
            test_data = datasets.EpochBatches(x_test, y_test, args.batch_size, shuffle=False,
                                              labels_as_input=True)
        else:
            test_data = datasets.as_dataset(x_test, y_test, batch_size=args.batch_size,
                                            shuffle=False)
    log = run_folder.HistoryLog(out, write=chief)
    seeding = callbacks.EpochSeeding(args.seed)
    progress = console.progress_mode(args.verbose)
    trained = False
    # The held-out estimates come before the log, which records them; all of these are
    # functions of (seed, epoch), so a resumed run logs what an uninterrupted one would. A
    # multi-process job skips them (Keras cannot fetch `predict` outputs that span processes)
    # and is not resumable: it keeps no backup.
    fit_callbacks = train_callbacks(args) + (
        [] if multi_process else estimate_callbacks(args, model_inputs(model, x_test, y_test))
    ) + [
        train_data.epoch_callback(),
        seeding,
        callbacks.TerminateOnNonFinite(),  # Before the backup: a non-finite epoch is not saved.
        log,
    ]
    if not multi_process:
        fit_callbacks += [
            keras.callbacks.BackupAndRestore(
                backup / run_folder.KERAS_BACKUP_DIR, double_checkpoint=True,
                delete_checkpoint=False,
            ),
            log.saved_callback(),
        ]
    if progress == "lines":
        fit_callbacks.append(callbacks.EpochLines())  # Last: it prints the logs.
    try:
        train_start = time.time()
        try:
            with scope():
                model.fit(
                    train_data, epochs=args.epochs, validation_data=test_data,
                    callbacks=fit_callbacks, verbose=1 if progress == "bar" else 0,
                    shuffle=False,  # `train_data` orders each epoch itself.
                )
        except callbacks.NonFiniteTrainingError as e:
            raise CLIError(
                f"training diverged: {e}; the last finite state (epoch {log.saved_epochs}) is "
                f"kept in {run_folder.show_path(backup)}. Try a lower --learning-rate (now "
                f"{args.learning_rate:g}) and check the data; --overwrite starts over with "
                "new options"
            ) from None
        except Exception as e:
            if resume and log.first_epoch is None:  # BackupAndRestore could not restore.
                raise CLIError(
                    f"cannot resume from {run_folder.show_path(backup)}: "
                    f"{_first_line(e)}; pass --overwrite to start over"
                ) from e
            raise
        trained = True
        if resume and log.first_epoch is None:
            print(f"All {args.epochs} epochs were done; evaluating and saving.")
        train_time = time.time() - train_start
        if multi_process:
            if not chief:
                print(f"process {parallel.process_id} of {parallel.num_processes}: training "
                      "done; process 0 writes the results")
                return None
            model = models.compile_classifier(distribute.process_local_copy(model))
            # Seeding the distributed model's generators on process 0 alone would be a
            # collective that process 1 never joins (it waited at shutdown for 5 minutes).
            seeding.set_model(model)
        seeding.seed_epoch(args.epochs)  # The evaluation's draws, as after an uninterrupted run.
        test = evaluate_test_metrics(model, model_inputs(model, x_test, y_test), y_test,
                                     args.batch_size)
        shift = None
        if args.dataset == "cifar10":  # The paper's distribution shift set, when prepared.
            from keras_ceb.reproduce import cifar10

            shift = cifar10.evaluate_cifar10_1(model, data_dir, args.batch_size)

        title = _title(args.objective, args.rho, args.dataset, len(x_test))
        history = reporting.history_with_consistency(log.history)
        write_training_outputs(out, model, history, args, info, title)
        result = {
            "config": train_config(args, out, data_dir, len(x_train), len(x_test)),
            "environment": reporting.environment(),
            "test": test,
            "train_time_s": train_time,
            "wall_time_s": time.time() - start,
        }
        if shift is not None:
            result["cifar10_1"] = shift
        if resume:  # How many epochs the interrupted run(s) had completed.
            result["resumed_after_epochs"] = (
                args.epochs if log.first_epoch is None else log.first_epoch
            )
        reporting.write_json(out / "metrics.json", result)  # Last: it marks a finished run.
    except KeyboardInterrupt:
        raise Interrupted(_train_interrupted_message(log, trained, args.epochs, backup)) from None
    except OSError as e:  # A full disk, a folder removed under us, ...
        name = run_folder.show_path(e.filename) if e.filename else run_folder.show_path(out)
        raise CLIError(
            f"cannot write {name}: {e.strerror or e}; the epochs saved so far are kept in "
            f"{run_folder.show_path(backup)}: fix it and run the same command again"
        ) from e
    shutil.rmtree(backup, ignore_errors=True)
    print(reporting.format_summary({**test, "wall_time_s": result["wall_time_s"]}, title=title))
    if shift is not None:
        print(shift["summary"])
    print(f"Wrote {out}/: model.keras, history.json, metrics.json, training_curves.png, "
          "information_plane.png")
    print(LOAD_HINT.format(path=out / "model.keras"))
    return result


# The closing line of the commands that save a model: loading needs keras_ceb imported.
LOAD_HINT = ("To load the model in Python, import keras_ceb first (it registers the layers): "
             "import keras, keras_ceb; model = keras.models.load_model(\"{path}\")")


def train_config(args, out, data_dir, num_train_examples, num_test_examples):
    """The settings a `train` run actually used, for `metrics.json`.

    Every option, with the defaults and shortcuts resolved: absolute paths, the data files
    read, the rho anneal's start and length (`None` and 0 without an anneal; the length cut
    to `epochs - 1`), the Wide ResNet's depth and width, the number of examples.
    """
    config = {
        key: (str(value) if isinstance(value, pathlib.Path) else value)
        for key, value in vars(args).items()
        if key not in ("handler", "command", "rho_anneal")  # rho_anneal: the start, below.
    }
    anneal_epochs = min(args.rho_anneal_epochs, args.epochs - 1)
    start = anneal_start(args) if anneal_epochs > 0 else None  # 0 epochs: no anneal at all.
    data_folder = None if data_dir is None else pathlib.Path(data_dir).expanduser().absolute()
    config.update(
        # Whether a missing copy would have been downloaded (the loader's default or never).
        download=bool(args.download and datasets.dataset_info(args.dataset).download_default),
        out=str(pathlib.Path(out).absolute()),
        data_dir=None if data_folder is None else str(data_folder),
        data_files={split: data_files(args.dataset, data_dir, split)
                    for split in ("train", "test")},
        num_train_examples=int(num_train_examples),
        num_test_examples=int(num_test_examples),
        rho_anneal_start=start,
        rho_anneal_epochs=0 if start is None else anneal_epochs,
        lr_decay_steps=(math.ceil(num_train_examples / args.batch_size) * args.epochs
                        if args.lr_schedule == "cosine" else None),
        marginal_components=args.marginal_components or None,
    )
    if args.backbone == "wide_resnet":
        config.update(wrn_depth=_backbone_kwargs(args)["depth"],
                      wrn_width=_backbone_kwargs(args)["width"])
    return config


def data_files(dataset, data_dir, split):
    """The files `keras_ceb.datasets.load` reads for `split` of `dataset` (the same search),
    as absolute paths; for CIFAR-10, where tensorflow-datasets keeps it."""
    if dataset in ("fashion_mnist", "mnist"):
        names = mnist_loaders._IDX_FILES[split]
        if dataset == "fashion_mnist":
            found, _ = locate.find_files([names], subdirs=("fashion-mnist",), data_dir=data_dir)
        else:
            found, _ = locate.find_files(
                [(mnist_loaders.MNIST_NPZ,), names],
                subdirs=("mnist", "mnist-test") if split == "test" else ("mnist",),
                data_dir=data_dir, shared_file_sets=[(mnist_loaders.MNIST_NPZ,)],
            )
            if found is None and split == "test":
                return [str(p.absolute()) for p in
                        sorted(mnist_loaders.packaged_mnist_test_dir().iterdir())]
        if found is not None:
            return sorted(str(pathlib.Path(p).absolute()) for p in found.files.values())
        return []
    return [f"tensorflow-datasets ({os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets')})"]


def _train_interrupted_message(log, trained, epochs, backup):
    shown = run_folder.show_path(backup)
    if trained:
        return (f"interrupted while evaluating and saving; the {epochs} trained epochs are kept "
                f"in {shown}: run the same command again to finish")
    if log.epoch is None:
        return "interrupted before training started: run the same command again to start"
    current = min(log.saved_epochs + 1, epochs)  # What the checkpoint lacks is lost.
    if log.saved_epochs == 0:
        return (f"interrupted in epoch {current} of {epochs}, before any epoch was saved: "
                "run the same command again to start")
    return (f"interrupted in epoch {current} of {epochs}; epochs 1-{log.saved_epochs} are "
            f"saved in {shown}: run the same command again to resume")


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_evaluate_out(out, overwrite):
    """Checks `evaluate --out` before the evaluation runs: a usable folder whose
    `metrics.json` (maybe a training run's) is replaced only with `--overwrite`."""
    try:
        run_folder.check_writable_folder(out, "--out")
    except run_folder.RunFolderError as e:
        raise CLIError(str(e)) from None
    found = run_folder.present(out, ("metrics.json",))
    if found and not overwrite:
        raise CLIError(
            f"--out {run_folder.show_path(out)} already holds metrics.json; pass --overwrite "
            "to replace it, or choose another --out"
        )


def run_evaluate(args):
    """Runs `keras-ceb evaluate`; returns the metrics dict (also written to `--out`).

    Each evaluation is a separate function that returns one section of the result (here
    `"test"`, from `evaluate_test_metrics`); more (OoD, attacks, calibration) plug in as
    further options that add their own sections.
    """
    start = time.time()
    if args.out is not None:
        check_evaluate_out(args.out, args.overwrite)
    data_dir = check_data_dir(args.data_dir)
    check_data_env()
    model = load_classifier(args.model)
    x_test, y_test = load_split(
        args.dataset, data_dir, "test", _download_flag(args), args.max_test_examples
    )
    check_finite_data(x_test, f"{args.dataset} test images")
    _check_input_shape(model, x_test, args.dataset)

    objective = models.model_objective(model)
    test = evaluate_test_metrics(model, model_inputs(model, x_test, y_test), y_test,
                                 args.batch_size)
    result = {
        "model": str(args.model),
        "dataset": args.dataset,
        "objective": objective,
        "test": test,
    }
    title = _title(objective, rho_lib.get_rho(model), args.dataset, len(x_test))
    # Attacks, OoD scores and calibration use the images -> logits model.
    robustness = evaluate_robustness(models.inference_model(model), x_test, y_test, args)
    if robustness is not None:
        result["robustness"] = robustness
    result["wall_time_s"] = time.time() - start
    print(reporting.format_summary({**test, "wall_time_s": result["wall_time_s"]}, title=title))
    if robustness is not None:
        print()
        print(report_lib.format_report(robustness))
    if args.out is not None:
        written = write_evaluation_outputs(args.out, result, robustness, title)
        print(f"Wrote {args.out}/: {', '.join(written)}")
    return result


def write_evaluation_outputs(out, result, robustness, title):
    """Writes the figures, then `metrics.json`, into `out`, each atomically; returns the names.

    The figures are drawn into a temporary folder inside `out`, then moved into place.
    """
    out.mkdir(parents=True, exist_ok=True)
    run_folder.clear(out, run_folder.EVALUATE_OUTPUTS, backup=False)  # Checked: --overwrite.
    written = []
    if robustness is not None:
        stage = pathlib.Path(tempfile.mkdtemp(dir=out, prefix=reporting.TEMP_PREFIX))
        try:
            for path in report_lib.save_report_figures(robustness, stage, title=title):
                path = pathlib.Path(path)
                os.replace(path, out / path.name)
                written.append(path.name)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    reporting.write_json(out / "metrics.json", result)
    return ["metrics.json", *written]


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
        mnist_x, _ = load_split(
            "mnist", _mnist_ood_data_dir(args.data_dir), "test", _download_flag(args)
        )
        mnist_x = mnist_x[: len(x)]
    return report_lib.robustness_report(
        model, x, y, ood=args.ood, mnist_x=mnist_x, cw_ood_examples=args.cw_ood_examples,
        attack=args.attack, eps=args.eps, attack_steps=args.attack_steps,
        attack_step_size=args.attack_step_size,
        attack_examples=args.attack_examples, target_class=args.target_class,
        run_calibration=args.calibration, num_samples=args.num_samples,
        rate_estimator=args.rate_estimator, seed=args.seed,
        batch_size=args.batch_size,
    )


def run_tune(args):
    """Runs `keras-ceb tune`; returns the `keras_ceb.tuning.RhoSearchResult`."""
    start = time.time()
    out = args.out or pathlib.Path("runs") / f"tune_{args.objective}"
    if args.search != "grid" and args.rho_values is None and args.rho_min >= args.rho_max:
        raise CLIError(f"--rho-min must be below --rho-max, got {args.rho_min:g} and "
                       f"{args.rho_max:g}")
    if args.tune_objective == "ood_auroc" and not args.marginal_components:
        raise CLIError("--tune-objective ood_auroc needs the rate: --marginal-components > 0")
    resume = check_tune_out(out, args)
    data_dir = check_data_dir(args.data_dir)
    check_data_env()
    download = _download_flag(args)
    info = datasets.dataset_info(args.dataset)
    x_all, y_all = load_split(args.dataset, data_dir, "train", download)
    check_finite_data(x_all, f"{args.dataset} training images")
    held_out = args.validation_examples
    if held_out >= len(x_all):
        raise CLIError(f"--validation-examples {held_out} leaves no training example: the "
                       f"{args.dataset} training set has {len(x_all)}")
    x_val, y_val = x_all[-held_out:], y_all[-held_out:]
    train_end = len(x_all) - held_out
    if args.max_train_examples is not None:
        train_end = min(train_end, args.max_train_examples)
    x_train, y_train = x_all[:train_end], y_all[:train_end]
    ood_name = args.ood_set or ("mnist" if args.dataset == "fashion_mnist" else "vertical_flip")
    ood_x = tune_ood_set(ood_name, x_val, args)
    # A random or Bayesian search draws from --rho-values too, when given.
    rho_values = args.rho_values or (_rho_list(DEFAULT_TUNE_RHOS) if args.search == "grid"
                                     else None)
    steps = math.ceil(len(x_train) / args.batch_size)

    def build(rho):
        model = models.build_classifier(
            args.objective, input_shape=info.input_shape, num_classes=info.num_classes,
            latent_dim=args.latent_dim, rho=rho, covariance=args.covariance,
            marginal_components=args.marginal_components or None, head=args.head,
            seed=args.seed)
        decay = steps * args.epochs if args.lr_schedule == "cosine" else None
        return models.compile_classifier(model, learning_rate=args.learning_rate,
                                         decay_steps=decay)

    takes_labels = args.objective == "ceb" and args.head == "mlp"
    train_x = {"images": x_train, "labels": y_train} if takes_labels else x_train
    val_x = {"images": x_val, "labels": y_val} if takes_labels else x_val
    progress = console.progress_mode(args.verbose)
    fit_callbacks = [callbacks.EpochLines(prefix="  ")] if progress == "lines" else []
    settings = {key: (str(value) if isinstance(value, pathlib.Path) else value)
                for key, value in vars(args).items() if key not in ("handler", "command")}
    if resume:
        print(f"Resuming the unfinished search in {run_folder.show_path(out)} "
              "(finished trials are kept; --overwrite starts over)")
    else:
        run_folder.clear(out, TUNE_OUTPUTS, backup=False)
        shutil.rmtree(out / TUNER_DIR, ignore_errors=True)
        (out / TUNER_DIR).mkdir(parents=True)
        reporting.write_json(out / TUNER_DIR / TUNE_OPTIONS_FILE, tune_options(args))
    max_trials = None if args.search == "grid" else (args.max_trials or 8)
    try:
        result = tuning.tune_rho(
            build, train_x, y_train, (val_x, y_val), ood_x=ood_x,
            objective=args.tune_objective, search=args.search, rho_values=rho_values,
            rho_min=args.rho_min, rho_max=args.rho_max, max_trials=max_trials,
            epochs=args.epochs, batch_size=args.batch_size, rho_anneal=args.rho_anneal,
            rho_anneal_epochs=args.rho_anneal_epochs, seed=args.seed,
            directory=out / TUNER_DIR, project_name="keras_tuner", overwrite=False,
            progress=print if args.verbose >= console.PROGRESS else None,
            verbose=1 if progress == "bar" else 0, callbacks=fit_callbacks, shuffle=True)
    except RuntimeError as e:
        raise CLIError(f"{_first_line(e)}; see the trials in "
                       f"{run_folder.show_path(out / TUNER_DIR)}") from None
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; the finished trials are kept in "
                          f"{run_folder.show_path(out / TUNER_DIR)}: run the same command "
                          "again to resume") from None
    config = {**settings, **result.settings, "out": str(out.absolute()),
              "data_dir": None if data_dir is None else str(pathlib.Path(data_dir).absolute()),
              "data_files": {"train": data_files(args.dataset, data_dir, "train")},
              "ood_set": ood_name, "wall_time_s": time.time() - start}
    written = tuning.save_results(result, out, extra={
        "settings": config, "environment": reporting.environment()})
    print()
    print(tuning.format_table(result))
    best = result.best
    print(f"Best: rho = {best['rho']:g} ({result.objective} = {best[result.objective]:.4f}, "
          f"{'higher' if result.direction == 'max' else 'lower'} is better)"
          + (f"; {len(result.failed)} trial(s) failed" if result.failed else ""))
    print(f"Wrote {out}/: {', '.join(written)}")
    print(LOAD_HINT.format(path=out / "best_model.keras"))
    return result


TUNE_OUTPUTS = ("trials.csv", "trials.md", "trials.json", "objectives.png", "best_model.keras")
TUNER_DIR = "tuner"
TUNE_OPTIONS_FILE = "options.json"
# Options that may change between an interrupted `tune` and the run that resumes it.
TUNE_RESUME_FREE_OPTIONS = ("data_dir", "download", "out", "overwrite", "verbose")


def tune_options(args):
    """The options of `tune` that determine the search (see `TUNE_RESUME_FREE_OPTIONS`)."""
    return {key: (str(value) if isinstance(value, pathlib.Path) else value)
            for key, value in sorted(vars(args).items())
            if key not in ("handler", "command", *TUNE_RESUME_FREE_OPTIONS)}


def check_tune_out(out, args):
    """Checks `tune --out` before any work; returns whether to resume the search in it."""
    try:
        run_folder.check_writable_folder(out, "--out")
    except run_folder.RunFolderError as e:
        raise CLIError(str(e)) from None
    shown = run_folder.show_path(out)
    finished = (out / "trials.json").exists()
    if finished and not args.overwrite:
        raise CLIError(f"--out {shown} already holds a finished search (trials.json); pass "
                       "--overwrite to replace it, or choose another --out")
    options_file = out / TUNER_DIR / TUNE_OPTIONS_FILE
    if finished or args.overwrite or not options_file.is_file():
        return False
    try:
        saved = json.loads(options_file.read_text())
    except ValueError:
        saved = None
    differences = run_folder.option_differences(saved or {}, tune_options(args))
    if differences:
        raise CLIError(f"--out {shown} holds an unfinished search with other options: "
                       f"{'; '.join(differences)}; run it with its own options to resume it, "
                       "or pass --overwrite to start over")
    return True


def tune_ood_set(name, x_val, args):
    """The held-out OoD images of `tune`: as many as the held-out examples."""
    if name == "mnist":
        x, _ = load_split("mnist", _mnist_ood_data_dir(args.data_dir), "test",
                          _download_flag(args))
        x = x[: len(x_val)]
        if x.shape[1:] != x_val.shape[1:]:
            raise CLIError(f"--ood-set mnist has images of shape {x.shape[1:]}, the "
                           f"{args.dataset} images {x_val.shape[1:]}: choose another --ood-set")
        return x
    return evaluation.paper_ood_sets(x_val, seed=args.seed)[name]


def run_reproduce(args):
    """Runs `keras-ceb reproduce <dataset>` (`keras_ceb.reproduce.command`)."""
    try:
        return reproduce_command.run(args)
    except ReproduceError as e:
        raise CLIError(str(e)) from e


# Options whose value is a comma-separated list of numbers that may start with a minus sign.
_NUMBER_LIST_OPTIONS = ("--rho-values",)


def _attach_negative_lists(argv):
    """`--rho-values -1,0,1` as `--rho-values=-1,0,1`.

    argparse reads a separate `-1,0,1` as an unknown option (only a lone number such as `-1`
    counts as negative), so the README's `--rho-values -1,0,1,2` would fail.

    Examples:

        >>> _attach_negative_lists(["tune", "--rho-values", "-1,0", "--epochs", "2"])
        ['tune', '--rho-values=-1,0', '--epochs', '2']
    """
    out = []
    for token in argv:
        if out and out[-1] in _NUMBER_LIST_OPTIONS and re.match(r"-[0-9.]", token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def main(argv=None):
    """Entry point of `keras-ceb` and `python -m keras_ceb`.

    Args:
        argv: Arguments without the program name; default `sys.argv[1:]`.

    Returns:
        0 on success. Errors raise `SystemExit` with a non-zero code after a one-line
        message on stderr: 2 for bad arguments, 1 for other errors, 130 for Ctrl-C.

    Examples:

        >>> main(["train", "--epochs", "1", "--max-train-examples", "512", "--out", "/tmp/run"])
        ... # doctest: +SKIP
        0
    """
    argv = _attach_negative_lists(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"
    try:
        # Keras and TensorFlow load here, once the arguments are known to be good, with
        # their import-time log lines dropped (shown with --verbose 3).
        console.quiet_frameworks(getattr(args, "verbose", console.PROGRESS),
                                 tensorflow=args.command in ("train", "tune", "reproduce"))
        args.handler(args)
    except (CLIError, console.BackendNotInstalledError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    except (Interrupted, KeyboardInterrupt) as e:
        if sys.stdout.isatty():  # End the progress bar's line first.
            print(flush=True)
        print(f"{prog}: {e}" if isinstance(e, Interrupted) else f"{prog}: interrupted",
              file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    return 0
