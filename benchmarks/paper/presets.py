"""Presets of `python -m benchmarks.paper` and the plan of work they make.

A `Preset` holds every size of a reproduction: which models (`ModelSpec`), the backbone and
head, the training schedule, and every evaluation size (attack examples and radii, OoD and
Carlini-Wagner examples, calibration snapshots, memorization, bootstrap resamples). `plan`
turns a preset and a number of seeds into the ordered list of `Unit`s that the runner executes
and the progress bar counts.
"""

import dataclasses
import math
import numbers

from keras_ceb import validation

UNIT_KINDS = ("train", "evaluate", "memorize", "report")
# The paper's Fashion-MNIST models (section 3.1): CEB at rho in {-1, ..., 5}, VIB at 0 and 4.
PAPER_CEB_RHOS = (-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
PAPER_VIB_RHOS = (0.0, 4.0)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model of the plan: an objective and its rho (`None` for Determ).

    Examples:

        >>> ModelSpec("ceb", 0.0).name, ModelSpec("ceb", -1.0).label, ModelSpec("determ").name
        ('ceb_rho0', 'CEB-1', 'determ')
    """

    objective: str
    rho: float = None

    def __post_init__(self):
        validation.one_of(self.objective, validation.OBJECTIVES, "objective")
        if self.objective == "determ":
            if self.rho is not None:
                raise ValueError(f"A Determ model has no rho. Received: rho={self.rho!r}")
        else:
            object.__setattr__(self, "rho", validation.finite_float(self.rho, "rho"))

    @property
    def name(self):
        """Folder-safe name: `determ`, `ceb_rho0`, `vib_rho4`, `ceb_rho-1`."""
        return "determ" if self.rho is None else f"{self.objective}_rho{self.rho:g}"

    @property
    def label(self):
        """The paper's short name: `Determ`, `CEB0`, `VIB4`, `CEB-1`."""
        return "Determ" if self.rho is None else f"{self.objective.upper()}{self.rho:g}"


def _spec_from_name(name):
    if name == "determ":
        return ModelSpec("determ")
    objective, _, rho = name.partition("_rho")
    try:
        return ModelSpec(objective, float(rho))
    except ValueError:
        raise ValueError(
            "A model name must be `determ` or `<ceb|vib>_rho<number>`, e.g. `ceb_rho0`. "
            f"Received: name={name!r}"
        ) from None


def model_spec(name):
    """The `ModelSpec` of a name such as `"ceb_rho0"` or `"determ"`.

    Examples:

        >>> model_spec("vib_rho4")
        ModelSpec(objective='vib', rho=4.0)
    """
    return _spec_from_name(name)


@dataclasses.dataclass(frozen=True)
class Preset:
    """Every size of one reproduction. Build variants with `dataclasses.replace`.

    Attributes:
        name: Preset name (`"cpu"`, `"gpu"`, `"tiny"`).
        description: One line: what it is for and how long it takes.
        ceb_rhos: rho of each CEB model.
        vib_rhos: rho of each VIB model.
        determ: Whether the plan has Determ.
        backbone: `"small_convnet"` or `"wide_resnet"`.
        backbone_kwargs: Arguments of the backbone builder, as `(name, value)` pairs.
        head: `"mlp"` (the paper's c(y|z)) or `"consistent"`.
        latent_dim: Dimension of z (the paper's 4).
        marginal_components: Components of the marginal m(z) (the paper's 240).
        covariance: `"full"` or `"diag"`.
        epochs: Training epochs of every model.
        batch_size: Training batch size (also the batch of the I(X;Z) bound).
        learning_rate: Adam's initial learning rate.
        lr_schedule: `"cosine"` (decay to 0 over training) or `"constant"`.
        rho_anneal_offset: Start rho at rho + this and anneal linearly to rho (as
            `keras-ceb train` does); `None` for no anneal. Never for Determ.
        rho_anneal_epochs: Length of the anneal (cut to `epochs - 1`).
        train_examples: Train on the first this many training images (`None`: all 60,000).
        information_examples: Test images of the held-out I(X;Z) bound, every epoch.
        calibration_examples: Test images of the reliability diagrams.
        calibration_bins: Confidence bins (20: the paper's 5% bins).
        calibration_interval: Coverage of the per-bin accuracy intervals (the paper's 90%).
        test_examples: Test images of the accuracy (`None`: all 10,000).
        attack_examples: Test images attacked by targeted PGD.
        attack_steps: PGD steps (the paper's 7).
        attack_step_size: PGD step size; `None` for `pgd_attack`'s default.
        target_class: Target of the targeted attacks (1, "Trouser").
        linf_epsilons: L-inf radii of the sweep (images in [0, 1]).
        l2_epsilons: L2 radii of the sweep.
        ood_examples: Images of each OoD set and of the in-distribution test set.
        cw_examples: Test images attacked by Carlini-Wagner L2 (an OoD set).
        cw_binary_search_steps: CW binary-search steps (cleverhans: 5).
        cw_max_iterations: CW iterations per step (cleverhans: 1000).
        cw_models: Names of the models attacked by CW-L2 (the CW set of Table 1); `None` for
            every model.
        protocol_models: Names of the (CEB or VIB) models also measured under the paper's
            evaluation protocol, z sampled at evaluation (appendix A.1): accuracy, Table 1's
            scores from one draw, targeted PGD with and without EOT, CW-L2 and APGD-CE with and
            without EOT.
        protocol_examples: Test images of the sampled-protocol attacks and accuracy.
        protocol_linf_epsilons: L-inf radii of the sampled-protocol targeted PGD and APGD-CE.
        eot_samples: Draws of z averaged per gradient step by the EOT attacks.
        protocol_cw_examples: Test images of the CW-L2 attack on the sampled model.
        robust_models: Names of the models whose untargeted robust accuracy is measured by
            PGD, APGD-CE, APGD-T, Square and their AutoAttack-style union.
        robust_examples: Test images of the robust accuracy.
        robust_linf_epsilons: L-inf radii of the robust accuracy.
        apgd_steps: Steps of each APGD run (AutoAttack: 100).
        apgd_targets: Target classes of APGD-T (AutoAttack: 9).
        square_queries: Queries of the Square attack (AutoAttack: 5,000).
        reference_examples: Training images the Mahalanobis and KNN detectors are fitted on.
        memorization_models: Names of the models trained on random labels.
        memorization_examples: Training images with random labels.
        memorization_epochs: Epochs of a memorization run.
        memorization_accuracy_examples: Training images whose accuracy is measured after every
            epoch of a memorization run (the first ones; `None`: all).
        confidence: Coverage of the intervals over seeds and of the bootstrap (0.95).
        bootstrap_resamples: Resamples of the bootstrap over test examples (one seed).
        bootstrap_seed: Seed of the bootstrap.
        estimated_minutes: Estimated wall time of one seed on the intended machine, or `None`.
        estimate_note: How `estimated_minutes` was obtained.
    """

    name: str
    description: str
    ceb_rhos: tuple = PAPER_CEB_RHOS
    vib_rhos: tuple = PAPER_VIB_RHOS
    determ: bool = True
    backbone: str = "small_convnet"
    backbone_kwargs: tuple = ()
    head: str = "mlp"
    latent_dim: int = 4
    marginal_components: int = 240
    covariance: str = "full"
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    rho_anneal_offset: float = 3.0
    rho_anneal_epochs: int = 5
    train_examples: int = None
    information_examples: int = 1000
    calibration_examples: int = 2000
    calibration_bins: int = 20
    calibration_interval: float = 0.90
    test_examples: int = None
    attack_examples: int = 1000
    attack_steps: int = 7
    attack_step_size: float = None
    target_class: int = 1
    linf_epsilons: tuple = (0.03, 0.1, 0.2, 0.3)
    l2_epsilons: tuple = (0.5, 1.0, 2.0, 3.0)
    ood_examples: int = 2000
    cw_examples: int = 100
    cw_binary_search_steps: int = 5
    cw_max_iterations: int = 1000
    cw_models: tuple = None
    protocol_models: tuple = ()
    protocol_examples: int = 500
    protocol_linf_epsilons: tuple = (0.1,)
    eot_samples: int = 16
    protocol_cw_examples: int = 100
    robust_models: tuple = ()
    robust_examples: int = 500
    robust_linf_epsilons: tuple = (0.03, 0.1)
    apgd_steps: int = 100
    apgd_targets: int = 9
    square_queries: int = 5000
    reference_examples: int = 10000
    memorization_models: tuple = ("determ", "ceb_rho0")
    memorization_examples: int = 5000
    memorization_epochs: int = 20
    memorization_accuracy_examples: int = None
    confidence: float = 0.95
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0
    estimated_minutes: float = None
    estimate_note: str = ""

    def __post_init__(self):
        for name in (
            "epochs",
            "batch_size",
            "latent_dim",
            "marginal_components",
            "information_examples",
            "calibration_examples",
            "calibration_bins",
            "attack_examples",
            "attack_steps",
            "ood_examples",
            "memorization_examples",
            "memorization_epochs",
            "bootstrap_resamples",
            "cw_binary_search_steps",
            "cw_max_iterations",
            "robust_examples",
            "apgd_steps",
            "apgd_targets",
            "square_queries",
            "reference_examples",
            "protocol_examples",
            "eot_samples",
        ):
            validation.positive_int(getattr(self, name), name)
        for name in ("train_examples", "test_examples", "memorization_accuracy_examples"):
            if getattr(self, name) is not None:
                validation.positive_int(getattr(self, name), name)
        for name in (
            "rho_anneal_epochs",
            "cw_examples",
            "target_class",
            "bootstrap_seed",
            "protocol_cw_examples",
        ):
            _non_negative_int(getattr(self, name), name)
        validation.one_of(self.head, ("mlp", "consistent"), "head")
        validation.one_of(self.lr_schedule, ("cosine", "constant"), "lr_schedule")
        validation.one_of(self.covariance, ("full", "diag"), "covariance")
        validation.positive_float(self.learning_rate, "learning_rate")
        for name in ("confidence", "calibration_interval"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and 0.0 < value < 1.0):
                raise ValueError(f"`{name}` must be in (0, 1). Received: {name}={value!r}")
        if self.rho_anneal_offset is not None:
            validation.finite_float(self.rho_anneal_offset, "rho_anneal_offset")
        if self.attack_step_size is not None:
            validation.positive_float(self.attack_step_size, "attack_step_size")
        for name in ("ceb_rhos", "vib_rhos"):
            object.__setattr__(
                self,
                name,
                tuple(validation.finite_float(rho, name) for rho in getattr(self, name)),
            )
        for name in (
            "linf_epsilons",
            "l2_epsilons",
            "robust_linf_epsilons",
            "protocol_linf_epsilons",
        ):
            values = tuple(getattr(self, name))
            if not values or any(
                isinstance(v, bool)
                or not isinstance(v, numbers.Real)
                or not math.isfinite(v)
                or v <= 0
                for v in values
            ):
                raise ValueError(
                    f"`{name}` must be a non-empty tuple of positive numbers. "
                    f"Received: {name}={values!r}"
                )
            object.__setattr__(self, name, tuple(sorted(float(v) for v in values)))
        object.__setattr__(self, "backbone_kwargs", tuple(self.backbone_kwargs))
        if not self.models:
            raise ValueError(
                "A preset needs at least one model. "
                f"Received: ceb_rhos={self.ceb_rhos!r}, vib_rhos={self.vib_rhos!r}, "
                f"determ={self.determ!r}"
            )
        names = {spec.name for spec in self.models}
        if self.cw_models is not None:
            object.__setattr__(self, "cw_models", tuple(self.cw_models))
        for field in ("memorization_models", "robust_models", "protocol_models") + (
            ("cw_models",) if self.cw_models is not None else ()
        ):
            object.__setattr__(self, field, tuple(getattr(self, field)))
            for name in getattr(self, field):
                if model_spec(name).name not in names:
                    raise ValueError(
                        f"Every model of `{field}` must be in the plan ({sorted(names)}). "
                        f"Received: {field}={getattr(self, field)!r}"
                    )
        for name in self.protocol_models:
            if model_spec(name).objective == "determ":
                raise ValueError(
                    "`protocol_models` must be CEB or VIB models: Determ has no z "
                    f"to sample. Received: protocol_models={self.protocol_models!r}"
                )

    @property
    def models(self):
        """The `ModelSpec`s of the plan: Determ, then VIB, then CEB, by rho."""
        specs = [ModelSpec("determ")] if self.determ else []
        specs += [ModelSpec("vib", rho) for rho in self.vib_rhos]
        specs += [ModelSpec("ceb", rho) for rho in self.ceb_rhos]
        return specs

    @property
    def anneal_epochs(self):
        """Epochs of the rho anneal, cut so that at least the last epoch trains at rho."""
        if self.rho_anneal_offset is None:
            return 0
        return min(self.rho_anneal_epochs, self.epochs - 1)

    @property
    def calibration_epochs(self):
        """The three epochs (1-based) of the reliability diagrams: first, middle and last."""
        return tuple(sorted({1, (self.epochs + 1) // 2, self.epochs}))

    def training_config(self):
        """The fields a trained model depends on (a finished model is kept only if they match)."""
        return {name: _jsonable(getattr(self, name)) for name in TRAINING_FIELDS}

    def evaluation_config(self):
        """The fields an evaluation depends on (a cached evaluation is kept only if they match)."""
        return {name: _jsonable(getattr(self, name)) for name in EVALUATION_FIELDS}

    def memorization_config(self):
        """The fields a memorization run depends on."""
        return {name: _jsonable(getattr(self, name)) for name in MEMORIZATION_FIELDS}

    def to_dict(self):
        """Every field, JSON-ready."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


TRAINING_FIELDS = (
    "backbone",
    "backbone_kwargs",
    "head",
    "latent_dim",
    "marginal_components",
    "covariance",
    "epochs",
    "batch_size",
    "learning_rate",
    "lr_schedule",
    "rho_anneal_offset",
    "rho_anneal_epochs",
    "train_examples",
    "information_examples",
    "calibration_examples",
)
EVALUATION_FIELDS = (
    "test_examples",
    "attack_examples",
    "attack_steps",
    "attack_step_size",
    "target_class",
    "linf_epsilons",
    "l2_epsilons",
    "ood_examples",
    "cw_examples",
    "cw_binary_search_steps",
    "cw_max_iterations",
    "robust_models",
    "robust_examples",
    "robust_linf_epsilons",
    "apgd_steps",
    "apgd_targets",
    "square_queries",
    "reference_examples",
    "cw_models",
    "protocol_models",
    "protocol_examples",
    "protocol_linf_epsilons",
    "eot_samples",
    "protocol_cw_examples",
)
MEMORIZATION_FIELDS = (
    "backbone",
    "backbone_kwargs",
    "head",
    "latent_dim",
    "marginal_components",
    "covariance",
    "batch_size",
    "learning_rate",
    "lr_schedule",
    "memorization_examples",
    "memorization_epochs",
    "memorization_accuracy_examples",
)


def _non_negative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer. Received: {name}={value!r}")
    return int(value)


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class Unit:
    """One step of the plan: train, evaluate or memorize one model at one seed, or the report.

    Examples:

        >>> Unit("train", ModelSpec("ceb", 0.0), 1).key
        'train ceb_rho0_seed1'
    """

    kind: str
    spec: ModelSpec = None
    seed: int = None

    @property
    def folder_name(self):
        return f"{self.spec.name}_seed{self.seed}"

    @property
    def key(self):
        return self.kind if self.spec is None else f"{self.kind} {self.folder_name}"


def seed_list(seeds):
    """The seeds of `--seeds N`: `0, 1, ..., N - 1`.

    Examples:

        >>> seed_list(3)
        [0, 1, 2]
    """
    return list(range(validation.positive_int(seeds, "seeds")))


def plan(preset, seeds):
    """The ordered units of a reproduction: per seed, each model trained then evaluated; then
    the memorization runs; then the report.

    Args:
        preset: A `Preset`.
        seeds: Number of seeds (`--seeds`).

    Returns:
        A list of `Unit`s.

    Examples:

        >>> units = plan(Preset("x", "", ceb_rhos=(0.0,), vib_rhos=(),
        ...                     memorization_models=("determ",)), seeds=1)
        >>> [unit.key for unit in units]
        ['train determ_seed0', 'evaluate determ_seed0', 'train ceb_rho0_seed0',
         'evaluate ceb_rho0_seed0', 'memorize determ_seed0', 'report']
    """
    units = []
    for seed in seed_list(seeds):
        for spec in preset.models:
            units += [Unit("train", spec, seed), Unit("evaluate", spec, seed)]
    for seed in seed_list(seeds):
        for name in preset.memorization_models:
            units.append(Unit("memorize", model_spec(name), seed))
    units.append(Unit("report"))
    return units
