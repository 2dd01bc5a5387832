"""One robustness report for a trained classifier, like the paper's Table 1.

Accuracy, out-of-distribution detection (the rate R beside the logit scores H, max-softmax,
max-logit and energy, and, with training data, the Mahalanobis and KNN detectors; on the near
sets (vertical flip, 90-degree rotation), the far sets (MNIST, U(0,1) and Gaussian noise) and
optionally CW-L2 adversarial examples, with averages per group), an adversarial attack (PGD,
APGD-CE, APGD-T, Square, the AutoAttack-style ensemble or CW-L2), and calibration; as a dict
(JSON-ready), as a text table, and as PNG figures.
"""

import math
import os

import numpy as np

from keras_ceb import inference
from keras_ceb.evaluation import calibration
from keras_ceb.evaluation import ood_sets as ood_sets_lib
from keras_ceb.evaluation import scores

ATTACKS = ("pgd-linf", "pgd-l2", "cw-l2", "apgd-ce", "apgd-t", "fab-t", "square", "autoattack")
# The attacks that take a norm (`attack_norm`); PGD names its own.
NORMED_ATTACKS = ("apgd-ce", "apgd-t", "fab-t", "square", "autoattack")
DEFAULT_STEPS = {
    "pgd-linf": 7,
    "pgd-l2": 7,
    "apgd-ce": 100,
    "apgd-t": 100,
    "fab-t": 100,
    "autoattack": 100,
}


def robustness_report(
    model,
    x,
    y,
    *,
    ood=True,
    mnist_x=None,
    cw_ood_examples=0,
    attack=None,
    eps=0.1,
    attack_steps=None,
    attack_step_size=None,
    attack_norm="linf",
    queries=5000,
    reference=None,
    attack_examples=1000,
    target_class=None,
    calibration_bins=20,
    run_calibration=True,
    num_samples=1,
    rate_estimator=None,
    seed=0,
    batch_size=256,
):
    """Evaluates `model` on test data `(x, y)` and returns a JSON-ready dict.

    Args:
        model: A trained classifier returning logits (images in [0, 1]).
        x, y: Test images and integer labels.
        ood: Score the OoD sets of `keras_ceb.evaluation.standard_ood_sets` (needs square
            images; the rate needs a marginal), with per-group averages in `ood_groups`.
        mnist_x: Optional MNIST test images, an OoD set for Fashion-MNIST models.
        cw_ood_examples: If > 0, also use this many CW-L2 adversarial examples (cleverhans
            defaults) of the test set as an OoD set, as the paper does.
        attack: `None` or one of `ATTACKS`: `"pgd-linf"`, `"pgd-l2"`, `"cw-l2"`, `"apgd-ce"`,
            `"apgd-t"` (targeted DLR over the top 9 classes), `"fab-t"` (the targeted
            minimum-norm FAB over the same classes), `"square"` or `"autoattack"`
            (`keras_ceb.attacks.auto_attack`, its version chosen by the model).
        eps: Attack radius (not used by CW-L2).
        attack_steps: PGD or APGD steps; default 7 for PGD (the paper's), 100 for APGD.
        attack_norm: `"linf"` or `"l2"`, the norm of APGD, Square and the ensemble.
        queries: Queries of the Square attack (also inside the ensemble).
        reference: In-distribution training data `(x_train, y_train)` or fitted
            `keras_ceb.evaluation.FeatureDetectors`: adds the Mahalanobis and KNN scores.
        attack_step_size: PGD step size; `None` for the default of
            `keras_ceb.attacks.pgd_attack`, `min(2.5 * eps / attack_steps, cap)` with the cap
            0.03 (L-inf) or 0.03 * sqrt(pixels) (L2). The report records the value used.
        attack_examples: Attack the first this many test examples.
        target_class: If given, a targeted attack towards this class; the success measure is the
            paper's (among clean-correct examples whose label is not the target).
        calibration_bins: Reliability bins (20 = 5% bins).
        run_calibration: Compute ECE and the reliability diagram.
        num_samples: Draws of z to average the scores and probabilities over, and the PGD
            gradients over (EOT). A model without an encoder that samples z (Determ) has
            nothing to average: its attack then uses one pass, and the report's
            `attack.num_samples` says so.
        rate_estimator: How the OoD scores are estimated: `"mean"` (at the encoder mean,
            deterministic) or `"sample"` (averaged over `num_samples` draws); default `"mean"`
            for one draw, `"sample"` for several (see `keras_ceb.evaluation.scores`).
        seed: Seed for the noise images, the attack's random start and its draws of z.
        batch_size: Batch size for every pass.

    Returns:
        A dict with `accuracy`, and `ood`, `attack`, `calibration` entries when requested.
    """
    if attack is not None and attack not in ATTACKS:
        raise ValueError(f"`attack` must be one of {ATTACKS} or None. Received: attack={attack!r}")
    if attack_norm not in ("linf", "l2"):
        raise ValueError(
            f"`attack_norm` must be 'linf' or 'l2'. Received: attack_norm={attack_norm!r}"
        )
    if target_class is not None and attack in NORMED_ATTACKS:
        raise ValueError(
            f"A target class is for the targeted PGD and CW attacks; {attack} "
            f"aims at any wrong class. Received: target_class={target_class!r}"
        )
    if attack_steps is None:
        attack_steps = DEFAULT_STEPS.get(attack, 7)
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"`eps` must be a finite number >= 0. Received: eps={eps!r}")
    if attack_step_size is not None and not (
        isinstance(attack_step_size, (int, float))
        and math.isfinite(attack_step_size)
        and attack_step_size > 0
    ):
        raise ValueError(
            "`attack_step_size` must be None or a finite number > 0. "
            f"Received: attack_step_size={attack_step_size!r}"
        )
    if target_class is not None and attack is not None:
        from keras_ceb.attacks import gradients

        num_classes = gradients.num_classes_of(model, np.asarray(x[:1], "float32"))
        if (
            isinstance(target_class, bool)
            or not isinstance(target_class, (int, np.integer))
            or not 0 <= target_class < num_classes
        ):
            raise ValueError(
                f"`target_class` must be an integer in [0, {num_classes}), the "
                f"model's number of logits. Received: target_class={target_class!r}"
            )
    x, y = np.asarray(x), np.asarray(y).astype("int64")
    probs = inference.predict_probabilities(model, x, num_samples, batch_size)
    report = {"num_examples": int(len(x)), "accuracy": float(np.mean(probs.argmax(-1) == y))}

    if ood:
        sets = ood_sets_lib.standard_ood_sets(x, seed=seed, mnist_x=mnist_x)
        if cw_ood_examples:
            from keras_ceb import attacks

            n = min(int(cw_ood_examples), len(x))
            sets["cw_l2"] = attacks.carlini_wagner_l2(model, x[:n], y[:n], batch_size=batch_size)
        report["ood"] = scores.evaluate_ood(
            model, x, sets, num_samples, batch_size, estimator=rate_estimator, reference=reference
        )
        report["ood_groups"] = ood_sets_lib.group_averages(report["ood"])

    if attack is not None:
        if attack in NORMED_ATTACKS:
            report["attack"] = _normed_attack(
                model,
                x[:attack_examples],
                y[:attack_examples],
                attack,
                eps,
                attack_norm,
                attack_steps,
                queries,
                num_samples,
                seed,
                batch_size,
            )
        else:
            report["attack"] = _attack(
                model,
                x[:attack_examples],
                y[:attack_examples],
                attack,
                eps,
                attack_steps,
                attack_step_size,
                target_class,
                num_samples,
                seed,
                batch_size,
            )

    if run_calibration:
        diagram = calibration.reliability_diagram(probs, y, num_bins=calibration_bins)
        report["calibration"] = {
            "ece": float(diagram.ece),
            "interval": diagram.interval,
            "method": diagram.method,
            # Empty bins have no accuracy: None rather than NaN keeps the JSON standard.
            "bins": [
                {
                    k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in row.items()
                }
                for row in diagram.rows()
            ],
        }
    return report


