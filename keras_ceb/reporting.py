"""Reporting for training and evaluation runs: a summary table, JSON files and PNG plots.

Plots are drawn with matplotlib's object-oriented API on an Agg canvas, so nothing here
changes the global pyplot backend or needs a display. Files are written through a temporary
file beside them and moved into place (`replace_atomically`), so a kill never leaves a
truncated one.
"""

import contextlib
import importlib
import json
import math
import os
import pathlib
import platform
import secrets

from keras_ceb import metrics as metrics_lib

# (key, label) of the rows of the summary table, in order.
SUMMARY_ROWS = (
    ("accuracy", "test accuracy"),
    ("loss", "test loss"),
    ("rate", "rate R (nats)"),
    ("rex", "residual information ReX (nats)"),
    ("i_xz_lower", "I(X;Z) lower bound (nats)"),
    ("i_yz", "I(Y;Z) lower bound (nats)"),
    ("consistency", "consistency C (nats)"),
    ("wall_time_s", "wall time"),
)
INFORMATION_KEYS = ("rate", "rex", "i_xz_lower", "i_yz")


def _finite(value):
    return (
        value is not None
        and not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
    )


def format_value(key, value):
    """Formats one metric value for the summary table (`"n/a"` when missing or not finite).

    Example:

    >>> format_value("wall_time_s", 572.4)
    '9m32s (572 s)'
    """
    if not _finite(value):
        return "n/a"
    if key.endswith("time_s"):
        minutes, seconds = divmod(int(round(value)), 60)
        return f"{minutes}m{seconds:02d}s ({value:.0f} s)"
    if key == "accuracy":
        return f"{value:.4f}"
    return f"{value:.3f}"


def format_table(rows, title=None):
    """Formats `(label, value_string)` rows as a two-column text table.

    Example:

    >>> print(format_table([("test accuracy", "0.9100")], title="CEB"))
    CEB
    ---------------------
    test accuracy  0.9100
    ---------------------
    """
    rows = [(str(label), str(value)) for label, value in rows]
    label_width = max([len(label) for label, _ in rows] + [13])
    value_width = max([len(value) for _, value in rows] + [6])
    rule = "-" * max(label_width + 2 + value_width, len(title or ""))
    lines = ([title] if title else []) + [rule]
    lines += [f"{label:<{label_width}}  {value:>{value_width}}" for label, value in rows]
    lines.append(rule)
    return "\n".join(lines)


def format_summary(metrics, title=None):
    """The summary table of a run: accuracy, the information metrics and the wall time.

    Args:
        metrics: A dict with some of the keys of `SUMMARY_ROWS`; missing ones show `n/a`.
        title: Optional first line.

    Returns:
        The table as a string.

    Example:

    >>> text = format_summary({"accuracy": 0.91, "rex": 0.2, "wall_time_s": 600.0})
    """
    rows = [(label, format_value(key, metrics.get(key))) for key, label in SUMMARY_ROWS]
    return format_table(rows, title)


def add_consistency(metrics, prefix=""):
    """Adds `{prefix}consistency` to a dict of logged metrics (or `None` if not computable).

    See `keras_ceb.metrics.consistency_from_logs`: it needs `rate`, `rex` and `i_yz`.

    Example:

    >>> add_consistency({"rate": 3.0, "rex": 0.5, "i_yz": 2.2})["consistency"]
    0.2999...
    """
    metrics = dict(metrics)
    metrics[f"{prefix}consistency"] = metrics_lib.consistency_from_logs(metrics, prefix=prefix)
    return metrics


def history_with_consistency(history):
    """Adds per-epoch `consistency` (and `val_consistency`) lists to a Keras history dict.

    Example:

    >>> history_with_consistency({"rate": [3.0], "rex": [0.5], "i_yz": [2.2]})["consistency"]
    [0.2999...]
    """
    history = {key: list(values) for key, values in history.items()}
    epochs = max((len(v) for v in history.values()), default=0)
    for prefix in ("", "val_"):
        if f"{prefix}i_yz" not in history:
            continue
        history[f"{prefix}consistency"] = [
            metrics_lib.consistency_from_logs(
                {k: v[epoch] for k, v in history.items() if len(v) > epoch}, prefix=prefix
            )
            for epoch in range(epochs)
        ]
    return history


