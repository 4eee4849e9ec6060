"""The `phasefit` command line. Each subcommand is a thin shell over the Python API.

Errors in the user's input (data, spec, options) print one line to stderr and exit with status 2;
nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from phasefit import __version__
from phasefit.errors import PhasefitError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's own convention too)
        self.exit(EXIT_USAGE, f"phasefit: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="phasefit", description="Bayesian evidence for emergent vs smooth scaling curves.")
    p.add_argument("--version", action="version", version=f"phasefit {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    v = sub.add_parser("validate", help="check a data file and summarise the curves found")
    v.add_argument("data", help="CSV/Parquet file, or a bundled dataset as dataset:NAME")
    _data_options(v)

    d = sub.add_parser("datasets", help="bundled real datasets")
    dsub = d.add_subparsers(dest="datasets_command", metavar="ACTION", parser_class=_Parser)
    dsub.add_parser("list", help="list the bundled datasets")
    e = dsub.add_parser("export", help="write a bundled dataset to a CSV or Parquet file")
    e.add_argument("name")
    e.add_argument("--out", required=True, help="output file (.csv, .csv.gz or .parquet)")

    f = sub.add_parser("fit", help="fit the hypotheses to every curve and write verdicts")
    f.add_argument("data", help="CSV/Parquet file, or a bundled dataset as dataset:NAME")
    f.add_argument("--out", required=True, help="output directory")
    _data_options(f)
    _fit_options(f)

    m = sub.add_parser("demo", help="run the main job on bundled real data and show the verdicts")
    m.add_argument("--out", default="phasefit-demo", help="output directory (default: phasefit-demo)")
    m.add_argument("--draws", type=int, default=None)
    m.add_argument("--tune", type=int, default=None)
    m.add_argument("--chains", type=int, default=None)
    return p


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--x", dest="x_axis", choices=("flops", "params"), default="flops",
                   help="scale axis: log10 training FLOPs (default) or parameters")
    p.add_argument("--min-points", type=int, default=4, help="drop curves with fewer models (default 4)")
    p.add_argument("--task", action="append", help="keep only this task (repeatable)")
    p.add_argument("--metric", action="append", help="keep only this metric (repeatable)")
    p.add_argument("--family", action="append", help="keep only this family (repeatable)")


def _fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", type=Path, default=None, help="model spec TOML (default: bundled models/default.toml)")
    p.add_argument("--backend", choices=("nutpie", "pymc", "numpyro"), default=None)
    p.add_argument("--chains", type=int, default=None)
    p.add_argument("--draws", type=int, default=None)
    p.add_argument("--tune", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--lfo-cutoff", type=float, default=None,
                   help="leave-future-out cutoff in FLOPs (or params with --x params); default: the median break")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _load(args):
    """Validate the whole source (errors keep their file/line), then keep the requested curves."""
    from phasefit.data import datasets
    from phasefit.data.curves import load_curves

    source = args.data
    if isinstance(source, str) and source.startswith("dataset:"):
        source = datasets.load(source.removeprefix("dataset:"))
    curves = load_curves(source, x_axis=args.x_axis, min_points=args.min_points, name=args.data)
    if args.task or args.metric or args.family:
        keep = True
        for col, wanted in (("task", args.task), ("metric", args.metric), ("family", args.family)):
            if wanted:
                unknown = sorted(set(wanted) - set(curves.points[col]))
                if unknown:
                    raise PhasefitError(f"{args.data}: no curves with {col} {', '.join(map(repr, unknown))}")
                keep = keep & curves.curves[col].isin(wanted)
        curves = curves.subset(keep)
        if len(curves) == 0:
            raise PhasefitError(f"{args.data}: no curves left after --task/--metric/--family filters")
    return curves


def _cmd_validate(args, console: Console) -> int:
    cs = _load(args)
    s = cs.summary()
    t = Table(title=f"{len(cs)} curves in {cs.source} (x = log10 {cs.x_axis})")
    for col in ("task", "metric", "family", "curves", "min_points", "max_points"):
        t.add_column(col, justify="right" if col in ("curves", "min_points", "max_points") else "left")
    for r in s.itertuples(index=False):
        t.add_row(r.task, r.metric, r.family, str(r.curves), str(r.min_points), str(r.max_points))
    console.print(t)
    pts = cs.curves["n_points"]
    console.print(f"curves: {len(cs)}  tasks: {cs.curves['task'].nunique()}  metrics: {cs.curves['metric'].nunique()}"
                  f"  families: {cs.curves['family'].nunique()}  points per curve: {pts.min() if len(pts) else 0}"
                  f"-{pts.max() if len(pts) else 0} (median {pts.median() if len(pts) else 0:g})")
    lik = cs.curves["likelihood"].value_counts().to_dict()
    console.print("likelihoods: " + ", ".join(f"{k} {v}" for k, v in lik.items()))
    dropped = cs.dropped
    if len(dropped):
        curves_dropped = dropped[dropped["level"] == "curve"]
        points_dropped = dropped[dropped["level"] == "point"]
        console.print(f"dropped: {len(curves_dropped)} curves, {len(points_dropped)} points")
        for reason, n in curves_dropped["reason"].value_counts().head(10).items():
            console.print(f"  {n} curves: {reason}")
        for reason, n in points_dropped["reason"].str.replace(r" \(.*\)$", "", regex=True).value_counts().items():
            console.print(f"  {n} points: {reason}")
    return 0


def _cmd_datasets(args, console: Console) -> int:
    from phasefit.data import datasets

    if args.datasets_command == "export":
        df = datasets.load(args.name)
        from phasefit.results.files import write_table_atomic

        write_table_atomic(df, Path(args.out))
        console.print(f"wrote {len(df)} rows of {args.name} to {args.out}")
        return 0
    table = datasets.list_datasets()
    table = table[[c for c in ("name", "rows", "curves", "licence", "description") if c in table.columns]]
    t = Table(title="bundled datasets (details: phasefit/datasets/NOTICE.md)")
    for col in table.columns:
        t.add_column(str(col))
    for r in table.itertuples(index=False):
        t.add_row(*[str(v) for v in r])
    console.print(t)
    return 0


def _cmd_fit(args, console: Console) -> int:
    from phasefit.runner.local import fit_to_directory

    curves = _load(args)
    fit_to_directory(curves, out=Path(args.out), models=args.models, backend=args.backend, chains=args.chains,
                     draws=args.draws, tune=args.tune, seed=args.seed, lfo_cutoff=args.lfo_cutoff,
                     progress=not args.no_progress, console=console)
    return 0


def _cmd_demo(args, console: Console) -> int:
    from phasefit.runner.local import run_demo

    run_demo(out=Path(args.out), draws=args.draws, tune=args.tune, chains=args.chains, console=console)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False)
    handlers = {"validate": _cmd_validate, "datasets": _cmd_datasets, "fit": _cmd_fit, "demo": _cmd_demo}
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handlers[args.command](args, console)
    except PhasefitError as exc:
        err.print(f"phasefit: error: {exc}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("phasefit: interrupted; finished curves are kept and a rerun resumes", markup=False)
        return 130


if __name__ == "__main__":
    sys.exit(main())