def _attack(
    model, x, y, attack, eps, steps, step_size, target_class, num_samples, seed, batch_size
):
    from keras_ceb import attacks
    from keras_ceb.attacks import gradients
    from keras_ceb.attacks import pgd

    targets = None if target_class is None else np.full_like(y, int(target_class))
    attacked = y if targets is None else targets
    pgd_run = attack != "cw-l2"
    if pgd_run:
        norm = attack.split("-")[1]
        # EOT only where there is a z to sample (not for Determ); recorded below.
        num_samples = num_samples if gradients.sampling_encoders(model) else 1
        if step_size is None:  # the attack's default, recorded below
            step_size = float(pgd.default_step_size(eps, steps, norm, int(np.prod(x.shape[1:]))))
        x_adv = attacks.pgd_attack(
            model,
            x,
            attacked,
            eps=eps,
            norm=norm,
            steps=steps,
            step_size=step_size,
            targeted=targets is not None,
            num_samples=num_samples,
            seed=seed,
            batch_size=batch_size,
        )
    else:
        x_adv = attacks.carlini_wagner_l2(
            model, x, attacked, targeted=targets is not None, batch_size=batch_size, seed=seed
        )
    result = {
        "attack": attack,
        "eps": float(eps) if pgd_run else None,
        "steps": int(steps) if pgd_run else None,
        "step_size": float(step_size) if pgd_run else None,
        "num_samples": int(num_samples) if pgd_run else None,
        "num_examples": int(len(x)),
        "accuracy_under_attack": float(attacks.accuracy_under_attack(model, x_adv, y)),
        "mean_l2_perturbation": float(
            np.mean(np.sqrt(((x_adv - x) ** 2).reshape(len(x), -1).sum(1)))
        ),
    }
    if targets is not None:
        rate, count = attacks.targeted_success_rate(model, x, x_adv, y, targets)
        result.update(
            target_class=int(target_class), targeted_success=float(rate), targeted_count=int(count)
        )
    return result


