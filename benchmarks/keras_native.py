"""The Keras-native path: the layers, `compile` and `fit`, with no callback and no recipe.

Reproduce (TensorFlow backend, this 2-core CPU; about 25 minutes for the README's model and
its twins over 3 seeds, about 20 minutes per seed for the small convnet):

    python benchmarks/keras_native.py --out benchmarks/keras_native

A Keras user's notebook: all 60,000 Fashion-MNIST training images, `fit` for 10 epochs with
Keras's defaults (batch 32, `compile("adam", SparseCategoricalCrossentropy(from_logits=True))`),
nothing else. Two backbones:

- `readme`: the README's ten-line model, `Flatten`, `Dense(256, relu)`;
- `convnet`: `keras_ceb.models.small_convnet` (two conv-pool blocks, `Dense(256)`).

and three heads on each, the same network but for what is named:

- `ceb`: `StochasticEncoder(4, rho=0, marginal=240)` and `BackwardEncoder(10)`, the layers'
  defaults otherwise (so the default rho warm-up: rho + 3 down to rho over 2,000 steps);
- `ceb_rho1`: the same at `rho=1`;
- `determ`: the same with `objective="determ"` (z = mu(x), no noise, no CEB term);
- `plain`: `Dense(10)` on the backbone, no bottleneck.

After every epoch: test accuracy (encoder mean), and the AUROC of OoD scores on the MNIST test
set, U(0,1) noise and vertically flipped test images (Fashion-MNIST test in, in-distribution
positive): the default score `rate` (R at the encoder mean, `keras_ceb.evaluation.rate_scores`),
its two parts `log_e` (log e(mu|x)) and `marginal` (-log m(mu)), `energy` and `entropy` of the
logits. Each (backbone, head, seed) is one resumable piece: `OUT/{backbone}_{head}_seed{s}.json`,
written when the piece finishes and skipped when it exists. `--summary` prints the tables of
`benchmarks/README.md` ("The Keras-native path") from the pieces.
"""

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import keras_ceb  # noqa: E402
from keras_ceb.evaluation import ood_metrics  # noqa: E402

BACKBONES = ("readme", "convnet")
HEADS = ("ceb", "ceb_rho1", "determ", "plain")
OOD_SETS = ("mnist", "uniform_noise", "vertical_flip")
EPOCHS = 10


def build(backbone, head):
    if backbone == "readme":
        layers = [keras.layers.Flatten(), keras.layers.Dense(256, activation="relu")]
    else:
        layers = [keras_ceb.models.small_convnet((28, 28, 1))]
    model = keras.Sequential([keras.Input((28, 28, 1)), *layers])
    if head == "plain":
        model.add(keras.layers.Dense(10))
        metrics = ["accuracy"]
    else:
        objective, rho = ("ceb", 1.0) if head == "ceb_rho1" else (head, 0.0)
        model.add(keras_ceb.StochasticEncoder(4, rho=rho, marginal=240, objective=objective))
        model.add(keras_ceb.BackwardEncoder(10))
        metrics = ["accuracy", *keras_ceb.metrics.information_metrics(objective=objective)]
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=metrics
    )
    return model


def scores(model, x):
    """Per-example OoD scores, each oriented so that higher means in-distribution."""
    logits = model.predict(x, batch_size=512, verbose=0).astype("float64")
    out = {
        "energy": keras_ceb.evaluation.energy_score(logits),
        "entropy": -keras_ceb.evaluation.entropy_score(logits),
    }
    encoder = model.layers[-2]
    if isinstance(encoder, keras_ceb.StochasticEncoder) and encoder.has_rate:
        out["rate"] = -keras_ceb.evaluation.rate_scores(model, x, batch_size=512)
        features = keras.Model(model.inputs, encoder.input).predict(x, batch_size=512, verbose=0)
        dist = encoder.distribution(features)
        log_e = ops.convert_to_numpy(keras_ceb.ops.gaussian.log_prob_at_mean(dist))
        out["log_e"] = -log_e.astype("float64")
        out["marginal"] = ops.convert_to_numpy(encoder.log_marginal(dist.loc)).astype("float64")
    return out


