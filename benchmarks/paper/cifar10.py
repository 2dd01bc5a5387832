"""`python -m benchmarks.paper cifar10`: the paper's CIFAR-10 experiment (sec. 3.1.6, Figure 6).

Trains CEB at rho = 0 ("CEB0"), CEB at rho = 5 ("CEB5") and Determ (the same network with
z = mu(x)), each by `keras-ceb train --dataset cifar10` with the paper's recipe
(`keras_ceb.training.recipe_presets.CIFAR10_RECIPE`): a Wide ResNet without BatchNorm, a 4-d
Gaussian `StochasticEncoder` and
bidirectional CatGen CEB (eq. 26) through `CatGenHead(num_classes=10)`, AutoAugment's CIFAR-10
policy, Adam at 1e-3 divided by 10 at 1/2 and 3/4 of training. Each model is evaluated with the
consistent classifier `softmax_y log b(z|y)` (the head's logits) on the CIFAR-10 test set and,
when it is prepared, on CIFAR-10.1 (the paper: 97.51% and 93.6% for CEB0). Robustness as in
Figure 6: untargeted PGD in L-inf and L2, 7 steps, over a sweep of radii, on every model, and
transfer attacks crafted on CEB5 and on Determ and scored on CEB0. Writes one folder per seed
and model (the outputs of `keras-ceb train`), `results.json`, `report.md` and `figure6.png`.

    python -m benchmarks.paper cifar10 --preset cpu --out runs/cifar10_cpu   # a smoke run, minutes
    python -m benchmarks.paper cifar10 --preset gpu --out runs/cifar10_gpu   # the real recipe, GPU

The sweep is `keras_ceb.attacks.epsilon_sweep(..., cumulative=True)`: a success at a smaller
radius counts at the larger ones (an upper bound on the robustness at each radius). Presets
(`PRESETS`): `cpu` is a smoke run (a WRN-10-2 on 2,048 training images for 2 epochs, attacks on
100 test images: about 5 minutes on 2 busy CPU cores) that shows the pipeline works, not the
paper's numbers; `gpu` is the real recipe (WRN-28-10, all 50,000 images, 800 epochs of batch
250, attacks on 1,000 test images), days on one accelerator. `--wrn-depth`, `--epochs`, ...
override a preset. Finished models are reused when the command runs again (an interrupted
training resumes, as `keras-ceb train` does); the evaluation is redone.

CIFAR-10 and CIFAR-10.1 come from tensorflow-datasets, prepared beforehand (`tfds build cifar10`
and `tfds build cifar10_1` on a machine with internet access) and found through `--data-dir` or
`$TFDS_DATA_DIR`; nothing is downloaded.
"""

import dataclasses
import math
import os
import pathlib
import platform
import time

import numpy as np

from keras_ceb.commands import arguments

NAME = "cifar10"
HELP = (
    "the paper's section 3.1.6 on CIFAR-10: CEB0, CEB5 and Determ Wide ResNets, CIFAR-10.1, "
    "PGD and transfer attacks (Figure 6)"
)
PRESETS_HELP = (
    "cpu: a smoke run in minutes (WRN-10-2, 2,048 images); gpu: the real recipe "
    "(WRN-28-10, 800 epochs), for an accelerator"
)
OVERRIDES = (
    "wrn_depth",
    "wrn_width",
    "epochs",
    "batch_size",
    "max_train_examples",
    "max_test_examples",
    "attack_examples",
    "linf_epsilons",
    "l2_epsilons",
)
# (name, objective, rho) of the models of Figure 6.
MODELS = (("ceb0", "ceb", 0.0), ("ceb5", "ceb", 5.0), ("determ", "determ", 0.0))
TRANSFER_SOURCES = ("ceb5", "determ")
TRANSFER_TARGET = "ceb0"
ATTACK_STEPS = 7
NORMS = ("linf", "l2")