def _normed_attack(model, x, y, attack, eps, norm, steps, queries, num_samples, seed, batch_size):
    """APGD-CE, APGD-T, FAB-T, Square or the ensemble, scored by accuracy under attack."""
    from keras_ceb import attacks
    from keras_ceb.attacks import gradients

    num_samples = num_samples if gradients.sampling_encoders(model) else 1
    common = dict(eps=eps, norm=norm, seed=seed, batch_size=batch_size)
    result = {"attack": attack, "eps": float(eps), "norm": norm, "num_examples": int(len(x))}
    if attack == "autoattack":
        found = attacks.auto_attack(
            model,
            x,
            y,
            steps=steps,
            queries=queries,
            num_samples=num_samples if num_samples > 1 else None,
            **common,
        )
        x_adv = found.x_adv
        result.update(
            version=found.version,
            steps=int(steps),
            queries=int(queries),
            broken_by=found.broken_counts(),
            num_samples=int(num_samples) if found.version == "rand" else 1,
        )
    elif attack == "square":
        x_adv = attacks.square_attack(model, x, y, queries=queries, **common)
        result.update(queries=int(queries), num_samples=1)
    elif attack == "fab-t":
        x_adv = attacks.fab_t_attack(model, x, y, steps=steps, **common)
        result.update(steps=int(steps), num_samples=1)
    else:
        x_adv = attacks.apgd_attack(
            model,
            x,
            y,
            loss="ce" if attack == "apgd-ce" else "dlr",
            targeted=attack == "apgd-t",
            steps=steps,
            num_samples=num_samples,
            **common,
        )
        result.update(steps=int(steps), num_samples=int(num_samples))
    result.update(
        accuracy_under_attack=float(attacks.accuracy_under_attack(model, x_adv, y)),
        mean_l2_perturbation=float(
            np.mean(np.sqrt(((x_adv - x) ** 2).reshape(len(x), -1).sum(1)))
        ),
    )
    return result


def format_report(report, title=None):
    """The report as a plain-text table (what `keras-ceb evaluate` prints)."""
    lines = [title] if title else []
    lines.append(
        f"accuracy            {report['accuracy']:.4f}   ({report['num_examples']} examples)"
    )
    if "calibration" in report:
        lines.append(f"calibration ECE     {report['calibration']['ece']:.4f}   (5% bins)")
    if "attack" in report:
        a = report["attack"]
        radius = "" if a["eps"] is None else f" eps={a['eps']:g}"
        if a.get("norm"):
            radius += f" norm={a['norm']}"
        if a.get("steps") is not None:
            radius += f" steps={a['steps']}"
        if a.get("queries") is not None:
            radius += f" queries={a['queries']}"
        if a.get("version"):
            radius += f" version={a['version']}"
        if a.get("step_size") is not None:
            radius += f" step size={a['step_size']:.4g}"
        if (a.get("num_samples") or 1) > 1:
            radius += f" EOT samples={a['num_samples']}"
        lines.append(
            f"attack {a['attack']}{radius}: accuracy under attack "
            f"{a['accuracy_under_attack']:.4f}, mean L2 {a['mean_l2_perturbation']:.3f}"
            + (
                f", targeted success {a['targeted_success']:.4f} (n={a['targeted_count']})"
                if "targeted_success" in a
                else ""
            )
        )
        if a.get("broken_by"):
            lines.append(
                "  broken by: " + ", ".join(f"{k} {v}" for k, v in a["broken_by"].items())
            )
    if "ood" in report:
        lines.append("")
        estimator = report["ood"][0].get("estimator", "mean") if report["ood"] else "mean"
        lines.append(
            f"OoD detection (AUROC and FPR@95 with in-distribution positive, as the paper and "
            f"ODIN; FPR@95 OoD+ with OoD positive, as OpenOOD v1.5; scores at the "
            f"{'encoder mean' if estimator == 'mean' else 'average over draws of z'})"
        )
        header = (
            f"{'set':<16}{'score':<15}{'FPR@95':>8}{'FPR@95 OoD+':>13}{'AUROC':>8}"
            f"{'AUPR-In':>9}{'AUPR-Out':>10}"
        )
        lines.append(header)
        lines.append("-" * len(header))
        rows = [(row["ood_set"], row) for row in report["ood"]] + [
            (row["group"] + " (mean)", row) for row in report.get("ood_groups", [])
        ]
        for name, row in rows:
            ood_positive = row.get("fpr_at_95_tpr_ood_positive", float("nan"))
            lines.append(
                f"{name:<16}{row['score']:<15}{row['fpr_at_95_tpr']:>8.3f}{ood_positive:>13.3f}"
                f"{row['auroc']:>8.3f}{row['aupr_in']:>9.3f}{row['aupr_out']:>10.3f}"
            )
    return "\n".join(lines)


