"""`RhoTuner` and `tune_rho`: a keras-tuner search over rho, scored the way a CEB user wants.

Each trial builds the model at one rho, trains it (optionally annealing rho down from a
higher value, as `keras-ceb train` does), and scores the trained model on held-out data with
every objective of `keras_ceb.tuning.objectives` (validation accuracy, the distance to the
Minimum Necessary Information point, the rate's OoD AUROC and their combination); the search
optimizes the one it is given and records them all. The trained model of each trial is saved
as `model.keras` in its trial folder, so the best model is the best trial's final model (not
a checkpoint of its best epoch: with an anneal, earlier epochs are at another rho).
"""

import dataclasses
import importlib
import math
import pathlib
import time

import keras
import keras_tuner as kt

from keras_ceb import callbacks as callbacks_lib
from keras_ceb import reporting
from keras_ceb import rho as rho_lib
from keras_ceb import validation
from keras_ceb.tuning import objectives as objectives_lib
from keras_ceb.tuning.rho_search import RhoHyperModel

SEARCHES = ("grid", "random", "bayesian")
# What each trial records from the last epoch of training (prefixed `train_` in the table).
TRAINING_KEYS = ("loss", "accuracy", "i_xz_lower", "i_yz", "rate", "rex")


class RhoTuner(kt.Tuner):
    """A keras-tuner `Tuner` whose trials train at one rho and are scored on held-out data.

    Works with any keras-tuner oracle (`GridSearchOracle`, `RandomSearchOracle`,
    `BayesianOptimizationOracle`); `tune_rho` makes one. Call `search(x, y, epochs=...)`
    with the training data; the held-out data is given here.

    Args:
        hypermodel: A `keras_ceb.tuning.RhoHyperModel`.
        oracle: A keras-tuner oracle whose objective is a name of
            `keras_ceb.tuning.objectives.OBJECTIVES`.
        validation_data: `(x_val, y_val)`, the held-out examples that score each trial.
        ood_x: Optional held-out out-of-distribution images (for `ood_auroc`).
        rho_anneal: Anneal rho linearly from `rho + rho_anneal` down to the trial's rho over
            `rho_anneal_epochs` epochs, as the encoders' warm-up (`StochasticEncoder.set_warmup`;
            `0`: train at the trial's rho throughout; `None`: keep the warm-up the encoders
            were built with, the layer's default unless `build_model` set another).
        rho_anneal_epochs: Length of the anneal; cut to `epochs - 1` so that the last epoch
            is at the trial's rho.
        batch_size: Training and scoring batch size.
        seed: Seed set before each trial's model is built: every trial starts from the
            same weights and sees the same data order, so rho is the only difference.
        progress: Optional function called with one line of text per finished trial.
        **kwargs: Passed to `keras_tuner.Tuner` (`directory`, `project_name`,
            `overwrite`, ...).

    Examples:

        >>> import keras_tuner
        >>> def build(rho):
        ...     model = keras.Sequential([keras.Input((8,)),
        ...                               keras_ceb.StochasticEncoder(2, marginal=4),
        ...                               keras_ceb.BackwardEncoder(3)])
        ...     model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        ...     return model
        >>> x, y = np.random.rand(64, 8).astype("float32"), np.arange(64) % 3
        >>> oracle = keras_tuner.oracles.GridSearchOracle(
        ...     keras_tuner.Objective("mni_distance", "min"))
        >>> tuner = RhoTuner(RhoHyperModel(build, rho_values=[0.0, 2.0]), oracle, (x, y),
        ...                  directory="tuning", batch_size=32)
        >>> tuner.search(x, y, epochs=1, verbose=0)
        >>> len(tuner.oracle.trials)
        2
    """

    def __init__(
        self,
        hypermodel,
        oracle,
        validation_data,
        ood_x=None,
        rho_anneal=None,
        rho_anneal_epochs=0,
        batch_size=128,
        seed=0,
        progress=None,
        **kwargs,
    ):
        objectives_lib.check_objective(oracle.objective.name)
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError(
                "`validation_data` must be a pair (x_val, y_val). "
                f"Received: validation_data={type(validation_data).__name__}"
            )
        self.validation_data = tuple(validation_data)
        self.ood_x = ood_x
        self.rho_anneal = (
            None if rho_anneal is None else validation.finite_float(rho_anneal, "rho_anneal")
        )
        self.rho_anneal_epochs = validation.non_negative_int(
            rho_anneal_epochs, "rho_anneal_epochs"
        )
        self.batch_size = validation.positive_int(batch_size, "batch_size")
        self.seed = seed
        self.progress = progress

    def run_trial(self, trial, x, y, epochs=1, callbacks=None, verbose=0, **fit_kwargs):
        start = time.time()
        keras.utils.set_random_seed(self.seed)
        model = self.hypermodel.build(trial.hyperparameters)
        rho = float(rho_lib.get_rho(model))
        trial_callbacks = [callbacks_lib.TerminateOnNonFinite()]
        anneal_epochs = min(self.rho_anneal_epochs, epochs - 1)
        if self.rho_anneal is not None:
            # The anneal is the encoders' own warm-up, set for this trial's length.
            steps = anneal_epochs * math.ceil(len(keras.tree.flatten(x)[0]) / self.batch_size)
            for encoder in rho_lib.encoders(model):
                encoder.set_warmup(self.rho_anneal if steps else 0.0, steps)
        history = model.fit(
            x,
            y,
            epochs=epochs,
            batch_size=self.batch_size,
            callbacks=trial_callbacks + self._deepcopy_callbacks(callbacks or []),
            verbose=verbose,
            **fit_kwargs,
        )
        rho_lib.set_rho(model, rho)  # Already there unless a user callback moved it.
        scores = objectives_lib.held_out_scores(
            model,
            *self.validation_data,
            ood_x=self.ood_x,
            batch_size=self.batch_size,
            seed=self.seed,
        )
        objective = self.oracle.objective.name
        if scores[objective] is None or not math.isfinite(scores[objective]):
            raise ValueError(
                f"The objective {objective} could not be measured at rho={rho:g} (is the "
                f"model's rate defined, and an OoD set given?). Received: {objective}="
                f"{scores[objective]!r}"
            )
        record = {"rho": rho, **scores}
        for key in TRAINING_KEYS:
            values = history.history.get(key)
            if values and values[-1] is not None and math.isfinite(values[-1]):
                record[f"train_{key}"] = float(values[-1])
        record["trial_time_s"] = time.time() - start
        folder = pathlib.Path(self.get_trial_dir(trial.trial_id))
        folder.mkdir(parents=True, exist_ok=True)
        reporting.replace_atomically(folder / "model.keras", model.save)
        reporting.write_json(folder / "history.json", history.history)
        if self.progress is not None:
            done = sum(t.status == "COMPLETED" for t in self.oracle.trials.values()) + 1
            total = self.oracle.max_trials
            self.progress(_trial_line(done, total, record, objective))
        # keras-tuner keeps floats only: the missing measures stay out of its record.
        return {
            key: float(value)
            for key, value in record.items()
            if value is not None and math.isfinite(value)
        }

    def search(self, *fit_args, **fit_kwargs):
        """Runs the search (`keras_tuner.Tuner.search`). A trial that fails is reported as
        one line to `progress`, not as keras-tuner's traceback; `RhoSearchResult.failed`
        and the trial's own record keep the error."""
        config = importlib.import_module("keras_tuner.src.config")
        debug, config.DEBUG = config.DEBUG, False
        try:
            return super().search(*fit_args, **fit_kwargs)
        finally:
            config.DEBUG = debug

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.progress is not None and trial.status in ("FAILED", "INVALID"):
            lines = (trial.message or "").strip().splitlines()
            rho = trial.hyperparameters.values.get("rho")
            self.progress(f"trial at rho {rho:.3g} failed: {lines[-1] if lines else 'error'}")

    def load_model(self, trial):
        """The trained model of `trial` (its `model.keras`)."""
        path = pathlib.Path(self.get_trial_dir(trial.trial_id)) / "model.keras"
        return keras.models.load_model(path, safe_mode=True)


