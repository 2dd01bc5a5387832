"""Command-line argument types: each parses one option's text or raises
`argparse.ArgumentTypeError`.

argparse reports the error as one line (`keras-ceb train: error: argument --epochs: expected a
positive integer, got '0'`). The same types parse `keras-ceb train`'s options (derived from
`keras_ceb.training.TrainConfig`) and `tune`'s, and `OneLineParser` is the parser of
`keras-ceb` and of the paper's reproduction (`python -m benchmarks.paper`). Nothing here imports
Keras.
"""

import argparse
import dataclasses
import math

from keras_ceb import validation
from keras_ceb.training.errors import TrainingError

DATASET_NAMES = validation.DATASET_NAMES
EXIT_USAGE = 2  # bad arguments


class OneLineParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line (no usage block) on stderr, exit code 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _integer_at_least(text, minimum, expected):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text):
    """An integer >= 1.

    Examples:

        >>> positive_int("3")
        3
    """
    return _integer_at_least(text, 1, "a positive integer")


def non_negative_int(text):
    """An integer >= 0."""
    return _integer_at_least(text, 0, "a non-negative integer")


def _float32(text, alternatives=""):
    """`text` as a number finite in float32; `alternatives` (e.g. `", 'auto' or 'off'"`) are
    named in the error."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number{alternatives}, got {text!r}")
    if abs(value) > validation.FLOAT32_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a number of magnitude at most {validation.FLOAT32_MAX:.4g} "
            f"(finite in float32){alternatives}, got {text!r}"
        )
    return value


def finite_float(text):
    """A number that is finite in float32, the dtype of rho and of the learning rate."""
    return _float32(text)


def positive_float(text):
    """A number > 0, finite in float32."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text):
    """A number >= 0, finite in float32."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def anneal_start(text):
    """The start of a rho anneal: a number finite in float32, `"auto"`, or `None` for `off`.

    Examples:

        >>> anneal_start("off"), anneal_start("auto"), anneal_start("5")
        (None, 'auto', 5.0)
    """
    if text.lower() in ("off", "none"):
        return None
    if text.lower() == "auto":
        return "auto"
    return _float32(text, ", 'auto' or 'off'")


def anneal_offset(text):
    """How far above rho an anneal starts: a number >= 0, or `None` for `off`."""
    if text.lower() in ("off", "none"):
        return None
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'off', got {text!r}")
    return value


def dataset(text):
    """A name of `DATASET_NAMES`."""
    if text not in DATASET_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {text!r}; expected one of {', '.join(DATASET_NAMES)}"
        )
    return text


def rho_list(text):
    """Comma-separated finite numbers, sorted, without repeats.

    Examples:

        >>> rho_list("2,-1,0,2")
        [-1.0, 0.0, 2.0]
    """
    values = []
    for part in text.split(","):
        try:
            values.append(finite_float(part.strip()))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected finite numbers separated by commas, got {text!r}"
            ) from None
    return sorted(set(values))


def config_of(config_class, args):
    """`config_class` (`TrainConfig`, `EvaluateConfig`, `TuneConfig`) from the parsed options of
    its fields' names; a rule across fields it breaks is a `TrainingError` in the fields'
    words, which `keras_ceb.cli` turns into the options'."""
    names = {field.name for field in dataclasses.fields(config_class)}
    try:
        return config_class(**{key: value for key, value in vars(args).items() if key in names})
    except ValueError as error:
        raise TrainingError(str(error)) from None
