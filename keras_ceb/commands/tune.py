"""The `keras-ceb tune` command: a `TuneConfig` from the parsed options, then
`keras_ceb.tuning.run_search`; prints a line per trial, the trials' table and the best rho.

Writes `trials.csv`, `trials.md`, `trials.json`, `objectives.png` and `best_model.keras` into
`--out`; the same command resumes an interrupted search. The library's errors name the
config's fields; `keras_ceb.cli` turns them into options.
"""

from keras_ceb import console
from keras_ceb import tuning
from keras_ceb.commands import arguments
from keras_ceb.tuning import config as tune_config_lib

DEFAULT_RHO_VALUES = ",".join(f"{v:g}" for v in tune_config_lib.DEFAULT_RHO_VALUES)


def tune_config(args):
    """The `TuneConfig` of the parsed options (every option is a field of the same name)."""
    return arguments.config_of(tuning.TuneConfig, args)


def output_folder(args):
    """`--out`, or `runs/tune_<objective>`."""
    return tune_config(args).out_folder


def run(args):
    """Runs `keras-ceb tune` from its parsed arguments; returns the `RhoSearchResult`."""
    config = tune_config(args)
    progress = print if config.verbose >= console.PROGRESS else None
    result, written = tuning.run_search(config, progress=progress)
    print()
    print(tuning.format_table(result))
    best = result.best
    print(
        f"Best: rho = {best['rho']:g} ({result.objective} = {best[result.objective]:.4f}, "
        f"{'higher' if result.direction == 'max' else 'lower'} is better)"
        + (f"; {len(result.failed)} trial(s) failed" if result.failed else "")
    )
    print(f"Wrote {config.out_folder}/: {', '.join(written)}")
    return result
