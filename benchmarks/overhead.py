"""Step-time overhead of CEB and VIB over Determ, and the speed of the mixture log-density.

Reproduce (TensorFlow backend, this 2-core CPU):

    python benchmarks/overhead.py

1. Training step time on the same `small_convnet` backbone for CEB, VIB and Determ (batch 128,
   real Fashion-MNIST batches), interleaved round by round so that drift in the machine's
   speed hits every model alike. Each step is timed between consecutive `on_train_batch_end`
   calls (the loss is read to wait for the step), so `fit`'s per-epoch set-up is not counted;
   reported as the median step time and as ratios CEB / Determ and VIB / Determ, all from one
   run. Determ is measured twice: as the builder
   makes it (with the 240-component marginal trained on stopped means, for the OoD rate) and
   as a bare network without a marginal, the honest baseline.
2. The mixture log-density for B=256 points, K=240 full-covariance components, D=4:
   `keras_ceb.ops.mixture.mixture_log_prob` (compiled) against a NumPy/SciPy reference and,
   when `--tfp-python` names an interpreter with TensorFlow Probability (e.g. a separate venv
   with `tensorflow-cpu`, `tensorflow-probability` and `tf-keras --no-deps`), against TFP's
   `MixtureSameFamily(MultivariateNormalTriL)`; values are checked to agree.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_ceb  # noqa: E402
from keras_ceb.models import build_classifier  # noqa: E402
from keras_ceb.models import compile_classifier  # noqa: E402
from keras_ceb.ops import gaussian  # noqa: E402
from keras_ceb.ops import mixture  # noqa: E402

TFP_SCRIPT = r"""
import json, sys, time, numpy as np, tensorflow as tf, tensorflow_probability as tfp
d = np.load(sys.argv[1])
dist = tfp.distributions.MixtureSameFamily(
    tfp.distributions.Categorical(logits=d["logits"]),
    tfp.distributions.MultivariateNormalTriL(loc=d["loc"], scale_tril=d["tril"]))
fn = tf.function(lambda x: dist.log_prob(x))
x = tf.constant(d["x"])
out = fn(x).numpy()
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); fn(x).numpy(); times.append(time.perf_counter() - t)
print(json.dumps({"seconds": sorted(times)[len(times) // 2], "values": out.tolist(),
                  "version": tfp.__version__}))
"""


def step_times(data_dir, rounds, steps, batch_size):
    (x, y), _ = keras_ceb.datasets.load_fashion_mnist(data_dir=data_dir, download=False)
    x, y = x[: steps * batch_size], y[: steps * batch_size]
    variants = {
        "determ_bare": ("determ", None),
        "determ": ("determ", 240),
        "ceb": ("ceb", 240),
        "vib": ("vib", 240),
    }
    models = {}
    for name, (objective, components) in variants.items():
        keras.utils.set_random_seed(0)
        model = build_classifier(objective, marginal_components=components, seed=0)
        models[name] = compile_classifier(model, learning_rate=1e-3)
        models[name].fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # Trace and warm up.
    times = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            timer = StepTimer()
            model.fit(
                x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[timer]
            )
            times[name].extend(timer.step_seconds())
    return {name: statistics.median(values) for name, values in times.items()}


class StepTimer(keras.callbacks.Callback):
    """Records when each training step ends (after reading its loss, so the step is done)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])
        self.ends.append(time.perf_counter())

    def step_seconds(self):
        return list(np.diff(self.ends))


def mixture_benchmark(repeats, tfp_python):
    from scipy import special
    from scipy import stats

    rng = np.random.default_rng(0)
    b, k, d = 256, 240, 4
    x = rng.normal(size=(b, d)).astype("float32")
    logits = rng.normal(size=k).astype("float32")
    loc = rng.normal(size=(k, d)).astype("float32")
    tril = np.tril(rng.normal(size=(k, d, d)) * 0.3, -1) + np.einsum(
        "ki,ij->kij", np.exp(rng.uniform(-1, 1, size=(k, d))), np.eye(d)
    )
    tril = tril.astype("float32")

    def timed(fn):
        fn()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(
            lambda z: mixture.mixture_log_prob(z, logits, gaussian.Gaussian(loc, tril))
        )
        ours = lambda: compiled(x).numpy()  # noqa: E731
    else:

        def ours():
            return np.asarray(mixture.mixture_log_prob(x, logits, gaussian.Gaussian(loc, tril)))  # noqa: E731

    def reference():
        comps = np.stack(
            [stats.multivariate_normal(loc[j], tril[j] @ tril[j].T).logpdf(x) for j in range(k)],
            axis=-1,
        )
        return special.logsumexp(comps + logits - special.logsumexp(logits), axis=-1)

    result = {
        "keras_ceb_seconds": timed(ours),
        "numpy_scipy_seconds": timed(reference),
    }
    result["max_abs_diff_vs_numpy"] = float(np.max(np.abs(ours() - reference())))
    if tfp_python:
        path = "/tmp/keras_ceb_mixture_benchmark.npz"
        np.savez(path, x=x, logits=logits, loc=loc, tril=tril)
        proc = subprocess.run(
            [tfp_python, "-c", TFP_SCRIPT, path, str(repeats)],
            capture_output=True,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        if proc.returncode == 0:
            tfp_result = json.loads(proc.stdout.strip().splitlines()[-1])
            result["tfp_seconds"] = tfp_result["seconds"]
            result["tfp_version"] = tfp_result["version"]
            result["max_abs_diff_vs_tfp"] = float(
                np.max(np.abs(ours() - np.array(tfp_result["values"])))
            )
        else:
            result["tfp_error"] = proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument(
        "--tfp-python",
        default=None,
        help="Python interpreter with tensorflow-probability installed.",
    )
    parser.add_argument("--json", default=None, help="Also write the results to this file.")
    args = parser.parse_args(argv)

    steps = step_times(args.data_dir, args.rounds, args.steps, args.batch_size)
    results = {
        "backend": keras.backend.backend(),
        "step_seconds": steps,
        "ratio_ceb_over_determ_bare": steps["ceb"] / steps["determ_bare"],
        "ratio_vib_over_determ_bare": steps["vib"] / steps["determ_bare"],
        "ratio_ceb_over_determ": steps["ceb"] / steps["determ"],
        "ratio_vib_over_determ": steps["vib"] / steps["determ"],
        "mixture_log_prob": mixture_benchmark(args.repeats, args.tfp_python),
    }
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
