"""The measurements of one trained model, made as the paper makes them (Fischer 2020, sec. 3.1).

- **Accuracy** on the test set.
- **Table 1**: OoD detection of U(0,1) noise, the MNIST test set, vertically flipped test images
  and CW-L2 adversarial examples, in-distribution positive, by the rate R (at the encoder mean),
  the entropy H and the max-softmax, each scored for every model (`keras_ceb.evaluation`); and
  the CW attack's success among clean-correct examples. Beside them, the baselines of OpenOOD
  (max-logit, energy, and Mahalanobis and KNN fitted on `reference_examples` training images,
  on the features and on z) and OpenOOD's near (90-degree rotation) and far (Gaussian noise)
  sets.
- **Robust accuracy** (untargeted, the field's standard) of `robust_models` at each
  `robust_linf_epsilons` radius: 7-step PGD, APGD-CE, APGD-T and Square, each on every example,
  and their union (an example is robust only if no attack broke it: AutoAttack's standard
  version without FAB-T); with the sanity checks of Carlini et al. (2019): an unbounded attack
  (L-inf 1) and APGD-CE with a tenth of the steps.
- **Figure 4**: targeted PGD towards one class (the paper's "Trouser"), L-inf and L2, over a
  radius sweep; success is the fraction of clean-correct examples not of the target class whose
  adversarial prediction is exactly the target (`keras_ceb.attacks.targeted_success_rate`).

- **The paper's protocol** (appendix A.1: "Samples from that distribution are passed into the
  classifier MLP"), for `protocol_models`: the same model with z sampled at evaluation, one draw
  per prediction. Accuracy; Table 1's R and H from one draw; targeted PGD, the gradient through
  one draw per step as a plain attack on the stochastic model would take it, and with EOT
  (`eot_samples` draws averaged per step, Athalye et al. 2018); CW-L2 on the sampled model;
  APGD-CE with and without EOT. Where sampling lowers attack success but EOT restores it, the
  robustness came from noise in the forward pass (gradient obfuscation), not from the model.

`evaluate_model` returns a JSON-ready record of the point values and the per-example arrays
(correctness, scores, successes) from which the report bootstraps its intervals.
"""

import time

import numpy as np

from keras_ceb import attacks
from keras_ceb import evaluation
from keras_ceb import inference as inference_lib
from keras_ceb.attacks import gradients
from keras_ceb.attacks import pgd
from keras_ceb.evaluation import scores as scores_lib

NORMS = ("linf", "l2")
CW_SET = "cw_l2"
BATCH_SIZE = 256


def primary_score(objective):
    """The paper's OoD score of a model: the entropy H for Determ, the rate R for VIB and CEB.

    Examples:

        >>> primary_score("determ"), primary_score("ceb")
        ('entropy', 'rate')
    """
    return "entropy" if objective == "determ" else "rate"


def accuracy(model, x, y):
    """Per-example correctness (bool) of `model` on `(x, y)`."""
    logits = model.predict(x, batch_size=BATCH_SIZE, verbose=0)
    return np.argmax(logits, axis=-1) == np.asarray(y)


def ood_evaluation(model, x_in, ood_sets, in_sets=None, reference=None):
    """Scores and metrics of every (OoD set, score) pair, at the encoder mean.

    Args:
        model: The trained classifier.
        x_in: The in-distribution images every OoD set is compared with, unless
        in_sets: gives a set its own in-distribution images (the CW-L2 examples are compared
            with their own clean originals, so the two classes have the same size).
        reference: Fitted `keras_ceb.evaluation.FeatureDetectors`, for the Mahalanobis and KNN
            scores; `None` leaves them out.

    Returns:
        `(metrics, arrays)`: `metrics[set][score]` holds `fpr_at_95_tpr`, `auroc`, `aupr_in`,
        `aupr_out`; `arrays` the per-example scores, `ood_in_<score>`, `ood_<set>_<score>`
        and, for a set with its own in-distribution images, `ood_<set>_in_<score>`.
    """
    kwargs = dict(estimator="mean", batch_size=BATCH_SIZE, reference=reference)
    in_scores = scores_lib.ood_scores(model, x_in, **kwargs)
    arrays = {f"ood_in_{score}": values for score, values in in_scores.items()}
    metrics = {}
    for name, x_out in ood_sets.items():
        own_in = (
            scores_lib.ood_scores(model, in_sets[name], **kwargs)
            if (in_sets and name in in_sets)
            else None
        )
        out_scores = scores_lib.ood_scores(model, x_out, **kwargs)
        metrics[name] = {}
        for score, values in out_scores.items():
            arrays[f"ood_{name}_{score}"] = values
            reference = in_scores[score]
            if own_in is not None:
                reference = arrays[f"ood_{name}_in_{score}"] = own_in[score]
            metrics[name][score] = evaluation.ood_metrics(
                reference, values, higher_is_in_distribution=scores_lib.SCORE_DIRECTIONS[score]
            )
    return metrics, arrays


