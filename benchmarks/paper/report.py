"""The report of a reproduction: `results.json`, `report.md` and the figures, in the output folder.

`report.md` puts our numbers (with their intervals, and which interval each is) beside the
paper's (a sourced number, or a marked slot), and ends with the claims table: each claim of the
paper, our numbers, the rule and the verdict.
"""

import math

from benchmarks.paper import claims as claims_lib
from benchmarks.paper import figures
from benchmarks.paper import measurements
from benchmarks.paper import results as results_lib
from benchmarks.paper import storage
from benchmarks.paper.progress import format_duration
from benchmarks.paper.statistics import Estimate
from keras_ceb import reporting
from keras_ceb.evaluation import ood_sets as ood_sets_lib


def build(units, preset, data, out, meta, claims=claims_lib.FASHION_MNIST_CLAIMS):
    """Gathers the results, checks the claims, writes `results.json`, the PNGs and `report.md`.

    Args:
        units: The plan.
        preset: The `Preset`.
        data: The `ReproductionData`.
        out: The output folder.
        meta: A dict merged into the results (`dataset`, `command`, `seeds`, times, ...).
        claims: The paper's claims to check.

    Returns:
        The results dict (also in `results.json`).
    """
    results = {
        **meta,
        "preset": preset.to_dict(),
        "preset_calibration_epochs": list(preset.calibration_epochs),
        "class_names": list(data.class_names),
        "data_sizes": data.sizes(),
        "environment": reporting.environment(hostname=False),
        **results_lib.gather(units, preset, data, out),
    }
    results["claims"] = claims_lib.evaluate_claims(results, claims)
    results["paper_values"] = [
        {"model": model, "metric": key, "value": value, "what": what, "source": source}
        for (model, key), (value, what, source) in claims_lib.PAPER_VALUES.items()
    ]
    results["figures"] = write_figures(results, units, preset, data, out)
    storage.write_json(out / "results.json", results)
    storage.write_text(out / "report.md", format_report(results))
    return results


def write_figures(results, units, preset, data, out):
    """Writes every PNG; returns their file names."""
    names = []
    if results["models"]:
        figures.plot_figure4(results, out / "figure4.png")
        figures.plot_table1(results, out / "table1.png")
        figures.plot_ece(results, out / "ece.png")
        names += ["figure4.png", "table1.png", "ece.png"]
        labels = data.y_test[: preset.calibration_examples]
        first_seed = min(results["seeds"])
        for unit in units:
            if unit.kind != "evaluate" or unit.seed != first_seed:
                continue
            entry = results_lib.load_entry(unit, out)
            if entry["calibration"]:
                name = f"calibration_{unit.spec.name}.png"
                figures.plot_calibration(
                    unit.spec.name,
                    results["models"][unit.spec.name],
                    entry["calibration"],
                    labels,
                    results,
                    out / name,
                )
                names.append(name)
    if results["memorization"]:
        figures.plot_memorization(results, out / "memorization.png")
        names.append("memorization.png")
    return names


def _cell(model, key, percent=False, digits=3):
    data = model["metrics"].get(key)
    if data is None:
        return "n/a"
    return Estimate.from_dict(data).format(digits=digits, percent=percent)


def _paper_cell(name, keys, table):
    found = [
        _paper_number(key, value, label, source)
        for key, (value, label, source) in (
            (k, claims_lib.PAPER_VALUES[(name, k)])
            for k in keys
            if (name, k) in claims_lib.PAPER_VALUES
        )
    ]
    if found:
        return ", ".join(found)
    return claims_lib.PAPER_FIGURE_ONLY[table]


def _paper_number(key, value, label, source):
    if key.startswith("i_xz"):
        return f"{label}: {value:.2f} ({source})"
    return f"{label} {100 * value:.1f}% ({source})"


