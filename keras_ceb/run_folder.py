"""The output folder of a `keras-ceb` command: checked before any work, never silently replaced.

A `keras-ceb train` folder (`--out`) is in one of three states:

- **new**: it does not exist, or holds neither `model.keras`, `metrics.json` nor `.backup/`;
- **unfinished**: it holds `.backup/` and no `metrics.json`, i.e. a run was killed or
  interrupted; running the same command again resumes it from its last completed epoch;
- **finished**: it holds `metrics.json` (written last, so it marks a complete run), or a
  `model.keras` with no backup beside it; it is replaced only with `--overwrite`.

`.backup/` holds `options.json` (the training options, to refuse resuming with other ones),
`history.json` (the per-epoch logs so far) and `keras/`, the checkpoint of
`keras.callbacks.BackupAndRestore`. Every result file is written atomically
(`keras_ceb.reporting.replace_atomically`). Messages name the command-line flags.
"""

import errno
import json
import os
import pathlib
import secrets
import shutil
import stat

import keras

from keras_ceb import reporting

BACKUP_DIR = ".backup"
OPTIONS_FILE = "options.json"
HISTORY_FILE = "history.json"
KERAS_BACKUP_DIR = "keras"
# Outputs of `keras-ceb train`, in the order they are written: metrics.json last.
TRAIN_OUTPUTS = (
    "model.keras",
    "history.json",
    "training_curves.png",
    "information_plane.png",
    "metrics.json",
)
EVALUATE_OUTPUTS = ("reliability.png", "ood_auroc.png", "metrics.json")
NEW = "new"
UNFINISHED = "unfinished"
FINISHED = "finished"


class RunFolderError(Exception):
    """An output folder that cannot be used; the message is one line for the user."""


def show_path(path, limit=160):
    """`path` as text, shortened in the middle when longer than `limit` characters.

    Examples:

        >>> show_path("/" + "x" * 500).endswith("x (501 characters)")
        True
    """
    text = os.fspath(path)
    if len(text) <= limit:
        return text
    return f"{text[:60]}...{text[-40:]} ({len(text)} characters)"


def _probe(folder):
    """Creates and removes a file in `folder`: raises `OSError` where it cannot write.

    A real write, not `os.access`: it also holds for root, for read-only file systems and
    for access control lists.
    """
    probe = pathlib.Path(folder) / f"{reporting.TEMP_PREFIX}probe-{secrets.token_hex(4)}"
    os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    os.unlink(probe)


def check_writable_folder(path, flag="`out`"):
    """Checks that `path` is a folder, or can be created as one, and can be written into.

    Nothing is created (a probe file is written and removed at once).

    Args:
        path: The folder.
        flag: The field that named it, for the message (the command line turns it into its
            option).

    Raises:
        RunFolderError: It is a file, lies under a file, or its nearest existing folder
            cannot be written into.

    Examples:

        >>> check_writable_folder("runs/ceb_rho0")  # doctest: +SKIP
    """
    path = pathlib.Path(path)
    shown = show_path(path)
    try:
        existing = path.absolute()
        while not existing.exists():  # exists() is False under a file (ENOTDIR).
            existing = existing.parent
        if not existing.is_dir():
            where = (
                "is"
                if existing == path.absolute()
                else f"lies under {show_path(existing)}, which is"
            )
            raise RunFolderError(f"{flag} {shown} {where} a file, not a folder")
        _probe(existing)
    except RunFolderError:
        raise
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            raise RunFolderError(f"{flag} {shown} lies under a file, not a folder") from None
        reason = e.strerror or str(e)
        place = "" if existing == path.absolute() else f" (in {show_path(existing)})"
        raise RunFolderError(f"{flag} {shown} cannot be written{place}: {reason}") from None


def train_state(out):
    """The state of a `keras-ceb train` folder: `NEW`, `UNFINISHED` or `FINISHED`."""
    out = pathlib.Path(out)
    if not out.is_dir():
        return NEW
    if (out / "metrics.json").exists():
        return FINISHED
    if (out / BACKUP_DIR).is_dir():
        return UNFINISHED
    if (out / "model.keras").exists():
        return FINISHED
    return NEW