def carlini_wagner(model, x, y, binary_search_steps, max_iterations, seed, confidence=0.0):
    """Untargeted CW-L2 on `(x, y)`; the successful examples form the CW OoD set.

    `confidence` is CW's margin kappa (cleverhans' default, and the paper's, is 0).

    Returns:
        `(record, arrays, x_ood)`: the success among clean-correct examples
        (`untargeted_success_rate`), its count, the number of adversarial examples and their mean
        L2 distance; per-example `cw_counted` (clean-correct) and `cw_success` (counted and
        misclassified after the attack); and the adversarial images of the successes (an
        example the attack did not move is a clean image, not an adversarial one).
    """
    inference = model
    x_adv = attacks.carlini_wagner_l2(
        inference,
        x,
        y,
        binary_search_steps=binary_search_steps,
        max_iterations=max_iterations,
        confidence=confidence,
        batch_size=BATCH_SIZE,
        seed=seed,
    )
    rate, count = attacks.untargeted_success_rate(inference, x, x_adv, y, batch_size=BATCH_SIZE)
    clean = attacks.predict_classes(inference, x, batch_size=BATCH_SIZE) == y
    adv = attacks.predict_classes(inference, x_adv, batch_size=BATCH_SIZE)
    success = clean & (adv != y)
    distance = np.sqrt(((x_adv - x) ** 2).reshape(len(x), -1).sum(axis=1))
    record = {
        "success": rate,
        "count": count,
        "num_attacked": int(len(x)),
        "num_adversarial": int(success.sum()),
        "mean_l2": float(distance[success].mean()) if success.any() else None,
        "binary_search_steps": int(binary_search_steps),
        "max_iterations": int(max_iterations),
        "confidence": float(confidence),
    }
    return record, {"cw_counted": clean, "cw_success": success}, x_adv[success]


def targeted_sweep(model, x, y, target, epsilons, steps, step_size, seed):
    """Targeted PGD towards `target` at every radius of `epsilons` (a dict norm -> radii).

    Each radius is attacked on its own (no cumulative success), from a seeded random start.

    Returns:
        `(record, arrays)`: `record[norm]` a list of `{eps, step_size, success, count}`;
        `arrays` the per-example `targeted_counted` (clean-correct, label not the target) and
        `targeted_<norm>_<i>_hit` (adversarial prediction is the target).
    """
    inference = model
    features = int(np.prod(x.shape[1:]))
    clean = attacks.predict_classes(inference, x, batch_size=BATCH_SIZE)
    counted = (clean == y) & (y != target)
    arrays, record = {"targeted_counted": counted}, {}
    for norm in NORMS:
        record[norm] = []
        for i, eps in enumerate(epsilons[norm]):
            step = (
                step_size
                if step_size is not None
                else float(pgd.default_step_size(eps, steps, norm, features))
            )
            x_adv = attacks.pgd_attack(
                inference,
                x,
                target,
                eps=eps,
                norm=norm,
                steps=steps,
                step_size=step,
                targeted=True,
                batch_size=BATCH_SIZE,
                seed=seed,
            )
            rate, count = attacks.targeted_success_rate(
                inference, x, x_adv, y, target, batch_size=BATCH_SIZE
            )
            hit = attacks.predict_classes(inference, x_adv, batch_size=BATCH_SIZE) == target
            arrays[f"targeted_{norm}_{i}_hit"] = hit
            record[norm].append(
                {"eps": float(eps), "step_size": step, "success": rate, "count": count}
            )
    return record, arrays


