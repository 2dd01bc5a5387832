"""Table 1's CW row against the CW attack's confidence margin.

    python benchmarks/paper_fashion_mnist/cw_confidence.py <DIR>/models/determ_seed0 \
        <DIR>/models/ceb_rho0_seed0 --examples 150 --confidences 0,5,20 --json out.json

The reproduction's CW-L2 set is made as the paper's (cleverhans defaults, confidence 0), which
stops at the smallest perturbation that flips the label: every example lies on the decision
boundary, where the entropy H is near its maximum. This script asks how the OoD scores of that
set depend on the margin: for each confidence kappa, CW-L2 (5 x 1,000 iterations) against each
model at its encoder mean on the first `--examples` test images, then the AUROC of H,
max-softmax and (CEB, VIB) the rate R between the successful adversarial examples and their own
clean originals, as the reproducer pairs them. <DIR> is a `keras-ceb reproduce fashion-mnist`
output folder (`cpu`, `cpu-table1` or `cpu-seeds`).
"""

import argparse
import json
import pathlib
import time

import keras
import numpy as np

import keras_ceb
from keras_ceb import datasets
from keras_ceb import evaluation
from keras_ceb import models
from keras_ceb.evaluation import scores as scores_lib
from keras_ceb.reproduce import measurements


def attack_and_score(model, x, y, confidence, seed=0):
    """CW-L2 at `confidence` against `model`; success, L2 and the AUROC of each score."""
    inference = models.inference_model(model)
    start = time.process_time()
    x_adv = keras_ceb.attacks.carlini_wagner_l2(
        inference, x, y, confidence=confidence, binary_search_steps=5, max_iterations=1000,
        batch_size=256, seed=seed)
    cpu_seconds = time.process_time() - start
    clean = keras_ceb.attacks.predict_classes(inference, x) == y
    success = clean & (keras_ceb.attacks.predict_classes(inference, x_adv) != y)
    record = {"confidence": confidence, "attacked": int(len(x)), "counted": int(clean.sum()),
              "success": float(success.sum() / max(clean.sum(), 1)),
              "mean_l2": float(np.sqrt(((x_adv - x) ** 2).reshape(len(x), -1).sum(1))[
                  success].mean()) if success.any() else None,
              "cw_cpu_seconds": cpu_seconds, "auroc": {}}
    if success.sum() < 2:
        return record
    kwargs = dict(estimator="mean", batch_size=256)
    own = scores_lib.ood_scores(model, measurements.model_inputs(model, x[success]), **kwargs)
    adv = scores_lib.ood_scores(model, measurements.model_inputs(model, x_adv[success]),
                                **kwargs)
    for score in own:
        metrics = evaluation.ood_metrics(
            own[score], adv[score], higher_is_in_distribution=scores_lib.SCORE_DIRECTIONS[score])
        record["auroc"][score] = float(metrics["auroc"])
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=pathlib.Path,
                        help="model folders of a reproduction (each with model.keras)")
    parser.add_argument("--examples", type=int, default=150)
    parser.add_argument("--confidences", default="0,5,20")
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    confidences = [float(c) for c in args.confidences.split(",")]
    x_test, y_test = datasets.load_fashion_mnist(split="test", download=False)
    x, y = x_test[:args.examples], np.asarray(y_test[:args.examples])
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
