"""Side-by-side table of the numbers that decide the paper's claims, from several reproductions.

    python benchmarks/paper_fashion_mnist/compare_runs.py \
        seeds=<DIR>/seeds/results.json wrn=<DIR>/wrn/results.json --json out.json

Each argument is `NAME=PATH` of a `results.json` written by
`python -m benchmarks.paper fashion-mnist`.
For each (model, quantity) the table gives, per run, the value (the mean over seeds when a run
has several) and, for a run with several seeds, every seed's value and their range
(max - min): how far a claim's number moves across seeds. Quantities a run did not measure are
left out of its column. AUROC, accuracy and success rates in %, I(X;Z) in nats.
"""

import argparse
import json
import pathlib

# (key in results.json, label, scale): the quantities of the report's "where and why we differ".
QUANTITIES = (
    ("accuracy", "test accuracy", 100),
    ("i_xz_max_train_at_rho", "max I(X;Z), train, at rho (nats)", 1),
    ("targeted_linf_eps0.1", "targeted PGD success, L-inf 0.1", 100),
    ("targeted_l2_eps1", "targeted PGD success, L2 1", 100),
    ("ood_uniform_noise_{score}_auroc", "AUROC U(0,1), paper's score", 100),
    ("ood_mnist_{score}_auroc", "AUROC MNIST, paper's score", 100),
    ("ood_vertical_flip_{score}_auroc", "AUROC Vertical Flip, paper's score", 100),
    ("ood_cw_l2_{score}_auroc", "AUROC CW-L2, paper's score", 100),
    ("ood_uniform_noise_knn_auroc", "AUROC U(0,1), KNN on features", 100),
    ("ood_vertical_flip_knn_auroc", "AUROC Vertical Flip, KNN on features", 100),
    ("cw_success", "CW-L2 success", 100),
    ("robust_linf_eps0.03_autoattack", "robust accuracy, union, L-inf 0.03", 100),
    ("robust_linf_eps0.03_apgd-ce", "robust accuracy, APGD-CE, L-inf 0.03", 100),
    ("sampled_accuracy", "accuracy, z sampled", 100),
    ("sampled_targeted_linf_eps0.1_plain", "targeted PGD, z sampled, L-inf 0.1", 100),
    ("sampled_targeted_linf_eps0.1_eot", "targeted PGD, z sampled, EOT, L-inf 0.1", 100),
    ("sampled_cw_success", "CW-L2 success, z sampled", 100),
    ("ece_final", "ECE after the last epoch", 100),
)


def _key(template, model):
    return template.format(score=model["primary_score"])


def _final_ece(metrics):
    epochs = sorted(int(k[len("ece_epoch") :]) for k in metrics if k.startswith("ece_epoch"))
    return f"ece_epoch{epochs[-1]}" if epochs else None


def per_run(results):
    """`{(model, label): {"value": v, "seeds": [...]}}` of one results dict."""
    rows = {}
    for name, model in results["models"].items():
        for template, label, scale in QUANTITIES:
            key = (
                _final_ece(model["metrics"]) if template == "ece_final" else _key(template, model)
            )
            if key is None or key not in model["metrics"]:
                continue
            value = model["metrics"][key]["value"]
            if value is None:
                continue
            seeds = [s.get(key) for s in model.get("per_seed", [])]
            seeds = [None if s is None else s * scale for s in seeds]
            rows[(model["label"], label)] = {"value": value * scale, "seeds": seeds}
    return rows


def compare(runs):
    """Rows of the side-by-side table and a JSON-ready dict, for `{name: results}`."""
    tables = {name: per_run(results) for name, results in runs.items()}
    keys = []
    for table in tables.values():
        keys += [k for k in table if k not in keys]
    data, lines = [], []
    header = "| model | quantity | " + " | ".join(runs) + " |"
    lines += [header, "|" + "---|" * (2 + len(runs))]
    for key in keys:
        cells, entry = [], {"model": key[0], "quantity": key[1]}
        for name, table in tables.items():
            cell = table.get(key)
            if cell is None:
                cells.append("-")
                continue
            entry[name] = cell
            seeds = [s for s in cell["seeds"] if s is not None]
            if len(seeds) > 1:
                cells.append(
                    f"{cell['value']:.2f} ({', '.join(f'{s:.2f}' for s in seeds)}; "
                    f"range {max(seeds) - min(seeds):.2f})"
                )
            else:
                cells.append(f"{cell['value']:.2f}")
        data.append(entry)
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    return lines, data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "runs", nargs="+", metavar="NAME=PATH", help="a name for the column and a results.json"
    )
    parser.add_argument(
        "--json", type=pathlib.Path, default=None, help="also write the table as JSON here"
    )
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"each run must be NAME=PATH. Received: {item!r}")
        runs[name] = json.loads(pathlib.Path(path).read_text())
    lines, data = compare(runs)
    print("\n".join(lines))
    if args.json is not None:
        args.json.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
