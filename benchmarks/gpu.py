"""GPU benchmark: WRN-28-10 training images/s, the CEB / VIB / Determ step-time ratio, PGD
throughput and peak memory, on JAX (no TensorFlow needed) and on TensorFlow where installed.

Run from the repository root on the GPU machine (about 6 minutes on one H100 with JAX alone;
the script stops launching measurements after `--time-budget` seconds, 420 by default, and
records the rest as skipped, so that it ends within 8 minutes):

    python benchmarks/gpu.py --out benchmarks/gpu_results.json

The CPU check of the script itself (WRN-10-1, batches 8 and 16, a few steps; about a minute on
this project's 2-core CPU):

    python benchmarks/gpu.py --tiny

What it measures, per backend (`KERAS_BACKEND` of a fresh subprocess; JAX first):

1. For batch sizes 128 and 1024 and each objective (`keras_ceb.models.build_classifier` with
   the `wide_resnet` backbone, depth 28, width 10, no BatchNorm as in the paper; CEB and VIB at
   rho 0 with the 240-component marginal; Determ with the same network): `--steps` training
   steps after `--warmup` steps (the first includes the compilation), each timed between
   consecutive `on_train_batch_end` calls (the loss is read, which waits for the step), on
   synthetic CIFAR-shaped batches from `keras_ceb.datasets.as_dataset` (`tf.data` on
   TensorFlow, the NumPy `PyDataset` on JAX). Reported: the median step time, images/s, and
   the ratios CEB / Determ and VIB / Determ at each batch size.
2. 7-step L-inf PGD (`keras_ceb.attacks.pgd_attack`, eps 8/255) on `--pgd-examples` images
   against the CEB model, after one warm-up call: examples/s.
3. Peak device memory of each measurement, from a fresh process per measurement: JAX's
   `Device.memory_stats()["peak_bytes_in_use"]`, TensorFlow's `get_memory_info("GPU:0")`;
   where the device reports none (CPU), the process's peak resident memory instead (marked).

Options: `--backends`, `--batch-sizes`, `--steps`, `--warmup`, `--pgd-examples`,
`--dtype-policy` (e.g. `mixed_bfloat16`), `--time-budget`, `--out`. Results print as a table
and are written as JSON with the device's name.
"""

import argparse
import importlib.util
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

OBJECTIVES = ("determ", "ceb", "vib")
FULL = {
    "depth": 28,
    "width": 10,
    "batch_sizes": [128, 1024],
    "steps": 20,
    "warmup": 3,
    "pgd_examples": 1024,
    "pgd_steps": 7,
}
TINY = {
    "depth": 10,
    "width": 1,
    "batch_sizes": [8, 16],
    "steps": 3,
    "warmup": 1,
    "pgd_examples": 16,
    "pgd_steps": 2,
}
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


# The worker: one backend, a list of measurements, one JSON line per result.


def _device(backend):
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return {"platform": device.platform, "name": device.device_kind}
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return {"platform": "gpu", "name": details.get("device_name", "GPU")}
    return {"platform": "cpu", "name": "CPU"}


def _peak_memory(backend):
    """Peak device memory in bytes, or the process's peak resident memory where none."""
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            return {"peak_bytes": int(stats["peak_bytes_in_use"]), "kind": "device"}
    else:
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return {
                "peak_bytes": int(tf.config.experimental.get_memory_info("GPU:0")["peak"]),
                "kind": "device",
            }
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_bytes": int(rss_kib) * 1024, "kind": "host_rss"}


def _model(objective, settings):
    from keras_ceb import models

    model = models.build_classifier(
        objective,
        input_shape=(32, 32, 3),
        num_classes=10,
        backbone="wide_resnet",
        backbone_kwargs={"depth": settings["depth"], "width": settings["width"]},
        seed=0,
    )
    return models.compile_classifier(model, learning_rate=1e-4)


