"""What the `keras-ceb` command prints: no framework log noise, and progress that suits the output.

TensorFlow, XLA and absl write log lines straight to the stderr file descriptor while they are
imported (`oneDNN custom operations are on...`, `This TensorFlow binary is optimized...`,
`WARNING: All log messages before absl::InitializeLog() is called...`), whatever
`TF_CPP_MIN_LOG_LEVEL` says. `quiet_frameworks` imports the frameworks with that descriptor
captured, drops those lines and passes anything else on; it also raises the C++ log threshold
(`TF_CPP_MIN_LOG_LEVEL=2`, unless the user set it) for what comes later, and silences the
frameworks' Python warnings and absl/TensorFlow loggers. `--verbose 3` skips all of it.

`progress_mode` decides how training shows progress: Keras's bar on a terminal, one line per
epoch (`keras_ceb.callbacks.EpochLines`) when the output is a file or a pipe, where a progress
bar would write every update (megabytes for a full run).

Nothing here imports Keras at module level: `keras-ceb --help` stays fast.
"""

import contextlib
import importlib
import importlib.util
import logging
import os
import re
import sys
import tempfile
import warnings

# --verbose levels of the CLI.
SILENT = 0
PROGRESS = 1
EPOCH_LINES = 2
DEBUG = 3
VERBOSE_HELP = (
    "0: the summary only; 1: a progress bar on a terminal, one line per epoch otherwise; "
    "2: one line per epoch; 3: as 1, plus the frameworks' own log messages and warnings "
    "(TensorFlow, absl, JAX)"
)
# Lines the frameworks write to stderr at import time.
_NOISE = (
    # absl/TensorFlow C++ log lines: "I0000 00:00:1795862506.068998   25860 port.cc:153] ..."
    re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+\s+\S+:\d+\] "),
    re.compile(
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called are "
        r"written to STDERR\s*$"
    ),
    # The second line of TensorFlow's cpu_feature_guard message.
    re.compile(
        r"^To enable the following instructions: .* rebuild TensorFlow with the "
        r"appropriate compiler flags\.\s*$"
    ),
)
# Modules whose Python warnings are the frameworks' business, not the user's.
_FRAMEWORK_MODULES = (
    r"(keras|tensorflow|tf_keras|jax|jaxlib|absl|keras_tuner|tensorflow_datasets|sklearn"
    r"|scipy)"
)


def is_noise(line):
    """Whether a line of stderr is framework log noise (see the module docstring).

    Examples:

        >>> is_noise("I0000 00:00:1795862506.068998   25860 port.cc:153] oneDNN custom "
        ...          "operations are on.")
        True
        >>> is_noise("keras-ceb train: error: --epochs: expected a positive integer")
        False
    """
    return any(pattern.match(line) for pattern in _NOISE)


@contextlib.contextmanager
def _filtered_stderr_fd():
    """Captures file descriptor 2 (C and C++ code write there directly); on exit, writes
    what was captured, less the noise lines, to `sys.stderr`."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):  # No usable descriptor 2: nothing to filter.
        yield
        return
    capture = tempfile.TemporaryFile()
    try:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
    finally:
        os.close(saved)
        capture.close()


# What to install for each Keras backend, by the module that Keras fails to import.
BACKEND_INSTALL = {
    "tensorflow": 'pip install "keras-ceb[cpu]" (or "keras-ceb[gpu]" for CUDA; from a clone: '
    'pip install -e ".[cpu]")',
    "jax": 'pip install "keras-ceb[jax]" (from a clone: pip install -e ".[jax]")',
    "torch": "pip install torch",
}


class BackendNotInstalledError(ImportError):
    """Keras's backend is not installed: the message is one line naming what to install."""


def import_keras():
    """Imports Keras; a missing backend raises `BackendNotInstalledError` with one line.

    Keras itself is a dependency of keras_ceb, its backends are extras (`.[cpu]`, `.[gpu]`,
    `.[jax]`, or PyTorch installed by hand), so a fresh install may have none: Keras then
    fails deep in its import with `No module named 'tensorflow'`.
    """
    try:
        return importlib.import_module("keras")
    except ModuleNotFoundError as e:
        if e.name not in BACKEND_INSTALL:
            raise
        backend = os.environ.get("KERAS_BACKEND") or e.name
        raise BackendNotInstalledError(
            f"the Keras backend {backend!r} is not installed (no module named {e.name!r}): "
            f"{BACKEND_INSTALL[e.name]}, or choose another backend with $KERAS_BACKEND "
            "(tensorflow, jax, torch)"
        ) from None


def quiet_frameworks(verbose=PROGRESS, tensorflow=True):
    """Imports Keras (and its backend) without their log noise, and keeps them quiet after.

    Call it before anything imports Keras or TensorFlow. With `verbose=DEBUG` (3) it only
    imports Keras, changing nothing. Later calls only import what is not imported yet.

    Args:
        verbose: The CLI's `--verbose` level.
        tensorflow: Also import TensorFlow (quietly) when it is installed, for commands that
            use `tf.data` whatever the Keras backend.

    Examples:

        >>> quiet_frameworks()  # doctest: +SKIP
    """
    if verbose >= DEBUG:
        import_keras()
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    names = ["keras"]
    if tensorflow and is_installed("tensorflow"):
        names.insert(0, "tensorflow")
    missing = [name for name in names if name not in sys.modules]
    if missing:
        with _filtered_stderr_fd():
            for name in missing:
                if name == "keras":
                    import_keras()
                else:
                    importlib.import_module(name)
    for name in ("tensorflow", "absl", "jax", "keras_tuner"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "absl.logging" in sys.modules or is_installed("absl"):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    warnings.filterwarnings("ignore", module=_FRAMEWORK_MODULES + r"(\.|$)")


def progress_mode(verbose, stream=None):
    """How `fit` shows progress: `"bar"` (Keras's, `fit(verbose=1)`), `"lines"` (one line per
    epoch) or `"none"`.

    A progress bar only on a terminal: in a file or a pipe each of its updates is a new
    line.

    Args:
        verbose: The CLI's `--verbose` level.
        stream: The output stream; default `sys.stdout`.

    Examples:

        >>> import io
        >>> progress_mode(1, io.StringIO()), progress_mode(2), progress_mode(0)
        ('lines', 'lines', 'none')
    """
    if verbose <= SILENT:
        return "none"
    if verbose == EPOCH_LINES:
        return "lines"
    stream = sys.stdout if stream is None else stream
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return "bar" if terminal else "lines"


def is_installed(name):
    """Whether module `name` can be imported; an import hook that refuses it counts as absent.

    Examples:

        >>> is_installed("json"), is_installed("no_such_module_here")
        (True, False)
    """
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
