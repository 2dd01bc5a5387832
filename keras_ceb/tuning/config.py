"""`TuneConfig`: every option of a rho search (`keras-ceb tune`), typed and checked once."""

import dataclasses
import pathlib
from typing import Optional

from keras_ceb import validation
from keras_ceb.training import config as train_config
from keras_ceb.tuning.objectives import OBJECTIVES as TUNE_OBJECTIVES
from keras_ceb.tuning.rho_tuner import SEARCHES

OOD_SETS = ("mnist", "uniform_noise", "vertical_flip")
DEFAULT_RHO_VALUES = (-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
# The fields that may change between an interrupted search and the run that resumes it.
RESUME_FREE_FIELDS = ("data_dir", "download", "out", "overwrite", "verbose")


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """A rho search: `keras_ceb.tuning.run_search(TuneConfig(...))`, or `keras-ceb tune`.

    Each trial trains `keras_ceb.training.train`'s classifier (the `objective`, `head`,
    `latent_dim`, ... below) at one rho on the training set less `validation_examples`, and
    scores it on those held-out images (`tune_objective`). Errors name the fields.

    Examples:

        >>> config = TuneConfig(search="random", rho_min=0.0, rho_max=4.0, epochs=2)
        >>> config.trials, config.out_folder.as_posix(), config.grid
        (8, 'runs/tune_ceb', None)
        >>> TuneConfig(search="random", rho_min=3.0, rho_max=1.0)
        Traceback (most recent call last):
        ...
        ValueError: `rho_min` must be below `rho_max` for a random or Bayesian search. Received: rho_min=3, rho_max=1
    """  # noqa: E501

    search: str = "grid"
    tune_objective: str = "combined"
    rho_values: Optional[tuple] = None
    rho_min: float = -1.0
    rho_max: float = 5.0
    max_trials: Optional[int] = None
    validation_examples: int = 5000
    ood_set: Optional[str] = None
    objective: str = "ceb"
    epochs: int = 5
    rho_anneal: Optional[float] = train_config.RHO_ANNEAL_AUTO_OFFSET
    rho_anneal_epochs: Optional[int] = None
    learning_rate: float = train_config.DEFAULT_LEARNING_RATE
    lr_schedule: str = "cosine"
    latent_dim: int = 4
    covariance: str = "full"
    marginal_components: int = 240
    head: str = "consistent"
    dataset: str = "fashion_mnist"
    data_dir: Optional[pathlib.Path] = None
    download: bool = True
    batch_size: int = train_config.DEFAULT_BATCH_SIZE
    max_train_examples: Optional[int] = None
    seed: int = 0
    out: Optional[pathlib.Path] = None
    overwrite: bool = False
    verbose: int = 1

    def __post_init__(self):
        validation.one_of(self.search, SEARCHES, "search")
        validation.one_of(self.tune_objective, TUNE_OBJECTIVES, "tune_objective")
        validation.one_of(self.objective, ("ceb", "vib"), "objective")
        if self.ood_set is not None:
            validation.one_of(self.ood_set, OOD_SETS, "ood_set")
        for name in ("epochs", "validation_examples", "latent_dim", "batch_size"):
            validation.positive_int(getattr(self, name), name)
        for name in ("max_trials", "max_train_examples"):
            if getattr(self, name) is not None:
                validation.positive_int(getattr(self, name), name)
        if self.rho_values is not None:
            values = tuple(validation.finite_float(v, "rho_values") for v in self.rho_values)
            if not values:
                raise ValueError("`rho_values` must not be empty. Received: rho_values=()")
            object.__setattr__(self, "rho_values", values)
        for name in ("rho_min", "rho_max"):
            object.__setattr__(self, name, validation.finite_float(getattr(self, name), name))
        if self.search != "grid" and self.rho_values is None and self.rho_min >= self.rho_max:
            raise ValueError(
                "`rho_min` must be below `rho_max` for a random or Bayesian search. "
                f"Received: rho_min={self.rho_min:g}, rho_max={self.rho_max:g}"
            )
        if self.tune_objective == "ood_auroc" and not self.marginal_components:
            raise ValueError(
                "`tune_objective='ood_auroc'` needs the rate: `marginal_components` > 0. "
                f"Received: marginal_components={self.marginal_components}"
            )

    @property
    def out_folder(self):
        """`out`, or `runs/tune_<objective>`."""
        return (
            pathlib.Path(self.out) if self.out else pathlib.Path("runs") / f"tune_{self.objective}"
        )

    @property
    def grid(self):
        """The rho values searched: `rho_values`, or `DEFAULT_RHO_VALUES` for a grid; a random
        or Bayesian search draws from `rho_values` when given, else from `[rho_min, rho_max]`
        (`None`)."""
        if self.rho_values is not None:
            return self.rho_values
        return DEFAULT_RHO_VALUES if self.search == "grid" else None

    @property
    def trials(self):
        """`max_trials`: `None` (every value) for a grid, 8 by default otherwise."""
        return None if self.search == "grid" else (self.max_trials or 8)

    @property
    def held_out_ood_set(self):
        """`ood_set`, or MNIST for Fashion-MNIST and the vertical flip otherwise."""
        return self.ood_set or ("mnist" if self.dataset == "fashion_mnist" else "vertical_flip")

    def options(self):
        """The fields that determine the search (a resumed search must keep them), as JSON."""
        settings = self.settings()
        return {name: settings[name] for name in settings if name not in RESUME_FREE_FIELDS}

    def settings(self):
        """Every field, JSON-ready (the search's record)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(value):
    if isinstance(value, pathlib.Path):
        return str(value)
    return list(value) if isinstance(value, tuple) else value
