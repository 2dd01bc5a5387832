"""The command `python -m benchmarks.paper <dataset>` (from a clone): one sub-parser per module
of `DATASETS`.

    python -m benchmarks.paper fashion-mnist --preset cpu --seeds 1 --out runs/paper

A new dataset only needs an entry in `benchmarks.paper.DATASETS` and a module with `HELP`,
`PRESETS`, `PRESETS_HELP`,
`default_out`, `run` and `describe_plan`. Optionally, the module's `add_arguments(parser)` adds
its own options, `run_options(args)` turns them into keyword arguments of its `run`, and
`summary(results, out)` replaces the claims summary (`cifar10` uses all three).
"""

import pathlib
import sys

from benchmarks import paper as reproduce
from benchmarks.paper import claims
from benchmarks.paper.errors import ReproduceError
from keras_ceb import console
from keras_ceb.commands import arguments

PROG = "python -m benchmarks.paper"


def build_parser():
    """The parser of `python -m benchmarks.paper`: one sub-parser per dataset."""
    parser = arguments.OneLineParser(
        prog=PROG,
        description="Train the paper's models, measure them as the paper does, and write "
        "report.md, results.json and the figures (ours with intervals beside the paper's, and "
        "a verdict per claim). Finished models are never retrained: run the same command again "
        "to resume after an interruption.",
    )
    datasets = parser.add_subparsers(
        dest="dataset", metavar="DATASET", parser_class=arguments.OneLineParser
    )
    datasets.required = True
    for name in reproduce.DATASETS:
        module = reproduce.dataset_module(name)
        sub = datasets.add_parser(
            name, help=module.HELP, description=module.__doc__.strip().split("\n\n")[1]
        )
        sub.add_argument(
            "--preset",
            choices=tuple(module.PRESETS),
            default="cpu",
            help=f"{module.PRESETS_HELP} (default: cpu)",
        )
        sub.add_argument(
            "--seeds",
            type=arguments.positive_int,
            metavar="N",
            default=1,
            help="seeds 0..N-1; with 2 or more, intervals are t-intervals over "
            "seeds, with 1 a bootstrap over test examples (default: 1)",
        )
        sub.add_argument(
            "--out",
            type=pathlib.Path,
            metavar="DIR",
            default=None,
            help="output folder (default: reproduce/<dataset>-<preset>); "
            "what is finished there is reused",
        )
        sub.add_argument(
            "--data-dir",
            type=pathlib.Path,
            metavar="DIR",
            default=None,
            help="folder searched first for the data files",
        )
        sub.add_argument(
            "--no-download",
            dest="download",
            action="store_false",
            help="never download: fail if no local copy of the data is found",
        )
        sub.add_argument(
            "--dry-run",
            action="store_true",
            help="print the plan and the preset's settings; train nothing",
        )
        if hasattr(module, "add_arguments"):
            module.add_arguments(sub)
    return parser


def main(argv=None):
    """Parses `argv` (default `sys.argv[1:]`), runs the reproduction; errors end in one line
    on stderr and exit code 1 (2 for bad arguments, 130 for Ctrl-C)."""
    console.quiet_frameworks(tensorflow=True)  # the dataset modules import Keras
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from keras_ceb.training import TrainingError

    try:
        run(args)
    except (ReproduceError, TrainingError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; run the same command to resume", file=sys.stderr)
        raise SystemExit(130) from None
    return 0


def run(args):
    """Runs the subcommand from parsed `args`; prints a summary; returns the results (or None).

    Raises:
        ReproduceError: for missing data or an unusable output folder.
    """
    module = reproduce.dataset_module(args.dataset)
    if args.dry_run:
        print("\n".join(module.describe_plan(args.preset, args.seeds)))
        return None
    out = args.out if args.out is not None else module.default_out(module.PRESETS[args.preset])
    options = module.run_options(args) if hasattr(module, "run_options") else {}
    results = module.run(
        preset=args.preset,
        seeds=args.seeds,
        out=out,
        data_dir=args.data_dir,
        download=None if args.download else False,
        **options,
    )
    print(module.summary(results, out) if hasattr(module, "summary") else summary(results, out))
    return results


def summary(results, out):
    """The lines printed at the end: the verdict per claim and the files written."""
    lines = ["", f"{results['command']}: the paper's claims"]
    width = max(len(c["id"]) for c in results["claims"])
    for claim in results["claims"]:
        lines.append(
            f"  {claim['id']:<{width}}  {claim['verdict']:<{len(claims.PARTLY)}}  {claim['ours']}"
        )
    lines.append(f"Wrote {out}/: report.md, results.json, {', '.join(results['figures'])}")
    return "\n".join(lines)