def _trial_line(done, total, record, objective):
    count = f"{done}/{total}" if total else f"{done}"
    parts = [f"trial {count}: rho {record['rho']:.3g}"]
    for key in ("val_accuracy", "mni_distance", "ood_auroc", "combined"):
        value = record.get(key)
        if value is not None:
            marker = "*" if key == objective else ""
            parts.append(f"{marker}{key} {value:.4f}")
    parts.append(f"{record['trial_time_s']:.0f}s")
    return " - ".join(parts)


@dataclasses.dataclass
class RhoSearchResult:
    """The outcome of `tune_rho`.

    Attributes:
        trials: One dict per completed trial, sorted by rho: `trial_id`, `rho`, every
            objective and what it is made of (`None` where not measured), the last
            epoch's training logs (`train_*`) and the trial's time.
        best: The row of the best trial.
        objective: The objective optimized, and `direction` (`"max"` or `"min"`).
        direction: `"max"` or `"min"`.
        settings: The settings of the search (for the record).
        failed: `(rho, last line of the error)` of the trials that failed.
        tuner: The `RhoTuner` (its oracle holds keras-tuner's own record).
    """

    trials: list
    best: dict
    objective: str
    direction: str
    settings: dict
    failed: list
    tuner: RhoTuner

    def best_model(self):
        """The best trial's trained model."""
        return self.tuner.load_model(self.tuner.oracle.get_trial(self.best["trial_id"]))