def interval_text(results):
    """Which interval each number of the report has."""
    preset, seeds = results["preset"], results["seeds"]
    confidence = f"{preset['confidence']:.0%}"
    if len(seeds) >= 2:
        return (
            f"Every number is the mean over {len(seeds)} seeds ({', '.join(map(str, seeds))}) "
            f"with its two-sided {confidence} Student-t interval, `mean [lower, upper]`, "
            "computed from the per-seed values (the memorization curves too), cut to "
            "the range of the quantity ([0, 100%] for accuracies, rates, AUROCs and ECE). "
            "With few seeds these intervals are wide: the per-seed values are in "
            "`results.json`."
        )
    return (
        f"One seed ({seeds[0]}): numbers are `value [lower, upper]` with a {confidence} "
        f"percentile bootstrap over the test examples ({preset['bootstrap_resamples']} "
        f"resamples, seed {preset['bootstrap_seed']}) for the per-example quantities: "
        "accuracy, targeted and CW success (over the counted examples), FPR@95%TPR, AUROC and "
        "AUPR-In (in-distribution and OoD sets resampled independently) and ECE; the "
        "memorization accuracies get the same bootstrap over the training images. A "
        "percentile interval of a biased statistic need not contain its value: resampling "
        "raises the ECE, so its interval can lie above it. The maximum "
        "of the I(X;Z) bound over training is not a per-example quantity: it has no interval "
        "with one seed (run `--seeds 3` or more for t-intervals over seeds)."
    )


def _figure4_tables(results):
    models, preset = results["models"], results["preset"]
    rows = []
    keys = ("i_xz_max_train_at_rho", "i_xz_max_test_at_rho", "i_xz_max_train", "i_xz_max_test")
    for name, model in models.items():
        rows.append(
            [model["label"], _cell(model, "accuracy", percent=True, digits=2)]
            + [_cell(model, k, digits=2) for k in keys]
            + [_paper_cell(name, ("accuracy",) + keys, "figure4")]
        )
    information = reporting.markdown_table(
        [
            "model",
            "test accuracy",
            "max I(X;Z), train, epochs at rho (nats)",
            "max I(X;Z), held-out, epochs at rho",
            "max I(X;Z), train, all epochs",
            "max I(X;Z), held-out, all epochs",
            "paper",
        ],
        rows,
    )
    columns = [("linf", eps) for eps in preset["linf_epsilons"]] + [
        ("l2", eps) for eps in preset["l2_epsilons"]
    ]
    rows = []
    for name, model in models.items():
        keys = [results_lib.targeted_key(norm, eps) for norm, eps in columns]
        rows.append(
            [model["label"]]
            + [_cell(model, k, percent=True, digits=1) for k in keys]
            + [_paper_cell(name, keys, "figure4")]
        )
    header = (
        ["model"]
        + [f"{'L-inf' if norm == 'linf' else 'L2'} {eps:g}" for norm, eps in columns]
        + ["paper"]
    )
    return information, reporting.markdown_table(header, rows)


def _table1_tables(results):
    models = results["models"]
    sets = [
        s
        for s in results_lib.OOD_SETS
        if any(results_lib.ood_key(s, "entropy", "auroc") in m["metrics"] for m in models.values())
    ]
    rows = []
    for ood_set in sets:
        for name, model in models.items():
            score = model["primary_score"]
            keys = [results_lib.ood_key(ood_set, score, m) for m in results_lib.OOD_METRICS]
            rows.append(
                [
                    results_lib.OOD_SET_LABELS[ood_set],
                    model["label"],
                    results_lib.SCORE_LABELS[score],
                ]
                + [_cell(model, k, percent=True, digits=1) for k in keys]
                + [_paper_cell(name, keys, "table1")]
            )
    main = reporting.markdown_table(
        [
            "OoD set",
            "model",
            "score",
            "FPR@95%TPR (in-distribution positive)",
            "AUROC",
            "AUPR-In",
            "FPR@95%TPR (OoD positive, OpenOOD)",
            "paper",
        ],
        rows,
    )
    rows = []
    for ood_set in sets:
        for model in models.values():
            rows.append(
                [results_lib.OOD_SET_LABELS[ood_set], model["label"]]
                + [
                    _cell(
                        model, results_lib.ood_key(ood_set, score, "auroc"), percent=True, digits=1
                    )
                    for score in results_lib.SCORES
                ]
            )
    scores = reporting.markdown_table(
        ["OoD set", "model", "AUROC of R", "AUROC of H", "AUROC of max-softmax"], rows
    )
    rows = []
    for name, model in models.items():
        rows.append(
            [
                model["label"],
                _cell(model, "cw_success", percent=True, digits=1),
                _paper_cell(name, ("cw_success",), "table1"),
            ]
        )
    cw = reporting.markdown_table(
        ["model", "CW-L2 success (untargeted, among clean-correct)", "paper"], rows
    )
    return main, scores, cw


