"""What `predict` and a PGD attack cost a CEB model, as ratios to the same network as Determ.

Reproduce (TensorFlow backend, this 2-core CPU):

    python benchmarks/predict_cost.py

`model.predict` on 8192 Fashion-MNIST-shaped images, batch 256 and 1024, for the builder's
CEB and Determ classifiers (`keras_ceb.models.build_classifier`, 240-component marginal), on
two backbones: the default `small_convnet`, and a light one (Flatten + Dense(64)) on which the
bottleneck's own cost is not hidden by the convolutions. Rounds are interleaved (CEB, Determ,
CEB, ...) so that drift in the machine's speed hits both alike; each time is the minimum over
the rounds (the run least disturbed by other load on a shared machine; the medians are
recorded too), and the ratio CEB / Determ comes from one run. `predict` should pay only for
what inference needs: the mean
of e(z|x) and the class densities, not the I(X;Z) bound (B x B) or the marginal. The same
holds for attacks, which call the model at inference: the script also times 7-step L-inf PGD
(`keras_ceb.attacks.pgd_attack`, eps 0.1, batch 256) on 1024 images of each model, in
examples per second.

The script uses only APIs that older versions of the package have too, so the same file
measures the code before a change (`PYTHONPATH=/path/to/old/checkout python predict_cost.py`).
"""

import argparse
import json
import statistics
import time

import keras
import numpy as np

from keras_ceb.models import build_classifier
from keras_ceb.models import compile_classifier


def light_backbone():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
        ],
        name="backbone",
    )


def predict_seconds(models, x, batch_size, rounds):
    for model in models.values():
        model.predict(x[: batch_size * 2], batch_size=batch_size, verbose=0)  # Trace, warm up.
    times = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict(x, batch_size=batch_size, verbose=0)
            times[name].append(time.perf_counter() - start)
    return (
        {name: min(values) for name, values in times.items()},
        {name: statistics.median(values) for name, values in times.items()},
    )


def attack_throughput(models, x, rounds):
    from keras_ceb import attacks

    labels = np.zeros(len(x), "int32")
    for model in models.values():
        attacks.pgd_attack(
            model, x[:256], labels[:256], eps=0.1, norm="linf", steps=7, seed=0, batch_size=256
        )  # Trace, warm up.
    times = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            attacks.pgd_attack(
                model, x, labels, eps=0.1, norm="linf", steps=7, seed=0, batch_size=256
            )
            times[name].append(time.perf_counter() - start)
    return {name: len(x) / min(values) for name, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", default=None, help="Also write the results to this file.")
    args = parser.parse_args(argv)

    x = np.random.default_rng(0).random((args.examples, 28, 28, 1), dtype=np.float32)
    results = {"backend": keras.backend.backend(), "examples": args.examples, "rows": []}
    for backbone_name in ("small_convnet", "light"):
        models = {}
        for objective in ("ceb", "determ"):
            keras.utils.set_random_seed(0)
            backbone = light_backbone() if backbone_name == "light" else "small_convnet"
            models[objective] = compile_classifier(
                build_classifier(objective, backbone=backbone, seed=0)
            )
        for batch_size in (256, 1024):
            seconds, medians = predict_seconds(models, x, batch_size, args.rounds)
            results["rows"].append(
                {
                    "backbone": backbone_name,
                    "batch_size": batch_size,
                    "ceb_seconds": seconds["ceb"],
                    "determ_seconds": seconds["determ"],
                    "ratio_ceb_over_determ": seconds["ceb"] / seconds["determ"],
                    "median_ratio_ceb_over_determ": medians["ceb"] / medians["determ"],
                }
            )
        if backbone_name == "small_convnet":
            rate = attack_throughput(models, x[:1024], max(args.rounds // 2, 1))
            results["pgd_linf_7_steps"] = {
                "ceb_examples_per_second": rate["ceb"],
                "determ_examples_per_second": rate["determ"],
                "ratio_ceb_over_determ_time": rate["determ"] / rate["ceb"],
            }
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