def _diagram_from_report(calib):
    bins = calib["bins"]

    def column(key):
        return np.array([np.nan if b[key] is None else b[key] for b in bins], dtype="float64")

    return calibration.ReliabilityDiagram(
        bin_edges=np.array([bins[0]["lower_edge"]] + [b["upper_edge"] for b in bins]),
        counts=np.array([b["count"] for b in bins]),
        mean_confidence=column("mean_confidence"),
        accuracy=column("accuracy"),
        accuracy_lower=column("accuracy_lower"),
        accuracy_upper=column("accuracy_upper"),
        interval=calib["interval"],
        method=calib["method"],
        ece=calib["ece"],
        num_examples=int(sum(b["count"] for b in bins)),
    )


def save_report_figures(report, out_dir, title=None, dpi=100):
    """Writes `reliability.png` and `ood_auroc.png` for the parts the report has; returns paths.

    Args:
        report: A dict from `robustness_report`.
        out_dir: The folder to write into (created if needed).
        title: What was evaluated (e.g. `"CEB, rho=0 on fashion_mnist: 10000 test examples"`),
            put into each figure's title.
        dpi: Resolution.
    """
    import textwrap

    paths = []
    os.makedirs(out_dir, exist_ok=True)
    if "calibration" in report:
        heading = "Reliability diagram" + (f": {title}" if title else "")
        figure = calibration.plot_reliability_diagram(
            _diagram_from_report(report["calibration"]), title=textwrap.fill(heading, 55)
        )
        path = os.path.join(out_dir, "reliability.png")
        figure.savefig(path, dpi=dpi)
        paths.append(path)
    if "ood" in report:
        path = os.path.join(out_dir, "ood_auroc.png")
        plot_ood_auroc(report, title=title).savefig(path, dpi=dpi)
        paths.append(path)
    return paths


SCORE_LABELS = {"rate": "rate R", "entropy": "entropy H", "max_softmax": "max softmax"}


def plot_ood_auroc(report, title=None):
    """Bars of the AUROC of each OoD score on each OoD set, with the value on each bar and the
    chance level 0.5; in-distribution is the positive class. Returns the figure.

    Examples:

        >>> report = {"ood": [{"ood_set": "uniform_noise", "score": "rate", "auroc": 0.9},
        ...                   {"ood_set": "uniform_noise", "score": "entropy", "auroc": 0.6}]}
        >>> plot_ood_auroc(report).axes[0].get_ylabel()
        'AUROC (in-distribution positive)'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = report["ood"]
    sets = sorted({r["ood_set"] for r in rows})
    score_names = sorted({r["score"] for r in rows}, key=lambda s: (s != "rate", s))
    figure = Figure(figsize=(8.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    width = 0.8 / max(len(score_names), 1)
    for i, score in enumerate(score_names):
        values = [
            next((r["auroc"] for r in rows if r["ood_set"] == s and r["score"] == score), np.nan)
            for s in sets
        ]
        bars = ax.bar(
            np.arange(len(sets)) + i * width,
            values,
            width,
            edgecolor="black",
            linewidth=0.5,
            label=SCORE_LABELS.get(score, score),
        )
        ax.bar_label(
            bars,
            labels=["" if not np.isfinite(v) else f"{v:.3f}" for v in values],
            fontsize="x-small",
            padding=2,
        )
    ax.axhline(0.5, color="red", linestyle=":", linewidth=1.2, label="chance (0.5)")
    ax.set_xticks(
        np.arange(len(sets)) + width * (len(score_names) - 1) / 2,
        [s.replace("_", " ") for s in sets],
    )
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("out-of-distribution set")
    ax.set_ylabel("AUROC (in-distribution positive)")
    estimator = rows[0].get("estimator", "mean") if rows else "mean"
    where = "at the encoder mean" if estimator == "mean" else "averaged over draws of z"
    ax.set_title(
        (
            "OoD detection"
            + (f": {title}" if title else "")
            + f"\nAUROC of each score ({where}); 1 separates perfectly, 0.5 is chance"
        ),
        fontsize="medium",
    )
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="score",
        fontsize="small",
        frameon=False,
    )
    ax.grid(axis="y", alpha=0.3)
    return figure
