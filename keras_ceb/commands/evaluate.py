"""The `keras-ceb evaluate` command: an `EvaluateConfig` from the parsed options, then
`keras_ceb.training.evaluate`; prints the test metrics, the robustness report and the
corruption table, and what it wrote. The library's errors name the config's fields;
`keras_ceb.cli` turns them into options.
"""

from keras_ceb import reporting
from keras_ceb.commands import arguments
from keras_ceb.evaluation import corruption_robustness as corruption_lib
from keras_ceb.evaluation import report as report_lib
from keras_ceb.training import evaluate_model as evaluate_lib


def evaluate_config(args):
    """The `EvaluateConfig` of the parsed options (every option is a field of the same name)."""
    return arguments.config_of(evaluate_lib.EvaluateConfig, args)


def run(args):
    """Runs `keras-ceb evaluate`; returns the metrics dict (also written to `--out`)."""
    config = evaluate_config(args)
    done = evaluate_lib.evaluate(config)
    metrics = done.metrics
    print(
        reporting.format_summary(
            {**metrics["test"], "wall_time_s": metrics["wall_time_s"]}, title=done.title
        )
    )
    if "robustness" in metrics:
        print()
        print(report_lib.format_report(metrics["robustness"]))
    if "corruptions" in metrics:
        print()
        print(
            corruption_lib.format_corruption_report(
                metrics["corruptions"], done.corruption_reference
            )
        )
    if done.written:
        print(f"Wrote {config.out}/: {', '.join(done.written)}")
    return metrics
