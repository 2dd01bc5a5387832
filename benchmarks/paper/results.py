"""Gathers the records of every unit into the results of a reproduction, each with its interval.

Per model, every number is a mean over seeds with a t-interval when there are two or more seeds
(`statistics.t_interval`); with one seed, the numbers that are functions of per-example values
get a percentile bootstrap over the test examples (`statistics.bootstrap_intervals`), and the
maximum of the I(X;Z) bound over training gets none.

Metric keys (`results["models"][name]["metrics"][key]`, each an `Estimate` dict):

- `accuracy`;
- `i_xz_max_train`, `i_xz_max_test`: the maximum over all epochs of the per-epoch I(X;Z) lower
  bound, in training (the epoch mean of the minibatch bound) and on held-out test images;
  `i_xz_max_train_at_rho`, `i_xz_max_test_at_rho`: the same over the epochs trained at the
  model's rho (after the anneal);
- `targeted_{linf,l2}_eps{eps}`: targeted PGD success;
- `ood_{set}_{score}_{fpr_at_95_tpr,auroc,aupr_in,fpr_at_95_tpr_ood_positive}` and
  `cw_success`;
- `robust_linf_eps{eps}_{attack}`: untargeted accuracy under `pgd`, `apgd-ce`, `apgd-t`,
  `square` and their union `autoattack` (the models of `robust_models`), and
  `robust_unbounded`, `robust_short_apgd`: the sanity checks;
- `ece_epoch{k}`: ECE after epoch k.
"""

import math

import numpy as np

from benchmarks.paper import measurements
from benchmarks.paper import statistics
from benchmarks.paper import storage
from keras_ceb import evaluation

OOD_SETS = ("uniform_noise", "mnist", "vertical_flip", measurements.CW_SET)  # Table 1's order
OOD_SET_LABELS = {
    "uniform_noise": "U(0,1)",
    "mnist": "MNIST",
    "vertical_flip": "Vertical Flip",
    measurements.CW_SET: "CW-L2",
}
# FPR@95%TPR with the in-distribution set positive (the paper's and ODIN's convention), AUROC,
# AUPR-In, and FPR@95%TPR with the OoD set positive (OpenOOD v1.5's).
OOD_METRICS = ("fpr_at_95_tpr", "auroc", "aupr_in", "fpr_at_95_tpr_ood_positive")
SCORES = ("rate", "entropy", "max_softmax")
SCORE_LABELS = {"rate": "R", "entropy": "H", "max_softmax": "max-softmax"}
# OpenOOD's baselines beside the paper's scores, and its near and far sets.
BASELINE_SCORES = (
    "max_softmax",
    "max_logit",
    "energy",
    "mahalanobis",
    "mahalanobis_z",
    "knn",
    "knn_z",
)
ALL_SCORES = ("rate", "entropy") + BASELINE_SCORES
SCORE_LABELS.update(
    {
        "max_logit": "max-logit",
        "energy": "energy",
        "mahalanobis": "Mahalanobis",
        "mahalanobis_z": "Mahalanobis (z)",
        "knn": "KNN",
        "knn_z": "KNN (z)",
    }
)
STANDARD_OOD_SETS = ("vertical_flip", "rotate_90", "mnist", "uniform_noise", "gaussian_noise")
OOD_SET_LABELS.update({"rotate_90": "Rotation 90", "gaussian_noise": "Gaussian"})
ROBUST_ATTACKS = measurements.ROBUST_ATTACKS + (measurements.AUTOATTACK,)
INFORMATION_KEYS = (
    "i_xz_max_train",
    "i_xz_max_test",
    "i_xz_max_train_at_rho",
    "i_xz_max_test_at_rho",
)


def targeted_key(norm, eps):
    """`targeted_linf_eps0.1`.

    Examples:

        >>> targeted_key("l2", 2.0)
        'targeted_l2_eps2'
    """
    return f"targeted_{norm}_eps{eps:g}"


def ood_key(ood_set, score, metric):
    """`ood_mnist_rate_auroc`."""
    return f"ood_{ood_set}_{score}_{metric}"


def robust_key(eps, attack):
    """`robust_linf_eps0.1_apgd-ce`."""
    return f"robust_linf_eps{eps:g}_{attack}"