def _sampled_classes(model, x, seed):
    """One draw of z per example: the prediction of the sampled model (direct calls)."""
    if not len(x):
        return np.zeros(0, "int64")
    return np.argmax(gradients.predict_logits(model, x, batch_size=BATCH_SIZE, seed=seed), -1)


def protocol_evaluation(model, data, preset, seed):
    """The measurements of the paper's protocol, z sampled at evaluation (see the module).

    Returns:
        `(record, arrays)`: `record` with `accuracy`, `ood` (metrics per set and score, one
        draw), `targeted` (per radius: success of plain PGD and of EOT PGD on the sampled
        model), `cw` (success on the sampled model) and `apgd` (per radius: accuracy under
        APGD-CE plain and with EOT); `arrays` the per-example values, prefixed `sampled_`.
    """
    net = model
    n = preset.protocol_examples
    x, y = data.x_test[:n], np.asarray(data.y_test[:n])
    target = preset.target_class
    record, arrays = {"num_examples": int(len(x)), "eot_samples": int(preset.eot_samples)}, {}
    with inference_lib.sampling_at_inference(net):
        clean = _sampled_classes(net, x, seed)
        arrays["sampled_correct"] = clean == y
        record["accuracy"] = float(np.mean(clean == y))
        # Table 1's R and H from one draw of z per example.
        kwargs = dict(num_samples=1, estimator="sample", batch_size=BATCH_SIZE)
        in_scores = scores_lib.ood_scores(net, data.x_in, **kwargs)
        record["ood"] = {}
        for name, x_out in data.ood_sets.items():
            out_scores = scores_lib.ood_scores(net, x_out, **kwargs)
            record["ood"][name] = {}
            for score in ("rate", "entropy"):
                if score not in out_scores:
                    continue
                arrays[f"sampled_ood_{name}_{score}"] = out_scores[score]
                arrays[f"sampled_ood_in_{score}"] = in_scores[score]
                record["ood"][name][score] = evaluation.ood_metrics(
                    in_scores[score],
                    out_scores[score],
                    higher_is_in_distribution=scores_lib.SCORE_DIRECTIONS[score],
                )
        counted = (clean == y) & (y != target)
        arrays["sampled_targeted_counted"] = counted
        record["targeted"], record["apgd"] = [], []
        features = int(np.prod(x.shape[1:]))
        for i, eps in enumerate(preset.protocol_linf_epsilons):
            step = float(pgd.default_step_size(eps, preset.attack_steps, "linf", features))
            row = {"eps": float(eps), "count": int(counted.sum())}
            for kind, draws in (("plain", 1), ("eot", preset.eot_samples)):
                x_adv = attacks.pgd_attack(
                    net,
                    x,
                    target,
                    eps=eps,
                    steps=preset.attack_steps,
                    step_size=step,
                    targeted=True,
                    num_samples=draws,
                    batch_size=BATCH_SIZE,
                    seed=seed,
                )
                hit = _sampled_classes(net, x_adv, seed) == target
                arrays[f"sampled_targeted_{i}_{kind}_hit"] = hit
                row[kind] = float(hit[counted].mean()) if counted.any() else None
            record["targeted"].append(row)
            row = {"eps": float(eps)}
            for kind, draws in (("plain", 1), ("eot", preset.eot_samples)):
                x_adv = attacks.apgd_attack(
                    net,
                    x,
                    y,
                    eps=eps,
                    steps=preset.apgd_steps,
                    num_samples=draws,
                    batch_size=BATCH_SIZE,
                    seed=seed,
                )
                correct = _sampled_classes(net, x_adv, seed) == y
                arrays[f"sampled_apgd_{i}_{kind}_correct"] = correct
                row[kind] = float(correct.mean())
            record["apgd"].append(row)
        m = preset.protocol_cw_examples
        if m:
            x_cw, y_cw = data.x_test[:m], np.asarray(data.y_test[:m])
            x_adv = attacks.carlini_wagner_l2(
                net,
                x_cw,
                y_cw,
                binary_search_steps=preset.cw_binary_search_steps,
                max_iterations=preset.cw_max_iterations,
                batch_size=BATCH_SIZE,
                seed=seed,
            )
            ok = _sampled_classes(net, x_cw, seed) == y_cw
            fooled = _sampled_classes(net, x_adv, seed) != y_cw
            arrays["sampled_cw_counted"], arrays["sampled_cw_success"] = ok, ok & fooled
            record["cw"] = {
                "success": float(fooled[ok].mean()) if ok.any() else None,
                "count": int(ok.sum()),
            }
    return record, arrays


