"""FAB-T: `keras_ceb.attacks.fab_t_attack` against torchattacks' FAB, and its throughput beside
APGD-T's.

Trains the Fashion-MNIST conv model of `attack_throughput.py` (one epoch on 20,000 images) on
the TensorFlow backend, saves it, and attacks the same test images:

- with keras_ceb's `fab_t_attack` (9 targets, 100 steps, 1 restart: AutoAttack's FAB-T) and its
  `apgd_attack(loss="dlr", targeted=True)` (APGD-T, same targets and steps), timed on a second
  call (the first traces);
- with torchattacks' `FAB(multi_targeted=True)` (a port of the authors' code), run by
  another Python that has PyTorch and torchattacks (`--torch-python`), on the same saved model
  loaded on Keras's PyTorch backend.

Each FAB-T runs twice per norm: at the radius `--eps` (robust accuracy) and at a radius no
perturbation reaches (`--eps-minimal`), where a minimum-norm attack returns the smallest
adversarial point it found for every correctly classified image: their per-image norms are
compared. Run from the repository root (the figures in `benchmarks/README.md`):

    python benchmarks/fab_vs_torchattacks.py --torch-python /path/to/venv/bin/python \\
        --examples 300 --json benchmarks/fab_vs_torchattacks.json

where the venv has `torch` (CPU), `keras`, `numpy` and `torchattacks` (installed with
`--no-deps`: torchattacks' FAB needs neither torchvision nor scipy).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from attack_throughput import build_model  # noqa: E402
from attack_throughput import load  # noqa: E402

from keras_ceb.attacks import accuracy_under_attack  # noqa: E402
from keras_ceb.attacks import apgd_attack  # noqa: E402
from keras_ceb.attacks import fab_t_attack  # noqa: E402

# Run by `--torch-python`: torchattacks' FAB on the saved model, on Keras's PyTorch backend.
TORCHATTACKS = textwrap.dedent(
    """
    import json, os, sys, time
    os.environ["KERAS_BACKEND"] = "torch"
    import keras, numpy as np, torch, torchattacks
    folder, eps, steps, norm = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    model = keras.models.load_model(os.path.join(folder, "model.keras"))
    data = np.load(os.path.join(folder, "data.npz"))
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    attack = torchattacks.FAB(model, norm=norm, eps=eps, steps=steps, n_restarts=1,
                              multi_targeted=True, n_classes=10, seed=0)
    start = time.perf_counter()
    with torch.no_grad():
        adv = attack(x, y)
    seconds = time.perf_counter() - start
    np.save(os.path.join(folder, f"torchattacks_{norm}_{eps:g}.npy"), adv.numpy())
    print(json.dumps({"seconds": seconds, "torch": torch.__version__,
                      "torchattacks": torchattacks.__version__}))
    """
)


def timed(fn):
    fn()  # traces
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def distances(adv, x, norm):
    flat = (adv - x).reshape(len(x), -1)
    return np.abs(flat).max(axis=1) if norm == "linf" else np.linalg.norm(flat, axis=1)


def torchattacks_fab(python, folder, eps, steps, norm):
    name = {"linf": "Linf", "l2": "L2"}[norm]
    done = subprocess.run(
        [python, "-c", TORCHATTACKS, folder, str(eps), str(steps), name],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"torchattacks failed:\n{done.stderr[-2000:]}")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    return np.load(os.path.join(folder, f"torchattacks_{name}_{eps:g}.npy")), info


def compare(model, x, y, norm, eps, eps_minimal, steps, python, folder):
    ours, ours_s = timed(
        lambda: fab_t_attack(model, x, y, eps=eps, norm=norm, steps=steps, seed=0)
    )
    _, apgd_s = timed(
        lambda: apgd_attack(
            model, x, y, eps=eps, norm=norm, loss="dlr", targeted=True, steps=steps, seed=0
        )
    )
    theirs, info = torchattacks_fab(python, folder, eps, steps, norm)
    ours_min = fab_t_attack(model, x, y, eps=eps_minimal, norm=norm, steps=steps)
    theirs_min, _ = torchattacks_fab(python, folder, eps_minimal, steps, norm)
    clean = np.argmax(model.predict(x, verbose=0), axis=1) == y
    found = clean & (np.argmax(model.predict(ours_min, verbose=0), axis=1) != y)
    found &= np.argmax(model.predict(theirs_min, verbose=0), axis=1) != y
    ratio = distances(ours_min[found], x[found], norm) / np.maximum(
        distances(theirs_min[found], x[found], norm), 1e-12
    )
    return {
        "eps": eps,
        "ours_robust_accuracy": accuracy_under_attack(model, ours, y),
        "torchattacks_robust_accuracy": accuracy_under_attack(model, theirs, y),
        "ours_fab_t_images_per_second": len(x) / ours_s,
        "ours_apgd_t_images_per_second": len(x) / apgd_s,
        "fab_t_seconds_over_apgd_t_seconds": ours_s / apgd_s,
        "torchattacks_fab_images_per_second": len(x) / info["seconds"],
        "minimal_norm_images": int(found.sum()),
        "minimal_norm_median_ours": float(np.median(distances(ours_min[found], x[found], norm))),
        "minimal_norm_median_torchattacks": float(
            np.median(distances(theirs_min[found], x[found], norm))
        ),
        "minimal_norm_ratio_quantiles_ours_over_torchattacks": {
            q: float(np.quantile(ratio, float(q))) for q in ("0.1", "0.5", "0.9")
        },
        "versions": info,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--torch-python", required=True)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--linf-eps", type=float, default=0.03)
    parser.add_argument("--l2-eps", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)

    x_train, y_train = load(args.data_dir, "train", 20000)
    x, y = load(args.data_dir, "test", args.examples)
    model = build_model(x_train, y_train)
    result = {"examples": args.examples, "steps": args.steps}
    with tempfile.TemporaryDirectory() as folder:
        model.save(os.path.join(folder, "model.keras"))
        np.savez(os.path.join(folder, "data.npz"), x=x, y=y)
        result["clean_accuracy"] = accuracy_under_attack(model, x, y)
        for norm, eps, eps_minimal in (
            ("linf", args.linf_eps, 1.0),
            ("l2", args.l2_eps, 28.0),
        ):
            entry = compare(
                model, x, y, norm, eps, eps_minimal, args.steps, args.torch_python, folder
            )
            result[norm] = entry
            print(norm, json.dumps(entry, indent=1), flush=True)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