@dataclasses.dataclass(frozen=True)
class Preset:
    """The scale of a reproduction run.

    Attributes:
        name: The preset's name.
        description: One line on what the preset is for.
        wrn_depth: Wide ResNet depth, 6n+4.
        wrn_width: Wide ResNet widening factor.
        epochs: Training epochs of each model.
        batch_size: Training batch size (also the CatGen minibatch).
        max_train_examples: Train on the first N images (`None`: all 50,000).
        max_test_examples: Evaluate on the first N test images (`None`: all 10,000).
        attack_examples: Attack the first N test images.
        linf_epsilons: L-inf radii of the sweep, on images in [0, 1].
        l2_epsilons: L2 radii of the sweep.
    """

    name: str
    description: str
    wrn_depth: int
    wrn_width: int
    epochs: int
    batch_size: int
    max_train_examples: object
    max_test_examples: object
    attack_examples: int
    linf_epsilons: tuple
    l2_epsilons: tuple


PRESETS = {
    "cpu": Preset(
        "cpu",
        "smoke run on a CPU (minutes): the pipeline end to end, not the paper's numbers",
        wrn_depth=10,
        wrn_width=2,
        epochs=2,
        batch_size=64,
        max_train_examples=2048,
        max_test_examples=1000,
        attack_examples=100,
        linf_epsilons=(2 / 255, 8 / 255),
        l2_epsilons=(0.25, 1.0),
    ),
    "gpu": Preset(
        "gpu",
        "the paper's recipe at scale, on an accelerator (days)",
        wrn_depth=28,
        wrn_width=10,
        epochs=800,
        batch_size=250,
        max_train_examples=None,
        max_test_examples=None,
        attack_examples=1000,
        linf_epsilons=(1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255, 32 / 255),
        l2_epsilons=(0.25, 0.5, 1.0, 2.0, 4.0),
    ),
}


def add_arguments(parser):
    """The preset overrides of `python -m benchmarks.paper cifar10` (and the shared options)."""
    overrides = parser.add_argument_group("overrides of the preset")
    for flag, kind, metavar, help_text in (
        ("--wrn-depth", arguments.positive_int, "DEPTH", "Wide ResNet depth, 6n+4"),
        ("--wrn-width", arguments.positive_int, "K", "Wide ResNet widening factor"),
        ("--epochs", arguments.positive_int, "N", "training epochs of each model"),
        ("--batch-size", arguments.positive_int, "N", "training batch size"),
        ("--max-train-examples", arguments.positive_int, "N", "train on the first N images"),
        (
            "--max-test-examples",
            arguments.positive_int,
            "N",
            "evaluate on the first N test images",
        ),
        ("--attack-examples", arguments.positive_int, "N", "attack the first N test images"),
        (
            "--linf-epsilons",
            _epsilons,
            "EPS,...",
            "L-inf radii, comma-separated, on [0, 1] images (e.g. 0.0078,0.0314)",
        ),
        ("--l2-epsilons", _epsilons, "EPS,...", "L2 radii, comma-separated"),
    ):
        overrides.add_argument(flag, type=kind, default=None, metavar=metavar, help=help_text)


def run_options(args):
    """The keyword arguments of `run` that come from `add_arguments`'s options."""
    return {
        "overrides": {
            key: getattr(args, key) for key in OVERRIDES if getattr(args, key, None) is not None
        }
    }


def _epsilons(text):
    import argparse

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive finite radii, got {text!r}")
    return tuple(sorted(values))


def get_preset(preset, overrides=None):
    """A preset by name (or a `Preset`), with `overrides` (a dict of its fields) applied.

    Examples:

        >>> get_preset("cpu", {"epochs": 1}).epochs
        1
    """
    if not isinstance(preset, Preset):
        if preset not in PRESETS:
            raise ValueError(
                f"`preset` must be one of {tuple(PRESETS)} or a Preset. "
                f"Received: preset={preset!r}"
            )
        preset = PRESETS[preset]
    unknown = sorted(set(overrides or {}) - set(OVERRIDES))
    if unknown:
        raise ValueError(f"Unknown preset overrides. Received: overrides={unknown}")
    return dataclasses.replace(preset, **(overrides or {}))


def default_out(preset):
    """`reproduce/cifar10-<preset>`."""
    return pathlib.Path("reproduce") / f"{NAME}-{preset.name}"


def describe_plan(preset, seeds):
    """Lines describing the plan of `preset` with `seeds` seeds (for `--dry-run`)."""
    preset = get_preset(preset)
    lines = [
        f"preset {preset.name}: {preset.description}",
        f"models: {', '.join(name for name, _, _ in MODELS)} (WRN-{preset.wrn_depth}-"
        f"{preset.wrn_width}, {preset.epochs} epochs of batch {preset.batch_size}), "
        f"{seeds} seed(s)",
        f"attacks: untargeted PGD, {ATTACK_STEPS} steps, on {preset.attack_examples} test "
        f"images; transfers {', '.join(TRANSFER_SOURCES)} -> {TRANSFER_TARGET}",
    ]
    fields = dataclasses.asdict(preset)
    lines.append(
        "settings: "
        + ", ".join(f"{k}={v}" for k, v in fields.items() if k not in ("name", "description"))
    )
    return lines


