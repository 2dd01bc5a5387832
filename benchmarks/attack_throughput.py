"""Throughput of 7-step L-inf PGD: `keras_ceb.attacks.pgd_attack` vs a plain reference.

The reference (`benchmarks/reference_pgd.py`) rebuilds the model's forward pass
from raw TensorFlow ops and runs PGD eagerly, one `tf.GradientTape` step at a
time. Both attack the same Fashion-MNIST conv model with the same settings and
the same random start; the script prints examples per second of each, their
ratio, and how often the two agree on the attack's outcome.

Run from the repository root (the figures in `benchmarks/README.md`):

    python benchmarks/attack_throughput.py
    KERAS_BACKEND=jax python benchmarks/attack_throughput.py
    python benchmarks/attack_throughput.py --downsample stride
    KERAS_BACKEND=jax python benchmarks/attack_throughput.py --downsample stride

The default model of the main job (the CEB classifier that `keras-ceb train` saves):

    python benchmarks/attack_throughput.py --model runs/ceb/model.keras

Options: `--model PATH` loads a saved `.keras` model instead of training one (a
Sequential model of the layers `reference_pgd.reference_forward` supports gets the
raw-ops reference; any other model, e.g. with keras_ceb layers, a reference that runs
the same eager loop through the model's own Keras forward pass);
`--downsample stride` trains stride-2 convolutions instead of max-pooling;
`--examples`, `--batch-size`, `--eps`, `--repeats`, `--data-dir`.
"""

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from reference_pgd import reference_forward  # noqa: E402
from reference_pgd import reference_pgd  # noqa: E402

import keras_ceb  # noqa: E402
from keras_ceb.attacks import pgd_attack  # noqa: E402

# `None`: keras_ceb's usual search (e.g. the Debian package dataset-fashion-mnist).
DEFAULT_DATA = None


def load(folder, split, count):
    x, y = keras_ceb.datasets.load_fashion_mnist(data_dir=folder, download=False, split=split)
    return x[:count], y[:count].astype("int64")


def build_model(x_train, y_train, downsample="maxpool"):
    """Conv(32)-pool-Conv(64)-pool-Dense(128)-Dense(10) logits, one epoch of training.

    With `downsample="stride"` each convolution has stride 2 and no pooling follows.
    """
    keras.utils.set_random_seed(0)
    stride = 2 if downsample == "stride" else 1

    def down():
        return [keras.layers.MaxPooling2D(2)] if downsample == "maxpool" else []

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, strides=stride, activation="relu"),
            *down(),
            keras.layers.Conv2D(64, 3, strides=stride, activation="relu"),
            *down(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0)
    return model


def best_times(functions, repeats):
    """Best wall time of each function over `repeats` rounds, run alternately.

    Alternating the implementations exposes both to the same machine load.
    """
    times = {name: [] for name in functions}
    results = {}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=pathlib.Path, help="saved .keras model to attack")
    parser.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--examples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--downsample",
        choices=("maxpool", "stride"),
        default="maxpool",
        help="max-pooling layers, or stride-2 convolutions instead",
    )
    args = parser.parse_args()

    if args.model:
        model = keras.saving.load_model(args.model)
    else:
        model = build_model(*load(args.data_dir, "train", 10000), args.downsample)
    x, y = load(args.data_dir, "test", args.examples)
    settings = dict(eps=args.eps, norm="linf", steps=7, batch_size=args.batch_size)

    start = time.perf_counter()
    pgd_attack(model, x[: args.batch_size], y[: args.batch_size], seed=0, **settings)
    compile_s = time.perf_counter() - start
    try:
        forward = reference_forward(model)
        reference_name = "reference (eager TF, raw ops)"
    except ValueError:
        # Models with keras_ceb layers (the default CEB classifier): the reference runs the
        # same eager PGD loop through the model's own Keras forward pass (encoder mean at
        # inference, so deterministic).
        def forward(images):
            return model(images, training=False)

        reference_name = "reference (eager TF, Keras forward)"
    reference_pgd(forward, x[:8], y[:8], random_start_seed=0, **settings)  # warm-up
    seconds, results = best_times(
        {
            "ours": lambda: pgd_attack(model, x, y, seed=0, **settings),
            "reference": lambda: reference_pgd(forward, x, y, random_start_seed=0, **settings),
        },
        args.repeats,
    )
    ours_s, ref_s = seconds["ours"], seconds["reference"]
    x_ours, x_ref = results["ours"], results["reference"]

    def predict(images):
        return np.argmax(model.predict(images, batch_size=512, verbose=0), axis=-1)

    clean = predict(x)
    ours_pred, ref_pred = predict(x_ours), predict(x_ref)
    print(
        f"backend={keras.backend.backend()} model={args.model or args.downsample} "
        f"examples={len(x)} batch_size={args.batch_size} eps={args.eps} steps=7 "
        f"cpus={os.cpu_count()}"
    )
    print(f"clean accuracy                  {np.mean(clean == y):.4f}")
    print(f"accuracy under attack keras_ceb {np.mean(ours_pred == y):.4f}")
    print(f"accuracy under attack reference {np.mean(ref_pred == y):.4f}")
    print(f"same outcome per example        {np.mean((ours_pred == y) == (ref_pred == y)):.4f}")
    print(f"keras_ceb first call (compile)  {compile_s:.2f} s")
    print(f"keras_ceb                       {len(x) / ours_s:10.1f} examples/s")
    print(f"{reference_name:<32}{len(x) / ref_s:10.1f} examples/s")
    print(f"speed-up                        {ref_s / ours_s:10.2f}x")


if __name__ == "__main__":
    main()
