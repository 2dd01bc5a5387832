"""APGD-CE (100 steps) and Square: `keras_ceb.attacks` vs the Adversarial Robustness Toolbox.

Trains the Fashion-MNIST conv model of `attack_throughput.py` (one epoch), then attacks the
same test images with keras_ceb's `apgd_attack` and ART 1.20's `AutoProjectedGradientDescent`
(cross-entropy, 100 steps, 1 restart, step 2 eps, L-inf), and with both Square attacks
(L-inf), on the TensorFlow backend. It prints, from one run: images per second of each, their
ratio, and the robust accuracy each attack leaves (which must agree within sampling error: the
random starts differ). Every timing is of a second call (the first traces).

Run from the repository root (the figures in `benchmarks/README.md`):

    python benchmarks/apgd_vs_art.py
    python benchmarks/apgd_vs_art.py --examples 1000 --eps 0.05 --json benchmarks/apgd_vs_art.json

Needs `pip install adversarial-robustness-toolbox` (in the `test` extra).
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from attack_throughput import build_model  # noqa: E402
from attack_throughput import load  # noqa: E402

from keras_ceb.attacks import accuracy_under_attack  # noqa: E402
from keras_ceb.attacks import apgd_attack  # noqa: E402
from keras_ceb.attacks import square_attack  # noqa: E402


def timed(fn, repeats):
    fn()  # traces
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return out, best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--eps", type=float, default=0.03)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)

    import tensorflow as tf
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.attacks.evasion import SquareAttack
    from art.estimators.classification import TensorFlowV2Classifier

    x_train, y_train = load(args.data_dir, "train", 20000)
    x, y = load(args.data_dir, "test", args.examples)
    model = build_model(x_train, y_train)
    classifier = TensorFlowV2Classifier(
        model=model,
        nb_classes=10,
        input_shape=(28, 28, 1),
        clip_values=(0.0, 1.0),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    art_apgd = AutoProjectedGradientDescent(
        classifier,
        norm=np.inf,
        eps=args.eps,
        eps_step=2 * args.eps,
        max_iter=args.steps,
        nb_random_init=1,
        batch_size=args.batch_size,
        loss_type="cross_entropy",
        verbose=False,
    )
    art_square = SquareAttack(
        classifier,
        norm=np.inf,
        eps=args.eps,
        max_iter=args.queries,
        nb_restarts=1,
        batch_size=args.batch_size,
        verbose=False,
    )
    rows = {
        "apgd-ce": (
            lambda: apgd_attack(
                model, x, y, eps=args.eps, steps=args.steps, seed=0, batch_size=args.batch_size
            ),
            lambda: art_apgd.generate(x, y=y),
        ),
        "square": (
            lambda: square_attack(
                model, x, y, eps=args.eps, queries=args.queries, seed=0, batch_size=args.batch_size
            ),
            lambda: art_square.generate(x, y=y),
        ),
    }
    result = {
        "examples": args.examples,
        "eps": args.eps,
        "steps": args.steps,
        "queries": args.queries,
        "clean_accuracy": accuracy_under_attack(model, x, y),
    }
    print(
        f"{args.examples} test images, L-inf eps {args.eps}, clean accuracy "
        f"{result['clean_accuracy']:.3f}"
    )
    for name, (ours_fn, art_fn) in rows.items():
        ours, ours_s = timed(ours_fn, args.repeats)
        theirs, art_s = timed(art_fn, args.repeats)
        entry = {
            "ours_images_per_second": args.examples / ours_s,
            "art_images_per_second": args.examples / art_s,
            "speedup": art_s / ours_s,
            "ours_robust_accuracy": accuracy_under_attack(model, ours, y),
            "art_robust_accuracy": accuracy_under_attack(model, theirs, y),
        }
        result[name] = entry
        print(
            f"{name}: ours {entry['ours_images_per_second']:.1f} images/s, ART "
            f"{entry['art_images_per_second']:.1f} images/s, ratio ours/ART "
            f"{entry['speedup']:.2f}; robust accuracy ours {entry['ours_robust_accuracy']:.3f}"
            f", ART {entry['art_robust_accuracy']:.3f}"
        )
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
