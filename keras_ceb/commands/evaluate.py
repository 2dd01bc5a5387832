"""`keras-ceb evaluate`: reload a saved classifier, measure it on the test set (and, with the
options, OoD detection, an attack, calibration, common corruptions), print and write
`metrics.json` and the figures. It reads the parsed arguments; the measurements are
`keras_ceb.evaluation`'s and `keras_ceb.training.recipe`'s."""

import json
import os
import pathlib
import shutil
import tempfile
import time

from keras_ceb import arguments
from keras_ceb import datasets
from keras_ceb import models
from keras_ceb import reporting
from keras_ceb import rho as rho_lib
from keras_ceb import run_folder
from keras_ceb.commands.errors import CLIError
from keras_ceb.evaluation import corruption_robustness as corruption_lib
from keras_ceb.evaluation import report as report_lib
from keras_ceb.training import data as training_data
from keras_ceb.training import model_files
from keras_ceb.training import recipe


def check_input_shape(model, x, dataset):
    expected = tuple(model.input_shape[1:])
    if tuple(x.shape[1:]) != expected:
        raise CLIError(
            f"the model expects inputs of shape {expected} but {dataset} has {tuple(x.shape[1:])}"
        )


def check_evaluate_out(out, overwrite):
    """Checks `evaluate --out` before the evaluation runs: a usable folder whose
    `metrics.json` (maybe a training run's) is replaced only with `--overwrite`."""
    try:
        run_folder.check_writable_folder(out, "--out")
    except run_folder.RunFolderError as e:
        raise CLIError(str(e)) from None
    found = run_folder.present(out, ("metrics.json",))
    if found and not overwrite:
        raise CLIError(
            f"--out {run_folder.show_path(out)} already holds metrics.json; pass --overwrite "
            "to replace it, or choose another --out"
        )


def run(args):
    """Runs `keras-ceb evaluate`; returns the metrics dict (also written to `--out`).

    Each evaluation is a separate function that returns one section of the result (here
    `"test"`, from `evaluate_test_metrics`); more (OoD, attacks, calibration) plug in as
    further options that add their own sections.
    """
    start = time.time()
    if args.out is not None:
        check_evaluate_out(args.out, args.overwrite)
    data_dir = training_data.check_data_dir(args.data_dir)
    training_data.check_data_env()
    model = model_files.load_classifier(args.model)
    x_test, y_test = training_data.load_split(
        args.dataset, data_dir, "test", arguments.download_flag(args), args.max_test_examples
    )
    training_data.check_finite_data(x_test, f"{args.dataset} test images")
    check_input_shape(model, x_test, args.dataset)

    corruption_reference = corruption_reference_of(
        args, min(args.corruption_examples, len(x_test))
    )
    objective = models.model_objective(model)
    test = recipe.evaluate_test_metrics(model, x_test, y_test, args.batch_size)
    result = {
        "model": str(args.model),
        "dataset": args.dataset,
        "objective": objective,
        "test": test,
    }
    title = recipe.title(objective, rho_lib.get_rho(model), args.dataset, len(x_test))
    robustness = evaluate_robustness(model, x_test, y_test, args)
    if robustness is not None:
        result["robustness"] = robustness
    if args.corruptions:
        result["corruptions"] = evaluate_corruption_section(
            model, x_test, y_test, args, corruption_reference
        )
    result["wall_time_s"] = time.time() - start
    print(reporting.format_summary({**test, "wall_time_s": result["wall_time_s"]}, title=title))
    if robustness is not None:
        print()
        print(report_lib.format_report(robustness))
    if args.corruptions:
        print()
        print(corruption_lib.format_corruption_report(result["corruptions"], corruption_reference))
    if args.out is not None:
        written = write_evaluation_outputs(args.out, result, robustness, title)
        print(f"Wrote {args.out}/: {', '.join(written)}")
    return result