class EpochRecord(keras.callbacks.Callback):
    def __init__(self, x_test, y_test, ood_sets):
        super().__init__()
        self.x_test, self.y_test, self.ood_sets = x_test, y_test, ood_sets
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        logits = self.model.predict(self.x_test, batch_size=512, verbose=0)
        row = {
            "epoch": epoch + 1,
            "test_accuracy": float(np.mean(logits.argmax(-1) == self.y_test)),
            "train_logs": {k: float(v) for k, v in (logs or {}).items()},
        }
        in_scores = scores(self.model, self.x_test)
        for name, x in self.ood_sets.items():
            out_scores = scores(self.model, x)
            row[f"auroc_{name}"] = {
                score: float(
                    ood_metrics(
                        in_scores[score], out_scores[score], higher_is_in_distribution=True
                    )["auroc"]
                )
                for score in in_scores
            }
        self.rows.append(row)
        print(
            json.dumps(
                {
                    "epoch": row["epoch"],
                    "test_accuracy": row["test_accuracy"],
                    "auroc_mnist": row["auroc_mnist"],
                }
            ),
            flush=True,
        )


def run_piece(backbone, head, seed, data, out):
    path = out / f"{backbone}_{head}_seed{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    (x_train, y_train), (x_test, y_test), ood_sets = data
    keras.utils.set_random_seed(seed)
    model = build(backbone, head)
    record = EpochRecord(x_test, y_test, ood_sets)
    start = time.time()
    model.fit(x_train, y_train, epochs=EPOCHS, verbose=0, callbacks=[record])
    result = {
        "backbone": backbone,
        "head": head,
        "seed": seed,
        "epochs": record.rows,
        "seconds": time.time() - start,
        "backend": keras.backend.backend(),
        "keras_ceb": keras_ceb.__version__,
    }
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(result, indent=1))
    os.replace(temporary, path)
    return result


def load_data():
    (x_train, y_train), (x_test, y_test) = keras_ceb.datasets.load_fashion_mnist()
    mnist, _ = keras_ceb.datasets.load_mnist_test()
    sets = keras_ceb.evaluation.paper_ood_sets(x_test, seed=0, mnist_x=mnist)
    return (x_train, y_train), (x_test, y_test), {name: sets[name] for name in OOD_SETS}


def _row(label, values, fmt):
    return f"| {label} | " + " | ".join(fmt.format(v) for v in values) + " |"


def summary(out):
    """The Markdown tables of the pieces in `out`: accuracy, then AUROC per OoD set."""
    pieces = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    header = [
        "| | " + " | ".join(f"epoch {e}" for e in range(1, EPOCHS + 1)) + " |",
        "|---|" + "---:|" * EPOCHS,
    ]
    lines = []
    for backbone in BACKBONES:
        runs = {
            head: [p for p in pieces if p["backbone"] == backbone and p["head"] == head]
            for head in HEADS
        }
        if not any(runs.values()):
            continue
        lines += ["", f"**{backbone}**: test accuracy (%), mean over seeds (n)", ""] + header
        for head, found in runs.items():
            if found:
                accuracy = np.mean([[e["test_accuracy"] for e in r["epochs"]] for r in found], 0)
                lines.append(_row(f"{head} ({len(found)})", 100 * accuracy, "{:.1f}"))
        for ood in OOD_SETS:
            lines += ["", f"**{backbone}**: AUROC against {ood}, mean over seeds", ""] + header
            for head in ("ceb", "ceb_rho1"):
                for score in ("rate", "log_e", "marginal", "energy", "entropy"):
                    found = [r for r in runs[head] if score in r["epochs"][0][f"auroc_{ood}"]]
                    if found and (head == "ceb" or score == "rate"):
                        values = np.mean(
                            [[e[f"auroc_{ood}"][score] for e in r["epochs"]] for r in found],
                            axis=0,
                        )
                        lines.append(_row(f"{head}: {score} ({len(found)})", values, "{:.2f}"))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=pathlib.Path, default=pathlib.Path("benchmarks/keras_native")
    )
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    parser.add_argument("--heads", default=",".join(HEADS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--summary", action="store_true", help="print the tables and exit")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summary:
        print(summary(args.out))
        return
    data = load_data()
    for backbone in args.backbones.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for head in args.heads.split(","):
                print(f"{backbone} {head} seed {seed}", flush=True)
                run_piece(backbone, head, seed, data, args.out)
    print(summary(args.out))


if __name__ == "__main__":
    main()