def sampled_key(*parts):
    """`sampled_targeted_linf_eps0.1_eot`: a metric of the sampled protocol."""
    return "_".join(
        ("sampled",) + tuple(f"{p:g}" if isinstance(p, float) else str(p) for p in parts)
    )


def ece_key(epoch):
    """`ece_epoch10`."""
    return f"ece_epoch{epoch}"


def _max(values):
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return max(finite) if finite else math.nan


def information_maxima(history, rho):
    """The four I(X;Z) maxima of one history (NaN where the model logs no bound).

    Examples:

        >>> information_maxima({"i_xz_lower": [2.5, 2.1, 2.2], "val_i_xz_lower": [2.4, 2.0, 2.1],
        ...                     "rho": [3.0, 0.0, 0.0]}, 0.0)["i_xz_max_train_at_rho"]
        2.2
    """
    at_rho = [rho is None or abs(r - rho) < 1e-6 for r in history.get("rho", [])]
    result = {}
    for name, key in (("train", "i_xz_lower"), ("test", "val_i_xz_lower")):
        values = history.get(key) or []
        result[f"i_xz_max_{name}"] = _max(values)
        mask = at_rho if len(at_rho) == len(values) else [True] * len(values)
        result[f"i_xz_max_{name}_at_rho"] = _max([v for v, m in zip(values, mask) if m])
    return result


def _ece(confidence, correct, num_bins):
    """ECE from per-example confidence and correctness, binned as `evaluation.calibration`."""
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, num_bins - 1)
    confidence_sums = np.bincount(index, weights=confidence, minlength=num_bins)
    correct_sums = np.bincount(index, weights=correct, minlength=num_bins)
    return float(np.sum(np.abs(correct_sums - confidence_sums)) / len(confidence))


def ood_point_metrics(in_scores, out_scores, higher_is_in_distribution):
    """FPR@95%TPR, AUROC, AUPR-In and the OoD-positive FPR@95%TPR exactly as
    `evaluation.ood_metrics` computes them (ties included), from a single sort: the
    bootstrap's inner loop, without the checks.

    Examples:

        >>> ood_point_metrics(np.array([1.0, 2.0, 3.0]), np.array([2.5, 8.0, 9.0]), False)
        (0.3333333333333333, 0.8888888888888888, 0.9166666666666666, 0.3333333333333333)
    """
    sign = 1.0 if higher_is_in_distribution else -1.0
    positive, negative = sign * np.asarray(in_scores), sign * np.asarray(out_scores)
    num_positive, num_negative = positive.size, negative.size
    scores = np.concatenate([positive, negative])
    order = np.argsort(-scores, kind="mergesort")
    is_positive = (order < num_positive).astype("float64")
    ends = np.r_[np.flatnonzero(np.diff(scores[order])), scores.size - 1]
    true_pos = np.cumsum(is_positive)[ends]
    false_pos = ends + 1.0 - true_pos
    aupr_in = float(
        np.sum(np.diff(true_pos / num_positive, prepend=0.0) * true_pos / (ends + 1.0))
    )
    # Each positive beats the negatives of later groups and ties those of its own group.
    group_negatives = np.diff(false_pos, prepend=0.0)
    wins = np.diff(true_pos, prepend=0.0) * (num_negative - false_pos + 0.5 * group_negatives)
    auroc = float(np.sum(wins) / (num_positive * num_negative))
    needed = max(1, math.ceil(round(0.95 * num_positive, 6)))
    threshold = -np.partition(-positive, needed - 1)[needed - 1]
    # OpenOOD's: the threshold that flags 95% of the OoD set (the lowest scores) as OoD.
    flagged = max(1, math.ceil(round(0.95 * num_negative, 6)))
    ood_threshold = np.partition(negative, flagged - 1)[flagged - 1]
    return (
        float(np.mean(negative >= threshold)),
        auroc,
        aupr_in,
        float(np.mean(positive <= ood_threshold)),
    )


def _ood_statistic(direction):
    def statistic(in_scores, out_scores):
        return ood_point_metrics(in_scores, out_scores, direction)

    return statistic


def _fraction(success, counted):
    count = int(counted.sum())
    return float(success[counted].mean()) if count else math.nan