BASELINE_MODELS = ("determ", "ceb_rho0")  # the models of the baselines table


def _estimate(model, key):
    data = model["metrics"].get(key)
    if data is None:
        return None
    value = Estimate.from_dict(data)
    return value if math.isfinite(value.value) else None


def _baselines_tables(results):
    """Every OoD score of Determ and CEB0 per set (AUROC), with near/far means, and the
    answer per set: does CEB0's rate beat the best baseline on Determ and on CEB0?"""
    models = results["models"]
    chosen = [n for n in BASELINE_MODELS if n in models]
    sets = [
        s
        for s in results_lib.STANDARD_OOD_SETS + (measurements.CW_SET,)
        if any(results_lib.ood_key(s, "entropy", "auroc") in models[n]["metrics"] for n in chosen)
    ]
    if not chosen or not sets:
        return None
    groups = {name: ood_sets_lib.ood_group(name) or "adversarial" for name in sets}
    rows = []
    for name in chosen:
        model = models[name]
        scores = [
            sc
            for sc in results_lib.ALL_SCORES
            if any(results_lib.ood_key(s, sc, "auroc") in model["metrics"] for s in sets)
        ]
        for score in scores:
            cells = [
                _cell(model, results_lib.ood_key(s, score, "auroc"), percent=True, digits=1)
                for s in sets
            ]
            means = []
            for group in ("near", "far"):
                values = [
                    _estimate(model, results_lib.ood_key(s, score, "auroc"))
                    for s in sets
                    if groups[s] == group
                ]
                values = [v.value for v in values if v is not None]
                means.append(f"{100 * sum(values) / len(values):.1f}" if values else "n/a")
            rows.append([model["label"], results_lib.SCORE_LABELS[score]] + cells + means)
    table = reporting.markdown_table(
        ["model", "score"]
        + [results_lib.OOD_SET_LABELS[s] for s in sets]
        + ["near (mean)", "far (mean)"],
        rows,
    )
    answers = []
    rate_model = models.get("ceb_rho0")
    if rate_model is not None:
        for s in sets:
            rate = _estimate(rate_model, results_lib.ood_key(s, "rate", "auroc"))
            if rate is None:
                continue
            parts = []
            for name in chosen:
                best = None
                for score in results_lib.BASELINE_SCORES + ("entropy",):
                    value = _estimate(models[name], results_lib.ood_key(s, score, "auroc"))
                    if value is not None and (best is None or value.value > best[1].value):
                        best = (score, value)
                if best is None:
                    continue
                verdict = (
                    "beats"
                    if rate.lower > best[1].upper
                    else "loses to"
                    if rate.upper < best[1].lower
                    else "ties with"
                )
                parts.append(
                    f"{verdict} {models[name]['label']}'s best baseline, "
                    f"{results_lib.SCORE_LABELS[best[0]]} "
                    f"({best[1].format(percent=True, digits=1)})"
                )
            answers.append(
                f"- {results_lib.OOD_SET_LABELS[s]}: CEB0's R "
                f"({rate.format(percent=True, digits=1)}) " + "; ".join(parts) + "."
            )
    return table, "\n".join(answers)