def make_oracle(search, objective, seed=0, max_trials=None):
    """The keras-tuner oracle of a `search` (`"grid"`, `"random"`, `"bayesian"`)."""
    search = validation.one_of(search, SEARCHES, "search")
    objective = objectives_lib.check_objective(objective)
    target = kt.Objective(objective, objectives_lib.OBJECTIVES[objective])
    if search == "grid":
        return kt.oracles.GridSearchOracle(target, max_trials=max_trials, seed=seed)
    if max_trials is None:
        raise ValueError(f"A {search} search needs `max_trials`. Received: max_trials=None")
    if search == "random":
        return kt.oracles.RandomSearchOracle(target, max_trials=max_trials, seed=seed)
    return kt.oracles.BayesianOptimizationOracle(
        target, max_trials=max_trials, num_initial_points=min(2, max_trials), seed=seed
    )


def tune_rho(
    build_model,
    x,
    y,
    validation_data,
    *,
    ood_x=None,
    objective="combined",
    search="grid",
    rho_values=None,
    rho_min=-1.0,
    rho_max=5.0,
    max_trials=None,
    epochs=5,
    batch_size=128,
    rho_anneal=3.0,
    rho_anneal_epochs=None,
    seed=0,
    directory="rho_search",
    project_name="rho",
    overwrite=True,
    progress=None,
    verbose=0,
    **fit_kwargs,
):
    """Searches rho with keras-tuner; every trial is scored on held-out data.

    Args:
        build_model: Callable `rho -> compiled keras.Model` with `StochasticEncoder`s
            (e.g. `keras_ceb.models.build_classifier` then `compile_classifier`).
        x, y: Training data (in the format the model takes).
        validation_data: `(x_val, y_val)`: held-out examples that score every trial.
        ood_x: Held-out out-of-distribution images (for `ood_auroc`, and in `combined`).
        objective: What to optimize: `"val_accuracy"`, `"mni_distance"`, `"ood_auroc"` or
            `"combined"` (see `keras_ceb.tuning.objectives`).
        search: `"grid"` (over `rho_values`), `"random"` or `"bayesian"` (over
            `[rho_min, rho_max]`, `max_trials` trials).
        rho_values: The grid (a random or Bayesian search draws from it when given, too).
        rho_min, rho_max: The interval of a random or Bayesian search.
        max_trials: Number of trials (random and Bayesian; a grid tries every value).
        epochs, batch_size: Training of each trial.
        rho_anneal: Anneal each trial's rho from `rho + rho_anneal` down to rho, as
            `keras-ceb train` does, with the encoders' warm-up (`0`: no anneal; `None`: the
            warm-up the encoders were built with).
        rho_anneal_epochs: Its length; default `epochs // 2`, and at most `epochs - 1`.
        seed: Seed of every trial (same initial weights and data order) and of the oracle.
        directory, project_name, overwrite: keras-tuner's folder; with `overwrite=False`
            an interrupted search resumes there.
        progress: Optional function called with one line of text per finished trial
            (e.g. `print`).
        verbose: `fit` verbosity inside each trial.
        **fit_kwargs: Further arguments of `fit` (e.g. `callbacks`, `shuffle`).

    Returns:
        A `RhoSearchResult`: the trials as rows, the best one, and `best_model()`.

    Examples:

        >>> def build(rho):
        ...     model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, "relu"),
        ...                               keras_ceb.StochasticEncoder(2, marginal=4),
        ...                               keras_ceb.BackwardEncoder(3)])
        ...     model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        ...     return model
        >>> x, y = np.random.rand(96, 8).astype("float32"), np.arange(96) % 3
        >>> result = keras_ceb.tuning.tune_rho(build, x, y, (x[:48], y[:48]), ood_x=x[:48] * 4,
        ...                                    rho_values=[0.0, 3.0], epochs=2, batch_size=32)
        >>> [row["rho"] for row in result.trials], result.objective
        ([0.0, 3.0], 'combined')
        >>> keras_ceb.get_rho(result.best_model()) == result.best["rho"]
        True
    """
    objective = objectives_lib.check_objective(objective)
    search = validation.one_of(search, SEARCHES, "search")
    epochs = validation.positive_int(epochs, "epochs")
    if objective == "ood_auroc" and ood_x is None:
        raise ValueError(
            "The objective ood_auroc needs an out-of-distribution set. Received: ood_x=None"
        )
    if search == "grid" and rho_values is None:
        raise ValueError("A grid search needs `rho_values`. Received: rho_values=None")
    if rho_anneal_epochs is None:
        rho_anneal_epochs = epochs // 2
    hypermodel = RhoHyperModel(
        build_model, rho_values=rho_values, rho_min=rho_min, rho_max=rho_max
    )
    if search == "grid":
        max_trials = len(set(float(v) for v in rho_values))
    oracle = make_oracle(search, objective, seed=seed, max_trials=max_trials)
    tuner = RhoTuner(
        hypermodel,
        oracle,
        validation_data,
        ood_x=ood_x,
        rho_anneal=rho_anneal,
        rho_anneal_epochs=rho_anneal_epochs,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        directory=str(directory),
        project_name=project_name,
        overwrite=overwrite,
    )
    tuner.search(x, y, epochs=epochs, verbose=verbose, **fit_kwargs)
    settings = {
        "objective": objective,
        "direction": objectives_lib.OBJECTIVES[objective],
        "search": search,
        "rho_values": None if rho_values is None else [float(v) for v in rho_values],
        "rho_min": None if rho_values is not None else float(rho_min),
        "rho_max": None if rho_values is not None else float(rho_max),
        "max_trials": max_trials,
        "epochs": epochs,
        "batch_size": batch_size,
        "rho_anneal": rho_anneal,
        "rho_anneal_epochs": min(rho_anneal_epochs, epochs - 1) if rho_anneal is not None else 0,
        "seed": seed,
        "num_validation_examples": _length(validation_data[1]),
        "num_ood_examples": None if ood_x is None else _length(ood_x),
        "num_train_examples": _length(y),
        "keras_tuner": kt.__version__,
        "directory": str(pathlib.Path(tuner.project_dir).absolute()),
    }
    return collect_results(tuner, settings)


