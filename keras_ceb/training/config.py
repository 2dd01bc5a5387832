"""`TrainConfig`: every setting of a training run, typed and frozen, and the source of
`keras-ceb train`'s options.

Each field carries its command-line help, type and metavar (`dataclasses.field(metadata=...)`),
so `keras_ceb.cli` derives the `train` parser from the fields, as Hugging Face's
`HfArgumentParser` derives its options from `TrainingArguments`: an option cannot drift from
the config. `to_json` / `from_json` round-trip what `metrics.json` records under `"config"`.
Nothing here imports Keras.
"""

import dataclasses
import json
import pathlib
from typing import Optional
from typing import Union

from keras_ceb import console
from keras_ceb import validation
from keras_ceb.training import recipe_presets

DISTRIBUTE_CHOICES = ("none", "data-parallel")
AUGMENTATIONS = ("none", "crop_flip", "autoaugment")
LR_SCHEDULES = ("cosine", "constant", "step")
HEADS = ("consistent", "mlp", "catgen")  # keras_ceb.models.HEADS
BACKBONES = ("small_convnet", "wide_resnet")
COVARIANCES = ("full", "diag")
RHO_HELP = (
    "rho = log gamma: 0 targets the Minimum Necessary Information point; larger keeps more "
    "information about X"
)
# The default anneal starts at rho + 3 and reaches rho after 5 epochs. Measured on
# Fashion-MNIST, CEB at rho=0, 20 epochs: 92.2% test accuracy with it, 90.3% without
# (benchmarks/main_job.md).
RHO_ANNEAL_AUTO_OFFSET = 3.0
DEFAULT_RHO_ANNEAL_EPOCHS = 5
DEFAULT_EPOCHS = 20
DEFAULT_BATCH_SIZE = 128
DEFAULT_LEARNING_RATE = 1e-3


