"""The figures of a reproduction report, drawn from `results.json`'s content.

- `figure4.png`: test accuracy, max I(X;Z) and targeted PGD success (L-inf, L2) against rho and
  eps, with interval bands;
- `table1.png`: FPR@95%TPR, AUROC and AUPR-In of each model's paper score on each OoD set;
- `calibration_<model>.png`: reliability diagrams at the three points of training (seed 0),
  and `ece.png`: ECE at those points for every model;
- `memorization.png`: training accuracy on random labels per epoch.

Matplotlib's object-oriented API on an Agg canvas: nothing touches pyplot's global state.
"""

import math
import pathlib

import numpy as np

from benchmarks.paper import results as results_lib
from benchmarks.paper.statistics import Estimate
from keras_ceb import reporting
from keras_ceb.evaluation import calibration as calibration_lib

DPI = 110


def _save(figure, path):
    figure.savefig(path, dpi=DPI)
    return pathlib.Path(path)


def _estimate(model, key):
    data = model["metrics"].get(key)
    return None if data is None else Estimate.from_dict(data)


def _series(model, keys, scale=1.0):
    """Values and interval ends of `keys` (NaN where missing or without an interval)."""
    values, lower, upper = [], [], []
    for key in keys:
        est = _estimate(model, key)
        if est is None:
            values.append(math.nan), lower.append(math.nan), upper.append(math.nan)
            continue
        values.append(est.value * scale)
        lower.append(est.lower * scale if est.has_interval else math.nan)
        upper.append(est.upper * scale if est.has_interval else math.nan)
    return np.array(values), np.array(lower), np.array(upper)


def _styles(models):
    """A colour and line style per model: CEB by rho on a colour map, VIB dashed, Determ black."""
    from matplotlib import colormaps

    ceb = sorted((m["rho"] for m in models.values() if m["objective"] == "ceb"))
    cmap = colormaps["viridis"]
    styles = {}
    for name, model in models.items():
        if model["objective"] == "determ":
            styles[name] = dict(color="black", linestyle="-", marker="s")
        elif model["objective"] == "vib":
            styles[name] = dict(
                color="tab:red" if model["rho"] <= 0 else "tab:orange", linestyle="--", marker="^"
            )
        else:
            position = ceb.index(model["rho"]) / max(len(ceb) - 1, 1)
            styles[name] = dict(color=cmap(0.9 * position), linestyle="-", marker="o")
    return styles


def interval_note(results, examples="test examples"):
    """`"mean and 95% t-interval over 3 seeds"` or `"one seed; 95% bootstrap intervals over test
    examples"`."""
    seeds = len(results["seeds"])
    confidence = results["preset"]["confidence"]
    if seeds >= 2:
        return f"mean and {confidence:.0%} t-interval over {seeds} seeds"
    return f"one seed; {confidence:.0%} bootstrap intervals over {examples}"


def _interval(ax, x, values, lower, upper, color, band=True, label=None):
    """Error bars at each point, and a band joining them when `band` and there are several."""
    finite = np.isfinite(lower) & np.isfinite(upper)
    if not finite.any():
        return
    x, values, lower, upper = (np.asarray(a)[finite] for a in (x, values, lower, upper))
    if band and len(x) > 1:
        ax.fill_between(x, lower, upper, color=color, alpha=0.15, label=label)
    # A percentile bootstrap interval need not contain its value (ECE is biased upwards).
    yerr = [np.maximum(values - lower, 0.0), np.maximum(upper - values, 0.0)]
    ax.errorbar(x, values, yerr=yerr, fmt="none", color=color, capsize=3, alpha=0.8)


def _by_rho_panel(ax, models, key, scale, ylabel, title):
    for objective, marker in (("ceb", "o"), ("vib", "^")):
        chosen = sorted(
            (m for m in models.values() if m["objective"] == objective), key=lambda m: m["rho"]
        )
        if not chosen:
            continue
        rhos = np.array([m["rho"] for m in chosen])
        values = np.array([[part[0] for part in _series(m, [key], scale)] for m in chosen])
        color = "tab:blue" if objective == "ceb" else "tab:red"
        ax.plot(
            rhos,
            values[:, 0],
            marker=marker,
            color=color,
            label=objective.upper(),
            linestyle="-" if objective == "ceb" else "none",
        )
        _interval(
            ax,
            rhos,
            values[:, 0],
            values[:, 1],
            values[:, 2],
            color,
            band=objective == "ceb",
            label=f"{objective.upper()} interval",
        )
    determ = models.get("determ")
    if determ is not None:
        value, lower, upper = (v[0] for v in _series(determ, [key], scale))
        if math.isfinite(value):
            ax.axhline(value, color="black", linestyle=":", label="Determ")
            if math.isfinite(lower):
                ax.axhspan(lower, upper, color="gray", alpha=0.15, label="Determ interval")
    ax.set_xlabel("rho = log gamma")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _value_ticks(ax, sorted({m["rho"] for m in models.values() if m["objective"] != "determ"}))