def seed_values(entry, data, preset):
    """The point value of every metric of one (model, seed), from its records and arrays."""
    record, history = entry["evaluation"], entry["history"]
    values = {"accuracy": record["accuracy"]}
    values.update(information_maxima(history, entry["rho"]))
    for norm, rows in record["targeted"].items():
        for row in rows:
            values[targeted_key(norm, row["eps"])] = row["success"]
    for ood_set, by_score in record["ood"].items():
        for score, metrics in by_score.items():
            for metric in OOD_METRICS:
                values[ood_key(ood_set, score, metric)] = metrics.get(metric)
    if "cw" in record:
        values["cw_success"] = record["cw"]["success"]
    if "robust" in record:
        for row in record["robust"]["linf"]:
            for attack in ROBUST_ATTACKS:
                values[robust_key(row["eps"], attack)] = row[attack]
        values["robust_unbounded"] = record["robust"]["sanity"]["unbounded_accuracy"]
        values["robust_short_apgd"] = record["robust"]["sanity"]["short_apgd_accuracy"]
    if "sampled" in record:
        sampled = record["sampled"]
        values[sampled_key("accuracy")] = sampled["accuracy"]
        for ood_set, by_score in sampled["ood"].items():
            for score, metrics in by_score.items():
                for metric in OOD_METRICS:
                    values[sampled_key("ood", ood_set, score, metric)] = metrics.get(metric)
        for kind in ("targeted", "apgd"):
            for row in sampled[kind]:
                for protocol in ("plain", "eot"):
                    values[sampled_key(kind, "linf", f"eps{row['eps']:g}", protocol)] = row[
                        protocol
                    ]
        if "cw" in sampled:
            values[sampled_key("cw", "success")] = sampled["cw"]["success"]
    labels = data.y_test[: preset.calibration_examples]
    for epoch, probs in entry["calibration"].items():
        values[ece_key(epoch)] = evaluation.expected_calibration_error(
            probs, labels, preset.calibration_bins
        )
    return {k: (math.nan if v is None else float(v)) for k, v in values.items()}


def bootstrap_values(entry, data, preset):
    """Bootstrap `Estimate`s of the per-example metrics of one (model, seed)."""
    arrays, record = entry["arrays"], entry["evaluation"]
    kwargs = dict(
        resamples=preset.bootstrap_resamples,
        seed=preset.bootstrap_seed,
        confidence=preset.confidence,
    )
    result = {"accuracy": statistics.bootstrap_interval(np.mean, [(arrays["correct"],)], **kwargs)}
    counted = arrays["targeted_counted"]
    for norm, rows in record["targeted"].items():
        for i, row in enumerate(rows):
            result[targeted_key(norm, row["eps"])] = statistics.bootstrap_interval(
                _fraction, [(arrays[f"targeted_{norm}_{i}_hit"], counted)], **kwargs
            )
    for ood_set, by_score in record["ood"].items():
        for score in by_score:
            direction = evaluation.SCORE_DIRECTIONS[score]
            estimates = statistics.bootstrap_intervals(
                _ood_statistic(direction),
                [
                    (arrays.get(f"ood_{ood_set}_in_{score}", arrays[f"ood_in_{score}"]),),
                    (arrays[f"ood_{ood_set}_{score}"],),
                ],
                **kwargs,
            )
            for metric, estimate in zip(OOD_METRICS, estimates):
                result[ood_key(ood_set, score, metric)] = estimate
    if "cw_success" in arrays:
        result["cw_success"] = statistics.bootstrap_interval(
            _fraction, [(arrays["cw_success"], arrays["cw_counted"])], **kwargs
        )
    if "robust" in record:
        for i, row in enumerate(record["robust"]["linf"]):
            for attack in ROBUST_ATTACKS:
                result[robust_key(row["eps"], attack)] = statistics.bootstrap_interval(
                    np.mean, [(arrays[f"robust_linf_{i}_{attack}"],)], **kwargs
                )
    if "sampled" in record:
        sampled = record["sampled"]
        result[sampled_key("accuracy")] = statistics.bootstrap_interval(
            np.mean, [(arrays["sampled_correct"],)], **kwargs
        )
        for ood_set, by_score in sampled["ood"].items():
            for score in by_score:
                estimates = statistics.bootstrap_intervals(
                    _ood_statistic(evaluation.SCORE_DIRECTIONS[score]),
                    [
                        (arrays[f"sampled_ood_in_{score}"],),
                        (arrays[f"sampled_ood_{ood_set}_{score}"],),
                    ],
                    **kwargs,
                )
                for metric, estimate in zip(OOD_METRICS, estimates):
                    result[sampled_key("ood", ood_set, score, metric)] = estimate
        for i, row in enumerate(sampled["targeted"]):
            for protocol in ("plain", "eot"):
                result[sampled_key("targeted", "linf", f"eps{row['eps']:g}", protocol)] = (
                    statistics.bootstrap_interval(
                        _fraction,
                        [
                            (
                                arrays[f"sampled_targeted_{i}_{protocol}_hit"],
                                arrays["sampled_targeted_counted"],
                            )
                        ],
                        **kwargs,
                    )
                )
        for i, row in enumerate(sampled["apgd"]):
            for protocol in ("plain", "eot"):
                result[sampled_key("apgd", "linf", f"eps{row['eps']:g}", protocol)] = (
                    statistics.bootstrap_interval(
                        np.mean, [(arrays[f"sampled_apgd_{i}_{protocol}_correct"],)], **kwargs
                    )
                )
        if "cw" in sampled:
            result[sampled_key("cw", "success")] = statistics.bootstrap_interval(
                _fraction, [(arrays["sampled_cw_success"], arrays["sampled_cw_counted"])], **kwargs
            )
    labels = np.asarray(data.y_test[: preset.calibration_examples])
    for epoch, probs in entry["calibration"].items():
        confidence = probs.max(axis=1).astype("float64")
        correct = (probs.argmax(axis=1) == labels).astype("float64")
        result[ece_key(epoch)] = statistics.bootstrap_interval(
            lambda c, k: _ece(c, k, preset.calibration_bins), [(confidence, correct)], **kwargs
        )
    return result


