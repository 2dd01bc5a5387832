"""`EvaluateConfig` and `evaluate(config)`: a saved classifier measured on a test set (and, as
asked, OoD detection, an attack, calibration, common corruptions), its `metrics.json` and
figures written atomically. `keras-ceb evaluate` builds the config and prints the result.
"""

import dataclasses
import json
import os
import pathlib
import shutil
import tempfile
import time
from typing import Optional

from keras_ceb import datasets
from keras_ceb import models
from keras_ceb import reporting
from keras_ceb import rho as rho_lib
from keras_ceb import run_folder
from keras_ceb import validation
from keras_ceb.evaluation import corruption_robustness as corruption_lib
from keras_ceb.evaluation import report as report_lib
from keras_ceb.training import config as config_lib
from keras_ceb.training import data as training_data
from keras_ceb.training import model_files
from keras_ceb.training import recipe
from keras_ceb.training.errors import TrainingError


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """An evaluation of a saved classifier: `keras_ceb.training.evaluate(EvaluateConfig(...))`,
    or `keras-ceb evaluate` (every option a field of the same name). Rules across fields are
    checked here, once; errors name the fields.

    Examples:

        >>> EvaluateConfig("runs/ceb/model.keras", attack="square", target_class=1)
        Traceback (most recent call last):
        ...
        ValueError: `target_class` is for the pgd and cw attacks; square aims at any wrong class
    """

    model: pathlib.Path
    dataset: str = "fashion_mnist"
    data_dir: Optional[pathlib.Path] = None
    download: bool = True
    max_test_examples: Optional[int] = None
    batch_size: int = config_lib.DEFAULT_BATCH_SIZE
    out: Optional[pathlib.Path] = None
    overwrite: bool = False
    ood: bool = False
    ood_reference_examples: int = 10000
    cw_ood_examples: int = 0
    attack: Optional[str] = None
    eps: float = 0.1
    attack_norm: str = "linf"
    attack_steps: Optional[int] = None
    queries: int = 5000
    attack_step_size: Optional[float] = None
    attack_examples: int = 1000
    target_class: Optional[int] = None
    calibration: bool = False
    corruptions: bool = False
    corruption_examples: int = 1000
    corruption_reference: Optional[pathlib.Path] = None
    rate_estimator: Optional[str] = None
    num_samples: int = 1
    seed: int = 0
    verbose: int = 1

    def __post_init__(self):
        object.__setattr__(self, "model", pathlib.Path(self.model))
        if self.attack is not None:
            validation.one_of(self.attack, report_lib.ATTACKS, "attack")
        validation.one_of(self.attack_norm, ("linf", "l2"), "attack_norm")
        for name in ("batch_size", "queries", "attack_examples", "corruption_examples"):
            validation.positive_int(getattr(self, name), name)
        if self.target_class is not None and self.attack in report_lib.NORMED_ATTACKS:
            raise ValueError(
                f"`target_class` is for the pgd and cw attacks; {self.attack} aims at any "
                "wrong class"
            )
        if self.corruption_reference is not None and not self.corruptions:
            raise ValueError("`corruption_reference` needs `corruptions=True`")


@dataclasses.dataclass
class Evaluation:
    """What `evaluate` measured and wrote.

    Attributes:
        metrics: The JSON-ready result (`metrics.json`): `test`, and `robustness` and
            `corruptions` when asked for.
        title: A one-line title of the model and data.
        corruption_reference: The reference's corruption section (or `None`).
        written: The files written into `out` (empty without `out`).
    """

    metrics: dict
    title: str
    corruption_reference: Optional[dict] = None
    written: list = dataclasses.field(default_factory=list)


def evaluate(config):
    """Measures the classifier `config.model` and writes `metrics.json` (and the figures) into
    `config.out`; returns an `Evaluation`.

    Examples:

        ```python
        from keras_ceb.training import EvaluateConfig, evaluate

        done = evaluate(EvaluateConfig("runs/ceb_rho0/model.keras", corruptions=True))
        done.metrics["corruptions"]["mean_accuracy"]
        ```
    """
    start = time.time()
    if config.out is not None:
        check_out(config)
    if config.target_class is not None:
        num_classes = datasets.dataset_info(config.dataset).num_classes
        if config.target_class >= num_classes:
            raise TrainingError(
                f"`target_class` must be below {num_classes}, got {config.target_class}"
            )
    data_dir = training_data.check_data_dir(config.data_dir)
    training_data.check_data_env()
    model = model_files.load_classifier(config.model)
    x_test, y_test = training_data.load_split(
        config.dataset, data_dir, "test", config.download, config.max_test_examples
    )
    training_data.check_finite_data(x_test, f"{config.dataset} test images")
    expected = tuple(model.input_shape[1:])
    if tuple(x_test.shape[1:]) != expected:
        raise TrainingError(
            f"the model expects inputs of shape {expected} but {config.dataset} has "
            f"{tuple(x_test.shape[1:])}"
        )
    reference = corruption_reference(config, min(config.corruption_examples, len(x_test)))
    objective = models.model_objective(model)
    metrics = {
        "model": str(config.model),
        "dataset": config.dataset,
        "objective": objective,
        "test": recipe.evaluate_test_metrics(model, x_test, y_test, config.batch_size),
    }
    title = recipe.title(objective, rho_lib.get_rho(model), config.dataset, len(x_test))
    robustness = robustness_section(model, x_test, y_test, config)
    if robustness is not None:
        metrics["robustness"] = robustness
    if config.corruptions:
        metrics["corruptions"] = corruption_section(model, x_test, y_test, config, reference)
    metrics["wall_time_s"] = time.time() - start
    written = []
    if config.out is not None:
        written = write_outputs(pathlib.Path(config.out), metrics, robustness, title)
    return Evaluation(metrics, title, reference, written)