def present(out, names):
    """The names of `names` that exist in `out`."""
    return [name for name in names if (pathlib.Path(out) / name).exists()]


def clear(out, names, backup=True):
    """Removes `names`, leftover temporary files and (with `backup`) `.backup/` from `out`."""
    out = pathlib.Path(out)
    if not out.is_dir():
        return
    for name in names:
        if (out / name).is_file() or (out / name).is_symlink():
            (out / name).unlink()
    for leftover in out.glob(f"{reporting.TEMP_PREFIX}*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    if backup and (out / BACKUP_DIR).is_dir() and not (out / BACKUP_DIR).is_symlink():
        shutil.rmtree(out / BACKUP_DIR)
    elif backup and ((out / BACKUP_DIR).exists() or (out / BACKUP_DIR).is_symlink()):
        (out / BACKUP_DIR).unlink()


def write_options(out, options):
    """Writes the options of a run into `.backup/options.json` (atomically)."""
    reporting.write_json(pathlib.Path(out) / BACKUP_DIR / OPTIONS_FILE, options)


def read_options(out):
    """The options saved in `.backup/`, or `None` when none were saved."""
    path = pathlib.Path(out) / BACKUP_DIR / OPTIONS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:  # Only a damaged file; writes are atomic.
        return None


def option_differences(saved, current):
    """`["`epochs` 4 (the unfinished run has 20)", ...]` for the fields that differ (the
    command line names them as options: `--epochs 4`).

    Examples:

        >>> option_differences({"epochs": 20, "seed": 0}, {"epochs": 4, "seed": 0})
        ['`epochs` 4 (the unfinished run has 20)']
    """
    differences = []
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            differences.append(
                f"`{key}` {_option_text(current.get(key))} "
                f"(the unfinished run has {_option_text(saved.get(key))})"
            )
    return differences


def _option_text(value):
    return "off" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


class HistoryLog(keras.callbacks.Callback):
    """Keeps the per-epoch logs of a whole run, across resumptions, in `.backup/history.json`.

    Put it before `keras.callbacks.BackupAndRestore`: the file then always holds at least the
    epochs of the checkpoint, and on resuming, the epochs after the checkpoint are dropped.
    `saved_epochs` counts the epochs in the checkpoint, once `saved_callback()` (put after
    `BackupAndRestore`) has seen them saved.

    Args:
        out: The run folder.
        write: Whether to write the file (`False`: keep the logs in memory only, as the
            processes of a multi-process job other than process 0 do).

    Examples:

        >>> log = HistoryLog("runs/ceb")  # doctest: +SKIP
        >>> model.fit(x, y, epochs=4, callbacks=[log, backup, log.saved_callback()])
        ... # doctest: +SKIP
    """

    def __init__(self, out, write=True):
        super().__init__()
        self.path = pathlib.Path(out) / BACKUP_DIR / HISTORY_FILE
        self.write = bool(write)
        self.history = {}
        if self.write and self.path.is_file():
            try:
                self.history = json.loads(self.path.read_text())
            except ValueError:
                self.history = {}
        self.first_epoch = None  # The epoch this process started at (resumed: > 0).
        self.epoch = None  # The epoch in progress.
        self.saved_epochs = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch
            self.saved_epochs = epoch
            self.history = {key: list(values)[:epoch] for key, values in self.history.items()}
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if self.write:
            reporting.write_json(self.path, self.history)

    def saved_callback(self):
        """A callback that records each epoch as saved; put it after `BackupAndRestore`."""
        return _Saved(self)


class _Saved(keras.callbacks.Callback):
    def __init__(self, log):
        super().__init__()
        self.log = log

    def on_epoch_end(self, epoch, logs=None):
        self.log.saved_epochs = epoch + 1


def is_folder_entry(path):
    """`True` for a folder, `False` for a missing path; raises `OSError` otherwise
    (a name too long, a file where a folder is expected: `ENOTDIR`, no permission)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", os.fspath(path))
    return True