ROBUST_ATTACKS = ("pgd", "apgd-ce", "apgd-t", "square")
AUTOATTACK = "autoattack"


def robust_accuracy(model, x, y, epsilons, preset, seed):
    """Untargeted robust accuracy of `model` under each attack and their union, per radius.

    Returns:
        `(record, arrays)`: `record["linf"]` a list, per radius, of
        `{eps, <attack>: accuracy, autoattack: accuracy}`, and `record["sanity"]` the
        accuracy under an unbounded APGD-CE (L-inf 1, 10 steps) and under APGD-CE with a tenth
        of the steps at the largest radius; `arrays` the per-example correctness
        `robust_linf_<i>_<attack>`.
    """
    inference = model
    clean = attacks.predict_classes(inference, x, batch_size=BATCH_SIZE) == y
    arrays, rows = {"robust_clean": clean}, []
    for i, eps in enumerate(epsilons):
        row = {"eps": float(eps)}
        union = clean.copy()
        for name in ROBUST_ATTACKS:
            if name == "pgd":
                x_adv = attacks.pgd_attack(
                    inference,
                    x,
                    y,
                    eps=eps,
                    steps=preset.attack_steps,
                    batch_size=BATCH_SIZE,
                    seed=seed,
                )
            elif name == "square":
                x_adv = attacks.square_attack(
                    inference,
                    x,
                    y,
                    eps=eps,
                    queries=preset.square_queries,
                    batch_size=BATCH_SIZE,
                    seed=seed,
                )
            else:
                x_adv = attacks.apgd_attack(
                    inference,
                    x,
                    y,
                    eps=eps,
                    loss="ce" if name == "apgd-ce" else "dlr",
                    targeted=name == "apgd-t",
                    steps=preset.apgd_steps,
                    num_targets=preset.apgd_targets,
                    batch_size=BATCH_SIZE,
                    seed=seed,
                )
            correct = attacks.predict_classes(inference, x_adv, batch_size=BATCH_SIZE) == y
            arrays[f"robust_linf_{i}_{name}"] = correct
            row[name] = float(correct.mean())
            if name != "pgd":  # AutoAttack's members
                union &= correct
        arrays[f"robust_linf_{i}_{AUTOATTACK}"] = union
        row[AUTOATTACK] = float(union.mean())
        rows.append(row)
    unbounded = attacks.apgd_attack(
        inference, x, y, eps=1.0, steps=10, batch_size=BATCH_SIZE, seed=seed
    )
    short = attacks.apgd_attack(
        inference,
        x,
        y,
        eps=max(epsilons),
        steps=max(preset.apgd_steps // 10, 1),
        batch_size=BATCH_SIZE,
        seed=seed,
    )
    sanity = {
        "unbounded_accuracy": float(
            np.mean(attacks.predict_classes(inference, unbounded, batch_size=BATCH_SIZE) == y)
        ),
        "short_apgd_steps": max(preset.apgd_steps // 10, 1),
        "short_apgd_accuracy": float(
            np.mean(attacks.predict_classes(inference, short, batch_size=BATCH_SIZE) == y)
        ),
    }
    return {"linf": rows, "sanity": sanity, "num_examples": int(len(x))}, arrays


def evaluate_model(model, data, preset, seed, name=None):
    """Every measurement of one trained model.

    Args:
        model: The trained classifier (as saved: a CEB model with the MLP head takes the labels
            too).
        data: The `ReproductionData` of the dataset.
        preset: The `Preset`.
        seed: Seed of the attacks' random starts.
        name: The model's name in the plan (`ceb_rho0`): the robust accuracy is measured for
            the names in `preset.robust_models`.

    Returns:
        `(record, arrays)`: a JSON-ready dict (`accuracy`, `ood`, `cw`, `targeted`, `seconds`)
        and the per-example arrays.
    """
    seconds, cpu_seconds = {}, {}
    clock = _Clock(seconds, cpu_seconds)
    clock.start()
    x_test, y_test = data.x_test[: preset.test_examples], data.y_test[: preset.test_examples]
    correct = accuracy(model, x_test, y_test)
    record = {"accuracy": float(correct.mean()), "num_test": int(len(correct))}
    arrays = {"correct": correct}
    clock.stop("accuracy")

    clock.start()
    n = preset.cw_examples if preset.cw_models is None or name in preset.cw_models else 0
    ood_sets, in_sets = dict(data.ood_sets), {}
    if n:
        record["cw"], cw_arrays, x_cw = carlini_wagner(
            model,
            data.x_test[:n],
            data.y_test[:n],
            preset.cw_binary_search_steps,
            preset.cw_max_iterations,
            seed,
        )
        arrays.update(cw_arrays)
        if len(x_cw):
            ood_sets[CW_SET] = x_cw
            # Against their own clean originals: balanced classes, a paired comparison (a few
            # dozen adversarial images against thousands of test images would inflate AUPR-In).
            in_sets[CW_SET] = data.x_test[:n][cw_arrays["cw_success"]]
    clock.stop("cw")

    clock.start()
    reference = evaluation.FeatureDetectors().fit(
        model,
        data.x_train[: preset.reference_examples],
        np.asarray(data.y_train[: preset.reference_examples]),
        batch_size=BATCH_SIZE,
    )
    record["ood"], ood_arrays = ood_evaluation(model, data.x_in, ood_sets, in_sets, reference)
    record["ood_sizes"] = {
        "in": int(len(data.x_in)),
        **{name: int(len(x)) for name, x in ood_sets.items()},
        **{f"{name}_in": int(len(x)) for name, x in in_sets.items()},
    }
    arrays.update(ood_arrays)
    clock.stop("ood")

    clock.start()
    x_attack = data.x_test[: preset.attack_examples]
    y_attack = np.asarray(data.y_test[: preset.attack_examples])
    record["targeted"], targeted_arrays = targeted_sweep(
        model,
        x_attack,
        y_attack,
        preset.target_class,
        {"linf": preset.linf_epsilons, "l2": preset.l2_epsilons},
        preset.attack_steps,
        preset.attack_step_size,
        seed,
    )
    record["target_class"] = int(preset.target_class)
    arrays.update(targeted_arrays)
    clock.stop("targeted")

    if name in preset.robust_models:
        clock.start()
        n = preset.robust_examples
        record["robust"], robust_arrays = robust_accuracy(
            model,
            data.x_test[:n],
            np.asarray(data.y_test[:n]),
            preset.robust_linf_epsilons,
            preset,
            seed,
        )
        arrays.update(robust_arrays)
        clock.stop("robust")
    if name in preset.protocol_models:
        clock.start()
        record["sampled"], sampled_arrays = protocol_evaluation(model, data, preset, seed)
        arrays.update(sampled_arrays)
        clock.stop("sampled")
    record["seconds"], record["cpu_seconds"] = seconds, cpu_seconds
    return record, arrays


class _Clock:
    """Wall and CPU (all threads) seconds of the parts of an evaluation."""

    def __init__(self, seconds, cpu_seconds):
        self.seconds, self.cpu_seconds = seconds, cpu_seconds

    def start(self):
        self.wall, self.cpu = time.monotonic(), time.process_time()

    def stop(self, part):
        self.seconds[part] = time.monotonic() - self.wall
        self.cpu_seconds[part] = time.process_time() - self.cpu