def _value_ticks(ax, values):
    """x ticks at the values measured (rho, eps), not at fractions between them."""
    if values:
        ax.set_xticks(values)
        if len(values) == 1:
            ax.set_xlim(values[0] - 1.0, values[0] + 1.0)


def _sweep_panel(ax, models, styles, norm, epsilons, target_name):
    keys = [results_lib.targeted_key(norm, eps) for eps in epsilons]
    for name, model in models.items():
        values, lower, upper = _series(model, keys, 100.0)
        style = styles[name]
        ax.plot(epsilons, values, label=model["label"], **style)
        _interval(ax, epsilons, values, lower, upper, style["color"])
    unit = "L-inf radius, pixels in [0, 1]" if norm == "linf" else "L2 radius, pixels in [0, 1]"
    ax.set_xlabel(f"eps ({unit})")
    _value_ticks(ax, list(epsilons))
    if len(epsilons) == 1:
        ax.set_xlim(0.0, 2.0 * epsilons[0])
    ax.set_ylabel("targeted success (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(f"targeted PGD towards '{target_name}', {'L-inf' if norm == 'linf' else 'L2'}")
    ax.grid(alpha=0.3)


def plot_figure4(results, path):
    """Figure 4: accuracy and max I(X;Z) against rho; targeted success against eps."""
    models, preset = results["models"], results["preset"]
    figure, axes = reporting.new_figure(
        2,
        2,
        (14, 10),
        "Figure 4, Fashion-MNIST: accuracy, information, "
        f"targeted robustness ({interval_note(results)})",
    )
    _by_rho_panel(
        axes[0, 0], models, "accuracy", 100.0, "test accuracy (%)", "test accuracy against rho"
    )
    axes[0, 0].legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3, fontsize="small", frameon=False
    )
    ax = axes[0, 1]
    _by_rho_panel(
        ax,
        models,
        "i_xz_max_train_at_rho",
        1.0,
        "max I(X;Z) lower bound (nats)",
        "max over training of the I(X;Z) bound (epochs at rho)",
    )
    for objective, color in (("ceb", "tab:blue"), ("vib", "tab:red")):
        chosen = sorted(
            (m for m in models.values() if m["objective"] == objective), key=lambda m: m["rho"]
        )
        if chosen:
            ax.plot(
                [m["rho"] for m in chosen],
                [_series(m, ["i_xz_max_test_at_rho"])[0][0] for m in chosen],
                color=color,
                linestyle="--",
                marker="x",
                label=f"{objective.upper()}, held-out test images",
            )
    ax.axhline(math.log(10), color="gray", linestyle="-.", label="log 10 = 2.30 nats")
    ax.plot(
        [0.0],
        [math.log(10)],
        "*",
        color="gold",
        markeredgecolor="black",
        markersize=14,
        label="paper: CEB0 at log 10",
    )
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, fontsize="small", frameon=False
    )
    target_name = results.get("class_names", [None] * 10)[preset["target_class"]]
    styles = _styles(models)
    _sweep_panel(axes[1, 0], models, styles, "linf", preset["linf_epsilons"], target_name)
    _sweep_panel(axes[1, 1], models, styles, "l2", preset["l2_epsilons"], target_name)
    axes[1, 1].legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", title="model"
    )
    return _save(figure, path)