def environment(hostname=True):
    """The software a run used: the versions of keras_ceb, Keras, its backend, NumPy and
    Python, the backend's name, and (with `hostname`) the machine's name.

    Example:

    >>> sorted(environment(hostname=False))
    ['backend', 'backend_version', 'keras', 'keras_ceb', 'numpy', 'platform', 'python']
    """
    import keras
    import numpy as np

    import keras_ceb

    backend = keras.backend.backend()
    try:
        backend_version = importlib.import_module(backend).__version__
    except (ImportError, AttributeError):
        backend_version = None
    record = {
        "keras_ceb": keras_ceb.__version__,
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": backend_version,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if hostname:
        record["hostname"] = platform.node()
    return record


def to_jsonable(obj):
    """Converts NumPy scalars / arrays to Python values and non-finite floats to `None`."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return to_jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# Prefix of the temporary files of `replace_atomically`: a leftover one (a kill between
# creating and renaming it) is recognizable, and never taken for a result.
TEMP_PREFIX = ".keras-ceb-tmp-"


def replace_atomically(path, write):
    """Writes the file `path` in one step: `write(temp)` writes a temporary file beside it,
    which is flushed to disk and then renamed onto `path` (`os.replace`).

    A reader, or a kill at any moment, sees either the old file or the complete new one,
    never a truncated file. The temporary file keeps the suffix of `path` (so
    `model.save` and `savefig` pick the right format) and is removed if `write` fails.

    Args:
        path: The destination; its folder must exist.
        write: A function that writes the content to the path it is given.

    Returns:
        `path`, as a `pathlib.Path`.

    Example:

    >>> replace_atomically("model.keras", model.save)  # doctest: +SKIP
    """
    path = pathlib.Path(path)
    while True:  # Like tempfile.mkstemp, but with the usual permissions (0o666 & ~umask).
        temp = path.parent / f"{TEMP_PREFIX}{path.stem}-{secrets.token_hex(4)}{path.suffix}"
        try:
            os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    try:
        write(pathlib.Path(temp))
        with open(temp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:  # KeyboardInterrupt included: leave no temporary file.
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path


def write_json(path, obj):
    """Writes `obj` as indented JSON (NaN and infinities become `null`), atomically.

    Returns:
        The path.

    Example:

    >>> write_json("metrics.json", {"accuracy": 0.91})  # doctest: +SKIP
    """
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    return replace_atomically(path, lambda temp: temp.write_text(text))


def _figure(nrows, ncols, size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, squeeze=False)


def _epochs(values):
    return list(range(1, len(values) + 1))


def _series(history, key):
    values = history.get(key)
    if not values:
        return None
    return [v if _finite(v) else math.nan for v in values]


CURVE_PANELS = (
    ("loss", "loss"),
    ("accuracy", "accuracy"),
    ("i_yz", "I(Y;Z) lower bound (nats)"),
    ("rex", "residual information ReX (nats)"),
    ("rate", "rate R (nats)"),
    ("i_xz_lower", "I(X;Z) lower bound (nats)"),
    ("consistency", "consistency C (nats)"),
    ("rho", "rho"),
)


def plot_training_curves(history, path, title=None, validation_label="validation"):
    """Saves a PNG grid of per-epoch curves (training solid, validation dashed).

    Panels: loss, accuracy, `i_yz`, `rex`, `rate`, `i_xz_lower`, `consistency` and `rho`;
    a quantity the run did not log is marked "not logged".

    Args:
        history: A Keras history dict (`history.history`), optionally with consistency.
        path: Output PNG path.
        title: Optional figure title.
        validation_label: Legend label of the `val_*` curves (e.g. `"test"`).

    Returns:
        The path.

    Example:

    >>> plot_training_curves(history.history, "training_curves.png")  # doctest: +SKIP
    """
    figure, axes = _figure(2, 4, (16, 7))
    for ax, (key, label) in zip(axes.flat, CURVE_PANELS):
        ax.set_title(label)
        ax.set_xlabel("epoch")
        train, val = _series(history, key), _series(history, f"val_{key}")
        if train is None and val is None:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
            continue
        if train is not None:
            ax.plot(_epochs(train), train, "-o", markersize=3, label="train")
        if val is not None:
            ax.plot(_epochs(val), val, "--s", markersize=3, label=validation_label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    figure.savefig(path, dpi=100)
    return pathlib.Path(path)


def plot_information_plane(
    history, path, num_classes=None, batch_size=None, title=None, validation_label="validation"
):
    """Saves the information plane: the I(X;Z) lower bound (x) against I(Y;Z) (y) per epoch.

    Both are the epoch means of the training minibatch bounds (`i_xz_lower`, `i_yz`), joined
    in epoch order and coloured by epoch; the `val_*` ones, if logged, are open squares. With
    `num_classes` the Minimum Necessary Information point `I(X;Z) = I(Y;Z) = H(Y) = log C` is
    marked, with `batch_size` the ceiling `log B` of the minibatch I(X;Z) bound. Models that
    log no `i_xz_lower` (Determ) get a note instead.

    Args:
        history: A Keras history dict.
        path: Output PNG path.
        num_classes: Number of classes, for `H(Y) = log C`.
        batch_size: Training batch size, for `log B`.
        title: Optional title.
        validation_label: Legend label of the `val_*` points.

    Returns:
        The path.

    Example:

    >>> plot_information_plane(history.history, "information_plane.png", 10, 128)
    ... # doctest: +SKIP
    """
    figure, axes = _figure(1, 1, (6.5, 5.5))
    ax = axes[0, 0]
    ax.set_xlabel("I(X;Z) lower bound (nats)")
    ax.set_ylabel("I(Y;Z) lower bound (nats)")
    ax.set_title(title or "information plane")
    i_xz, i_yz = _series(history, "i_xz_lower"), _series(history, "i_yz")
    if num_classes:
        h_y = math.log(num_classes)
        ax.axhline(h_y, color="gray", linestyle=":", label=f"H(Y) = log {num_classes}")
        ax.plot([h_y], [h_y], "*", color="black", markersize=12, label="MNI point")
    if batch_size:
        ax.axvline(
            math.log(batch_size), color="gray", linestyle="--", label=f"log B, B={batch_size}"
        )
    if i_xz is None or i_yz is None:
        ax.text(
            0.5, 0.5, "I(X;Z) lower bound not logged\n(deterministic encoder)",
            ha="center", va="center", transform=ax.transAxes,
        )
    else:
        n = min(len(i_xz), len(i_yz))
        ax.plot(i_xz[:n], i_yz[:n], "-", color="tab:blue", alpha=0.5)
        points = ax.scatter(
            i_xz[:n], i_yz[:n], c=_epochs(i_xz[:n]), cmap="viridis", zorder=3, label="train"
        )
        figure.colorbar(points, ax=ax, label="epoch")
        val_xz, val_yz = _series(history, "val_i_xz_lower"), _series(history, "val_i_yz")
        if val_xz is not None and val_yz is not None:
            m = min(len(val_xz), len(val_yz))
            ax.plot(val_xz[:m], val_yz[:m], ":", color="tab:orange", alpha=0.6)
            ax.scatter(
                val_xz[:m], val_yz[:m], marker="s", facecolors="none",
                edgecolors="tab:orange", zorder=3, label=validation_label,
            )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    figure.savefig(path, dpi=100)
    return pathlib.Path(path)
