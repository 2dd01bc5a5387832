"""`python -m benchmarks.paper`: one command that reproduces a section of the paper and writes
its report.

One module per dataset (`DATASETS` maps the command's dataset name to it); each has `PRESETS`,
`run(preset, seeds, out, ...)` and `describe_plan(preset, seeds)`. The shared machinery:
`presets` (the plan), `runner` (training, evaluation and caching), `measurements`,
`statistics` (intervals), `claims`, `results`, `report` and `figures`, `progress`.

    python -m benchmarks.paper fashion-mnist --preset cpu --seeds 1 --out runs/paper
"""

import importlib

from benchmarks.paper.errors import ReproduceError

# The dataset name of the command -> the module that reproduces it.
DATASETS = {
    "fashion-mnist": "benchmarks.paper.fashion_mnist",
    "cifar10": "benchmarks.paper.cifar10",
}


def dataset_module(name):
    """The module that reproduces `name` (a key of `DATASETS`).

    Examples:

        >>> sorted(dataset_module("fashion-mnist").PRESETS)[:4]
        ['cpu', 'cpu-no-anneal', 'cpu-paper-length', 'cpu-seeds']
    """
    if name not in DATASETS:
        raise ValueError(f"`dataset` must be one of {tuple(DATASETS)}. Received: dataset={name!r}")
    return importlib.import_module(DATASETS[name])


def reproduce(
    dataset="fashion-mnist",
    preset="cpu",
    seeds=1,
    out=None,
    data_dir=None,
    download=None,
    progress="auto",
):
    """Runs (or resumes) the reproduction of `dataset` and writes its report into `out`.

    Finished models are never retrained and finished evaluations are reused, so calling it
    again after an interruption picks up where it stopped.

    Args:
        dataset: A key of `DATASETS`, e.g. `"fashion-mnist"`.
        preset: A preset name of the dataset's module (`"cpu"`, `"gpu"`, `"tiny"`), or a
            `presets.Preset`.
        seeds: Number of seeds.
        out: Output folder (default `reproduce/<dataset>-<preset>`).
        data_dir: Folder searched first for the data.
        download: `False` never downloads.
        progress: `"auto"`, `"bar"`, `"lines"` or `"off"`.

    Returns:
        The results dict, as written to `results.json`.
    """
    return dataset_module(dataset).run(
        preset=preset,
        seeds=seeds,
        out=out,
        data_dir=data_dir,
        download=download,
        progress=progress,
    )


__all__ = ["DATASETS", "ReproduceError", "dataset_module", "reproduce"]