def _option(default, help, *, parse=None, metavar=None, choices=None, action=None, flag=None):
    """A field with its command-line option: `parse` turns the option's text into the value (a
    type, or the name of a function of `keras_ceb.commands.arguments`)."""
    return dataclasses.field(
        default=default,
        metadata={
            "help": help,
            "parse": parse,
            "metavar": metavar,
            "choices": choices,
            "action": action,
            "flag": flag,
        },
    )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The settings of one `keras_ceb.training.train` run (and of `keras-ceb train`).

    Every field is a `keras-ceb train` option of the same name (`learning_rate` is
    `--learning-rate`; `download=False` is `--no-download`). Fields left `None` where a
    dataset has a recipe (`backbone`, `head`, `augment`, `lr_schedule`) take the dataset's
    recipe (`keras_ceb.training.recipe_presets`); `resolved()` fills them in. Bad values raise a
    `ValueError` naming the field and the value.

    Examples:

        >>> config = TrainConfig(objective="vib", rho=2.0, epochs=3)
        >>> config.resolved().head, config.resolved().lr_schedule
        ('consistent', 'cosine')
        >>> TrainConfig.from_json(config.to_json()) == config
        True
    """

    objective: str = _option(
        "ceb", "training objective (default: ceb)", choices=validation.OBJECTIVES
    )
    rho: float = _option(0.0, f"{RHO_HELP} (default: 0)", parse="finite_float", metavar="RHO")
    rho_anneal: Union[float, str, None] = _option(
        "auto",
        "anneal rho linearly, step by step (the encoder's warm-up), from START down to "
        "--rho over the first --rho-anneal-epochs epochs; 'auto' starts at "
        f"--rho + {RHO_ANNEAL_AUTO_OFFSET:g}, 'off' trains at --rho throughout; ignored for "
        "determ (default: auto)",
        parse="anneal_start",
        metavar="START|auto|off",
    )
    rho_anneal_epochs: int = _option(
        DEFAULT_RHO_ANNEAL_EPOCHS,
        "length of the rho anneal in epochs, at most --epochs - 1 "
        f"(default: {DEFAULT_RHO_ANNEAL_EPOCHS})",
        parse="non_negative_int",
        metavar="N",
    )
    dataset: str = _option(
        "fashion_mnist",
        "dataset name (default: fashion_mnist; also mnist, cifar10)",
        parse="dataset",
        metavar="NAME",
    )
    data_dir: Optional[pathlib.Path] = _option(
        None,
        "folder searched first for the data files (then $KERAS_CEB_DATA, the Keras cache, "
        "/usr/share/datasets)",
        parse=pathlib.Path,
        metavar="DIR",
    )
    download: bool = _option(
        True,
        "never download: fail if no local copy of the data is found",
        action="store_false",
        flag="--no-download",
    )
    max_test_examples: Optional[int] = _option(
        None,
        "evaluate on the first N test examples only (quick runs and tests)",
        parse="positive_int",
        metavar="N",
    )
    batch_size: int = _option(
        DEFAULT_BATCH_SIZE,
        f"batch size (default: {DEFAULT_BATCH_SIZE})",
        parse="positive_int",
        metavar="N",
    )
    epochs: int = _option(
        DEFAULT_EPOCHS,
        f"training epochs (default: {DEFAULT_EPOCHS})",
        parse="positive_int",
        metavar="N",
    )
    learning_rate: float = _option(
        DEFAULT_LEARNING_RATE,
        f"initial Adam learning rate (default: {DEFAULT_LEARNING_RATE:g})",
        parse="positive_float",
        metavar="LR",
    )
    lr_schedule: Optional[str] = _option(
        None,
        "learning-rate schedule: cosine decay to 0 over the run, constant, or step (divided "
        "by 10 at 1/2 and 3/4 of the run) (default: step for cifar10, else cosine)",
        choices=LR_SCHEDULES,
    )
    augment: Optional[str] = _option(
        None,
        "training augmentation: none, pad-crop-flip, or AutoAugment's CIFAR-10 policy then "
        "pad-crop-flip (default: autoaugment for cifar10, else none)",
        choices=AUGMENTATIONS,
    )
    latent_dim: int = _option(
        4,
        "dimension of the bottleneck z (default: 4, as in the paper)",
        parse="positive_int",
        metavar="D",
    )
    covariance: str = _option(
        "full",
        "Gaussian covariance of e(z|x), b(z|y) and m(z) (default: full)",
        choices=COVARIANCES,
    )
    marginal_components: int = _option(
        240,
        "mixture components of the learned marginal m(z), used for the rate; 0 for none "
        "(default: 240, the paper's)",
        parse="non_negative_int",
        metavar="K",
    )
    head: Optional[str] = _option(
        None,
        "classifier head: 'consistent' (softmax of the class Gaussians b(z|y); cheap, one "
        "input), 'mlp' (the paper's two-layer ELU MLP c(y|z), with b(z|y) fed the labels "
        "under CEB) or 'catgen' (bidirectional CatGen CEB, eq. 26, evaluated with the "
        "consistent classifier) (default: catgen for cifar10, else consistent)",
        choices=HEADS,
    )
    backbone: Optional[str] = _option(
        None,
        "feature extractor (default: wide_resnet for cifar10, else small_convnet; "
        "a Wide ResNet wants a GPU: use --wrn-depth 16 --wrn-width 4 or smaller on a CPU)",
        choices=BACKBONES,
    )
    wrn_depth: Optional[int] = _option(
        None,
        "Wide ResNet depth, 6n+4 (default: 28; needs --backbone wide_resnet)",
        parse="positive_int",
        metavar="DEPTH",
    )
    wrn_width: Optional[int] = _option(
        None,
        "Wide ResNet widening factor (default: 10)",
        parse="positive_int",
        metavar="K",
    )
    max_train_examples: Optional[int] = _option(
        None,
        "train on the first N training examples only (quick runs and tests)",
        parse="positive_int",
        metavar="N",
    )
    seed: int = _option(0, "random seed (default: 0)", parse=int, metavar="SEED")
    out: Optional[pathlib.Path] = _option(
        None,
        "output folder (default: runs/<objective>_rho<rho>); an unfinished run there is "
        "resumed, a finished one is kept unless --overwrite",
        parse=pathlib.Path,
        metavar="DIR",
    )
    overwrite: bool = _option(
        False,
        "replace the run in --out (finished or not) instead of refusing or resuming it",
        action="store_true",
    )
    verbose: int = _option(
        console.PROGRESS,
        f"{console.VERBOSE_HELP} (default: 1)",
        parse=int,
        choices=(0, 1, 2, 3),
        metavar="0|1|2|3",
    )
    distribute: str = _option(
        "none",
        "data-parallel: split every batch of --batch-size over all devices, with the "
        "backend's engine (TensorFlow: MirroredStrategy on one host; JAX: keras.distribution, "
        "over the processes that $KERAS_DISTRIBUTION_NUM_PROCESSES, _PROCESS_ID and "
        "_JOB_ADDRESSES describe) (default: none)",
        choices=DISTRIBUTE_CHOICES,
    )

    def __post_init__(self):
        for name in ("data_dir", "out"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, pathlib.Path):
                if not isinstance(value, str):
                    raise ValueError(
                        f"`{name}` must be a path or None. Received: {name}={value!r}"
                    )
                object.__setattr__(self, name, pathlib.Path(value))
        for field in dataclasses.fields(self):
            choices = field.metadata["choices"]
            value = getattr(self, field.name)
            if choices and not (value is None and field.default is None):
                validation.one_of(value, choices, field.name)
        validation.finite_float(self.rho, "rho")
        if self.rho_anneal not in (None, "auto"):
            validation.finite_float(self.rho_anneal, "rho_anneal")
            if self.rho_anneal < self.rho:
                raise ValueError(
                    "`rho_anneal` must start at or above `rho` (the anneal is the encoder's "
                    f"warm-up, which only lowers rho). Received: rho_anneal={self.rho_anneal!r}, "
                    f"rho={self.rho!r}"
                )
        validation.one_of(self.dataset, validation.DATASET_NAMES, "dataset")
        for name in ("batch_size", "epochs", "latent_dim"):
            validation.positive_int(getattr(self, name), name)
        for name in ("rho_anneal_epochs", "marginal_components"):
            validation.non_negative_int(getattr(self, name), name)
        for name in ("max_train_examples", "max_test_examples", "wrn_depth", "wrn_width"):
            if getattr(self, name) is not None:
                validation.positive_int(getattr(self, name), name)
        validation.positive_float(self.learning_rate, "learning_rate")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"`seed` must be an integer. Received: seed={self.seed!r}")
        for name in ("download", "overwrite"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"`{name}` must be True or False. Received: {name}={getattr(self, name)!r}"
                )

    def resolved(self):
        """This config with the dataset's recipe in the fields left `None` (backbone, head,
        augmentation, learning-rate schedule); see `keras_ceb.training.recipe_presets`."""
        recipe = recipe_presets.recipe(self.dataset)
        return dataclasses.replace(
            self, **{key: value for key, value in recipe.items() if getattr(self, key) is None}
        )

    @property
    def anneal_epochs(self):
        """The rho anneal's length in epochs, cut to `epochs - 1` so that at least the last
        epoch trains at `rho`; 0 without an anneal (`rho_anneal=None`, or Determ)."""
        if self.rho_anneal is None or self.objective == "determ":
            return 0
        return max(min(self.rho_anneal_epochs, self.epochs - 1), 0)

    @property
    def anneal_start(self):
        """The rho training starts at (`rho_anneal` resolved), or `None` without an anneal."""
        if self.anneal_epochs == 0:
            return None
        if self.rho_anneal == "auto":
            return self.rho + RHO_ANNEAL_AUTO_OFFSET
        return float(self.rho_anneal)

    @property
    def backbone_kwargs(self):
        """The Wide ResNet's depth and width (28 and 10 unless set); `{}` for other backbones
        (on a resolved config)."""
        if self.backbone == "wide_resnet":
            return {"depth": self.wrn_depth or 28, "width": self.wrn_width or 10}
        return {}

    @property
    def default_out(self):
        """`runs/<objective>_rho<rho>`, where `out` is `None`."""
        return pathlib.Path("runs") / f"{self.objective}_rho{self.rho:g}"

    def to_dict(self):
        """The fields as JSON-ready values (paths as strings)."""
        return {
            field.name: (str(value) if isinstance(value, pathlib.Path) else value)
            for field in dataclasses.fields(self)
            for value in [getattr(self, field.name)]
        }

    def to_json(self):
        """The fields as a JSON object (what `metrics.json` records under `"config"`, less the
        values resolved at run time)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        """A config from `to_json`'s text, or from a `metrics.json` `"config"` object (the
        values resolved at run time, such as `data_files`, are ignored)."""
        data = json.loads(text) if isinstance(text, str) else dict(text)
        if "rho_anneal" not in data and "rho_anneal_start" in data:
            # metrics.json records the anneal as run: its start (None: no anneal) and length.
            data["rho_anneal"] = data["rho_anneal_start"]
        if data.get("marginal_components", 0) is None:  # Recorded as None for none.
            data["marginal_components"] = 0
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})