def _train_step_time(objective, batch_size, settings):
    import keras
    import numpy as np

    from keras_ceb import datasets

    model = _model(objective, settings)
    rng = np.random.default_rng(0)
    x = rng.random((2 * batch_size, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, size=2 * batch_size).astype("int32")
    data = datasets.as_dataset(x, y, batch_size=batch_size, shuffle=False, repeat=True)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            times.append(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # Waits for the step.
            times.append(time.perf_counter())

    model.fit(
        data,
        epochs=1,
        steps_per_epoch=settings["warmup"] + settings["steps"],
        callbacks=[Timer()],
        verbose=0,
        shuffle=False,
    )
    steps = [b - a for a, b in zip(times, times[1:])]
    timed = steps[settings["warmup"] :]
    median = statistics.median(timed)
    return {
        "objective": objective,
        "batch_size": batch_size,
        "first_step_s": steps[0],
        "median_step_s": median,
        "images_per_s": batch_size / median,
        "steps_timed": len(timed),
    }


def _pgd_throughput(settings):
    import numpy as np

    from keras_ceb.attacks import pgd_attack

    model = _model("ceb", settings)
    n = settings["pgd_examples"]
    rng = np.random.default_rng(1)
    x = rng.random((n, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, size=n).astype("int64")
    batch = min(512, n)
    kwargs = dict(eps=8 / 255, steps=settings["pgd_steps"], batch_size=batch, seed=0)
    start = time.perf_counter()
    pgd_attack(model, x[:batch], y[:batch], **kwargs)  # Compiles.
    first = time.perf_counter() - start
    start = time.perf_counter()
    pgd_attack(model, x, y, **kwargs)
    elapsed = time.perf_counter() - start
    return {
        "objective": "ceb",
        "pgd_steps": settings["pgd_steps"],
        "examples": n,
        "batch_size": batch,
        "first_call_s": first,
        "seconds": elapsed,
        "examples_per_s": n / elapsed,
    }


def worker(backend, measurements, settings):
    """Runs `measurements` (`["train", objective, batch]` or `["pgd"]`) in this process."""
    import keras

    keras.config.set_dtype_policy(settings["dtype_policy"])
    keras.utils.set_random_seed(0)
    print(json.dumps({"device": _device(backend)}), flush=True)
    for measurement in measurements:
        start = time.perf_counter()
        if measurement[0] == "train":
            result = _train_step_time(measurement[1], measurement[2], settings)
        else:
            result = _pgd_throughput(settings)
        result.update(
            kind=measurement[0], wall_s=time.perf_counter() - start, memory=_peak_memory(backend)
        )
        print(json.dumps({"result": result}), flush=True)


# The driver: a subprocess per backend (tiny) or per measurement (full), within a time budget.


def _plan(settings):
    first, rest = settings["batch_sizes"][0], settings["batch_sizes"][1:]
    plan = [["train", objective, first] for objective in OBJECTIVES] + [["pgd"]]
    return plan + [["train", objective, batch] for batch in rest for objective in OBJECTIVES]


def _run_worker(backend, measurements, settings, timeout):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    command = [
        sys.executable,
        __file__,
        "--worker",
        backend,
        "--measurements",
        json.dumps(measurements),
        "--settings",
        json.dumps(settings),
    ]
    try:
        completed = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=max(timeout, 1)
        )
        stdout, error = (
            completed.stdout,
            None
            if completed.returncode == 0
            else (completed.stderr.strip().splitlines() or ["failed"])[-1],
        )
    except subprocess.TimeoutExpired as e:
        stdout, error = (
            (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""),
            f"timed out after {timeout:.0f} s",
        )
    device, results = None, []
    for line in stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            device = record.get("device", device)
            if "result" in record:
                results.append(record["result"])
    return device, results, error


def _ratios(results):
    ratios = {}
    steps = {
        (r["objective"], r["batch_size"]): r["median_step_s"]
        for r in results
        if r["kind"] == "train"
    }
    for (objective, batch), seconds in steps.items():
        if objective != "determ" and ("determ", batch) in steps:
            ratios[f"{objective}/determ@{batch}"] = seconds / steps[("determ", batch)]
    return ratios


def _format(report):
    lines = []
    for backend, entry in report["backends"].items():
        device = entry.get("device") or {}
        lines.append(
            f"{backend} on {device.get('name', '?')} ({report['settings']['model']}, "
            f"{report['settings']['dtype_policy']})"
        )
        lines.append(f"  {'measurement':<22}{'step ms':>10}{'images/s':>11}{'peak MiB':>11}")
        for r in entry["results"]:
            memory = r["memory"]["peak_bytes"] / 2**20
            mark = "" if r["memory"]["kind"] == "device" else " (host RSS)"
            if r["kind"] == "train":
                lines.append(
                    f"  {r['objective'] + ' @' + str(r['batch_size']):<22}"
                    f"{1000 * r['median_step_s']:>10.1f}{r['images_per_s']:>11.1f}"
                    f"{memory:>11.0f}{mark}"
                )
            else:
                lines.append(
                    f"  {'PGD ' + str(r['pgd_steps']) + ' steps (ex/s)':<22}{'':>10}"
                    f"{r['examples_per_s']:>11.1f}{memory:>11.0f}{mark}"
                )
        for name, value in entry["ratios"].items():
            lines.append(f"  step-time ratio {name}: {value:.3f}")
        for item in entry["skipped"]:
            lines.append(f"  skipped: {item}")
    lines.append(f"total {report['wall_s']:.0f} s")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="WRN-10-1, tiny batches, CPU check")
    parser.add_argument(
        "--backends", nargs="+", default=None, help="default: jax, then tensorflow where installed"
    )
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--pgd-examples", type=int, default=None)
    parser.add_argument("--dtype-policy", default="float32")
    parser.add_argument(
        "--time-budget",
        type=float,
        default=420.0,
        help="seconds after which no new measurement starts (default 420)",
    )
    parser.add_argument("--out", type=pathlib.Path, default=None, help="JSON results file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--measurements", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--settings", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, json.loads(args.measurements), json.loads(args.settings))
        return 0

    settings = dict(TINY if args.tiny else FULL)
    for name in ("batch_sizes", "steps", "warmup", "pgd_examples"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    settings["dtype_policy"] = args.dtype_policy
    settings["model"] = f"WRN-{settings['depth']}-{settings['width']}"
    backends = args.backends or ["jax"] + (
        ["tensorflow"] if importlib.util.find_spec("tensorflow") else []
    )
    start = time.perf_counter()
    report = {"settings": settings, "backends": {}}
    for backend in backends:
        entry = {"device": None, "results": [], "skipped": [], "errors": []}
        report["backends"][backend] = entry
        plan = _plan(settings)
        # Tiny: one process per backend. Full: one per measurement, so that each peak memory
        # figure is that measurement's own.
        groups = [plan] if args.tiny else [[m] for m in plan]
        for group in groups:
            left = args.time_budget - (time.perf_counter() - start)
            if left <= 0:
                entry["skipped"] += [" ".join(map(str, m)) + " (time budget)" for m in group]
                continue
            device, results, error = _run_worker(backend, group, settings, left + 60)
            entry["device"] = entry["device"] or device
            entry["results"] += results
            if error:
                entry["errors"].append(error)
                done = len(results)
                entry["skipped"] += [" ".join(map(str, m)) + f" ({error})" for m in group[done:]]
        entry["ratios"] = _ratios(entry["results"])
    report["wall_s"] = time.perf_counter() - start
    print(_format(report))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