def check_out(config):
    """Checks `out` before the evaluation runs: a usable folder whose `metrics.json` (maybe a
    training run's) is replaced only with `overwrite`."""
    out = pathlib.Path(config.out)
    try:
        run_folder.check_writable_folder(out, "`out`")
    except run_folder.RunFolderError as e:
        raise TrainingError(str(e)) from None
    if run_folder.present(out, ("metrics.json",)) and not config.overwrite:
        raise TrainingError(
            f"`out` {run_folder.show_path(out)} already holds metrics.json; pass "
            "`overwrite=True` to replace it, or choose another `out`"
        )


def write_outputs(out, metrics, robustness, title):
    """Writes the figures, then `metrics.json`, into `out`, each atomically; returns the names.

    The figures are drawn into a temporary folder inside `out`, then moved into place.
    """
    out.mkdir(parents=True, exist_ok=True)
    run_folder.clear(out, run_folder.EVALUATE_OUTPUTS, backup=False)  # Checked: overwrite.
    written = []
    if robustness is not None:
        stage = pathlib.Path(tempfile.mkdtemp(dir=out, prefix=reporting.TEMP_PREFIX))
        try:
            for path in report_lib.save_report_figures(robustness, stage, title=title):
                path = pathlib.Path(path)
                os.replace(path, out / path.name)
                written.append(path.name)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    reporting.write_json(out / "metrics.json", metrics)
    return ["metrics.json", *written]


def corruption_reference(config, num_examples):
    """The `corruptions` section of `corruption_reference`'s metrics.json, checked (same images,
    same seed, same dataset) before anything is measured; `None` without one."""
    path = config.corruption_reference
    if path is None:
        return None
    try:
        section = json.loads(pathlib.Path(path).read_text()).get("corruptions")
    except (OSError, ValueError, AttributeError) as e:
        raise TrainingError(
            f"`corruption_reference` {path}: cannot read a metrics.json there ({e})"
        ) from None
    if not isinstance(section, dict) or "accuracy" not in section:
        raise TrainingError(
            f"`corruption_reference` {path} has no corruptions section: evaluate the reference "
            "model with `corruptions=True` and an `out` folder first"
        )
    expected = {"num_examples": num_examples, "seed": config.seed, "dataset": config.dataset}
    for key, value in expected.items():
        if section.get(key) != value:
            raise TrainingError(
                f"`corruption_reference` {path} was measured with {key} {section.get(key)!r}, "
                f"this evaluation with {key} {value!r}: compare models on the same images"
            )
    return section


def corruption_section(model, x, y, config, reference):
    """`evaluate_corruptions` on the first `corruption_examples` images, with the mCE against
    `reference` when given."""
    n = config.corruption_examples
    section = corruption_lib.evaluate_corruptions(
        model, x[:n], y[:n], seed=config.seed, batch_size=config.batch_size
    )
    section["dataset"] = config.dataset
    if reference is not None:
        try:
            section["errors"] = corruption_lib.mean_corruption_error(section, reference)
        except ValueError as e:
            raise TrainingError(f"`corruption_reference`: {e}") from None
    return section


def robustness_section(model, x, y, config):
    """The OoD, attack and calibration section, or `None` when none is asked for."""
    if not (config.ood or config.attack or config.calibration):
        return None
    mnist_x = None
    if config.ood and config.dataset == "fashion_mnist":
        mnist_x = training_data.load_mnist_ood(config.data_dir, config.download, len(x))
    reference = None
    if config.ood and config.ood_reference_examples:
        reference = training_data.load_split(
            config.dataset,
            config.data_dir,
            "train",
            config.download,
            max_examples=config.ood_reference_examples,
        )
    return report_lib.robustness_report(
        model,
        x,
        y,
        ood=config.ood,
        mnist_x=mnist_x,
        cw_ood_examples=config.cw_ood_examples,
        attack=config.attack,
        eps=config.eps,
        attack_steps=config.attack_steps,
        attack_step_size=config.attack_step_size,
        attack_norm=config.attack_norm,
        queries=config.queries,
        reference=reference,
        attack_examples=config.attack_examples,
        target_class=config.target_class,
        run_calibration=config.calibration,
        num_samples=config.num_samples,
        rate_estimator=config.rate_estimator,
        seed=config.seed,
        batch_size=config.batch_size,
    )