def _robust_table(results):
    """Untargeted robust accuracy per model, radius and attack, with the sanity checks."""
    preset = results["preset"]
    models = {
        n: m
        for n, m in results["models"].items()
        if any(k.startswith("robust_linf") for k in m["metrics"])
    }
    if not models:
        return None
    rows = []
    for model in models.values():
        for eps in preset["robust_linf_epsilons"]:
            rows.append(
                [model["label"], f"{eps:g}"]
                + [
                    _cell(model, results_lib.robust_key(eps, a), percent=True, digits=1)
                    for a in results_lib.ROBUST_ATTACKS
                ]
            )
    table = reporting.markdown_table(
        [
            "model",
            "L-inf eps",
            f"PGD ({preset['attack_steps']} steps)",
            f"APGD-CE ({preset['apgd_steps']})",
            f"APGD-T ({preset['apgd_targets']} targets)",
            f"Square ({preset['square_queries']} queries)",
            "AutoAttack-style union",
        ],
        rows,
    )
    checks = []
    largest = max(preset["robust_linf_epsilons"])
    for model in models.values():
        unbounded = _estimate(model, "robust_unbounded")
        short = _estimate(model, "robust_short_apgd")
        full = _estimate(model, results_lib.robust_key(largest, "apgd-ce"))
        pgd = _estimate(model, results_lib.robust_key(largest, "pgd"))
        square = _estimate(model, results_lib.robust_key(largest, "square"))
        best_gradient = min(
            (
                e.value
                for e in (full, _estimate(model, results_lib.robust_key(largest, "apgd-t")))
                if e
            ),
            default=None,
        )
        parts = []
        if unbounded is not None:
            parts.append(
                f"unbounded APGD-CE (L-inf 1): {unbounded.value:.1%} accuracy"
                + (" (reaches 0: yes)" if unbounded.value == 0 else " (**not 0**)")
            )
        if short is not None and full is not None:
            parts.append(
                f"APGD-CE at eps {largest:g} with {preset['apgd_steps'] // 10 or 1} "
                f"steps {short.value:.1%} vs {preset['apgd_steps']} steps "
                f"{full.value:.1%}"
                + (
                    " (more steps are not weaker: yes)"
                    if full.value <= short.value
                    else " (**more steps weaker**)"
                )
            )
        if pgd is not None and full is not None:
            parts.append(
                "APGD-CE at least as strong as PGD: "
                + ("yes" if full.value <= pgd.value else "**no**")
            )
        if square is not None and best_gradient is not None:
            gap = best_gradient - square.value
            parts.append(
                f"Square {square.value:.1%} vs best gradient attack "
                f"{best_gradient:.1%}: "
                + (
                    f"**Square stronger by {gap:.1%}: gradients are masked**"
                    if gap > 0.02
                    else "no sign of gradient masking"
                )
            )
        checks.append(f"- {model['label']}: " + "; ".join(parts) + ".")
    return table, "\n".join(checks)


