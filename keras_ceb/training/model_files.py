"""Reading a saved `.keras` classifier, with one-line errors for files Keras cannot read."""

import pathlib
import zipfile

import keras

from keras_ceb import models
from keras_ceb import rho as rho_lib
from keras_ceb import run_folder
from keras_ceb.training.errors import TrainingError

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
        return f"cannot be read as a zip archive: {first_line(e)}"
    if damaged is not None:
        return f"is damaged: its member {damaged} fails its checksum"
    return None


def load_classifier(path):
    """Loads a `.keras` classifier with `safe_mode=True`; compiles it if saved uncompiled."""
    path = pathlib.Path(path)
    try:
        found = path.is_file()
    except OSError as e:  # e.g. a name too long for the file system.
        raise TrainingError(
            f"cannot read {run_folder.show_path(path)}: {e.strerror or e}"
        ) from None
    if not found:
        raise TrainingError(f"model file not found: {path}")
    if path.suffix != ".keras":
        raise TrainingError(f"expected a .keras model file, got {path}")
    problem = keras_archive_problem(path)
    if problem is not None:
        raise TrainingError(f"not a valid .keras file: {run_folder.show_path(path)} {problem}")
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as e:  # load_model raises many types for unreadable files.
        raise TrainingError(f"could not load {path}: {first_line(e)}") from e
    if not rho_lib.encoders(model):
        raise TrainingError(f"{path} is not a keras_ceb classifier: it has no StochasticEncoder")
    if isinstance(getattr(model, "input", None), dict) and "labels" in model.input:
        # A functional model of keras_ceb 0.x that took {"images", "labels"} (the MLP and
        # CatGen heads): the same layers and weights as a CEBClassifier.
        model = models.CEBClassifier.from_functional(model)
    if not getattr(model, "compiled", False) or (
        model.loss is None and getattr(model, "head_kind", None) != "catgen"
    ):
        models.compile_classifier(model)
    return model


def first_line(error):
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
