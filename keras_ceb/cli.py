"""The `keras-ceb` command: train and evaluate CEB / VIB / Determ image classifiers.

    keras-ceb train --objective ceb --rho 0 --out runs/ceb
    keras-ceb train --dataset cifar10 --wrn-depth 16 --wrn-width 4   # the paper's CIFAR-10 recipe
    keras-ceb evaluate runs/ceb/model.keras
    keras-ceb tune --rho-values -1,0,1,2

The paper's reproduction is not a command of the package: from a clone,
`python -m benchmarks.paper fashion-mnist --preset cpu` (benchmarks/paper/).

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

import dataclasses
import importlib
import pathlib
import re
import sys

from keras_ceb import console
from keras_ceb.commands import arguments
from keras_ceb.commands.errors import CLIError
from keras_ceb.commands.errors import Interrupted
from keras_ceb.training import config as config_lib
from keras_ceb.training.errors import TrainingError
from keras_ceb.training.errors import TrainingInterrupted

# The library loads inside the functions that need it (a local import), so that building and
# running the parser imports no Keras: `keras-ceb --help` answers at once.

DEFAULT_LEARNING_RATE = config_lib.DEFAULT_LEARNING_RATE
RHO_ANNEAL_AUTO_OFFSET = config_lib.RHO_ANNEAL_AUTO_OFFSET
EXIT_USAGE = arguments.EXIT_USAGE
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C.
# Copies of keras_ceb's own tuples (tests/cli checks that they are equal), so that building
# and running the parser imports no Keras: `keras-ceb --help` answers at once.
DATASET_NAMES = arguments.DATASET_NAMES  # datasets.DATASET_NAMES
HEADS = config_lib.HEADS  # keras_ceb.models.HEADS
ATTACKS = (
    "pgd-linf",
    "pgd-l2",
    "cw-l2",
    "apgd-ce",
    "apgd-t",
    "fab-t",
    "square",
    "autoattack",
)  # keras_ceb.evaluation.report.ATTACKS
# The one-line help of each command, shown by `keras-ceb --help`.
COMMAND_HELP = {
    "train": "train a classifier and write model, history, metrics and plots",
    "evaluate": "evaluate a saved .keras model on the test set",
    "tune": "search rho with keras-tuner and write the trials, a plot and the best model",
}


def build_parser(command=None):
    """The `argparse` parser of `keras-ceb`: `train`, `evaluate` and `tune`.

    Args:
        command: Build only this command's sub-parser in full, and the others as their
            one-line help (what `keras-ceb --help` lists): `main` passes the command named
            on the command line, or `""` for none, so that `--help` imports nothing heavy.
            Default: every command in full.

    Examples:

        >>> args = build_parser().parse_args(["train", "--objective", "vib", "--rho", "2"])
        >>> args.objective, args.rho
        ('vib', 2.0)
    """
    parser = arguments.OneLineParser(
        prog="keras-ceb",
        description="Train and evaluate Conditional Entropy Bottleneck (CEB), VIB and "
        "deterministic image classifiers with Keras 3.",
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=arguments.OneLineParser
    )
    commands.required = True
    builders = {
        "train": _add_train_parser,
        "evaluate": _add_evaluate_parser,
        "tune": _add_tune_parser,
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
    """The data options `evaluate` shares with `train` (the `TrainConfig` fields of the same
    names, with the same help)."""
    for name in ("dataset", "data_dir", "download", "max_test_examples", "batch_size"):
        _add_config_option(parser, config_lib.TrainConfig.__dataclass_fields__[name])


def _add_config_option(parser, field):
    """The option of one `TrainConfig` field: `--name-with-dashes`, its type, help, default."""
    meta = field.metadata
    flag = _option_flag(field)
    if meta["action"]:
        parser.add_argument(flag, dest=field.name, action=meta["action"], help=meta["help"])
        return
    kwargs = {"default": field.default, "help": meta["help"]}
    if meta["parse"] is not None:
        parse = meta["parse"]  # a name of `arguments`, or a type such as pathlib.Path
        kwargs["type"] = getattr(arguments, parse) if isinstance(parse, str) else parse
    if meta["metavar"] is not None:
        kwargs["metavar"] = meta["metavar"]
    if meta["choices"] is not None:
        kwargs["choices"] = meta["choices"]
    parser.add_argument(flag, **kwargs)


def _add_train_parser(commands):
    """`train`: one option per `TrainConfig` field, in the config's order."""
    train = commands.add_parser(
        "train",
        help=COMMAND_HELP["train"],
        description="Train a CEB, VIB or Determ classifier (small convnet -> 4-d Gaussian "
        "encoder -> head), then evaluate it on the test set. Writes model.keras, history.json, "
        "metrics.json, training_curves.png and information_plane.png into --out, each "
        "atomically. Every epoch is checkpointed in --out/.backup: after a kill or Ctrl-C, "
        "the same command resumes from the last completed epoch.",
    )
    for field in dataclasses.fields(config_lib.TrainConfig):
        _add_config_option(train, field)
    train.set_defaults(handler=run_train)


