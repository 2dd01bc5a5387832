"""Targeted robustness and OoD detection of CEB, VIB and Determ, by classifier head and rho.

Reproduce (TensorFlow backend, this 2-core CPU; about 10 minutes per model unloaded):

    for c in ceb:mlp:0 ceb:mlp:-1 vib:mlp:0 determ:mlp:0 ceb:consistent:0 determ:consistent:0; do
        python benchmarks/head_robustness.py $c --epochs 10 --out head_robustness
    done

Each run trains one model of `keras_ceb.models.build_classifier` (small convnet, 4-d full
covariance encoder, 240-component marginal; `head="mlp"` is the paper's two-layer ELU MLP c(y|z),
`head="consistent"` the softmax of the class Gaussians b(z|y)) on the 60,000 Fashion-MNIST
training images, Adam 1e-3 with a cosine decay, rho annealed from rho + 3 over the first
5 epochs, seed 0. It then measures, on the test set: accuracy; OoD detection of U(0,1) noise,
vertically flipped images and the MNIST test set (2000 of each against the first 2000 test
images; rate at the encoder mean, entropy and max-softmax at the mean); and 7-step targeted PGD
towards class 1 ("Trouser") with the default step size, success among the clean-correct
non-target examples of the first 1000 test images (as the paper measures it). Results go to
`OUT/<objective>_<head>_<rho>/result.json`.
"""

import argparse
import json
import pathlib
import time

import keras
import numpy as np

from keras_ceb import attacks
from keras_ceb import callbacks
from keras_ceb import datasets
from keras_ceb import evaluation
from keras_ceb import inference
from keras_ceb import models


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="objective:head:rho, e.g. ceb:mlp:0")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", default="head_robustness")
    args = parser.parse_args(argv)
    objective, head, rho = args.config.split(":")
    rho = float(rho)
    out = pathlib.Path(args.out) / args.config.replace(":", "_")
    out.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(0)
    (x, y), (x_test, y_test) = datasets.load_fashion_mnist(download=False)
    x_mnist, _ = datasets.load_mnist_test(download=False)
    start_rho = rho if objective == "determ" else rho + 3
    model = models.build_classifier(objective, head=head, rho=start_rho, seed=0)
    models.compile_classifier(
        model, learning_rate=1e-3, decay_steps=int(np.ceil(len(x) / 128)) * args.epochs
    )
    fit_callbacks = []
    if objective != "determ":
        schedule = callbacks.linear_anneal(rho + 3, rho, min(5, args.epochs - 1))
        fit_callbacks.append(callbacks.RhoScheduler(schedule))
    start = time.time()
    model.fit(x, y, epochs=args.epochs, batch_size=128, verbose=2, callbacks=fit_callbacks)
    result = {"config": args.config, "epochs": args.epochs, "train_seconds": time.time() - start}

    classifier = model
    probs = inference.predict_probabilities(classifier, x_test)
    result["accuracy"] = float((probs.argmax(-1) == y_test).mean())
    sets = evaluation.paper_ood_sets(x_test[:2000], seed=0, mnist_x=x_mnist[:2000])
    result["ood"] = evaluation.evaluate_ood(classifier, x_test[:2000], sets)
    x_eval, y_eval = x_test[:1000], y_test[:1000]
    target = np.full_like(y_eval, 1)
    result["targeted_success"] = {}
    for norm, radii in (("linf", (0.03, 0.1, 0.2, 0.3)), ("l2", (1.0, 2.0, 3.0))):
        for eps in radii:
            x_adv = attacks.pgd_attack(
                classifier, x_eval, target, eps=eps, norm=norm, steps=7, targeted=True, seed=0
            )
            rate, _ = attacks.targeted_success_rate(classifier, x_eval, x_adv, y_eval, target)
            result["targeted_success"][f"{norm}_{eps:g}"] = float(rate)
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
