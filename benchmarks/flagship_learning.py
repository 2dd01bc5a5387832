"""How fast the flagship usage learns: `model.add(StochasticEncoder(4))`,
`model.add(BackwardEncoder(10))`.

Reproduce (TensorFlow backend, this 2-core CPU, about 3 minutes):

    python benchmarks/flagship_learning.py --out benchmarks/flagship_learning.json

The scenario of a Keras user who writes no recipe: a 16-d, 10-class linear problem (x ~ N(0, I),
y = argmax(x W), W ~ N(0, 1)), 1,024 training points, `Dense(64, relu)`, then the bottleneck,
`compile("adam", SparseCategoricalCrossentropy(from_logits=True))`, `fit` for 20 epochs (batch
32), accuracy on 2,048 held-out points of the same problem; 3 seeds (data, weights and noise),
mean and per seed. Every variant is the same network but for what is named:

- `plain`: `Dense(64)` then `Dense(10)`, no bottleneck.
- `plain_4d`: `Dense(64)`, `Dense(4)`, `Dense(10)`: a deterministic 4-d bottleneck.
- `determ`: `StochasticEncoder(4, objective="determ")` and `BackwardEncoder(10)`: z = mu(x)
  and the Gaussian class-conditional classifier, no noise and no CEB term.
- `ceb_rho0`: the flagship, `StochasticEncoder(4, rho=0)` and `BackwardEncoder(10)`.
- `ceb_rho0_anneal5`, `_anneal15`: the same with `RhoScheduler(linear_anneal(6, 0, N))`, the
  kind of warm-up a built-in default could apply (rho 6 down to 0 over the first N epochs).
- `ceb_rho0_100_epochs`: the flagship trained 5 times longer.
- `ceb_rho3`, `ceb_rho6`: CEB at a larger rho throughout.
- `ceb_rho0_scale0.1`: the encoder's scale initialized at 0.1 instead of 1 (its bias).
- `wide_*`: `plain`, `determ` and `ceb_rho0` with two `Dense(256, relu)` layers instead of one
  `Dense(64)`.

The results, and what they say, are in `benchmarks/README.md` ("The flagship usage").
"""

import argparse
import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_ceb  # noqa: E402

FEATURES, CLASSES, TRAIN, HELD_OUT, EPOCHS, BATCH = 16, 10, 1024, 2048, 20, 32


def linear_problem(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(FEATURES, CLASSES))
    x = rng.normal(size=(TRAIN + HELD_OUT, FEATURES)).astype("float32")
    y = np.argmax(x @ w, axis=1).astype("int32")
    return (x[:TRAIN], y[:TRAIN]), (x[TRAIN:], y[TRAIN:])


def build(variant, seed):
    """The model of `variant` (see the module docstring) and its `fit` callbacks and epochs."""
    keras.utils.set_random_seed(seed)
    wide = variant.startswith("wide_")
    name = variant[len("wide_") :] if wide else variant
    hidden = (
        [keras.layers.Dense(256, activation="relu") for _ in range(2)]
        if wide
        else [keras.layers.Dense(64, activation="relu")]
    )
    layers = [keras.Input((FEATURES,)), *hidden]
    callbacks, epochs = [], EPOCHS
    if name == "plain":
        layers.append(keras.layers.Dense(CLASSES))
    elif name == "plain_4d":
        layers += [keras.layers.Dense(4), keras.layers.Dense(CLASSES)]
    else:
        objective = "determ" if name == "determ" else "ceb"
        rho = {"ceb_rho3": 3.0, "ceb_rho6": 6.0}.get(name, 0.0)
        encoder = keras_ceb.StochasticEncoder(4, objective=objective, rho=rho, seed=seed)
        layers += [encoder, keras_ceb.BackwardEncoder(CLASSES)]
        if name.startswith("ceb_rho0_anneal"):
            length = int(name[len("ceb_rho0_anneal") :])
            callbacks.append(
                keras_ceb.callbacks.RhoScheduler(
                    keras_ceb.callbacks.linear_anneal(6.0, 0.0, length)
                )
            )
        if name == "ceb_rho0_100_epochs":
            epochs = 100
    model = keras.Sequential(layers)
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )  # The encoder logs i_xz_lower itself in training.
    if name == "ceb_rho0_scale0.1":
        encoder = model.layers[-2]
        diagonal = _diagonal_params(encoder)
        bias = np.zeros(encoder.scale_projection.bias.shape, "float32")
        bias[diagonal] = math.log(math.expm1(0.1)) - math.log(math.e - 1.0)
        encoder.scale_projection.bias.assign(bias)
    return model, callbacks, epochs


def _diagonal_params(encoder):
    """Which of the encoder's scale parameters are diagonal entries (softplus-mapped)."""
    from keras_ceb.ops import gaussian

    size = encoder.scale_projection.bias.shape[0]
    base = np.diagonal(np.asarray(gaussian.scale_from_params(np.zeros((size,), "float32"), 4)))
    found = []
    for i in range(size):
        params = np.zeros((size,), "float32")
        params[i] = 1.0
        diag = np.diagonal(np.asarray(gaussian.scale_from_params(params, 4)))
        if np.any(np.abs(diag - base) > 1e-6):
            found.append(i)
    return found


VARIANTS = (
    "plain",
    "plain_4d",
    "determ",
    "ceb_rho0",
    "ceb_rho0_anneal5",
    "ceb_rho0_anneal15",
    "ceb_rho0_100_epochs",
    "ceb_rho3",
    "ceb_rho6",
    "ceb_rho0_scale0.1",
    "wide_plain",
    "wide_determ",
    "wide_ceb_rho0",
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    results = {}
    start = time.time()
    for variant in args.variants:
        accuracies, information = [], []
        for seed in range(args.seeds):
            (x, y), (x_held, y_held) = linear_problem(seed)
            model, callbacks, epochs = build(variant, seed)
            history = model.fit(
                x, y, epochs=epochs, batch_size=BATCH, callbacks=callbacks, verbose=0
            ).history
            accuracies.append(float(model.evaluate(x_held, y_held, verbose=0)[1]))
            if "i_xz_lower" in history:  # The last epoch's minibatch bound on I(X;Z), nats.
                information.append(float(history["i_xz_lower"][-1]))
        results[variant] = {"held_out_accuracy": accuracies, "mean": float(np.mean(accuracies))}
        line = (
            f"{variant:22s} mean {np.mean(accuracies):.3f}  per seed "
            f"{', '.join(f'{a:.3f}' for a in accuracies)}"
        )
        if information:
            results[variant]["i_xz_lower_last_epoch"] = information
            line += f"  I(X;Z) bound {np.mean(information):.2f} nats"
        print(line, flush=True)
    plain = results.get("plain", {}).get("mean")
    if plain is not None and "ceb_rho0" in results:
        print(f"flagship gap to plain: {plain - results['ceb_rho0']['mean']:.3f}")
    if args.out:
        payload = {
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
            "seeds": args.seeds,
            "wall_time_s": time.time() - start,
            "results": results,
        }
        with open(args.out, "w") as f:
            json.dump(payload, f, indent=2)


if __name__ == "__main__":
    main()
