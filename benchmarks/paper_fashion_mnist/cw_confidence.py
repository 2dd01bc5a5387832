"""Table 1's CW row against the CW attack's confidence margin.

    python benchmarks/paper_fashion_mnist/cw_confidence.py <DIR>/models/determ_seed0 \
        <DIR>/models/ceb_rho0_seed0 --examples 150 --confidences 0,5,20 --json out.json

The reproduction's CW-L2 set is made as the paper's (cleverhans defaults, confidence 0), which
stops at the smallest perturbation that flips the label: every example lies on the decision
boundary, where the entropy H is near its maximum. This script asks how the OoD scores of that
set depend on the margin: for each confidence kappa, CW-L2 (5 x 1,000 iterations) against each
model at its encoder mean on the first `--examples` test images, then the AUROC of H,
max-softmax and (CEB, VIB) the rate R between the successful adversarial examples and their own
clean originals, as the reproducer pairs them. <DIR> is an output folder of
`python -m benchmarks.paper fashion-mnist` (`cpu`, `cpu-table1` or `cpu-seeds`).
"""

import argparse
import json
import pathlib
import sys
import time

import keras
import numpy as np

from keras_ceb import datasets

# Run as a script from a clone: the repository root holds `benchmarks.paper`.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from benchmarks.paper import measurements


def attack_and_score(model, x, y, confidence, seed=0):
    """CW-L2 at `confidence` against `model` (the reproducer's `carlini_wagner`), then the AUROC
    of each score between the successes and their own clean originals (its `ood_evaluation`)."""
    start = time.process_time()
    record, arrays, x_adv = measurements.carlini_wagner(
        model, x, y, binary_search_steps=5, max_iterations=1000, seed=seed, confidence=confidence
    )
    record["cw_cpu_seconds"] = time.process_time() - start
    record["auroc"] = {}
    if len(x_adv) < 2:
        return record
    own = x[arrays["cw_success"]]
    metrics, _ = measurements.ood_evaluation(model, own, {"cw": x_adv}, in_sets={"cw": own})
    record["auroc"] = {score: float(m["auroc"]) for score, m in metrics["cw"].items()}
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "models",
        nargs="+",
        type=pathlib.Path,
        help="model folders of a reproduction (each with model.keras)",
    )
    parser.add_argument("--examples", type=int, default=150)
    parser.add_argument("--confidences", default="0,5,20")
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    confidences = [float(c) for c in args.confidences.split(",")]
    x_test, y_test = datasets.load_fashion_mnist(split="test", download=False)
    x, y = x_test[: args.examples], np.asarray(y_test[: args.examples])
    results = {"examples": args.examples, "keras": keras.__version__, "models": {}}
    for folder in args.models:
        model = keras.models.load_model(folder / "model.keras")
        rows = results["models"][folder.name] = []
        for confidence in confidences:
            row = attack_and_score(model, x, y, confidence)
            rows.append(row)
            print(folder.name, json.dumps(row), flush=True)
            if args.json is not None:  # after every row: a killed run keeps what it measured
                args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