def write_evaluation_outputs(out, result, robustness, title):
    """Writes the figures, then `metrics.json`, into `out`, each atomically; returns the names.

    The figures are drawn into a temporary folder inside `out`, then moved into place.
    """
    out.mkdir(parents=True, exist_ok=True)
    run_folder.clear(out, run_folder.EVALUATE_OUTPUTS, backup=False)  # Checked: --overwrite.
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
    reporting.write_json(out / "metrics.json", result)
    return ["metrics.json", *written]


def corruption_reference_of(args, num_examples):
    """The `corruptions` section of `--corruption-reference`'s metrics.json, checked (same
    images, same seed) before anything runs; `None` without the option."""
    path = args.corruption_reference
    if path is None:
        return None
    if not args.corruptions:
        raise CLIError("--corruption-reference needs --corruptions")
    try:
        section = json.loads(pathlib.Path(path).read_text()).get("corruptions")
    except (OSError, ValueError, AttributeError) as e:
        raise CLIError(
            f"--corruption-reference {path}: cannot read a metrics.json there ({e})"
        ) from None
    if not isinstance(section, dict) or "accuracy" not in section:
        raise CLIError(
            f"--corruption-reference {path} has no corruptions section: write it with "
            "`keras-ceb evaluate REFERENCE_MODEL --corruptions --out DIR`"
        )
    expected = {"num_examples": num_examples, "seed": args.seed, "dataset": args.dataset}
    for key, value in expected.items():
        if section.get(key) != value:
            raise CLIError(
                f"--corruption-reference {path} was measured with {key}={section.get(key)!r}, "
                f"this evaluation with {key}={value!r}: compare models on the same images"
            )
    return section


def evaluate_corruption_section(model, x, y, args, reference):
    """The `--corruptions` section: `evaluate_corruptions` on the first
    `--corruption-examples` images, with the mCE against `reference` when given."""
    n = args.corruption_examples
    section = corruption_lib.evaluate_corruptions(
        model, x[:n], y[:n], seed=args.seed, batch_size=args.batch_size
    )
    section["dataset"] = args.dataset
    if reference is not None:
        try:
            section["errors"] = corruption_lib.mean_corruption_error(section, reference)
        except ValueError as e:
            raise CLIError(f"--corruption-reference: {e}") from None
    return section


def evaluate_robustness(model, x, y, args):
    """The `--ood`, `--attack` and `--calibration` section, or `None` when none is asked for."""
    if not (args.ood or args.attack or args.calibration):
        return None
    if args.target_class is not None:
        num_classes = datasets.dataset_info(args.dataset).num_classes
        if args.target_class >= num_classes:
            raise CLIError(f"--target-class must be below {num_classes}, got {args.target_class}")
    mnist_x = None
    if args.ood and args.dataset == "fashion_mnist":
        mnist_x, _ = training_data.load_split(
            "mnist",
            training_data.mnist_ood_data_dir(args.data_dir),
            "test",
            arguments.download_flag(args),
        )
        mnist_x = mnist_x[: len(x)]
    if args.target_class is not None and args.attack in report_lib.NORMED_ATTACKS:
        raise CLIError(
            f"--target-class is for the pgd and cw attacks; {args.attack} aims at any wrong class"
        )
    reference = None
    if args.ood and args.ood_reference_examples:
        reference = training_data.load_split(
            args.dataset,
            args.data_dir,
            "train",
            arguments.download_flag(args),
            max_examples=args.ood_reference_examples,
        )
    return report_lib.robustness_report(
        model,
        x,
        y,
        ood=args.ood,
        mnist_x=mnist_x,
        cw_ood_examples=args.cw_ood_examples,
        attack=args.attack,
        eps=args.eps,
        attack_steps=args.attack_steps,
        attack_step_size=args.attack_step_size,
        attack_norm=args.attack_norm,
        queries=args.queries,
        reference=reference,
        attack_examples=args.attack_examples,
        target_class=args.target_class,
        run_calibration=args.calibration,
        num_samples=args.num_samples,
        rate_estimator=args.rate_estimator,
        seed=args.seed,
        batch_size=args.batch_size,
    )
