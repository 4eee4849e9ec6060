"""The `phasefit` command line. Each subcommand is a thin shell over the Python API.

Errors in the user's input (data, spec, options) print one line to stderr and exit with status 2;
nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from phasefit._version import __version__
from phasefit.errors import PhasefitError

EXIT_USAGE = 2


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help shows its default: argparse's "(default: X)" is added unless the help says it
    already (a default that comes from the model spec), or the option is a flag or required."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.required or action.nargs == 0 or action.default in (None, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # one line, exit 2 (argparse's own convention too)
        self.exit(EXIT_USAGE, f"phasefit: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="phasefit", description="Bayesian evidence for emergent vs smooth scaling curves.")
    p.add_argument("--version", action="version", version=f"phasefit {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    v = sub.add_parser("validate", help="check a data file and summarise the curves found")
    v.add_argument("data", help="CSV/Parquet file, or a bundled dataset as dataset:NAME")
    _data_options(v)

    d = sub.add_parser("datasets", help="bundled real datasets (list, export; default: list)")
    dsub = d.add_subparsers(dest="datasets_command", metavar="ACTION", parser_class=_Parser)
    dsub.add_parser("list", help="list the bundled datasets")
    e = dsub.add_parser("export", help="write a bundled dataset to a CSV or Parquet file")
    e.add_argument("name", help="a bundled dataset (phasefit datasets list)")
    e.add_argument("--out", required=True, metavar="FILE", help="output file (.csv, .csv.gz or .parquet), required")

    f = sub.add_parser("fit", help="fit the hypotheses to every curve and write verdicts")
    f.add_argument("data", help="CSV/Parquet file, or a bundled dataset as dataset:NAME")
    f.add_argument("--out", required=True, metavar="DIR", help="output directory, required")
    _data_options(f)
    _fit_options(f)

    se = sub.add_parser(
        "sensitivity", help="compare verdicts across the metrics of each task and family; the mirage hypothesis"
    )
    se.add_argument("data", help="CSV/Parquet file, or a bundled dataset as dataset:NAME")
    se.add_argument("--out", required=True, metavar="DIR", help="output directory, required (may hold a fit of DATA)")
    se.add_argument(
        "--fits",
        type=Path,
        default=None,
        metavar="DIR",
        help="reuse the verdicts of this finished `phasefit fit` directory of the same data (default: fit into --out)",
    )
    se.add_argument(
        "--pair",
        action="append",
        metavar="SHARP=OTHER",
        help="the continuous metric that scores the same outputs as a sharp one, e.g. exact_match=bleu "
        "(repeatable; default: the first bounded continuous metric of the same task and family)",
    )
    se.add_argument(
        "--mirage-metric",
        action="append",
        metavar="NAME",
        help="fit the mirage to this sharp metric only (repeatable; default: every metric scored per item "
        "0/1 with n_items)",
    )
    se.add_argument("--no-mirage", action="store_true", help="compare the metrics only; skip the mirage fits")
    _data_options(se)
    _fit_options(se)

    iv = sub.add_parser(
        "intervention",
        help="does a technique (e.g. chain-of-thought) help only past some scale? both arms fitted jointly",
    )
    iv.add_argument("data", help="CSV/Parquet file, or a bundled dataset as dataset:NAME")
    iv.add_argument(
        "--baseline", required=True, metavar="ARM", help="the baseline arm: a value of the condition column, required"
    )
    iv.add_argument(
        "--treatment", required=True, metavar="ARM", help="the treatment arm: a value of the condition column, required"
    )
    iv.add_argument("--out", required=True, metavar="DIR", help="output directory, required")
    iv.add_argument(
        "--margin",
        type=float,
        default=0.5,
        metavar="LOGODDS",
        help="the gain (log-odds) from which the technique counts as helping: the onset is where the gain "
        "reaches it and stays above it",
    )
    iv.add_argument(
        "--weights",
        choices=("learned", "even"),
        default="learned",
        help="the hypotheses' prior weights: learned from the run's pairs (a hierarchy over them, the default) "
        "or even odds for every pair alone",
    )
    iv.add_argument(
        "--formats",
        default="png,pdf",
        metavar="LIST",
        help="figure formats, comma-separated (png, pdf); 'none' writes no figures",
    )
    _data_options(iv)
    _sampler_options(iv)

    r = sub.add_parser(
        "report", help="figures, LaTeX/Markdown tables and index.html of a finished fit or intervention directory"
    )
    r.add_argument(
        "directory",
        metavar="DIR",
        help="a finished `phasefit fit` (or `sensitivity`) or `phasefit intervention` directory",
    )
    r.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="where to write the report (default: DIR/report)"
    )
    r.add_argument(
        "--formats",
        default="png,pdf",
        metavar="LIST",
        help="figure formats, comma-separated: png (required, the HTML shows it) and pdf (vector)",
    )

    m = sub.add_parser("demo", help="run the main job on bundled real data: fit, metric sensitivity, report")
    m.add_argument("--out", default="phasefit-demo", metavar="DIR", help="output directory")
    spec = "(default: the bundled model spec's [sampler] %s)"
    m.add_argument("--draws", type=int, default=None, metavar="N", help="draws per chain " + spec % "draws")
    m.add_argument("--tune", type=int, default=None, metavar="N", help="tuning steps per chain " + spec % "tune")
    m.add_argument("--chains", type=int, default=None, metavar="N", help="chains per fit " + spec % "chains")

    mo = sub.add_parser("models", help="the bundled model spec (show, export; default: show)")
    msub = mo.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser)
    sh = msub.add_parser("show", help="print the model spec's path, its hypotheses and sampler settings")
    sh.add_argument(
        "--models",
        type=Path,
        default=None,
        metavar="FILE",
        help="a model spec TOML to show (default: the bundled models/default.toml)",
    )
    x = msub.add_parser("export", help="write an editable copy of the bundled model spec into DIR")
    x.add_argument("directory", metavar="DIR", help="folder to write into: created, or empty (see --force)")
    x.add_argument("--force", action="store_true", help="write into a non-empty DIR, overwriting its spec files")
    return p


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--x",
        dest="x_axis",
        choices=("flops", "params"),
        default="flops",
        help="scale axis: log10 training FLOPs or log10 parameters",
    )
    p.add_argument(
        "--min-points", type=int, default=4, metavar="N", help="drop curves with fewer distinct models on the axis"
    )
    p.add_argument("--task", action="append", metavar="NAME", help="keep only this task (repeatable; default: all)")
    p.add_argument("--metric", action="append", metavar="NAME", help="keep only this metric (repeatable; default: all)")
    p.add_argument("--family", action="append", metavar="NAME", help="keep only this family (repeatable; default: all)")


def _sampler_options(p: argparse.ArgumentParser, *, force: bool = True) -> None:
    """The model spec, its sampler settings, progress and --force (fit, sensitivity, intervention)."""
    spec = "(default: the model spec's [sampler] %s)"
    p.add_argument(
        "--models",
        type=Path,
        default=None,
        metavar="FILE",
        help="model spec TOML (default: the bundled models/default.toml; see phasefit models export)",
    )
    p.add_argument("--backend", choices=("nutpie", "pymc", "numpyro"), default=None, help="sampler " + spec % "backend")
    p.add_argument("--chains", type=int, default=None, metavar="N", help="chains per fit " + spec % "chains")
    p.add_argument("--draws", type=int, default=None, metavar="N", help="draws per chain " + spec % "draws")
    p.add_argument("--tune", type=int, default=None, metavar="N", help="tuning steps per chain " + spec % "tune")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="base seed " + spec % "seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    if force:
        p.add_argument(
            "--force",
            action="store_true",
            help="discard the checkpoints of an interrupted run in --out and start over (default: resume)",
        )


def _fit_options(p: argparse.ArgumentParser) -> None:
    _sampler_options(p, force=False)
    p.add_argument(
        "--sampling",
        choices=("importance", "nuts"),
        default=None,
        help="importance: a short NUTS pilot, then importance sampling (NUTS where unreliable); nuts: NUTS "
        "for every fit (default: the bundled model spec's [sampler] method)",
    )
    p.add_argument(
        "--lfo-cutoff",
        type=float,
        default=None,
        metavar="X",
        help="leave-future-out cutoff in FLOPs (or params with --x params) (default: each curve's median break)",
    )
    p.add_argument(
        "--full-posterior",
        action="store_true",
        help="store every draw in float64 in posterior.nc (default: at most 500 draws per chain, float32)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="fit the curves (and the mirage stage) in N local worker processes (Dask) (default: in this process)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="fit the curves (and the mirage stage) on the Dask cluster at ADDRESS, e.g. tcp://10.0.0.5:8786 "
        "(default: in this process)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="discard the checkpoints of an interrupted run in --out and start over (default: resume)",
    )


def _fit_kwargs(args) -> dict:
    """The fit options of `_fit_options` as keyword arguments of the runner."""
    return {
        "models": args.models,
        "backend": args.backend,
        "chains": args.chains,
        "draws": args.draws,
        "tune": args.tune,
        "seed": args.seed,
        "sampling": args.sampling,
        "lfo_cutoff": args.lfo_cutoff,
        "progress": not args.no_progress,
        "full_posterior": args.full_posterior,
        "force": args.force,
        "workers": args.workers,
        "scheduler": args.scheduler,
    }


def _load(args):
    """Validate the whole source (errors keep their file/line), then keep the requested curves.

    The one place where `validate` and `fit` refuse a source with no curve to fit (too few points on the
    axis for every curve, or filters that match nothing): a `PhasefitError`, so one line and exit 2.
    """
    from phasefit.data import datasets
    from phasefit.data.curves import load_curves

    source = args.data
    if isinstance(source, str) and source.startswith("dataset:"):
        source = datasets.load(source.removeprefix("dataset:"))
    curves = load_curves(source, x_axis=args.x_axis, min_points=args.min_points, name=args.data)
    if len(curves) == 0:
        raise PhasefitError(f"{args.data}: no curve to fit: {_why_no_curves(curves, args.min_points)}")
    if args.task or args.metric or args.family:
        keep = True
        for col, wanted in (("task", args.task), ("metric", args.metric), ("family", args.family)):
            if wanted:
                unknown = [w for w in dict.fromkeys(wanted) if w not in set(curves.curves[col])]
                if unknown:
                    names = ", ".join(_unknown_name(curves, col, w) for w in unknown)
                    raise PhasefitError(f"{args.data}: no curves with {col} {names}")
                keep = keep & curves.curves[col].isin(wanted)
        curves = curves.subset(keep)
        if len(curves) == 0:
            raise PhasefitError(
                f"{args.data}: no curves left after --task/--metric/--family filters "
                "(each name exists, but not together)"
            )
    return curves


# a curve dropped for too few points, as `load_curves` words it: "3 distinct flops values, fewer than 4"
SHORT_REASON = r"^(\d+) distinct"


def _why_no_curves(curves, min_points: int) -> str:
    """Why every curve was dropped, in a few words (from `CurveSet.dropped`)."""
    axis_col = "train_flops" if curves.x_axis == "flops" else "params"
    dropped = curves.dropped
    counts = dropped["reason"].str.extract(SHORT_REASON, expand=False)
    short = counts.dropna().astype(int)
    constant = int(((dropped["level"] == "curve") & counts.isna()).sum())
    no_x = int((dropped["level"] == "point").sum())
    parts = []
    if len(short):
        every = "" if constant else "all "
        parts.append(
            f"{every}{len(short)} curves have fewer than {min_points} distinct {curves.x_axis} values "
            f"(the longest has {short.max()}; --min-points {min_points})"
        )
    if constant:
        parts.append(f"{constant} curves are unbounded scores that never vary")
    if no_x:
        parts.append(f"{no_x} rows have no {axis_col}")
    return "; ".join(parts) or "the table has no curves"


def _unknown_name(curves, col: str, name: str) -> str:
    """'NAME' with a hint: the closest name among the kept curves (ignoring case), or why its curves were
    left out, or the names there are when they are few."""
    known = sorted(set(curves.curves[col]))
    lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lower), n=1)
    if close:
        return f"{name!r} (did you mean {lower[close[0]]!r}?)"
    gone = curves.dropped[(curves.dropped[col] == name) & (curves.dropped["level"] == "curve")]
    if len(gone):
        short = gone["reason"].str.extract(SHORT_REASON, expand=False).notna().all()
        return f"{name!r} (its curves were dropped: {'too few points' if short else 'see `phasefit validate`'})"
    if len(known) <= 8:
        return f"{name!r} (there are: {', '.join(map(repr, known))})"
    return repr(name)


def _sci(log10_value: float) -> str:
    """10**x in short scientific notation: 1.3e21, 7e7."""
    return re.sub(r"e\+?0*(\d)", r"e\1", f"{10.0**log10_value:.2g}")


def _cmd_validate(args, console: Console) -> int:
    cs = _load(args)
    t = Table(title=f"{len(cs)} curves in {cs.source} (x = log10 {cs.x_axis})")
    unit = "FLOPs" if cs.x_axis == "flops" else "params"
    # on a narrow terminal the text wraps or folds (never ends in "…"); the counts stay whole
    for col in ("task", "metric", "family", "curves", "points", "conditions", f"{unit} range", "likelihood"):
        numbers = col in ("curves", "points")
        t.add_column(col, justify="right" if numbers else "left", overflow="fold", no_wrap=numbers)
    for (task, metric, family), g in cs.curves.groupby(["task", "metric", "family"], sort=True):
        conditions = sorted(set(g["condition"]))
        shown = ", ".join(c or "(none)" for c in conditions[:4])
        if len(conditions) > 4:
            shown += f" +{len(conditions) - 4} more"
        lo, hi = g["n_points"].min(), g["n_points"].max()
        lik = g["likelihood"].value_counts()
        likelihood = lik.index[0] if len(lik) == 1 else ", ".join(f"{k} {v}" for k, v in lik.items())
        t.add_row(
            task,
            metric,
            family,
            str(len(g)),
            f"{lo}" if lo == hi else f"{lo}-{hi}",
            shown,
            f"{_sci(g['x_min'].min())} – {_sci(g['x_max'].max())}",
            likelihood,
        )
    console.print(t)
    pts = cs.curves["n_points"]
    console.print(
        f"curves: {len(cs)}  tasks: {cs.curves['task'].nunique()}  metrics: {cs.curves['metric'].nunique()}"
        f"  families: {cs.curves['family'].nunique()}  points per curve: {pts.min() if len(pts) else 0}"
        f"-{pts.max() if len(pts) else 0} (median {pts.median() if len(pts) else 0:g})"
    )
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


def _cmd_models(args, console: Console) -> int:
    from phasefit.models import spec as specs

    if args.models_command == "export":
        path = specs.export_spec(args.directory, force=args.force)
        console.print(
            f"wrote the bundled model spec to {path} (and the hypothesis TOMLs it lists); edit it, then: "
            f"phasefit fit DATA --models {path}",
            markup=False,
        )
        return 0
    spec = specs.load_spec(getattr(args, "models", None))
    files = tomllib.loads(Path(spec.source).read_text(encoding="utf-8"))["hypotheses"]  # read by load_spec already
    console.print(f"model spec: {spec.source}", markup=False)
    weights = dict(spec.prior_weights)
    total = sum(weights[h.name] for h in spec.hypotheses)
    t = Table(title="hypotheses")
    for col in ("hypothesis", "file", "prior weight", "priors"):
        t.add_column(col)
    for h, file in zip(spec.hypotheses, files, strict=True):
        priors = "; ".join(f"{name} ~ {prior.describe()}" for name, prior in h.priors)
        t.add_row(h.name, str(file), f"{weights[h.name] / total:.3g}", priors)
    console.print(t)
    s = spec.sampler
    laplace = [name for name in spec.names if spec.plugin(name).laplace_proposal]
    console.print(
        f"sampler: {s.backend}, {s.chains} chains x {s.draws} draws (tune {s.tune}), target_accept "
        f"{s.target_accept:g}, seed {s.seed}; method {s.method}"
        + (
            f" (pilot {s.pilot_chains} chains x {s.pilot_tune} + {s.pilot_draws}, {s.proposal_draws} proposal draws"
            + (f"; Laplace for {', '.join(laplace)}" if s.laplace and laplace else "")
            + ")"
            if s.method == "importance"
            else ""
        ),
        markup=False,
    )
    console.print(
        "an editable copy: phasefit models export DIR, then phasefit fit DATA --models DIR/default.toml", markup=False
    )
    return 0


def _cmd_fit(args, console: Console) -> int:
    from phasefit.runner.local import fit_to_directory

    curves = _load(args)
    fit_to_directory(curves, out=Path(args.out), console=console, **_fit_kwargs(args))
    return 0


def _cmd_sensitivity(args, console: Console) -> int:
    from phasefit.runner.local import sensitivity_to_directory

    pairs = {}
    for item in args.pair or []:
        sharp, sep, other = item.partition("=")
        if not sep or not sharp or not other:
            raise PhasefitError(f"--pair {item!r}: write it as SHARP=OTHER, e.g. exact_match=bleu")
        pairs[sharp] = other
    curves = _load(args)
    known = set(curves.curves["metric"])
    for name in (*pairs, *pairs.values(), *(args.mirage_metric or [])):
        if name not in known:
            raise PhasefitError(f"--pair: {_unknown_name(curves, 'metric', name)}")
    sensitivity_to_directory(
        curves,
        out=Path(args.out),
        fits=args.fits,
        pairs=pairs or None,
        mirage=not args.no_mirage,
        mirage_metrics=args.mirage_metric,
        console=console,
        **_fit_kwargs(args),
    )
    return 0


def _cmd_intervention(args, console: Console) -> int:
    from phasefit.runner.intervention import intervention_to_directory

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    if formats == ("none",):
        formats = ()
    bad = [f for f in formats if f not in ("png", "pdf")]
    if bad:
        raise PhasefitError(f"--formats: unknown format {bad[0]!r} (png, pdf, or none)")
    curves = _load(args)
    out = Path(args.out)
    intervention_to_directory(
        curves,
        out=out,
        baseline=args.baseline,
        treatment=args.treatment,
        margin=args.margin,
        weights=args.weights,
        models=args.models,
        backend=args.backend,
        chains=args.chains,
        draws=args.draws,
        tune=args.tune,
        seed=args.seed,
        progress=not args.no_progress,
        force=args.force,
        console=console,
    )
    if formats:
        from phasefit.report.intervention import write_intervention_figures

        written = write_intervention_figures(out, formats=formats)
        console.print(f"wrote {len(written)} figure files in {out / 'figures'}", markup=False)
    return 0


def _cmd_demo(args, console: Console) -> int:
    from phasefit.runner.local import run_demo

    t0 = time.perf_counter()
    run_demo(out=Path(args.out), draws=args.draws, tune=args.tune, chains=args.chains, console=console)
    report = _report(Path(args.out), out=None, formats=("png", "pdf"), console=console)
    console.print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; open the report: {report.index}", markup=False)
    return 0


def _report(directory: Path, *, out: Path | None, formats, console: Console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from phasefit.report.build import write_report

    with Progress(
        TextColumn("report"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as bar:
        task = bar.add_task("curves", total=None)
        report = write_report(
            directory,
            out=out,
            formats=formats,
            progress=lambda what, done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"wrote {report.index}: {report.curves} {'pairs' if report.kind == 'intervention' else 'curves'}, "
        f"{len(report.figures)} figure files, {len(report.tables)} tables",
        markup=False,
    )
    return report


def _cmd_report(args, console: Console) -> int:
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    _report(Path(args.directory), out=args.out, formats=formats, console=console)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False)
    handlers = {
        "validate": _cmd_validate,
        "datasets": _cmd_datasets,
        "fit": _cmd_fit,
        "sensitivity": _cmd_sensitivity,
        "intervention": _cmd_intervention,
        "demo": _cmd_demo,
        "report": _cmd_report,
        "models": _cmd_models,
    }
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