def train_config(args):
    """The `TrainConfig` of parsed `train` arguments."""
    return arguments.config_of(config_lib.TrainConfig, args)


def _option_flag(field):
    """The `keras-ceb train` option of a `TrainConfig` field (`learning_rate`: --learning-rate)."""
    return field.metadata["flag"] or "--" + field.name.replace("_", "-")


def _in_flags(message, option_names=()):
    """`message` in the command line's words: the `TrainConfig` fields it names as options.

    The library names a field in backticks, with a value where it asks for one (`out`,
    `overwrite=True`, `backbone='wide_resnet'`), or as `field=value` after "Received:"; this is
    the one place that turns them into options (--out, --overwrite, --backbone wide_resnet).

    Examples:

        >>> _in_flags("`out` runs/a holds a run; pass `overwrite=True` (or `download=False`)")
        '--out runs/a holds a run; pass --overwrite (or --no-download)'
        >>> _in_flags("`wrn_depth` needs `backbone='wide_resnet'`")
        '--wrn-depth needs --backbone wide_resnet'
    """
    fields = {f.name: f for f in dataclasses.fields(config_lib.TrainConfig)}
    fields.update({name: None for name in option_names if name not in fields})

    def flag_of(name):
        field = fields[name]
        return "--" + name.replace("_", "-") if field is None else _option_flag(field)

    def option(match):
        field = fields[match.group(1)]
        flag = flag_of(match.group(1))
        value = match.group(3)
        if (
            value is None
            or value == "True"
            or (field is not None and field.metadata["action"] in ("store_true", "store_false"))
        ):
            return flag
        return f"{flag} {value.strip(chr(39))}"

    alternatives = "|".join(sorted(fields, key=len, reverse=True))
    message = re.sub(rf"`({alternatives})(=([^`]*))?`", option, message)
    for name in sorted(fields, key=len, reverse=True):  # "Received: epochs=0"
        message = re.sub(rf"\b{name}=", flag_of(name) + " ", message)
    return message


def _error_in_flags(error, args):
    """A library error's one line, in the command line's words (see `_in_flags`)."""
    from keras_ceb import datasets

    cause = error.__cause__
    if isinstance(error, TrainingError) and isinstance(cause, datasets.DatasetNotFoundError):
        return str(cli_worded(cause, getattr(args, "download", None)))
    # The command's own config fields (its module is loaded: the error came from it).
    config_class = {
        "tune": ("keras_ceb.tuning.config", "TuneConfig"),
        "evaluate": ("keras_ceb.training.evaluate_model", "EvaluateConfig"),
    }.get(getattr(args, "command", None))
    names = ()
    if config_class is not None:
        module, name = config_class
        names = [
            f.name for f in dataclasses.fields(getattr(importlib.import_module(module), name))
        ]
    return _in_flags(str(error), names)