def _protocol_text(results, preset):
    """The paper's protocol (z sampled at evaluation) beside ours (the encoder mean)."""
    models = {
        n: m
        for n, m in results["models"].items()
        if results_lib.sampled_key("accuracy") in m["metrics"]
    }
    if not models:
        return (
            "## The evaluation protocol: z sampled, as the paper evaluates\n\nNot in this preset."
        )
    key = results_lib.sampled_key
    rows = []
    for model in models.values():
        for eps in preset["protocol_linf_epsilons"]:
            rows.append(
                [
                    model["label"],
                    _cell(model, "accuracy", percent=True, digits=1),
                    _cell(model, key("accuracy"), percent=True, digits=1),
                    _cell(model, results_lib.targeted_key("linf", eps), percent=True, digits=1),
                    _cell(
                        model,
                        key("targeted", "linf", f"eps{eps:g}", "plain"),
                        percent=True,
                        digits=1,
                    ),
                    _cell(
                        model,
                        key("targeted", "linf", f"eps{eps:g}", "eot"),
                        percent=True,
                        digits=1,
                    ),
                    _cell(model, results_lib.robust_key(eps, "apgd-ce"), percent=True, digits=1),
                    _cell(
                        model, key("apgd", "linf", f"eps{eps:g}", "plain"), percent=True, digits=1
                    ),
                    _cell(
                        model, key("apgd", "linf", f"eps{eps:g}", "eot"), percent=True, digits=1
                    ),
                    _cell(model, "cw_success", percent=True, digits=1),
                    _cell(model, key("cw", "success"), percent=True, digits=1),
                ]
            )
    eps_text = ", ".join(f"{e:g}" for e in preset["protocol_linf_epsilons"])
    attacks_table = reporting.markdown_table(
        [
            "model",
            "accuracy, mean",
            "accuracy, sampled",
            f"targeted PGD (L-inf {eps_text}), mean",
            "targeted PGD, sampled",
            f"targeted PGD, sampled + EOT {preset['eot_samples']}",
            "APGD-CE accuracy, mean",
            "APGD-CE accuracy, sampled",
            f"APGD-CE accuracy, sampled + EOT {preset['eot_samples']}",
            "CW-L2 success, mean",
            "CW-L2 success, sampled",
        ],
        rows,
    )
    rows = []
    for model in models.values():
        for ood_set in results_lib.OOD_SETS + ("rotate_90", "gaussian_noise"):
            mean = results_lib.ood_key(ood_set, "rate", "auroc")
            if mean not in model["metrics"]:
                continue
            rows.append(
                [
                    model["label"],
                    results_lib.OOD_SET_LABELS[ood_set],
                    _cell(model, mean, percent=True, digits=1),
                    _cell(model, key("ood", ood_set, "rate", "auroc"), percent=True, digits=1),
                    _cell(
                        model,
                        results_lib.ood_key(ood_set, "entropy", "auroc"),
                        percent=True,
                        digits=1,
                    ),
                    _cell(model, key("ood", ood_set, "entropy", "auroc"), percent=True, digits=1),
                ]
            )
    ood_table = reporting.markdown_table(
        [
            "model",
            "OoD set",
            "R AUROC, mean",
            "R AUROC, one draw",
            "H AUROC, mean",
            "H AUROC, one draw",
        ],
        rows,
    )
    return (
        "## The evaluation protocol: z sampled, as the paper evaluates\n\n"
        "Appendix A.1: 'Samples from that distribution are passed into the classifier MLP'. "
        "The rest of this report evaluates at the encoder mean; here the same models are "
        "evaluated with z sampled, one draw per prediction (success and accuracy are counted "
        f"on one draw too), on the first {preset['protocol_examples']} test images "
        f"(CW-L2 on the first {preset['protocol_cw_examples']}). 'Sampled': the attack "
        "differentiates through one draw per step, as an attack that does not know the model "
        f"is random would; 'sampled + EOT': each step averages {preset['eot_samples']} draws "
        "(expectation over transformation, Athalye et al. 2018), the adaptive attack. Where "
        "'sampled' lowers the attack's success and 'sampled + EOT' restores it, the robustness "
        "came from noise in the forward pass (gradient obfuscation), not from the model.\n\n"
        + attacks_table
        + "\n\nTable 1's scores from one draw of z (the paper's R is "
        "computed from a sampled z) against the encoder mean:\n\n" + ood_table
    )


def _calibration_table(results):
    epochs = results["preset_calibration_epochs"]
    rows = []
    for name, model in results["models"].items():
        keys = [results_lib.ece_key(e) for e in epochs]
        rows.append(
            [model["label"]]
            + [_cell(model, k, percent=True, digits=2) for k in keys]
            + [_paper_cell(name, keys, "calibration")]
        )
    return reporting.markdown_table(
        ["model"] + [f"ECE after epoch {e}" for e in epochs] + ["paper"], rows
    )


def _memorization_table(results):
    rows = []
    for name, entry in results["memorization"].items():
        final = Estimate.from_dict(entry["final"])
        curve = ", ".join(f"{Estimate.from_dict(e).value:.0%}" for e in entry["curve"])
        rows.append(
            [
                entry["label"],
                final.format(percent=True, digits=1),
                f"{entry['chance_level']:.0%}",
                entry["num_examples"],
                curve,
                _paper_cell(name, ("memorization_final",), "memorization"),
            ]
        )
    return reporting.markdown_table(
        [
            "model",
            "final training accuracy on random labels",
            "chance",
            "images",
            "per epoch",
            "paper",
        ],
        rows,
    )


def _claims_table(results):
    rows = []
    for i, claim in enumerate(results["claims"], 1):
        paper = claim["paper_text"]
        rows.append(
            [
                i,
                f"{claim['statement']} ({claim['section']})",
                paper,
                claim["ours"],
                f"**{claim['verdict']}**",
                claim["rule"],
            ]
        )
    return reporting.markdown_table(
        ["#", "claim (paper section)", "paper", "ours", "verdict", "rule"], rows
    )


