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
import textwrap

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

    Examples:

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


def markdown_table(header, rows):
    """A Markdown table: the one table writer of keras_ceb's reports (`report.md`,
    `trials.md`, the benchmarks).

    Examples:

        >>> print(markdown_table(["model", "accuracy"], [["CEB0", "91.9%"], ["Determ", 0.92]]))
        | model | accuracy |
        |---|---|
        | CEB0 | 91.9% |
        | Determ | 0.92 |
    """
    header = [str(cell) for cell in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def format_table(rows, title=None):
    """Formats `(label, value_string)` rows as a two-column text table.

    Examples:

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

    Examples:

        >>> text = format_summary({"accuracy": 0.91, "rex": 0.2, "wall_time_s": 600.0})
    """
    rows = [(label, format_value(key, metrics.get(key))) for key, label in SUMMARY_ROWS]
    return format_table(rows, title)


def add_consistency(metrics, prefix=""):
    """Adds `{prefix}consistency` to a dict of logged metrics (or `None` if not computable).

    See `keras_ceb.metrics.consistency_from_logs`: it needs `rate`, `rex` and `i_yz`.

    Examples:

        >>> add_consistency({"rate": 3.0, "rex": 0.5, "i_yz": 2.2})["consistency"]
        0.2999...
    """
    metrics = dict(metrics)
    metrics[f"{prefix}consistency"] = metrics_lib.consistency_from_logs(metrics, prefix=prefix)
    return metrics


def history_with_consistency(history):
    """Adds per-epoch `consistency` (and `val_consistency`) lists to a Keras history dict.

    Examples:

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

    Examples:

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

    Examples:

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


def write_text(path, text):
    """Writes `text` to `path` atomically (see `replace_atomically`); returns the path."""
    return replace_atomically(path, lambda temp: temp.write_text(text))


def write_json(path, obj):
    """Writes `obj` as indented JSON (NaN and infinities become `null`), atomically.

    Returns:
        The path.

    Examples:

        >>> write_json("metrics.json", {"accuracy": 0.91})  # doctest: +SKIP
    """
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    return replace_atomically(path, lambda temp: temp.write_text(text))


def new_figure(nrows, ncols, size, title=None):
    """A Matplotlib figure of `nrows` x `ncols` axes (a 2-D array), without pyplot's global
    state, with an optional title: the one figure factory of keras_ceb's reports."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows, ncols, squeeze=False)
    if title is not None:
        figure.suptitle(title, fontsize="large")
    return figure, axes


def _epochs(values):
    return list(range(1, len(values) + 1))


def _series(history, key):
    values = history.get(key)
    if not values:
        return None
    return [v if _finite(v) else math.nan for v in values]


def _integer_ticks(axis):
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


# (key, panel title, y label) of the training curves.
CURVE_PANELS = (
    ("loss", "loss", "loss (nats per example)"),
    ("accuracy", "accuracy", "accuracy (fraction correct)"),
    ("i_yz", "I(Y;Z) lower bound", "nats"),
    ("rex", "residual information ReX", "nats"),
    ("rate", "rate R", "nats"),
    ("i_xz_lower", "I(X;Z) lower bound", "nats"),
    ("consistency", "consistency C", "nats"),
    ("rho", "rho", "rho = log gamma"),
)
# Why train accuracy sits below test accuracy: the two are not measured alike.
CURVES_NOTE = (
    "train (solid): the average over the epoch's minibatches, with z sampled from e(z|x) "
    "while the weights change; {validation} (dashed): at the end of the epoch, with z at the "
    "encoder mean (the rate and I(X;Z) with z sampled, as in training). So the train accuracy "
    "sits below the {validation} accuracy, the more so while rho is high and z noisy: that "
    "gap is not a sign of underfitting or of a bug."
)


def plot_training_curves(history, path, title=None, validation_label="validation", dpi=100):
    """Saves a PNG grid of per-epoch curves (training solid, validation dashed).

    Panels: loss, accuracy, `i_yz`, `rex`, `rate`, `i_xz_lower`, `consistency` and `rho`,
    each with its unit; a quantity the run did not log is marked "not logged". A note under
    the title says how the two curves are measured, and why the training accuracy (sampled z,
    averaged over the epoch) sits below the validation accuracy (encoder mean, end of epoch).
    One legend, below the panels; integer epochs on the x axes.

    Args:
        history: A Keras history dict (`history.history`), optionally with consistency.
        path: Output PNG path.
        title: What was trained (e.g. `"CEB, rho=0 on fashion_mnist"`); the figure title is
            `"Training curves: " + title`.
        validation_label: Name of the `val_*` curves (e.g. `"test"`).
        dpi: Resolution.

    Returns:
        The path.

    Examples:

        >>> plot_training_curves({"loss": [2.0, 1.0], "val_loss": [1.5, 1.2]}, "curves.png")
        PosixPath('curves.png')
    """
    figure, axes = new_figure(2, 4, (15, 7.5))
    handles = {}
    for ax, (key, label, ylabel) in zip(axes.flat, CURVE_PANELS):
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        _integer_ticks(ax.xaxis)
        train, val = _series(history, key), _series(history, f"val_{key}")
        if train is None and val is None:
            ax.text(
                0.5,
                0.5,
                "not logged",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="gray",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        if train is not None:
            (handles["train"],) = ax.plot(
                _epochs(train), train, "-o", markersize=3, color="tab:blue", label="train"
            )
        if val is not None:
            (handles[validation_label],) = ax.plot(
                _epochs(val), val, "--s", markersize=3, color="tab:orange", label=validation_label
            )
        ax.grid(alpha=0.3)
    # The legend's title says how the two curves are measured.
    legend = figure.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncols=len(handles) or 1,
        frameon=False,
        fontsize="medium",
        title_fontsize="small",
        title=textwrap.fill(CURVES_NOTE.format(validation=validation_label), 170),
    )
    legend.get_title().set_color("dimgray")
    heading = "Training curves" + (f": {title}" if title else "")
    figure.suptitle(heading, fontsize="large")
    figure.savefig(path, dpi=dpi)
    return pathlib.Path(path)


def plot_information_plane(
    history,
    path,
    num_classes=None,
    batch_size=None,
    title=None,
    validation_label="validation",
    dpi=100,
):
    """Saves the information plane: the I(X;Z) lower bound (x) against I(Y;Z) (y) per epoch.

    Training points (circles) are the epoch means of the training minibatch bounds
    (`i_xz_lower`, `i_yz`); the `val_*` ones (squares), if logged, are the held-out values at
    the end of each epoch. Both are joined in epoch order and coloured by epoch (integer
    ticks on the colour bar). With `num_classes` the Minimum Necessary Information point
    `I(X;Z) = I(Y;Z) = H(Y) = log C` is marked. With `batch_size`, the ceiling `log B` of the
    minibatch I(X;Z) bound is drawn when it lies near the data; when it lies far to the
    right, a note gives its value instead, so that it does not squeeze the data. Models that
    log no `i_xz_lower` (Determ) get a note instead of points.

    Args:
        history: A Keras history dict.
        path: Output PNG path.
        num_classes: Number of classes, for `H(Y) = log C`.
        batch_size: Training batch size, for `log B`.
        title: What was trained (e.g. `"CEB, rho=0 on fashion_mnist"`).
        validation_label: Legend label of the `val_*` points.
        dpi: Resolution.

    Returns:
        The path.

    Examples:

        >>> plot_information_plane({"i_xz_lower": [1.0, 2.0], "i_yz": [1.5, 2.2]},
        ...                        "information_plane.png", num_classes=10, batch_size=128)
        PosixPath('information_plane.png')
    """
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm

    figure, axes = new_figure(1, 1, (8, 5.5))
    ax = axes[0, 0]
    ax.set_xlabel("I(X;Z) lower bound (nats)")
    ax.set_ylabel("I(Y;Z) lower bound (nats)")
    heading = "Information plane" + (f": {title}" if title else "")
    ax.set_title(
        heading + "\nper epoch; train: epoch mean of the minibatch bounds, "
        f"{validation_label}: held-out, end of epoch",
        fontsize="medium",
    )
    i_xz, i_yz = _series(history, "i_xz_lower"), _series(history, "i_yz")
    val_xz, val_yz = _series(history, "val_i_xz_lower"), _series(history, "val_i_yz")
    xs, ys = [], []
    if i_xz is None or i_yz is None:
        ax.text(
            0.5,
            0.5,
            "I(X;Z) lower bound not logged\n(deterministic encoder)",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    else:
        n = min(len(i_xz), len(i_yz))
        epochs = max(n, min(len(val_xz or []), len(val_yz or [])))
        cmap = colormaps["viridis"]
        norm = BoundaryNorm([e - 0.5 for e in range(1, epochs + 2)], cmap.N)
        ax.plot(i_xz[:n], i_yz[:n], "-", color="tab:blue", alpha=0.4, zorder=2)
        points = ax.scatter(
            i_xz[:n],
            i_yz[:n],
            c=_epochs(i_xz[:n]),
            cmap=cmap,
            norm=norm,
            marker="o",
            s=40,
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
            label="train (circles)",
        )
        xs += i_xz[:n]
        ys += i_yz[:n]
        if val_xz is not None and val_yz is not None:
            m = min(len(val_xz), len(val_yz))
            ax.plot(val_xz[:m], val_yz[:m], ":", color="tab:orange", alpha=0.6, zorder=2)
            ax.scatter(
                val_xz[:m],
                val_yz[:m],
                c=_epochs(val_xz[:m]),
                cmap=cmap,
                norm=norm,
                marker="s",
                s=40,
                edgecolors="tab:orange",
                linewidths=1.2,
                zorder=3,
                label=f"{validation_label} (squares)",
            )
            xs += val_xz[:m]
            ys += val_yz[:m]
        colorbar = figure.colorbar(points, ax=ax, label="epoch", pad=0.02)
        _integer_ticks(colorbar.ax.yaxis)
    if num_classes:
        h_y = math.log(num_classes)
        ax.axhline(
            h_y, color="gray", linestyle=":", label=f"H(Y) = log {num_classes} = {h_y:.2f} nats"
        )
        ax.plot(
            [h_y],
            [h_y],
            "*",
            color="gold",
            markeredgecolor="black",
            markersize=14,
            zorder=4,
            label="MNI point: I(X;Z) = I(Y;Z) = H(Y)",
        )
        xs.append(h_y)
        ys.append(h_y)
    finite_x = [v for v in xs if _finite(v)]
    if batch_size and finite_x:
        log_b = math.log(batch_size)
        low, high = min(finite_x), max(finite_x)
        if log_b <= high + 0.25 * max(high - low, 0.5):
            ax.axvline(
                log_b,
                color="gray",
                linestyle="--",
                label=f"log B = {log_b:.2f} nats: the I(X;Z) bound's ceiling (B = {batch_size})",
            )
        else:
            ax.annotate(
                f"log B = {log_b:.2f} nats (B = {batch_size}),\nthe I(X;Z) bound's "
                "ceiling, lies further right",
                xy=(1.0, 0.02),
                xycoords="axes fraction",
                ha="right",
                va="bottom",
                fontsize="small",
                color="dimgray",
            )
    ax.grid(alpha=0.3)
    ax.legend(
        loc="upper left", bbox_to_anchor=(0.0, -0.13), ncols=2, fontsize="small", frameon=False
    )
    figure.savefig(path, dpi=dpi)
    return pathlib.Path(path)
