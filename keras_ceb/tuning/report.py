"""The record of a rho search: the trials as a table (CSV, Markdown, JSON), a plot of each
objective against rho, and the best model; every file written atomically."""

import csv
import io
import math
import pathlib
import shutil

from keras_ceb import reporting
from keras_ceb.tuning import objectives as objectives_lib
from keras_ceb.tuning.rho_tuner import COLUMNS

# The Markdown table's columns: (key, header).
TABLE_COLUMNS = (
    ("rho", "rho"),
    ("val_accuracy", "val accuracy"),
    ("val_i_xz_lower", "I(X;Z) lower (nats)"),
    ("val_i_yz", "I(Y;Z) lower (nats)"),
    ("mni_distance", "MNI distance (nats)"),
    ("ood_auroc", "OoD AUROC (rate)"),
    ("combined", "combined"),
    ("trial_time_s", "time (s)"),
)
OUTPUTS = ("trials.csv", "trials.md", "trials.json", "objectives.png", "best_model.keras")


def _text(key, value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if key == "rho":
        return f"{value:.3g}"
    if key == "trial_time_s":
        return f"{value:.0f}"
    return f"{value:.4f}"


def format_table(result):
    """The trials as a Markdown table, sorted by rho, the best one marked in bold.

    Args:
        result: A `keras_ceb.tuning.RhoSearchResult`, or a dict with `trials`, `best` and
            `objective` (the content of `trials.json`).

    Examples:

        >>> print(format_table({"objective": "val_accuracy", "best": {"trial_id": "1"},
        ...     "trials": [{"trial_id": "0", "rho": 0.0, "val_accuracy": 0.8},
        ...                {"trial_id": "1", "rho": 2.0, "val_accuracy": 0.9}]}))
        ... # doctest: +NORMALIZE_WHITESPACE
        | rho | val accuracy | I(X;Z) lower (nats) | I(Y;Z) lower (nats) | MNI distance (nats) | OoD AUROC (rate) | combined | time (s) |
        |---|---|---|---|---|---|---|---|
        | 0 | 0.8000 | n/a | n/a | n/a | n/a | n/a | n/a |
        | **2** | **0.9000** | n/a | n/a | n/a | n/a | n/a | n/a |
    """
    data = _as_dict(result)
    rows = []
    for row in data["trials"]:
        best = row["trial_id"] == data["best"]["trial_id"]
        cells = [_text(key, row.get(key)) for key, _ in TABLE_COLUMNS]
        if best:
            cells = [f"**{c}**" if c != "n/a" else c for c in cells]
        rows.append(cells)
    return reporting.markdown_table([header for _, header in TABLE_COLUMNS], rows)


def trials_csv(result):
    """The trials as CSV text, one row per trial, every column of
    `keras_ceb.tuning.rho_tuner.COLUMNS` (empty where not measured)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in _as_dict(result)["trials"]:
        writer.writerow(["" if row.get(key) is None else row[key] for key in COLUMNS])
    return buffer.getvalue()


def _as_dict(result):
    if isinstance(result, dict):
        return result
    return {
        "objective": result.objective,
        "direction": result.direction,
        "best": result.best,
        "trials": result.trials,
        "settings": result.settings,
        "failed": [{"rho": rho, "error": error} for rho, error in result.failed],
    }


# Panels of the plot: (key, title, y label, smallest y span shown).
PANELS = (
    ("val_accuracy", "validation accuracy (encoder mean)", "accuracy (fraction)", 0.05),
    ("mni_distance", "distance to the MNI point, |I(X;Z) - I(Y;Z)|", "nats", 0.5),
    ("ood_auroc", "OoD AUROC of the rate R (in-distribution positive)", "AUROC", 0.05),
    ("combined", "combined score (mean of the terms in [0, 1])", "score (higher is better)", 0.05),
)


def plot_objectives(result, path, title=None, dpi=100):
    """Saves a PNG: each objective against rho, one panel each, the best trial marked.

    The distance panel also shows the two bounds it is made of (the held-out I(X;Z) and
    I(Y;Z) lower bounds) and H(Y) = log C, where both meet at the MNI point; the AUROC panel
    shows the chance level 0.5 when the data comes near it. The optimized objective's panel
    says so in its title. Each y axis spans at least a set range (0.05 for the fractions,
    0.5 nats), so that tiny differences between trials look tiny. One legend, below.

    Args:
        result: A `RhoSearchResult`, or the dict of `trials.json`.
        path: Output PNG path.
        title: Figure title; default says how many trials, the objective and the best rho.
        dpi: Resolution.

    Returns:
        The path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = _as_dict(result)
    rows = sorted(data["trials"], key=lambda row: row["rho"])
    best, objective = data["best"], data["objective"]
    figure = Figure(figsize=(10, 7.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 2)
    rhos = [row["rho"] for row in rows]
    handles = {}
    for ax, (key, panel_title, ylabel, span) in zip(axes.flat, PANELS):
        values = [_number(row.get(key)) for row in rows]
        shown = [v for v in values if math.isfinite(v)]
        optimized = key == objective
        direction = objectives_lib.OBJECTIVES[key]
        ax.set_title(
            f"{panel_title}\n({'optimized: ' if optimized else ''}{direction}imize)",
            fontweight="bold" if optimized else "normal",
            fontsize="medium",
        )
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if key == "mni_distance":
            for part, label, style in (
                ("val_i_xz_lower", "held-out I(X;Z) lower bound", "--"),
                ("val_i_yz", "held-out I(Y;Z) lower bound", ":"),
            ):
                part_values = [_number(row.get(part)) for row in rows]
                if any(math.isfinite(v) for v in part_values):
                    (handles[label],) = ax.plot(
                        rhos, part_values, style, marker=".", color="gray", label=label
                    )
                    shown += [v for v in part_values if math.isfinite(v)]
            classes = next(
                (row.get("num_classes") for row in rows if row.get("num_classes")), None
            )
            if classes and shown:
                h_y = math.log(classes)
                low, high = min(shown + values), max(shown + values)
                if h_y <= high + 0.25 * max(high - low, span):
                    label = f"H(Y) = log {int(classes)}: the MNI point's I(X;Z) = I(Y;Z)"
                    handles[label] = ax.axhline(
                        h_y, color="black", linewidth=0.8, alpha=0.5, label=label
                    )
                    shown.append(h_y)
                else:  # A line far above the data would squeeze it: say where it is.
                    ax.text(
                        0.01,
                        0.98,
                        f"H(Y) = log {int(classes)} = {h_y:.2f} nats (the "
                        "MNI point): above this range",
                        transform=ax.transAxes,
                        ha="left",
                        va="top",
                        fontsize="small",
                        color="dimgray",
                    )
                    shown.append(high + 0.25 * max(high - low, span))  # Room for the note.
        if not any(math.isfinite(v) for v in values):
            ax.text(
                0.5,
                0.5,
                "not measured",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="gray",
            )
            continue
        (handles["held-out value of each trial"],) = ax.plot(
            rhos, values, "-o", color="tab:blue", label="held-out value of each trial"
        )
        best_value = _number(best.get(key))
        if math.isfinite(best_value):
            label = f"best trial (rho = {best['rho']:.3g})"
            (handles[label],) = ax.plot(
                [best["rho"]],
                [best_value],
                "*",
                color="gold",
                markeredgecolor="black",
                markersize=15,
                zorder=4,
                label=label,
            )
        if key == "ood_auroc" and min(shown) < 0.6:
            handles["chance (AUROC 0.5)"] = ax.axhline(
                0.5, color="red", linestyle=":", label="chance (AUROC 0.5)"
            )
            shown.append(0.5)
        _span(ax, shown, span, upper=1.0 if key != "mni_distance" else None)
    for ax in axes.flat:
        ax.set_xlabel("rho = log gamma")
    figure.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncols=3,
        fontsize="small",
        frameon=False,
    )
    settings = data.get("settings", {})
    if title is None:
        search = settings.get("search", "")
        title = (
            f"rho search: {len(rows)} trials{f' ({search})' if search else ''}, "
            f"optimizing {objective}; best rho = {best['rho']:.3g}"
        )
        held_out = settings.get("num_validation_examples")
        if held_out:
            title += (
                f"\nscored on {held_out} held-out examples"
                + (
                    f" and {settings['num_ood_examples']} OoD images"
                    if settings.get("num_ood_examples")
                    else ""
                )
                + f", after {settings.get('epochs', '?')} epochs of training each"
            )
    figure.suptitle(title)
    figure.savefig(path, dpi=dpi)
    return pathlib.Path(path)


def _span(ax, values, span, upper=None):
    """y limits around `values` spanning at least `span`, and not above `upper`."""
    low, high = min(values), max(values)
    middle, half = (low + high) / 2, max(high - low, span) / 2 * 1.15
    bottom, top = middle - half, middle + half
    if upper is not None and top > upper + 0.01:
        bottom, top = bottom - (top - upper - 0.01), upper + 0.01
    ax.set_ylim(bottom, top)


def _number(value):
    return float(value) if value is not None else math.nan


def save_results(result, out, extra=None, dpi=100):
    """Writes `trials.csv`, `trials.md`, `trials.json`, `objectives.png` and
    `best_model.keras` into `out`, each atomically; returns their names.

    Args:
        result: A `RhoSearchResult`.
        out: The folder (created if needed).
        extra: Optional dict merged into `trials.json` (e.g. the command's settings and
            the software versions).
        dpi: Resolution of the plot.
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = _as_dict(result)
    reporting.replace_atomically(
        out / "trials.csv", lambda path: path.write_text(trials_csv(data))
    )
    reporting.write_text(out / "trials.md", format_table(data) + "\n")
    reporting.replace_atomically(
        out / "objectives.png", lambda path: plot_objectives(data, path, dpi=dpi)
    )
    best_file = pathlib.Path(result.tuner.get_trial_dir(result.best["trial_id"])) / "model.keras"
    reporting.replace_atomically(
        out / "best_model.keras", lambda path: shutil.copyfile(best_file, path)
    )
    reporting.write_json(out / "trials.json", {**data, **(extra or {})})
    return list(OUTPUTS)