def load_entry(unit, out):
    """The records and arrays of one trained and evaluated (model, seed)."""
    folder = storage.model_folder(out, unit)
    calibration = storage.read_arrays(folder / storage.CALIBRATION_FILE) or {}
    return {
        "model": unit.spec.name,
        "rho": unit.spec.rho,
        "seed": unit.seed,
        "trained": storage.read_json(folder / storage.TRAINED_MARKER),
        "history": storage.read_json(folder / storage.HISTORY_FILE) or {},
        "evaluation": storage.read_json(folder / storage.EVAL_MARKER),
        "arrays": storage.read_arrays(folder / storage.EVAL_ARRAYS),
        "calibration": {int(k.split("_")[1]): v for k, v in sorted(calibration.items())},
    }


def summarize_model(entries, data, preset):
    """The metrics of one model over its seeds, each an `Estimate`."""
    per_seed = [seed_values(entry, data, preset) for entry in entries]
    keys = [k for k in per_seed[0]]
    if len(entries) >= 2:
        # Every quantity but the I(X;Z) bound (nats) is a proportion or a rate in [0, 1].
        return {
            k: statistics.t_interval(
                [v.get(k, math.nan) for v in per_seed],
                preset.confidence,
                bounds=None if k.startswith("i_xz") else (0.0, 1.0),
            )
            for k in keys
        }, per_seed
    summary = {
        k: statistics.Estimate(v, confidence=preset.confidence) for k, v in per_seed[0].items()
    }
    summary.update(bootstrap_values(entries[0], data, preset))
    return summary, per_seed