def plot_table1(results, path):
    """Table 1 as bars: each model's paper score (H for Determ, R otherwise) on each OoD set."""
    models = results["models"]
    sets = [
        s
        for s in results_lib.OOD_SETS
        if any(
            results_lib.ood_key(s, m["primary_score"], "auroc") in m["metrics"]
            for m in models.values()
        )
    ]
    figure, axes = reporting.new_figure(
        1,
        3,
        (16, 5.5),
        "Table 1, Fashion-MNIST: OoD detection by each "
        "model's paper score (H for Determ, R for VIB/CEB), in-distribution "
        f"positive ({interval_note(results)})",
    )
    styles = _styles(models)
    width = 0.8 / max(len(models), 1)
    titles = {
        "fpr_at_95_tpr": "FPR at 95% TPR (%, lower is better)",
        "auroc": "AUROC (%, higher is better)",
        "aupr_in": "AUPR-In (%, higher is better)",
    }
    for ax, metric in zip(axes[0], results_lib.OOD_METRICS[:3]):
        for i, (name, model) in enumerate(models.items()):
            keys = [results_lib.ood_key(s, model["primary_score"], metric) for s in sets]
            values, lower, upper = _series(model, keys, 100.0)
            x = np.arange(len(sets)) + (i - (len(models) - 1) / 2) * width
            error = None
            if np.isfinite(lower).any():
                error = [
                    np.maximum(np.nan_to_num(values - lower), 0.0),
                    np.maximum(np.nan_to_num(upper - values), 0.0),
                ]
            ax.bar(
                x,
                values,
                width,
                yerr=error,
                capsize=2,
                color=styles[name]["color"],
                edgecolor="black",
                linewidth=0.4,
                label=f"{model['label']} ({results_lib.SCORE_LABELS[model['primary_score']]})",
            )
        ax.set_xticks(np.arange(len(sets)), [results_lib.OOD_SET_LABELS[s] for s in sets])
        ax.set_ylim(0, 105)
        ax.set_ylabel(titles[metric].split(" (")[0] + " (%)")
        ax.set_title(titles[metric])
        ax.grid(axis="y", alpha=0.3)
        if metric == "auroc":
            ax.axhline(50.0, color="red", linestyle=":", linewidth=1.2, label="chance (50%)")
    handles, labels = axes[0, 1].get_legend_handles_labels()
    axes[0, 2].legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        title="model (score)",
    )
    return _save(figure, path)


def plot_calibration(name, model, snapshots, labels, results, path):
    """Reliability diagrams of a model at its snapshot epochs (seed 0): 5% bins, 90% intervals."""
    preset = results["preset"]
    figure, axes = reporting.new_figure(
        1,
        len(snapshots),
        (5 * len(snapshots), 5),
        f"Calibration of {model['label']} on {len(labels)} test images, "
        f"seed {model['seeds'][0]}: reliability diagrams "
        f"({preset['calibration_interval']:.0%} Wilson intervals per bin)",
    )
    for ax, (epoch, probs) in zip(axes[0], sorted(snapshots.items())):
        diagram = calibration_lib.reliability_diagram(
            probs,
            labels,
            num_bins=preset["calibration_bins"],
            interval=preset["calibration_interval"],
        )
        calibration_lib.plot_reliability_diagram(  # Its title ends with the ECE.
            diagram, ax=ax, title=f"after epoch {epoch} of {preset['epochs']}"
        )
    return _save(figure, path)


def plot_ece(results, path):
    """ECE at the snapshot epochs, per model, with intervals."""
    models = results["models"]
    epochs = results["preset_calibration_epochs"]
    figure, axes = reporting.new_figure(
        1, 1, (9, 5.5), f"Expected calibration error during training\n({interval_note(results)})"
    )
    ax = axes[0, 0]
    styles = _styles(models)
    for name, model in models.items():
        values, lower, upper = _series(model, [results_lib.ece_key(e) for e in epochs], 100.0)
        ax.plot(epochs, values, label=model["label"], **styles[name])
        _interval(ax, epochs, values, lower, upper, styles[name]["color"])
    ax.set_xticks(epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("ECE (%, 5% bins)")
    ax.set_title("lower is better calibrated")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", title="model")
    return _save(figure, path)


def plot_memorization(results, path):
    """Training accuracy on fixed random labels per epoch, with the chance level."""
    memorization = results["memorization"]
    figure, axes = reporting.new_figure(
        1,
        1,
        (9, 5.5),
        "Memorization: training accuracy on fixed random "
        f"labels\n({interval_note(results, 'training images')})",
    )
    ax = axes[0, 0]
    chance = None
    for name, entry in memorization.items():
        curve = [Estimate.from_dict(e) for e in entry["curve"]]
        epochs = np.arange(1, len(curve) + 1)
        values = np.array([e.value for e in curve]) * 100
        (line,) = ax.plot(epochs, values, marker="o", label=f"{entry['label']}")
        _interval(
            ax,
            epochs,
            values,
            np.array([e.lower * 100 for e in curve]),
            np.array([e.upper * 100 for e in curve]),
            line.get_color(),
        )
        chance = entry["chance_level"]
        n = entry["num_examples"]
    if chance is not None:
        ax.axhline(chance * 100, color="gray", linestyle=":", label="chance")
        ax.set_title(f"{n} training images with random labels")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("training accuracy on random labels (%)")
    ax.set_ylim(0, 102)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", title="model")
    return _save(figure, path)
