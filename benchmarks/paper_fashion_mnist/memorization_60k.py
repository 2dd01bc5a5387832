"""Memorization at the paper's scale (issue 20, axis 7; section 3.1.5 of the paper).

Every Fashion-MNIST training image (60,000) with a fixed random label, 100 epochs, for each
model given, with the cpu preset's small convnet and settings: the reproducer's memorization
unit (`benchmarks.paper.runner.memorize`) at a larger size. Accuracy is measured after every
epoch, in inference mode, on the first 10,000 of those images (an unbiased estimate of the
accuracy on all 60,000, standard error under 0.5 points).

Each model is one resumable piece: its epochs are backed up in `--work` as they finish, so the
same command continues an interrupted model from its last epoch, and a finished model's record
is written to `--records` (committed) and never rerun. When every model given has a record,
`summary.md`, `summary.json` and `memorization.png` are written beside the records.

    python benchmarks/paper_fashion_mnist/memorization_60k.py \
        --models determ,ceb_rho0,ceb_rho5,vib_rho0,ceb_rho2

About 20 minutes a model on 2 CPU cores.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Run as a script from a clone: the repository root holds `benchmarks.paper`.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from benchmarks.paper import fashion_mnist  # noqa: E402
from benchmarks.paper import figures  # noqa: E402
from benchmarks.paper import presets  # noqa: E402
from benchmarks.paper import results as results_lib  # noqa: E402
from benchmarks.paper import runner  # noqa: E402
from benchmarks.paper import storage  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
MODELS = ("determ", "ceb_rho0", "ceb_rho5", "vib_rho0", "ceb_rho2")


def make_preset(models, examples, epochs, accuracy_examples):
    """The cpu preset with memorization at the given size."""
    return dataclasses.replace(
        fashion_mnist.CPU,
        name="cpu-memorization",
        memorization_models=tuple(models),
        memorization_examples=examples,
        memorization_epochs=epochs,
        memorization_accuracy_examples=accuracy_examples,
    )


def record_path(records, unit):
    return pathlib.Path(records) / f"{unit.folder_name}.json"


def finished_record(path, preset):
    """The committed record of a finished run with these settings, else `None`."""
    return storage.finished(path, "memorization_config", preset.memorization_config())


def first_epoch_above(curve, level):
    """The first epoch (1-based) whose accuracy exceeds `level`, else `None`."""
    return next((epoch for epoch, value in enumerate(curve, 1) if value > level), None)


def summarize(records, preset, out):
    """Writes `summary.json`, `summary.md` and `memorization.png` into `out`."""
    memorization = {}
    for name, record in records.items():
        spec = presets.model_spec(name)
        memorization[name] = {
            "label": spec.label,
            "objective": spec.objective,
            "rho": spec.rho,
            **results_lib.summarize_memorization([record], preset),
        }
    summary = {"preset": preset.to_dict(), "seeds": [0], "memorization": memorization}
    storage.write_json(out / "summary.json", summary)
    figures.plot_memorization(summary, out / "memorization.png")
    lines = [
        f"{preset.memorization_examples:,} Fashion-MNIST training images with fixed random "
        f"labels, {preset.memorization_epochs} epochs, the cpu preset's convnet "
        f"(batch {preset.batch_size}, Adam {preset.learning_rate:g}, cosine decay, no rho "
        "anneal); accuracy in inference mode on the first "
        f"{preset.memorization_accuracy_examples:,}"
        " of those images, with a 95% bootstrap interval over them. Chance is 10%.",
        "",
        f"| model | accuracy after epoch 1 | 10 | 30 | {preset.memorization_epochs} (final) "
        "| first epoch above 20% "
        "| first epoch above 50% | minutes (CPU) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in memorization.items():
        curve = records[name]["train_accuracy"]
        final = entry["final"]

        def at(epoch):
            return f"{curve[epoch - 1]:.1%}" if len(curve) >= epoch else "-"

        lines.append(
            f"| {entry['label']} | {at(1)} | {at(10)} | {at(30)} | {final['value']:.1%} "
            f"[{final['lower']:.1%}, {final['upper']:.1%}] | "
            f"{first_epoch_above(curve, 0.2) or 'never'} | "
            f"{first_epoch_above(curve, 0.5) or 'never'} | "
            f"{records[name]['seconds'] / 60:.0f} ({records[name]['cpu_seconds'] / 60:.0f}) |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", default=",".join(MODELS), help="comma-separated model names, run in this order"
    )
    parser.add_argument("--examples", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--accuracy-examples", type=int, default=10000)
    parser.add_argument(
        "--work",
        default="reproduce/memorization-60k",
        help="folder of the per-epoch backups of unfinished runs",
    )
    parser.add_argument(
        "--records",
        default=str(HERE / "memorization_60k"),
        help="folder of the finished runs' records and the summary",
    )
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    preset = make_preset(models, args.examples, args.epochs, args.accuracy_examples)
    records_dir = pathlib.Path(args.records)
    records_dir.mkdir(parents=True, exist_ok=True)
    data = fashion_mnist.load_data(preset, args.data_dir, download=False)
    records = {}
    for name in models:
        unit = presets.Unit("memorize", presets.model_spec(name), 0)
        path = record_path(records_dir, unit)
        record = finished_record(path, preset)
        if record is None:
            print(
                f"{time.strftime('%H:%M:%S')} memorizing {name}: {preset.memorization_examples}"
                f" images, {preset.memorization_epochs} epochs",
                flush=True,
            )
            record = runner.memorize(unit, preset, data, args.work)
            storage.write_json(path, record)
            print(
                f"{time.strftime('%H:%M:%S')} {name}: final accuracy "
                f"{record['train_accuracy'][-1]:.3f} in {record['seconds'] / 60:.1f} min",
                flush=True,
            )
        records[name] = record
    summary = summarize(records, preset, records_dir)
    print(json.dumps({n: e["final"] for n, e in summary["memorization"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