def summarize_memorization(records, preset):
    """Training accuracy on random labels per epoch, and at the end, each an `Estimate`."""
    epochs = len(records[0]["train_accuracy"])
    kwargs = dict(
        resamples=preset.bootstrap_resamples,
        seed=preset.bootstrap_seed,
        confidence=preset.confidence,
    )
    curve = []
    for epoch in range(epochs):
        values = [r["train_accuracy"][epoch] for r in records]
        if len(records) >= 2:
            curve.append(statistics.t_interval(values, preset.confidence, bounds=(0.0, 1.0)))
        else:
            # The accuracy is a proportion of the images it was measured on.
            n = records[0].get("accuracy_examples", records[0]["num_examples"])
            curve.append(
                statistics.proportion_bootstrap_interval(int(round(values[0] * n)), n, **kwargs)
            )
    return {
        "chance_level": records[0]["chance_level"],
        "num_examples": records[0]["num_examples"],
        "accuracy_examples": records[0].get("accuracy_examples", records[0]["num_examples"]),
        "seeds": [r["seed"] for r in records],
        "curve": [e.to_dict() for e in curve],
        "final": curve[-1].to_dict(),
        "per_seed": [r["train_accuracy"] for r in records],
    }


def timing(entries_by_model, memorization_records):
    """Measured seconds, wall and CPU (all threads; what an unloaded machine would need in
    wall time, times its number of busy cores): per epoch (training steps; with the held-out
    estimates), per evaluation part, per memorization run; means over every model and seed."""
    lists = {}

    def add(key, values):
        lists.setdefault(key, []).extend(v for v in values if v is not None)

    for entries in entries_by_model.values():
        for entry in entries:
            trained = entry["trained"] or {}
            for key in (
                "epoch_train_seconds",
                "epoch_seconds",
                "epoch_train_cpu_seconds",
                "epoch_cpu_seconds",
            ):
                add(key, trained.get(key, []))
            record = entry["evaluation"] or {}
            add("evaluate_seconds", [record.get("evaluate_seconds")])
            for kind in ("seconds", "cpu_seconds"):
                for part, seconds in (record.get(kind) or {}).items():
                    add(f"evaluate_{part}_{kind}", [seconds])
    for record in memorization_records:
        add("memorization_seconds", [record.get("seconds")])
        add("memorization_cpu_seconds", [record.get("cpu_seconds")])
    return {
        key: (sum(values) / len(values) if values else math.nan) for key, values in lists.items()
    }


def gather(units, preset, data, out):
    """The results of the plan's units from the output folder.

    Returns:
        A dict with `models` (per model: `label`, `objective`, `rho`, `seeds`, `metrics` of
        `Estimate` dicts, `per_seed` values, `primary_score`), `memorization` (per model) and
        `timing`.
    """
    entries = {}
    for unit in units:
        if unit.kind == "evaluate":
            entries.setdefault(unit.spec.name, (unit.spec, []))[1].append(load_entry(unit, out))
    models_result = {}
    for name, (spec, model_entries) in entries.items():
        summary, per_seed = summarize_model(model_entries, data, preset)
        models_result[name] = {
            "label": spec.label,
            "objective": spec.objective,
            "rho": spec.rho,
            "seeds": [e["seed"] for e in model_entries],
            "primary_score": measurements.primary_score(spec.objective),
            "metrics": {k: v.to_dict() for k, v in summary.items()},
            "per_seed": per_seed,
        }
    memorization_records = {}
    for unit in units:
        if unit.kind == "memorize":
            record = storage.read_json(
                storage.memorization_folder(out, unit) / storage.MEMORIZATION_FILE
            )
            memorization_records.setdefault(unit.spec.name, (unit.spec, []))[1].append(record)
    memorization = {}
    for name, (spec, records) in memorization_records.items():
        memorization[name] = {
            "label": spec.label,
            "objective": spec.objective,
            "rho": spec.rho,
            **summarize_memorization(records, preset),
        }
    all_memorization = [r for _, records in memorization_records.values() for r in records]
    return {
        "models": models_result,
        "memorization": memorization,
        "timing": timing({k: v[1] for k, v in entries.items()}, all_memorization),
    }


def estimate(results, model, key):
    """The `Estimate` of `key` for `model` in `results`, or `None` when not measured.

    Examples:

        >>> results = {"models": {"ceb_rho0": {"metrics": {"accuracy": {"value": 0.9}}}}}
        >>> (estimate(results, "ceb_rho0", "accuracy").value,
        ...  estimate(results, "determ", "accuracy"))
        (0.9, None)
    """
    data = results.get("models", {}).get(model, {}).get("metrics", {}).get(key)
    if data is None:
        return None
    value = statistics.Estimate.from_dict(data)
    return value if math.isfinite(value.value) else None
