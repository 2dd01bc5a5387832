"""AutoAttack's ensembles: APGD-CE, APGD-T, FAB-T and Square, or APGD with EOT (sampling
models)."""

import dataclasses

import numpy as np

from keras_ceb.attacks import gradients
from keras_ceb.attacks.apgd import apgd_attack
from keras_ceb.attacks.fab import fab_t_attack
from keras_ceb.attacks.square import square_attack

VERSIONS = ("standard", "rand")
# AutoAttack's `rand` version averages each gradient over 20 draws (`eot_iter=20`).
RAND_SAMPLES = 20


@dataclasses.dataclass
class AutoAttackResult:
    """What `auto_attack` found.

    Attributes:
        x_adv: The adversarial examples (the clean image where no attack succeeded).
        robust: Per example, whether the model still classifies it correctly after every
            attack (False for examples misclassified when clean).
        broken_by: Per example, the attack that broke it (`"clean"` for examples misclassified
            when clean, `""` for robust ones).
        attacks: The attacks run, in order.
        version: `"standard"` or `"rand"`.
    """

    x_adv: np.ndarray
    robust: np.ndarray
    broken_by: np.ndarray
    attacks: tuple
    version: str

    @property
    def clean_accuracy(self):
        """Share of examples classified correctly when clean."""
        return float(np.mean(self.broken_by != "clean")) if len(self.robust) else float("nan")

    @property
    def robust_accuracy(self):
        """Share of examples that no attack broke."""
        return float(np.mean(self.robust)) if len(self.robust) else float("nan")

    def broken_counts(self):
        """`{attack: examples it broke}`, with `"clean"` first."""
        return {name: int(np.sum(self.broken_by == name)) for name in ("clean",) + self.attacks}


def default_version(model):
    """`"rand"` when an encoder of `model` samples z at inference, else `"standard"`."""
    encoders = gradients.sampling_encoders(model)
    return "rand" if any(e.inference == "sample" for e in encoders) else "standard"


def auto_attack(
    model,
    x,
    y,
    *,
    eps,
    norm="linf",
    version=None,
    steps=100,
    num_targets=9,
    queries=5000,
    num_samples=None,
    clip_min=0.0,
    clip_max=1.0,
    batch_size=256,
    seed=None,
):
    """Robust accuracy by an ensemble of attacks, each run on the examples still correct.

    The protocol of AutoAttack (Croce & Hein, 2020), from this package's attacks:

    - `version="standard"`: APGD-CE, then APGD-T (targeted DLR over the `num_targets` classes
      ranked highest after the true one), then FAB-T (the targeted minimum-norm attack over the
      same classes), then the gradient-free Square attack with `queries` queries: AutoAttack's
      standard version.
    - `version="rand"`, for models whose forward pass is random (a `StochasticEncoder` with
      `inference="sample"`): APGD-CE and APGD-DLR, each gradient averaged over `num_samples`
      draws of z (EOT; AutoAttack: 20).
    - `version=None` chooses `"rand"` when an encoder of the model samples z at inference.
    - With fewer classes than a DLR loss needs (4 for the targeted one, 3 for the other), that
      member uses the cross-entropy instead.

    An example counts as robust when the model, run as it runs at inference, still classifies
    every attack's output correctly (for a sampling model, one draw per check, as in
    AutoAttack's `rand` evaluation). Examples misclassified when clean are not attacked.

    Args:
        model: Keras model mapping inputs in `[clip_min, clip_max]` to logits.
        x: Clean inputs (images `[N, H, W, C]` for the Square attack).
        y: True integer (or one-hot) labels.
        eps: Radius in the metric `norm`.
        norm: `"linf"` or `"l2"`.
        version: `"standard"`, `"rand"` or `None` (see above).
        steps: Steps of each APGD and FAB-T run (AutoAttack: 100).
        num_targets: Target classes of APGD-T and FAB-T (AutoAttack: 9; at most the classes
            less one).
        queries: Queries of the Square attack (AutoAttack: 5,000).
        num_samples: Draws of z per gradient in the `rand` version; default 20.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.
        batch_size: Examples per compiled call.
        seed: Non-negative integer seed of every attack.

    Returns:
        An `AutoAttackResult` (`robust_accuracy`, `robust`, `broken_by`, `x_adv`).

    Examples:

        ```python
        result = auto_attack(model, x_test[:500], y_test[:500], eps=0.1, seed=0)
        result.robust_accuracy, result.broken_counts()
        ```

    References:
        Croce and Hein. Reliable evaluation of adversarial robustness with an ensemble of
        diverse parameter-free attacks. ICML 2020.
    """
    version = default_version(model) if version is None else version
    if version not in VERSIONS:
        raise ValueError(
            f"Argument `version` must be one of {VERSIONS} or None. Received: version={version!r}"
        )
    if num_samples is None:
        num_samples = RAND_SAMPLES if version == "rand" else 1
    gradients.check_num_samples(model, num_samples)
    x, labels, out_dtype, num_classes = gradients.prepare_inputs(model, x, y, clip_min, clip_max)
    eps = gradients.per_example(eps, len(x), "eps")
    common = dict(
        eps=None, norm=norm, clip_min=clip_min, clip_max=clip_max, batch_size=batch_size, seed=seed
    )
    classes = num_classes or 4
    # The DLR losses need 3 (untargeted) or 4 (targeted) classes; below, the cross-entropy.
    if version == "standard":
        plan = (
            ("apgd-ce", apgd_attack, dict(loss="ce", steps=steps)),
            (
                "apgd-t",
                apgd_attack,
                dict(
                    loss="dlr" if classes >= 4 else "ce",
                    targeted=True,
                    steps=steps,
                    num_targets=min(num_targets, classes - 1),
                ),
            ),
            (
                "fab-t",
                fab_t_attack,
                dict(steps=steps, num_targets=min(num_targets, classes - 1)),
            ),
            ("square", square_attack, dict(queries=queries)),
        )
    else:
        plan = (
            ("apgd-ce", apgd_attack, dict(loss="ce", steps=steps, num_samples=num_samples)),
            (
                "apgd-dlr",
                apgd_attack,
                dict(loss="dlr" if classes >= 3 else "ce", steps=steps, num_samples=num_samples),
            ),
        )
    names = tuple(name for name, _, _ in plan)
    x_adv = x.copy()
    broken_by = np.full(len(x), "", dtype=object)
    if len(x):
        correct = _correct(model, x, labels, batch_size, seed)
        broken_by[~correct] = "clean"
        for name, attack, kwargs in plan:
            active = np.flatnonzero(broken_by == "")
            if not len(active):
                break
            found = attack(
                model, x[active], labels[active], **{**common, **kwargs, "eps": eps[active]}
            )
            fooled = ~_correct(model, found, labels[active], batch_size, seed)
            x_adv[active[fooled]] = found[fooled]
            broken_by[active[fooled]] = name
    return AutoAttackResult(
        x_adv=x_adv.astype(out_dtype, copy=False),
        robust=broken_by == "",
        broken_by=broken_by.astype(str),
        attacks=names,
        version=version,
    )


def _correct(model, x, labels, batch_size, seed):
    logits = gradients.predict_logits(model, x, batch_size=batch_size, seed=seed)
    return np.argmax(logits, axis=-1) == labels