def collect_results(tuner, settings):
    """A `RhoSearchResult` from a finished tuner (its completed trials, sorted by rho)."""
    objective = tuner.oracle.objective.name
    direction = objectives_lib.OBJECTIVES[objective]
    rows, failed = [], []
    for trial_id, trial in tuner.oracle.trials.items():
        if trial.status == "COMPLETED":
            rows.append(_row(trial_id, trial))
        elif trial.status in ("FAILED", "INVALID"):
            message = (trial.message or "").strip().splitlines()
            failed.append(
                (trial.hyperparameters.values.get("rho"), message[-1] if message else trial.status)
            )
    if not rows:
        reason = failed[0][1] if failed else "no trial ran"
        raise RuntimeError(f"No trial of the rho search completed; the first error: {reason}")
    rows.sort(key=lambda row: (row["rho"], row["trial_id"]))
    sign = 1.0 if direction == "max" else -1.0
    best = max(rows, key=lambda row: sign * row[objective])
    return RhoSearchResult(
        trials=rows,
        best=best,
        objective=objective,
        direction=direction,
        settings=dict(settings),
        failed=failed,
        tuner=tuner,
    )


COLUMNS = (
    "trial_id",
    "rho",
    "val_accuracy",
    "val_i_xz_lower",
    "val_i_yz",
    "mni_distance",
    "ood_auroc",
    "combined",
    "val_rate",
    "train_accuracy",
    "train_i_xz_lower",
    "train_i_yz",
    "train_rate",
    "train_rex",
    "train_loss",
    "trial_time_s",
    "num_classes",
)


def _row(trial_id, trial):
    metrics = trial.metrics.metrics
    row = {"trial_id": trial_id}
    for key in COLUMNS[1:]:
        row[key] = (
            float(metrics[key].get_history()[-1].value[0])
            if key in metrics and metrics[key].get_history()
            else None
        )
    row["rho"] = float(trial.hyperparameters.get("rho"))
    return row


def _length(data):
    if isinstance(data, dict):
        data = next(iter(data.values()))
    return int(len(data))
