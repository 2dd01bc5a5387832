"""What the rate's OoD AUROC is made of, and a marginal fitted after training (issue 20, axis 4).

The rate at the encoder mean is `R = log e(mu|x) - log m(mu)`, with `log e(mu|x) =
-log|det L(x)| - D/2 log 2 pi`: a part from the encoder's spread and a part from the marginal.
For every trained model folder given, on the reproducer's OoD sets (the first 2,000 test
images against U(0,1), MNIST and the vertical flip), this prints the AUROC of

- `R` as trained (the marginal learned beside the encoder, on stopped z);
- `-log m(mu)` alone and `log e(mu|x)` alone;
- `R` with a marginal fitted after training: a 240-component full-covariance Gaussian mixture
  (scikit-learn's EM) on one draw z ~ e(z|x) per training image (the aggregate posterior);
- `R` from one draw of z (the paper's protocol).

Run from the repository root on folders of `python -m benchmarks.paper` (the numbers in
`benchmarks/paper_fashion_mnist/README.md`):

    python benchmarks/paper_fashion_mnist/rate_ablation.py \
        reproduce/fashion-mnist-cpu/models/{ceb_rho0,vib_rho0,vib_rho4}_seed0 \
        --json benchmarks/paper_fashion_mnist/rate_ablation.json
"""

import argparse
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

import keras_ceb  # noqa: E402
from keras_ceb import export  # noqa: E402
from keras_ceb.ops import gaussian  # noqa: E402

# Run as a script from a clone: the repository root holds `benchmarks.paper`.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from benchmarks.paper import fashion_mnist  # noqa: E402

SETS = ("uniform_noise", "mnist", "vertical_flip")


def parts(model, x, batch_size=500, seed=0):
    """Per example: log e(mu|x), log m(mu), the rate from one draw, and mu and one draw z."""
    encoder = export.rate_encoder(model)
    features = export.feature_model(model, encoder).predict(x, batch_size=batch_size, verbose=0)
    out = {k: [] for k in ("log_e", "log_m", "sampled_rate", "mu", "z")}
    generator = keras.random.SeedGenerator(seed)
    for i in range(0, len(features), batch_size):
        dist = encoder.distribution(features[i : i + batch_size])
        z, log_e_z = gaussian.sample_and_log_prob(dist, seed=generator)
        out["log_e"].append(ops.convert_to_numpy(gaussian.log_prob_at_mean(dist)))
        out["log_m"].append(ops.convert_to_numpy(encoder.log_marginal(dist.loc)))
        out["sampled_rate"].append(ops.convert_to_numpy(log_e_z - encoder.log_marginal(z)))
        out["mu"].append(ops.convert_to_numpy(dist.loc))
        out["z"].append(ops.convert_to_numpy(z))
    return {k: np.concatenate(v).astype("float64") for k, v in out.items()}


def auroc(in_scores, out_scores, higher_in):
    return keras_ceb.evaluation.ood_metrics(
        in_scores, out_scores, higher_is_in_distribution=higher_in
    )["auroc"]


def ablate(folder, data, components=240, seed=0):
    model = keras.models.load_model(pathlib.Path(folder) / "model.keras", compile=False)
    train = parts(model, data.x_train, seed=seed)
    mixture = GaussianMixture(
        components, covariance_type="full", random_state=seed, reg_covar=1e-6, max_iter=200
    ).fit(train["z"])
    sets = {"in": data.x_in, **{name: data.ood_sets[name] for name in SETS}}
    values = {name: parts(model, x, seed=seed) for name, x in sets.items()}
    for v in values.values():
        v["rate"] = v["log_e"] - v["log_m"]
        v["refit_rate"] = v["log_e"] - mixture.score_samples(v["mu"])
    result = {"model": pathlib.Path(folder).name, "mixture_converged": bool(mixture.converged_)}
    for name in SETS:
        a, b = values["in"], values[name]
        result[name] = {
            "rate": auroc(a["rate"], b["rate"], False),
            "minus_log_m": auroc(-a["log_m"], -b["log_m"], False),
            "log_e": auroc(a["log_e"], b["log_e"], False),
            "refit_rate": auroc(a["refit_rate"], b["refit_rate"], False),
            "sampled_rate": auroc(a["sampled_rate"], b["sampled_rate"], False),
            "mean_log_e_in": float(a["log_e"].mean()),
            "mean_log_e_out": float(b["log_e"].mean()),
            "mean_log_m_in": float(a["log_m"].mean()),
            "mean_log_m_out": float(b["log_m"].mean()),
        }
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    data = fashion_mnist.load_data(fashion_mnist.CPU, args.data_dir, download=False)
    results = [ablate(folder, data) for folder in args.folders]
    print(
        "| model | OoD set | R (as trained) | -log m(mu) | log e(mu|x) | R, m refit by EM "
        "| R, one draw |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        for name in SETS:
            v = r[name]
            print(
                f"| {r['model']} | {name} | {v['rate']:.3f} | {v['minus_log_m']:.3f} | "
                f"{v['log_e']:.3f} | {v['refit_rate']:.3f} | {v['sampled_rate']:.3f} |"
            )
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
