"""The reproduction's folder: atomic writes, and which units are already done.

    DIR/models/<name>_seed<k>/      model.keras, history.json, calibration.npz,
                                    metrics.json (written last: the model is finished),
                                    eval.npz, eval.json (written last: the evaluation is done)
    DIR/memorization/<name>_seed<k>/result.json
    DIR/results.json, DIR/report.md, DIR/*.png

Every file is written to a temporary name in its own folder and renamed into place, so an
interrupted run leaves either the old file or the new one, never half of one. A unit counts as
done when its last file exists, is readable, and records the configuration the preset asks for.
"""

import json
import pathlib

import numpy as np

from keras_ceb import reporting

MODELS = "models"
MEMORIZATION = "memorization"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
CALIBRATION_FILE = "calibration.npz"
TRAINED_MARKER = "metrics.json"
EVAL_ARRAYS = "eval.npz"
EVAL_MARKER = "eval.json"
MEMORIZATION_FILE = "result.json"
MEMORIZATION_BACKUP = "backup"  # of an unfinished memorization run


def write_json(path, obj):
    """Writes `obj` as indented JSON (NaN becomes `null`), atomically; returns the path."""
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    return reporting.write_json(path, obj)


def write_text(path, text):
    """Writes `text` atomically; returns the path."""
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    return reporting.write_text(path, text)


def write_arrays(path, arrays):
    """Writes a dict of NumPy arrays as a compressed `.npz`, atomically; returns the path."""
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    return reporting.replace_atomically(path, lambda temp: np.savez_compressed(temp, **arrays))


def read_json(path):
    """The JSON object in `path`, or `None` if it is missing or unreadable (an unfinished unit)."""
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_arrays(path):
    """The arrays of an `.npz` file as a dict, or `None` if it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError):
        return None


def model_folder(out, unit):
    """`DIR/models/<name>_seed<k>` of a train or evaluate unit."""
    return pathlib.Path(out) / MODELS / unit.folder_name


def memorization_folder(out, unit):
    """`DIR/memorization/<name>_seed<k>` of a memorize unit."""
    return pathlib.Path(out) / MEMORIZATION / unit.folder_name


def finished(path, config_key, config):
    """The record in `path` if it exists and was made with `config` (under `config_key`)."""
    record = read_json(path)
    if record is None or record.get(config_key) != reporting.to_jsonable(config):
        return None
    return record