def train_config(objective, rho, preset, seed, folder, data_dir, verbose):
    """The `TrainConfig` of one model of the experiment (`keras-ceb train --dataset cifar10`
    with the preset's sizes)."""
    from keras_ceb.training import TrainConfig

    return TrainConfig(
        dataset="cifar10",
        objective=objective,
        rho=rho,
        backbone="wide_resnet",
        wrn_depth=preset.wrn_depth,
        wrn_width=preset.wrn_width,
        epochs=preset.epochs,
        batch_size=preset.batch_size,
        seed=seed,
        out=folder,
        verbose=verbose,
        download=False,
        max_train_examples=preset.max_train_examples,
        max_test_examples=preset.max_test_examples,
        data_dir=data_dir,
    )


def train_command(config):
    """The `keras-ceb train` command line that trains what `config` describes."""
    defaults = type(config)().to_dict()
    words = ["keras-ceb", "train"]
    for key, value in config.to_dict().items():
        if value == defaults[key] and key not in ("objective", "rho"):  # Those two always.
            continue
        if key == "download":
            words.append("--no-download")
        elif key == "overwrite":
            words.append("--overwrite")
        else:
            words += [
                "--" + key.replace("_", "-"),
                f"{value:g}" if isinstance(value, float) else str(value),
            ]
    return " ".join(words)