def _timing_text(results):
    timing = results["timing"]

    def both(key):
        wall, cpu = timing.get(f"{key}_seconds"), timing.get(f"{key}_cpu_seconds")
        if wall is None or not math.isfinite(wall):
            return "n/a"
        return f"{wall:.1f} s" + ("" if cpu is None else f" ({cpu:.1f} s of CPU)")

    parts = ", ".join(
        f"{part} {both(f'evaluate_{part}')}"
        for part in ("accuracy", "cw", "ood", "targeted")
        if f"evaluate_{part}_seconds" in timing
    )
    lines = [
        f"- Wall time of this invocation: {format_duration(results['wall_seconds'])} "
        f"({results['units_ran']} units ran, {results['units_cached']} found done).",
        f"- Per training epoch ({results['data_sizes']['train']} images, batch "
        f"{results['preset']['batch_size']}): {both('epoch_train')} of training steps, "
        f"{both('epoch')} with the held-out I(X;Z) estimate and the calibration snapshots.",
        f"- Per evaluation: {parts}.",
        f"- Per memorization run: {both('memorization')}.",
        "- Wall times depend on what else runs on the machine; the CPU seconds (summed over "
        "threads) do much less.",
    ]
    estimate = results["preset"].get("estimated_minutes")
    if estimate:
        lines.append(
            f"- The preset's recorded estimate: {estimate:g} minutes per seed "
            f"({results['preset'].get('estimate_note', '')})."
        )
    return "\n".join(lines)


def _baselines_text(results, preset):
    found = _baselines_tables(results)
    if found is None:
        return ""
    table, answers = found
    return (
        "\n\n### The rate beside the OoD detectors of OpenOOD\n\n"
        "AUROC (%) of every score on every set, with OpenOOD's grouping: near sets share the "
        "test images' content (vertical flip, 90-degree rotation), far sets do not (MNIST, "
        "U(0,1), Gaussian noise with the test pixels' mean and deviation). Mahalanobis "
        "(class means, one shared covariance) and KNN (k = 50, normalized features) are "
        f"fitted on the first {preset['reference_examples']} training images, on the "
        "backbone's features and on z (the encoder mean). Higher is better for every score "
        "here (each is oriented by its own direction).\n\n"
        + table
        + "\n\nDoes CEB0's rate beat the best baseline (the best AUROC of every other score, H "
        "included) on each set? 'Beats' and 'loses to' need the intervals apart; otherwise "
        "'ties with'.\n\n" + (answers or "CEB0 has no rate in this run.")
    )


def _robust_text(results, preset):
    found = _robust_table(results)
    if found is None:
        return "## Robust accuracy under the field's attacks\n\nNot in this preset."
    table, checks = found
    return (
        "## Robust accuracy under the field's attacks\n\n"
        f"Untargeted accuracy (%) of the first {preset['robust_examples']} test images under "
        "each attack, at the encoder mean (the deterministic forward pass the models run at "
        "inference): 7-step PGD as the paper, APGD-CE, APGD-T (targeted DLR over the top "
        "classes) and the gradient-free Square attack, each run on every image; the union "
        "counts an image robust only when APGD-CE, APGD-T and Square all fail (AutoAttack's "
        "standard version without FAB-T).\n\n"
        + table
        + "\n\nSanity checks (Carlini et al., 2019), measured:\n\n"
        + checks
    )