def cli_worded(error, download=None):
    """The `DatasetNotFoundError` of a loader with the CLI's words: `--data-dir` and
    `--no-download` instead of the Python arguments `data_dir=` and `download=`.

    Examples:

        >>> error = keras_ceb.datasets.DatasetNotFoundError(
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
        "download: not tried (--no-download)"
        if download is False
        else "download: not tried (keras-ceb downloads only Fashion-MNIST and MNIST)"
    )
    replacements = (
        ("(data_dir argument)", "(--data-dir)"),
        ("download: not tried (download=False)", not_tried),
        ("pass it as `data_dir=`", "pass it as --data-dir"),
        ("pass its parent as `data_dir=`", "pass its parent as --data-dir"),
        (
            "or pass `download=True` on a machine with internet access",
            "or run without --no-download on a machine with internet access",
        ),
        (", or call this loader with `download=True`", ""),
    )

    def reword(text):
        for python, cli in replacements:
            text = text.replace(python, cli)
        return text

    # The hint about `load_mnist_test()` is for Python users only.
    hints = [reword(h) for h in error.hints if "load_mnist_test()" not in h]
    from keras_ceb import datasets

    return datasets.DatasetNotFoundError(error.dataset, [reword(p) for p in error.places], hints)


def _add_verbose_argument(parser):
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2, 3),
        default=console.PROGRESS,
        metavar="0|1|2|3",
        help=f"{console.VERBOSE_HELP} (default: 1)",
    )


TUNE_OBJECTIVES = ("combined", "val_accuracy", "mni_distance", "ood_auroc")  # tuning.OBJECTIVES
TUNE_SEARCHES = ("grid", "random", "bayesian")  # keras_ceb.tuning.SEARCHES
DEFAULT_TUNE_RHOS = "-1,0,1,2,3,4,5"  # keras_ceb.tuning.config.DEFAULT_RHO_VALUES
DEFAULT_TUNE_EPOCHS = 5
DEFAULT_VALIDATION_EXAMPLES = 5000
OOD_SETS = ("mnist", "uniform_noise", "vertical_flip")  # keras_ceb.tuning.config.OOD_SETS


def _add_tune_parser(commands):
    tune = commands.add_parser(
        "tune",
        help=COMMAND_HELP["tune"],
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
    search.add_argument(
        "--search",
        choices=TUNE_SEARCHES,
        default="grid",
        help="grid over --rho-values, or random / Bayesian over [--rho-min, "
        "--rho-max] (default: grid)",
    )
    search.add_argument(
        "--tune-objective",
        choices=TUNE_OBJECTIVES,
        default="combined",
        help="what the search optimizes (default: combined)",
    )
    search.add_argument(
        "--rho-values",
        type=arguments.rho_list,
        metavar="LIST",
        default=None,
        help=f"comma-separated rho values of the grid (default: {DEFAULT_TUNE_RHOS})",
    )
    search.add_argument(
        "--rho-min",
        type=arguments.finite_float,
        metavar="RHO",
        default=-1.0,
        help="lower end of a random or Bayesian search (default: -1)",
    )
    search.add_argument(
        "--rho-max",
        type=arguments.finite_float,
        metavar="RHO",
        default=5.0,
        help="upper end of a random or Bayesian search (default: 5)",
    )
    search.add_argument(
        "--max-trials",
        type=arguments.positive_int,
        metavar="N",
        default=None,
        help="trials of a random or Bayesian search (default: 8; a grid tries every value)",
    )
    search.add_argument(
        "--validation-examples",
        type=arguments.positive_int,
        metavar="N",
        default=DEFAULT_VALIDATION_EXAMPLES,
        help="the last N training examples are held out to score the trials "
        f"(default: {DEFAULT_VALIDATION_EXAMPLES})",
    )
    search.add_argument(
        "--ood-set",
        choices=OOD_SETS,
        default=None,
        help="held-out OoD set of --tune-objective ood_auroc and combined, "
        "as many images as --validation-examples (default: mnist for "
        "fashion_mnist, else vertical_flip)",
    )
    model = tune.add_argument_group("each trial (as in `train`)")
    model.add_argument(
        "--objective",
        choices=("ceb", "vib"),
        default="ceb",
        help="training objective (default: ceb)",
    )
    model.add_argument(
        "--epochs",
        type=arguments.positive_int,
        metavar="N",
        default=DEFAULT_TUNE_EPOCHS,
        help=f"training epochs per trial (default: {DEFAULT_TUNE_EPOCHS})",
    )
    model.add_argument(
        "--rho-anneal",
        type=arguments.anneal_offset,
        default=RHO_ANNEAL_AUTO_OFFSET,
        metavar="OFFSET|off",
        help="anneal each trial's rho from rho + OFFSET down to rho over the first "
        f"--rho-anneal-epochs epochs (default: {RHO_ANNEAL_AUTO_OFFSET:g})",
    )
    model.add_argument(
        "--rho-anneal-epochs",
        type=arguments.non_negative_int,
        metavar="N",
        default=None,
        help="length of the anneal, at most --epochs - 1 (default: --epochs // 2)",
    )
    model.add_argument(
        "--learning-rate",
        type=arguments.positive_float,
        metavar="LR",
        default=DEFAULT_LEARNING_RATE,
        help=f"initial Adam learning rate (default: {DEFAULT_LEARNING_RATE:g})",
    )
    model.add_argument(
        "--lr-schedule",
        choices=("cosine", "constant"),
        default="cosine",
        help="learning-rate schedule (default: cosine)",
    )
    model.add_argument(
        "--latent-dim",
        type=arguments.positive_int,
        metavar="D",
        default=4,
        help="dimension of the bottleneck z (default: 4)",
    )
    model.add_argument(
        "--covariance",
        choices=("full", "diag"),
        default="full",
        help="Gaussian covariance (default: full)",
    )
    model.add_argument(
        "--marginal-components",
        type=arguments.non_negative_int,
        metavar="K",
        default=240,
        help="components of m(z); the rate and ood_auroc need K > 0 (default: 240)",
    )
    model.add_argument(
        "--head",
        choices=HEADS,
        default="consistent",
        help="classifier head, as in train (default: consistent)",
    )
    data = tune.add_argument_group("data")
    data.add_argument(
        "--dataset",
        type=arguments.dataset,
        metavar="NAME",
        default="fashion_mnist",
        help="dataset name (default: fashion_mnist; also mnist, cifar10)",
    )
    data.add_argument(
        "--data-dir",
        type=pathlib.Path,
        metavar="DIR",
        default=None,
        help="folder searched first for the data files",
    )
    data.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        help="never download: fail if no local copy of the data is found",
    )
    data.add_argument(
        "--batch-size",
        type=arguments.positive_int,
        metavar="N",
        default=config_lib.DEFAULT_BATCH_SIZE,
        help=f"batch size (default: {config_lib.DEFAULT_BATCH_SIZE})",
    )
    data.add_argument(
        "--max-train-examples",
        type=arguments.positive_int,
        metavar="N",
        default=None,
        help="train each trial on the first N training examples only",
    )
    data.add_argument(
        "--seed",
        type=int,
        metavar="SEED",
        default=0,
        help="seed of every trial (same initial weights and data order) and "
        "of the search (default: 0)",
    )
    tune.add_argument(
        "--out",
        type=pathlib.Path,
        metavar="DIR",
        default=None,
        help="output folder (default: runs/tune_<objective>); an unfinished "
        "search there is resumed, a finished one is kept unless --overwrite",
    )
    tune.add_argument(
        "--overwrite", action="store_true", help="replace the search in --out (finished or not)"
    )
    _add_verbose_argument(tune)
    tune.set_defaults(handler=run_tune)


def _add_evaluate_parser(commands):
    evaluate = commands.add_parser(
        "evaluate",
        help=COMMAND_HELP["evaluate"],
        description="Reload a saved .keras classifier and report its test accuracy and "
        "information metrics (rate, ReX, I(X;Z) and I(Y;Z) bounds, consistency).",
    )
    evaluate.add_argument(
        "model",
        type=pathlib.Path,
        metavar="MODEL",
        help="path of a model saved by `keras-ceb train` (model.keras)",
    )
    _add_data_arguments(evaluate)
    evaluate.add_argument(
        "--out",
        type=pathlib.Path,
        metavar="DIR",
        default=None,
        help="folder to write metrics.json (and the figures) into "
        "(default: print only); an existing metrics.json there is kept "
        "unless --overwrite",
    )
    evaluate.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the metrics.json and figures already in --out",
    )
    robustness = evaluate.add_argument_group(
        "robustness (the paper's Table 1)",
        "OoD detection is scored with in-distribution as the positive class.",
    )
    robustness.add_argument(
        "--ood",
        action="store_true",
        help="OoD detection by the rate R, entropy H, max-softmax, "
        "max-logit, energy, and Mahalanobis and KNN (on the features and "
        "on z, fitted on training images) on near sets (vertical flip, "
        "90-degree rotation) and far sets (U(0,1) and Gaussian noise, for "
        "Fashion-MNIST the MNIST test set), with per-group means",
    )
    robustness.add_argument(
        "--ood-reference-examples",
        type=arguments.non_negative_int,
        metavar="N",
        default=10000,
        help="with --ood, fit Mahalanobis and KNN on the first N training "
        "images (0: leave them out; default: 10000)",
    )
    robustness.add_argument(
        "--cw-ood-examples",
        type=arguments.non_negative_int,
        metavar="N",
        default=0,
        help="with --ood, also use N Carlini-Wagner L2 adversarial examples "
        "as an OoD set (slow: 5 x 1000 iterations; default: 0)",
    )
    robustness.add_argument(
        "--attack",
        choices=ATTACKS,
        default=None,
        help="adversarial attack to run on the test set: PGD (the paper's), "
        "CW-L2, APGD-CE, APGD-T (targeted DLR over the top 9 classes), FAB-T (the "
        "targeted minimum-norm attack over the same classes), the "
        "gradient-free Square, or autoattack (APGD-CE, APGD-T, FAB-T, Square; "
        "APGD with EOT for a model that samples z at inference)",
    )
    robustness.add_argument(
        "--eps",
        type=arguments.non_negative_float,
        metavar="EPS",
        default=0.1,
        help="attack radius (default: 0.1)",
    )
    robustness.add_argument(
        "--attack-norm",
        choices=("linf", "l2"),
        default="linf",
        help="norm of apgd-ce, apgd-t, fab-t, square and autoattack (default: linf)",
    )
    robustness.add_argument(
        "--attack-steps",
        type=arguments.positive_int,
        metavar="N",
        default=None,
        help="PGD, APGD or FAB-T steps (default: 7 for PGD, 100 for APGD and FAB-T)",
    )
    robustness.add_argument(
        "--queries",
        type=arguments.positive_int,
        metavar="N",
        default=5000,
        help="queries of the Square attack (default: 5000)",
    )
    robustness.add_argument(
        "--attack-step-size",
        type=arguments.positive_float,
        metavar="S",
        default=None,
        help="PGD step size in the attack's norm (default: "
        "min(2.5 * EPS / N, cap), N the --attack-steps and cap 0.03 for "
        "L-inf, 0.03 * sqrt(pixels) for L2)",
    )
    robustness.add_argument(
        "--attack-examples",
        type=arguments.positive_int,
        metavar="N",
        default=1000,
        help="attack the first N test examples (default: 1000)",
    )
    robustness.add_argument(
        "--target-class",
        type=arguments.non_negative_int,
        metavar="K",
        default=None,
        help="targeted attack towards class K (default: untargeted)",
    )
    robustness.add_argument(
        "--calibration",
        action="store_true",
        help="expected calibration error and the reliability diagram (5%% bins)",
    )
    robustness.add_argument(
        "--corruptions",
        action="store_true",
        help="accuracy under the 15 common corruptions of ImageNet-C at 5 severities "
        "(Hendrycks and Dietterich 2019; made offline from the test images), and the AUROC "
        "of each OoD score (the rate R among them) between the clean and the corrupted "
        "images, a signal of covariate shift",
    )
    robustness.add_argument(
        "--corruption-examples",
        type=arguments.positive_int,
        metavar="N",
        default=1000,
        help="with --corruptions, corrupt the first N test images (default: 1000)",
    )
    robustness.add_argument(
        "--corruption-reference",
        type=pathlib.Path,
        metavar="METRICS",
        default=None,
        help="with --corruptions, the metrics.json of `keras-ceb evaluate --corruptions "
        "--out` for a reference model (Determ): adds the corruption errors and the mCE "
        "relative to it",
    )
    robustness.add_argument(
        "--rate-estimator",
        choices=("mean", "sample"),
        default=None,
        help="OoD scores at the encoder mean (deterministic; the default for one draw) or "
        "averaged over --num-samples draws of z (the default for several)",
    )
    robustness.add_argument(
        "--num-samples",
        type=arguments.positive_int,
        metavar="N",
        default=1,
        help="draws of z to average the scores and the PGD gradients (EOT) over (default: 1)",
    )
    robustness.add_argument(
        "--seed",
        type=arguments.non_negative_int,
        metavar="SEED",
        default=0,
        help="seed of the noise images, the attack's random start and its draws of z",
    )
    _add_verbose_argument(evaluate)
    evaluate.set_defaults(handler=run_evaluate)


# Commands.


def run_train(args):
    """Runs `keras-ceb train`: a `TrainConfig` from the options, then `training.train`;
    returns the `metrics.json` dict (`None` on the other processes of a multi-process job)."""
    from keras_ceb.training import recipe

    result = recipe.train(train_config(args))
    if result.model is None:
        return None
    print(result.summary())
    print(LOAD_HINT.format(path=result.out / "model.keras"))
    return result.metrics


# The closing line of the commands that save a model: loading needs keras_ceb imported.
LOAD_HINT = (
    "To load the model in Python, import keras_ceb first (it registers the layers): "
    'import keras, keras_ceb; model = keras.models.load_model("{path}")'
)


def run_evaluate(args):
    """Runs `keras-ceb evaluate` (`keras_ceb.commands.evaluate`); returns the metrics dict."""
    from keras_ceb.commands import evaluate as evaluate_command

    return evaluate_command.run(args)


def run_tune(args):
    """Runs `keras-ceb tune` (`keras_ceb.commands.tune`); returns its `RhoSearchResult`."""
    from keras_ceb.commands import tune as tune_command

    result = tune_command.run(args)
    print(LOAD_HINT.format(path=tune_command.output_folder(args) / "best_model.keras"))
    return result


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
        console.quiet_frameworks(
            getattr(args, "verbose", console.PROGRESS),
            tensorflow=args.command in ("train", "tune"),
        )
        args.handler(args)
    except TrainingError as e:
        print(f"{prog}: error: {_error_in_flags(e, args)}", file=sys.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    except (CLIError, console.BackendNotInstalledError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    except (Interrupted, KeyboardInterrupt) as e:  # TrainingInterrupted too
        if sys.stdout.isatty():  # End the progress bar's line first.
            print(flush=True)
        print(
            f"{prog}: {e}"
            if isinstance(e, (Interrupted, TrainingInterrupted))
            else f"{prog}: interrupted",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_INTERRUPTED) from None
    return 0
