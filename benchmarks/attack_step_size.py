"""Targeted PGD success against eps for several step-size rules: which default is monotone?

Trains a small-convnet Determ and a CEB (rho 0) classifier for two epochs on 30,000
Fashion-MNIST images (`keras_ceb.models.build_classifier`, default backbone), then runs 7-step
targeted PGD towards class 1 ('Trouser'), L-inf and L2, over an eps sweep, once per step-size
rule. Success is the paper's: among the clean-correct test images (of the first 1000) whose label
is not the target, the fraction classified as the target after the attack. The random start is
on (the attacks' default; one row turns it off) and seeded identically for every rule, so the
rules differ only in their step size. The caps "a / b" are the L-inf / L2 caps: b = a * sqrt(784),
the L2 length of an L-inf step of a on every pixel.

Run from the repository root (the table in `benchmarks/README.md`, "PGD step size"; about 5
minutes on 2 CPU cores):

    python benchmarks/attack_step_size.py

Options: `--examples` (test images, default 1000), `--train-examples` (default 30000),
`--epochs` (default 2), `--steps` (default 7), `--data-dir` (a folder with the Fashion-MNIST idx
files; by default `keras_ceb.datasets.load_fashion_mnist` looks in its usual places).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_ceb  # noqa: E402
from keras_ceb.attacks import pgd  # noqa: E402
from keras_ceb.attacks import pgd_attack  # noqa: E402
from keras_ceb.attacks import predict_classes  # noqa: E402

TARGET = 1  # 'Trouser', as in the paper
EPSILONS = {"linf": (0.03, 0.05, 0.1, 0.2, 0.3, 0.5), "l2": (0.5, 1.0, 2.0, 3.0, 5.0)}
FEATURES = 28 * 28


def capped(fraction):
    """`min(2.5 eps / steps, cap)`, cap = `fraction` of the [0, 1] range per feature."""

    def rule(eps, steps, norm):
        cap = fraction * (1.0 if norm == "linf" else FEATURES**0.5)
        return min(2.5 * eps / steps, cap)

    return rule


# Each rule maps (eps, steps, norm) to a step size (None: `pgd_attack`'s default), and says
# whether the attack starts at a random point of the ball.
RULES = {
    "2.5 eps/steps (Madry; the old default)": (lambda eps, steps, norm: 2.5 * eps / steps, True),
    "2.5 eps/steps, no random start": (lambda eps, steps, norm: 2.5 * eps / steps, False),
    "1.5 eps/steps": (lambda eps, steps, norm: 1.5 * eps / steps, True),
    "1 eps/steps": (lambda eps, steps, norm: 1.0 * eps / steps, True),
    "min(2.5 eps/steps, 0.02 / 0.56)": (capped(0.02), True),
    "min(2.5 eps/steps, 0.03 / 0.84): the default": (lambda eps, steps, norm: None, True),
    "min(2.5 eps/steps, 0.05 / 1.4)": (capped(0.05), True),
}


def train(objective, x, y, epochs):
    keras.utils.set_random_seed(0)
    model = keras_ceb.models.build_classifier(objective, rho=0.0, seed=0)
    keras_ceb.models.compile_classifier(model, learning_rate=1e-3)
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--train-examples", type=int, default=30000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    start = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = keras_ceb.datasets.load_fashion_mnist(
        data_dir=args.data_dir, download=False
    )
    x_train, y_train = x_train[: args.train_examples], y_train[: args.train_examples]
    x_test, y_test = x_test[: args.examples], y_test[: args.examples].astype("int64")
    print(
        f"backend={keras.backend.backend()} train={len(x_train)} epochs={args.epochs} "
        f"test={len(x_test)} steps={args.steps} target={TARGET} cpus={os.cpu_count()}"
    )

    results = {}
    for objective in ("determ", "ceb"):
        model = train(objective, x_train, y_train, args.epochs)
        clean = predict_classes(model, x_test)
        # Only the counted examples are attacked: success among them is the paper's measure.
        counted = (clean == y_test) & (y_test != TARGET)
        x = x_test[counted]
        print(
            f"{objective}: clean accuracy {np.mean(clean == y_test):.4f}, "
            f"counted examples {len(x)}"
        )
        done = {}  # rules that give the same step size run the same attack: run it once
        for norm, epsilons in EPSILONS.items():
            for rule, (step_size, random_start) in RULES.items():
                for eps in epsilons:
                    step = step_size(eps, args.steps, norm)
                    key = (
                        norm,
                        eps,
                        random_start,
                        float(
                            pgd.default_step_size(eps, args.steps, norm, FEATURES)
                            if step is None
                            else step
                        ),
                    )
                    if key not in done:
                        x_adv = pgd_attack(
                            model,
                            x,
                            TARGET,
                            eps=eps,
                            norm=norm,
                            steps=args.steps,
                            step_size=step,
                            targeted=True,
                            random_start=random_start,
                            seed=0,
                        )
                        done[key] = 100.0 * np.mean(predict_classes(model, x_adv) == TARGET)
                    results[objective, norm, rule, eps] = done[key]

    objectives = ("determ", "ceb")
    for norm, epsilons in EPSILONS.items():
        print()
        print(f"{norm}: targeted success (%) towards class {TARGET}, Determ / CEB")
        print(
            "| step size | " + " | ".join(f"eps {e:g}" for e in epsilons) + " | monotone in eps |"
        )
        print("|---|" + "---:|" * len(epsilons) + ":---:|")
        for rule in RULES:
            rows = {o: [results[o, norm, rule, e] for e in epsilons] for o in objectives}
            cells = [
                " / ".join(f"{rows[o][i]:.1f}" for o in objectives) for i in range(len(epsilons))
            ]
            monotone = [all(b >= a for a, b in zip(rows[o], rows[o][1:])) for o in objectives]
            print(
                f"| {rule} | "
                + " | ".join(cells)
                + " | "
                + " / ".join("yes" if m else "**no**" for m in monotone)
                + " |"
            )
    print(f"\nwall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