def format_report(results):
    """The markdown of `report.md`."""
    preset = results["preset"]
    information, targeted = _figure4_tables(results)
    table1, scores, cw = _table1_tables(results)
    verdicts = [c["verdict"] for c in results["claims"]]
    counts = ", ".join(
        f"{verdicts.count(v)} {v}" for v in claims_lib.VERDICTS if verdicts.count(v)
    )
    sections = [
        f"# Reproducing Fischer (2020), section 3.1, on Fashion-MNIST: preset `{preset['name']}`",
        f"`{results['command']}`\n\n{preset['description']}\n\n"
        f"Models: {', '.join(m['label'] for m in results['models'].values())}; "
        f'{preset["backbone"]} backbone, `head="{preset["head"]}"`, {preset["epochs"]} epochs, '
        f"batch {preset['batch_size']}, {results['data_sizes']['train']} training images; "
        f"Keras {results['environment']['keras']} on {results['environment']['backend']}.",
        "## How to read the numbers\n\n"
        + interval_text(results)
        + "\n\nThe paper's column holds the numbers the paper prints (Table 1 as printed; "
        "section 3.1.1's log 10), with their table or section; where the paper shows only a "
        "figure or a sentence, the column says so. The paper's FPR@95%TPR figures are not "
        "always consistent with its AUROCs (FPR 0.0 beside AUROC 90.7 for CEB0 on Vertical "
        "Flip: an FPR of 0 at 95% TPR bounds the AUROC below by 95%), so the verdicts judge "
        "detection by AUROC, and FPR is reported as measured.",
        f"## The paper's claims ({counts})\n\n" + _claims_table(results),
        "## Figure 4: accuracy, information and targeted robustness\n\n![Figure 4](figure4.png)"
        "\n\nThe I(X;Z) lower bound is the minibatch bound (at most log of the batch size), in "
        "nats; 'train' is its epoch mean in training, 'held-out' its value on "
        f"{preset['information_examples']} test images after each epoch. "
        + (
            "'Epochs at rho' leaves out the epochs of the rho anneal (which start at rho + "
            f"{preset['rho_anneal_offset']}), where the model is allowed more information."
            if preset.get("rho_anneal_offset") is not None
            else "This preset trains at rho from the first step (no anneal)."
        )
        + "\n\n"
        + information
        + f"\n\nTargeted PGD towards class {preset['target_class']} "
        f"('{results['class_names'][preset['target_class']]}'), {preset['attack_steps']} steps, "
        f"{preset['attack_examples']} test images, success among the clean-correct images not "
        "of the target class (%):\n\n" + targeted,
        "## Table 1: out-of-distribution detection\n\n![Table 1](table1.png)\n\n"
        f"In-distribution: the first {results['data_sizes']['ood_in']} test images, the "
        "positive class of every column but the last, which counts the OoD set as positive "
        "(OpenOOD v1.5's FPR@95%TPR; the paper and ODIN count the in-distribution set). Scores "
        "at the encoder mean; the paper's score is H for Determ and R for "
        "VIB and CEB. CW-L2: the successful adversarial examples of the first "
        f"{preset['cw_examples']} test images ({preset['cw_binary_search_steps']} binary-search "
        f"steps, {preset['cw_max_iterations']} iterations).\n\n"
        + table1
        + "\n\nEvery score, AUROC (%):\n\n"
        + scores
        + "\n\n"
        + cw
        + _baselines_text(results, preset),
        _robust_text(results, preset),
        _protocol_text(results, preset),
        "## Calibration (section 3.1.4)\n\n![ECE](ece.png)\n\n"
        f"On the first {preset['calibration_examples']} test images, {preset['calibration_bins']} "
        "bins; reliability diagrams with 90% intervals per bin: "
        + ", ".join(f"[{n}]({n})" for n in results["figures"] if n.startswith("calibration_"))
        + ".\n\n"
        + _calibration_table(results),
        "## Memorization (section 3.1.5)\n\n![Memorization](memorization.png)\n\n"
        f"{preset['memorization_examples']} training images with fixed random labels, "
        f"{preset['memorization_epochs']} epochs at the model's rho (no anneal); accuracy on "
        + (
            "those images"
            if not preset.get("memorization_accuracy_examples")
            else f"the first {preset['memorization_accuracy_examples']} of those images"
        )
        + " and their labels after each epoch, in inference mode.\n\n"
        + (_memorization_table(results) if results["memorization"] else "Not in this preset."),
        "## Time\n\n" + _timing_text(results),
        "## Files\n\n`results.json` (everything above, per seed too), `models/<model>_seed<k>/` "
        "(model.keras, history.json, calibration.npz, metrics.json, eval.npz, eval.json), "
        "`memorization/<model>_seed<k>/result.json`, and the PNGs.",
    ]
    return "\n\n".join(sections) + "\n"