def hardware():
    """A description of the machine that ran the experiment."""
    import keras

    description = {
        "backend": keras.backend.backend(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "accelerators": [],
    }
    try:
        import tensorflow as tf

        description["accelerators"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except ImportError:
        pass
    return description


def _train_or_reuse(config):
    """Trains one model with `keras_ceb.training.train` (resuming an unfinished run), or
    reuses a finished one; returns its `metrics.json`."""
    import json

    from keras_ceb import run_folder
    from keras_ceb.training import train

    if run_folder.train_state(config.out) == run_folder.FINISHED:
        print(f"reusing the finished run in {config.out}")
        return json.loads((config.out / "metrics.json").read_text())
    return train(config).metrics


def _evaluate_seed(trained, x_attack, y_attack, preset, seed, batch_size):
    """Sweeps and transfers for the models of one seed."""
    from keras_ceb import attacks

    epsilons = {"linf": list(preset.linf_epsilons), "l2": list(preset.l2_epsilons)}
    kwargs = {"steps": ATTACK_STEPS, "seed": seed, "batch_size": batch_size}
    sweeps, transfers = {}, {}
    for name, model in trained.items():
        clean = float(np.mean(attacks.predict_classes(model, x_attack) == y_attack))
        for norm in NORMS:
            print(f"PGD {norm}, {ATTACK_STEPS} steps, on {name}: eps {epsilons[norm]}")
            rows = attacks.epsilon_sweep(
                model, x_attack, y_attack, epsilons[norm], norm=norm, cumulative=True, **kwargs
            )
            sweeps.setdefault(name, {})[norm] = [{"eps": 0.0, "accuracy": clean}] + [
                {
                    key: row[key]
                    for key in (
                        "eps",
                        "accuracy",
                        "untargeted_success",
                        "untargeted_count",
                        "step_size",
                    )
                }
                for row in rows
            ]
    for source in TRANSFER_SOURCES:
        for norm in NORMS:
            rows = []
            for eps in epsilons[norm]:
                result = attacks.transfer_attack(
                    trained[source],
                    trained[TRANSFER_TARGET],
                    x_attack,
                    y_attack,
                    eps=eps,
                    norm=norm,
                    **kwargs,
                )
                rows.append(
                    {
                        "eps": eps,
                        "source_accuracy": result["source"]["accuracy"],
                        "target_accuracy": result["target"]["accuracy"],
                    }
                )
            transfers.setdefault(f"{source}_to_{TRANSFER_TARGET}", {})[norm] = rows
    return sweeps, transfers


def _mean_rows(per_seed, key):
    """The rows of seed 0 with `key` averaged over the seeds."""
    rows = [dict(row) for row in per_seed[0]]
    for i, row in enumerate(rows):
        row[key] = float(np.mean([seed_rows[i][key] for seed_rows in per_seed]))
    return rows


def run(
    preset="cpu", seeds=1, out=None, data_dir=None, download=None, progress="auto", overrides=None
):
    """Runs the reproduction (reusing finished models in `out`); returns the results dict.

    Args:
        preset: `"cpu"`, `"gpu"` or a `Preset`.
        seeds: Number of seeds, `0 .. seeds - 1`; the table and the figure average them.
        out: Output folder; default `reproduce/cifar10-<preset>`.
        data_dir: The tensorflow-datasets data dir searched first.
        download: Ignored: CIFAR-10 is never downloaded here (prepare it with `tfds build`).
        progress: `"off"` trains silently; otherwise one line per epoch.
        overrides: A dict of preset fields to change (`OVERRIDES`).

    Returns:
        The results, as written to `results.json`.

    Raises:
        ReproduceError: when CIFAR-10 is not found or `out` is not a folder.
    """
    from benchmarks.paper.errors import ReproduceError
    from keras_ceb import cli
    from keras_ceb import datasets
    from keras_ceb import reporting
    from keras_ceb.training import TrainingError
    from keras_ceb.training import data as training_data
    from keras_ceb.training import model_files

    del download  # Never downloads: the tfds preparation of CIFAR-10 is heavy.
    start = time.time()
    preset = get_preset(preset, overrides)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"`seeds` must be a positive integer. Received: seeds={seeds!r}")
    out = pathlib.Path(out) if out is not None else default_out(preset)
    if out.exists() and not out.is_dir():
        raise ReproduceError(f"--out exists and is not a folder: {out}")
    try:  # Fail fast, before any training, when the data is missing.
        x_test, y_test = training_data.load_split(
            "cifar10", data_dir, "test", False, preset.max_test_examples
        )
    except TrainingError as error:
        message = error
        if isinstance(error.__cause__, datasets.DatasetNotFoundError):  # In the options' words.
            message = cli.cli_worded(error.__cause__, download=False)
        raise ReproduceError(" ".join(str(message).split())) from error
    out.mkdir(parents=True, exist_ok=True)
    print(f"reproduce cifar10, preset {preset.name}: {preset.description}")
    verbose = 0 if progress == "off" else 2
    count = min(preset.attack_examples, len(x_test))
    x_attack, y_attack = x_test[:count], y_test[:count]
    batch_size = min(256, max(count, 1))
    per_seed = []
    for seed in range(seeds):
        trained, runs = {}, {}
        for index, (name, objective, rho) in enumerate(MODELS, 1):
            folder = out / f"seed_{seed}" / name
            config = train_config(objective, rho, preset, seed, folder, data_dir, verbose)
            command = train_command(config)
            print(f"\n[seed {seed}, {index}/{len(MODELS)}] {command}")
            metrics = _train_or_reuse(config)
            trained[name] = model_files.load_classifier(folder / "model.keras")
            runs[name] = {
                "command": command,
                "cifar10_accuracy": metrics["test"]["accuracy"],
                "cifar10_1_accuracy": (metrics.get("cifar10_1") or {}).get("accuracy"),
                "train_time_s": metrics["train_time_s"],
            }
        sweeps, transfers = _evaluate_seed(trained, x_attack, y_attack, preset, seed, batch_size)
        per_seed.append({"seed": seed, "models": runs, "sweeps": sweeps, "transfers": transfers})

    def mean(value_of):
        values = [value_of(s) for s in per_seed]
        return None if any(v is None for v in values) else float(np.mean(values))

    results = {
        "experiment": NAME,
        "command": f"python -m benchmarks.paper {NAME} --preset {preset.name} --seeds {seeds} "
        f"--out {out}",
        "preset": preset.name,
        "settings": dataclasses.asdict(preset),
        "hardware": hardware(),
        "attack_examples": count,
        "attack_steps": ATTACK_STEPS,
        "seeds": list(range(seeds)),
        "per_seed": per_seed,
        "models": {
            name: {
                "cifar10_accuracy": mean(lambda s: s["models"][name]["cifar10_accuracy"]),
                "cifar10_1_accuracy": mean(lambda s: s["models"][name]["cifar10_1_accuracy"]),
            }
            for name, _, _ in MODELS
        },
        "sweeps": {
            name: {
                norm: _mean_rows([s["sweeps"][name][norm] for s in per_seed], "accuracy")
                for norm in NORMS
            }
            for name, _, _ in MODELS
        },
        "transfers": {
            pair: {
                norm: _mean_rows([s["transfers"][pair][norm] for s in per_seed], "target_accuracy")
                for norm in NORMS
            }
            for pair in per_seed[0]["transfers"]
        },
        "paper": {"ceb0_cifar10_accuracy": 0.9751, "ceb0_cifar10_1_accuracy": 0.936},
        "figures": ["figure6.png"],
        "wall_time_s": time.time() - start,
    }
    reporting.write_json(out / "results.json", results)
    plot_figure6(results, out / "figure6.png")
    (out / "report.md").write_text(
        f"# {results['command']}\n\n```\n{format_results(results)}\n```\n\n"
        "![Figure 6](figure6.png)\n"
    )
    return results


def summary(results, out):
    """The lines `python -m benchmarks.paper cifar10` prints at the end."""
    return "\n".join(
        [
            "",
            format_results(results),
            f"Wrote {out}/: seed_*/ (one folder per model), results.json, report.md, figure6.png",
        ]
    )


def format_results(results):
    """A text table of the clean accuracies and the attacks of `results`."""
    seeds = len(results["seeds"])
    lines = [
        f"CIFAR-10, preset {results['preset']}, {seeds} seed(s), mean over seeds "
        f"({results['hardware']['backend']}, "
        f"{results['hardware']['cpu_count']} CPUs, "
        f"accelerators: {results['hardware']['accelerators'] or 'none'})"
    ]
    lines.append(f"{'model':<8} {'CIFAR-10':>9} {'CIFAR-10.1':>11}")
    for name, run in results["models"].items():
        shift = run["cifar10_1_accuracy"]
        lines.append(
            f"{name:<8} {run['cifar10_accuracy']:>9.4f} "
            f"{'n/a' if shift is None else f'{shift:.4f}':>11}"
        )
    lines.append(
        f"accuracy under untargeted PGD ({results['attack_steps']} steps, "
        f"{results['attack_examples']} test images)"
    )
    for norm in NORMS:
        eps_values = [row["eps"] for row in next(iter(results["sweeps"].values()))[norm]]
        lines.append(f"  {norm:<16}" + "".join(f"{_eps_label(norm, e):>9}" for e in eps_values))
        for name, by_norm in results["sweeps"].items():
            lines.append(
                f"  {name:<16}" + "".join(f"{row['accuracy']:>9.3f}" for row in by_norm[norm])
            )
        for pair, by_norm in results["transfers"].items():
            lines.append(
                f"  {pair.replace('_to_', '->'):<16}{'':>9}"
                + "".join(f"{row['target_accuracy']:>9.3f}" for row in by_norm[norm])
            )
    return "\n".join(lines)


def _eps_label(norm, eps):
    return f"{eps * 255:.3g}/255" if norm == "linf" else f"{eps:.3g}"


def plot_figure6(results, path):
    """Accuracy under attack against eps, L-inf and L2 panels (the paper's Figure 6)."""
    from keras_ceb import reporting

    figure, axes = reporting.new_figure(1, 2, (11, 4.2))
    for ax, norm in zip(axes[0], NORMS):
        scale = 255.0 if norm == "linf" else 1.0
        for name, by_norm in results["sweeps"].items():
            rows = by_norm[norm]
            ax.plot(
                [r["eps"] * scale for r in rows],
                [r["accuracy"] for r in rows],
                "-o",
                label=f"{name} (white-box)",
            )
        for pair, by_norm in results["transfers"].items():
            rows = by_norm[norm]
            ax.plot(
                [r["eps"] * scale for r in rows],
                [r["target_accuracy"] for r in rows],
                "--s",
                label=pair.replace("_to_", " -> ") + " (transfer)",
            )
        ax.set_xlabel("eps (x 1/255)" if norm == "linf" else "eps (L2)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"untargeted PGD {norm.upper()}, {results['attack_steps']} steps")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle(f"CIFAR-10, preset {results['preset']}")
    figure.savefig(path, dpi=90)
    return pathlib.Path(path)
