"""Run an analysis on this machine: curves -> fits -> evidence -> verdicts -> files.

`fit(curves)` returns an `Analysis` (verdict table, parameter table, DataTree, prose summary).
`fit_to_directory` writes `verdicts.csv`, `parameters.csv`, `tasks.csv`, `posterior.nc` and
`run.json` atomically. Finished curves are checkpointed in `DIR/.phasefit-work/` as they complete
(keyed by the phasefit version, data, spec and options), so an interrupted run resumes where it
stopped; the work folder is removed once the outputs are whole. Progress goes to a rich console.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from phasefit.analyses.fit import analyse_curves
from phasefit.analyses.metrics import metric_groups, mirage_pairs, sensitivity_table
from phasefit.analyses.metrics import task_table as metric_task_table
from phasefit.analyses.mirage import mirage_evidence, mirage_spec
from phasefit.data.curves import CURVE_KEY, CurveSet, as_curve_set
from phasefit.errors import PhasefitError
from phasefit.inference.sampler import Sampler
from phasefit.models.spec import ModelSpec, load_spec
from phasefit.results.analysis import Analysis, assemble, curve_spec_hash, spec_hash, versions
from phasefit.results.checkpoints import DiskCheckpoints, MirageCheckpoints, checkpoint_key
from phasefit.results.files import read_run_files, write_json_atomic, write_table_atomic
from phasefit.results.posterior import PosteriorShards

OUTPUT_FILES = ("posterior.nc", "parameters.csv", "tasks.csv", "run.json", "verdicts.csv")
DEMO_TASKS = ("arithmetic_2da", "arithmetic_3ds", "word_unscrambling", "ipa_transliterate", "parsinlu_qa")


SAMPLING = ("importance", "nuts")


def _resolve_spec(models: str | Path | ModelSpec | None, *, sampling: str | None = None, **sampler) -> ModelSpec:
    """The spec (a path, the bundled one, or as given) with the command line's sampler settings;
    `sampling` is `[sampler] method`."""
    spec = models if isinstance(models, ModelSpec) else load_spec(models)
    for key in ("chains", "draws", "tune"):
        v = sampler.get(key)
        if v is not None and v < 1:
            raise PhasefitError(f"--{key} must be at least 1, got {v}")
    if sampling is not None and sampling not in SAMPLING:
        raise PhasefitError(f"--sampling must be one of {', '.join(SAMPLING)}, got {sampling!r}")
    return spec.with_sampler(**sampler, method=sampling)


class _RichProgress:
    """A `Progress` callback: a rich bar on a terminal (curves done, elapsed, eta, current curve); on
    anything else (a log file, a pipe) one plain line every 5% of the curves or 30 s, with the
    rate and the time left, so that a log shows how far a long run is. Curves read back from the
    checkpoints (stage "stored": a resumed run's finished curves, or every curve after a cluster's
    fits) are "collecting", with their own rate, and do not count towards the fitting rate."""

    STAGE_TITLES = {"stored": "collecting"}

    LOG_EVERY_S = 30.0

    def __init__(self, console: Console, *, enabled: bool, title: str = "fitting", unit: str = "curves"):
        columns = (
            TextColumn(f"[bold]{title}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
        )
        self.console = console
        self.title = title
        self.unit = unit
        self.plain = enabled and not console.is_terminal
        self.bar = Progress(*columns, console=console, disable=not enabled or self.plain, transient=False)
        self.task = None
        self.start = time.perf_counter()
        self.stage: tuple[str, int, float] | None = None  # the current stage, its first `done` and time
        self.logged = (0, self.start)

    def _log(self, stage: str, done: int, total: int, label: str) -> None:
        now = time.perf_counter()
        if self.stage is None or self.stage[0] != stage:  # a new stage: its own rate from here
            self.stage = (stage, done, now)
            self.logged = (done, now)
        _, first_done, stage_start = self.stage
        last_done, last_t = self.logged
        due = done == total or done - last_done >= max(1, total // 20) or now - last_t >= self.LOG_EVERY_S
        if not due or done == last_done:
            return
        self.logged = (done, now)
        counted, elapsed = done - first_done, now - stage_start
        rate = counted / elapsed if elapsed > 0 and counted > 0 else float("nan")
        eta = (total - done) / rate if rate == rate and rate > 0 else float("nan")
        title = self.STAGE_TITLES.get(stage, self.title)
        text = f"{title}: {done}/{total} {self.unit}, {now - self.start:.0f} s"
        if rate == rate:
            text += f", {rate:.2f} {self.unit}/s, eta {eta:.0f} s"
        self.console.print(text + (f" ({label})" if label and done < total else ""), markup=False, highlight=False)

    def __call__(self, stage: str, *, label: str, done: int, total: int) -> None:
        if self.plain:
            self._log("fitted" if stage in ("curve", "done") else stage, done, total, label)
        if self.task is None:
            self.task = self.bar.add_task("", total=total)
        self.bar.update(self.task, completed=done, description=f"collecting {label}" if stage == "stored" else label)
        if stage == "done":
            self.bar.update(self.task, completed=total, description="")
        if stage == "population":
            self.bar.update(self.task, completed=total, description="")
            self.bar.stop()
            if self.bar.disable and not self.plain:
                return
            self.console.print(
                "population stage: learning the rates and the break population from the curves", markup=False
            )


def fit(
    curves: CurveSet | pd.DataFrame | str | Path,
    *,
    models: str | Path | ModelSpec | None = None,
    backend: str | None = None,
    chains: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    seed: int | None = None,
    sampling: str | None = None,
    lfo_cutoff: float | None = None,
    progress: bool = True,
    console: Console | None = None,
    work_dir: Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> Analysis:
    """Fit every curve (compiling each hypothesis' model once) and decide its verdict.

    With `scheduler` (a Dask scheduler's address) or `workers` (that many local processes) the
    curves are fitted on a Dask cluster (`runner.cluster`), with the same results; the population
    stage and the tables run here. `sampling` overrides the spec's `[sampler] method`: "importance"
    (a short NUTS pilot, then importance sampling) or "nuts".

    `lfo_cutoff` is in FLOPs (or parameters when the curves use `x_axis="params"`); by default each
    curve's leave-future-out cutoff is its posterior median break. With `work_dir`, finished curves
    are checkpointed there and reused by a rerun with the same phasefit version, data and spec.
    """
    analysis, _ = _fit(
        as_curve_set(curves, where="phasefit.fit"),
        models=models,
        backend=backend,
        chains=chains,
        draws=draws,
        tune=tune,
        seed=seed,
        sampling=sampling,
        lfo_cutoff=lfo_cutoff,
        progress=progress,
        console=console,
        work_dir=work_dir,
        scheduler=scheduler,
        workers=workers,
    )
    return analysis


def _fit(
    curves: CurveSet,
    *,
    models: str | Path | ModelSpec | None = None,
    backend: str | None = None,
    chains: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    seed: int | None = None,
    sampling: str | None = None,
    lfo_cutoff: float | None = None,
    progress: bool = True,
    console: Console | None = None,
    work_dir: Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    posterior_file: Path | None = None,
    full_posterior: bool = True,
) -> tuple[Analysis, PosteriorShards]:
    """`fit`, with the curves' draws kept in memory (`posterior_file` None) or written, shard by shard
    as the curves finish, to `posterior_file` (compact unless `full_posterior`; `PosteriorShards`):
    when the shards were spilled (`streamed`), the analysis' posterior is empty and only the file
    holds it. Returns the analysis and the shards."""
    if len(curves) == 0:
        raise PhasefitError(f"{curves.source}: no curves to fit (all dropped: see `phasefit validate`)")
    if lfo_cutoff is not None and lfo_cutoff <= 0:
        raise PhasefitError(f"--lfo-cutoff must be positive, got {lfo_cutoff}")
    spec = _resolve_spec(models, backend=backend, chains=chains, draws=draws, tune=tune, seed=seed, sampling=sampling)
    store = None
    if work_dir is not None:
        store = DiskCheckpoints(Path(work_dir) / _fit_key(curves, spec, lfo_cutoff))
    console = console or Console(stderr=True)
    t0 = time.perf_counter()
    bar = _RichProgress(console, enabled=progress)
    sink = PosteriorShards(_CurveMap(curves), spec, target=posterior_file, full=full_posterior)
    with bar.bar:
        if scheduler is not None or workers is not None:
            from phasefit.runner.cluster import MemoryStore, cluster_client, fit_on_cluster

            store = store or MemoryStore()
            with cluster_client(scheduler=scheduler, workers=workers) as client:
                cutoff = math.log10(lfo_cutoff) if lfo_cutoff is not None else None
                fit_on_cluster(curves, spec, client=client, store=store, lfo_cutoff=cutoff, progress=bar)
        outcome = analyse_curves(curves, Sampler(spec), lfo_cutoff=lfo_cutoff, store=store, progress=bar, sink=sink)
    analysis = assemble(
        curves,
        outcome,
        spec,
        lfo_cutoff=lfo_cutoff,
        seconds=time.perf_counter() - t0,
        argv=list(sys.argv),
        posterior=sink,
    )
    return analysis, sink


class _CurveMap:
    """`CurveSet.curve` as the read-only mapping (index -> Curve) that the posterior shards read."""

    def __init__(self, curves: CurveSet):
        self.curves = curves

    def __getitem__(self, index: int):
        return self.curves.curve(index)

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int | np.integer) and 0 <= int(index) < len(self.curves)


def fit_to_directory(
    curves: CurveSet | pd.DataFrame | str | Path,
    *,
    out: Path,
    console: Console | None = None,
    full_posterior: bool = False,
    force: bool = False,
    **options,
) -> Analysis:
    """`fit` and write verdicts.csv, parameters.csv, tasks.csv, posterior.nc and run.json to `out`.

    posterior.nc is compact by default (at most 500 draws per chain, float32; `results.posterior.
    compact`); `full_posterior` stores every draw in float64. The verdicts use every draw either way.
    An interrupted run resumes from its checkpoints in `out/.phasefit-work`; `force` discards them.
    """
    curves = as_curve_set(curves, where="fit_to_directory")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PhasefitError(f"{out}: exists and is not a directory")
    models = options.get("models")
    if not isinstance(models, ModelSpec):  # a bad spec fails before anything is created
        options["models"] = load_spec(models)
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".phasefit-work"
    if force and work.exists():
        shutil.rmtree(work)
    console = console or Console()
    key = _fit_key(curves, _spec_of(options), options.get("lfo_cutoff"))
    # everything is written to a staging folder first, then moved in; verdicts.csv moves last. The
    # posterior is written there shard by shard as the curves finish (rebuilt from the checkpoints
    # by a resumed run), so that a large run never holds every curve's draws
    staging = work / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    analysis, shards = _fit(
        curves,
        console=console,
        work_dir=work,
        posterior_file=staging / "posterior.nc",
        full_posterior=full_posterior,
        **options,
    )
    analysis = replace(analysis, run={**analysis.run, "posterior_storage": shards.storage})
    write_table_atomic(analysis.parameters, staging / "parameters.csv")
    write_table_atomic(analysis.tasks, staging / "tasks.csv")
    write_json_atomic(analysis.run, staging / "run.json")
    write_table_atomic(analysis.verdicts, staging / "verdicts.csv")
    for name in OUTPUT_FILES:
        os.replace(staging / name, out / name)
    # only this fit's checkpoints: a sensitivity run keeps its mirage stage's in the same folder
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(work / key, ignore_errors=True)
    if work.is_dir() and not any(work.iterdir()):
        work.rmdir()
    console.print(analysis.summary(), markup=False, highlight=False)
    console.print(f"\nwrote {', '.join(str(out / n) for n in OUTPUT_FILES)}", markup=False)
    if not shards.streamed:  # at most one shard: the tree written is in memory
        return analysis
    # the posterior as written, read lazily: a large run's draws are never all in memory
    return replace(analysis, posterior=xr.open_datatree(out / "posterior.nc", engine="h5netcdf", chunks={}))


def _fit_key(curves: CurveSet, spec: ModelSpec, lfo_cutoff: float | None) -> str:
    """The folder of a fit's checkpoints in the work directory: what its curves' results depend on."""
    from phasefit._version import code_stamp

    return checkpoint_key(
        version=code_stamp(),
        data_hash=curves.data_hash,
        spec_hash=curve_spec_hash(spec),
        lfo_cutoff=lfo_cutoff,
        x_axis=curves.x_axis,
    )


def demo_curves() -> CurveSet:
    """The demo subset: ObsScaling's emergent-capability tasks across families (bundled real data),
    IPA transliteration scored by exact match and by BLEU (a metric-sensitivity pair)."""
    from phasefit.data import datasets
    from phasefit.data.curves import load_curves

    df = datasets.load("obsscaling_emergent")
    df = df[df["task"].isin(DEMO_TASKS)]
    return load_curves(df, x_axis="flops", min_points=5, name="dataset:obsscaling_emergent")


DEMO_MIRAGE_METRICS = ["exact_match"]  # generated answers; multiple-choice `acc` is not a token sequence


def run_demo(
    *,
    out: Path,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    console: Console | None = None,
) -> Analysis:
    """The main job on bundled real data: the fit, then the metric-sensitivity and mirage stage, into
    `out` (each resumes from its checkpoints). The report is drawn by the caller (`phasefit demo`)."""
    console = console or Console()
    curves = demo_curves()
    console.print(
        f"phasefit demo: {len(curves)} curves from the bundled ObsScaling emergent-capability table "
        f"({', '.join(DEMO_TASKS)}), x = log10 training FLOPs",
        markup=False,
    )
    analysis = fit_to_directory(curves, out=out, console=console, draws=draws, tune=tune, chains=chains)
    console.print(
        "\nmetric sensitivity: IPA transliteration, exact match vs BLEU; the mirage on exact match", markup=False
    )
    sensitivity_to_directory(
        curves, out=out, mirage_metrics=DEMO_MIRAGE_METRICS, console=console, draws=draws, tune=tune, chains=chains
    )
    return analysis


SAMPLER_OPTIONS = ("backend", "chains", "draws", "tune", "seed", "sampling")
SENSITIVITY_FILES = ("sensitivity.json", "sensitivity_tasks.csv", "sensitivity.csv")


def sensitivity_to_directory(
    curves: CurveSet | pd.DataFrame | str | Path,
    *,
    out: Path,
    fits: Path | None = None,
    pairs: dict[str, str] | None = None,
    mirage: bool = True,
    mirage_metrics: list[str] | None = None,
    console: Console | None = None,
    **options,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metric-choice sensitivity: `sensitivity.csv` and `sensitivity_tasks.csv` in `out`.

    The verdicts come from the fit directory `fits` when given (it must hold a finished fit of the
    same data), else from `out` itself when it holds one, else from a fit run here and written to
    `out` (`fit_to_directory`). Sharp metrics (of `mirage_metrics`, default all) then get the mirage
    stage, each with its checkpoint, so an interrupted run resumes. `force=True` discards the
    checkpoints in `out` and does not reuse a fit there (a `fits` directory given is still used).
    """
    from phasefit._version import code_stamp

    curves = as_curve_set(curves, where="sensitivity_to_directory")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PhasefitError(f"{out}: exists and is not a directory")
    _require_comparison(curves, mirage=mirage)
    if options.pop("force", False):
        shutil.rmtree(out / ".phasefit-work", ignore_errors=True)
        if fits is None:  # a fit already in `out` is redone, not reused
            for name in ("verdicts.csv", "run.json"):
                (out / name).unlink(missing_ok=True)
    spec = _spec_of(options)
    options["models"] = spec
    console = console or Console()
    t0 = time.perf_counter()
    verdicts = _verdicts_for(curves, out=out, fits=fits, spec=spec, console=console, options=options)
    t_fit = time.perf_counter() - t0
    mspec = mirage_spec(spec)
    results = []
    if mirage:
        key = checkpoint_key(
            version=code_stamp(),
            data_hash=curves.data_hash,
            spec_hash=curve_spec_hash(mspec) + json.dumps(sorted((pairs or {}).items())),  # a pair changes a fit
            lfo_cutoff=None,
            x_axis=curves.x_axis,
        )
        results = _mirage_stage(
            curves,
            mspec,
            pairs=pairs,
            metrics=mirage_metrics,
            store=MirageCheckpoints(out / ".phasefit-work" / f"mirage-{key}"),
            bar=_RichProgress(console, enabled=options.get("progress", True), title="mirage"),
            scheduler=options.get("scheduler"),
            workers=options.get("workers"),
        )
    table = sensitivity_table(curves, verdicts, results, sharp_alone=mirage)
    tasks = metric_task_table(table)
    record = {
        "source": curves.source,
        "data_hash": curves.data_hash,
        "x_axis": curves.x_axis,
        "fits": str(fits if fits is not None else out),
        "pairs": pairs or {},
        "mirage": mirage,
        "mirage_metrics": mirage_metrics,
        "mirage_hypotheses": [asdict(h) for h in mspec.hypotheses[len(spec.names) :]],
        "seed": spec.sampler.seed,
        "sampler": spec.to_dict()["sampler"],
        "versions": versions(),
        "n_rows": len(table),
        "n_mirage": len(results),
        "mirage_failed": sum(not (a.ok and (j is None or j.ok)) for a, j in results),
        "seconds": {"fits": round(t_fit, 2), "total": round(time.perf_counter() - t0, 2)},
        "argv": list(sys.argv),
    }
    staging = out / ".phasefit-work" / "staging-sensitivity"
    staging.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, staging / "sensitivity.json")
    write_table_atomic(tasks, staging / "sensitivity_tasks.csv")
    write_table_atomic(table, staging / "sensitivity.csv")
    for name in SENSITIVITY_FILES:
        os.replace(staging / name, out / name)
    shutil.rmtree(out / ".phasefit-work", ignore_errors=True)
    console.print(_sensitivity_summary(table, tasks), markup=False, highlight=False)
    console.print(f"\nwrote {', '.join(str(out / n) for n in SENSITIVITY_FILES)}", markup=False)
    return table, tasks


def sensitivity(
    curves: CurveSet | pd.DataFrame | str | Path,
    *,
    analysis: Analysis | None = None,
    pairs: dict[str, str] | None = None,
    mirage: bool = True,
    mirage_metrics: list[str] | None = None,
    progress: bool = True,
    console: Console | None = None,
    **fit_options,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metric-choice sensitivity in memory: (`sensitivity.csv`'s table, `sensitivity_tasks.csv`'s).

    `analysis` is a finished `fit` of the same curves (fitted here when None, with `fit_options`);
    the mirage stage uses `fit_options`' spec and sampler settings (`models`, `draws`, ...; the bundled
    spec by default). Nothing is written: see
    `sensitivity_to_directory` for files, run record and checkpoints.
    """
    curves = as_curve_set(curves, where="phasefit.sensitivity")
    _require_comparison(curves, mirage=mirage)
    console = console or Console(stderr=True)
    if analysis is None:
        analysis = fit(curves, progress=progress, console=console, **fit_options)
    elif analysis.run.get("data_hash") != curves.data_hash:
        raise PhasefitError(f"{curves.source}: the analysis given was fitted on other data")
    spec = _spec_of(fit_options)
    results = []
    if mirage:
        bar = _RichProgress(console, enabled=progress, title="mirage")
        results = _mirage_stage(
            curves,
            mirage_spec(spec),
            pairs=pairs,
            metrics=mirage_metrics,
            store=None,
            bar=bar,
            scheduler=fit_options.get("scheduler"),
            workers=fit_options.get("workers"),
        )
    table = sensitivity_table(curves, analysis.verdicts, results, sharp_alone=mirage)
    return table, metric_task_table(table)


def _require_comparison(curves: CurveSet, *, mirage: bool) -> None:
    if not metric_groups(curves, sharp_alone=mirage):
        raise PhasefitError(
            f"{curves.source}: no task, family and condition is scored under two or more metrics"
            + (" and no metric is sharp (per-item 0/1 with n_items)" if mirage else "")
            + ": nothing to compare"
        )


def _spec_of(options: dict) -> ModelSpec:
    """The spec of `fit`'s options: `models` with the sampler options applied."""
    return _resolve_spec(options.get("models"), **{k: options.get(k) for k in SAMPLER_OPTIONS})


def _mirage_stage(
    curves: CurveSet,
    mspec: ModelSpec,
    *,
    pairs: dict[str, str] | None,
    metrics: list[str] | None,
    store: MirageCheckpoints | None,
    bar: _RichProgress,
    scheduler: str | None = None,
    workers: int | None = None,
) -> list:
    """Mirage evidence (alone, joint) of every sharp curve, each checkpointed in `store` if given;
    on a Dask cluster (`scheduler` or `workers`, as for the fits) when one is asked for."""
    todo = mirage_pairs(curves, pairs, metrics=metrics)
    found = {}
    for i, _ in todo:
        pair = store.load(curves.curve(i)) if store is not None else None
        if pair is not None:
            found[i] = pair
    missing = [(curves.curve(i), curves.curve(o) if o is not None else None) for i, o in todo if i not in found]

    def finished(i: int, pair) -> None:
        found[i] = pair
        if store is not None:
            store.save(i, pair)
        bar("curve", label=curves.curve(i).label, done=len(found), total=len(todo))

    with bar.bar:
        if missing and (scheduler is not None or workers is not None):
            from phasefit.runner.cluster import cluster_client, mirage_shard, run_shards

            with cluster_client(scheduler=scheduler, workers=workers) as client:
                for i, pair in run_shards(client, mirage_shard, missing, mspec):
                    finished(i, pair)
        elif missing:
            sampler = Sampler(mspec)  # compiled only when something is left to fit
            for sharp, other in missing:
                bar("curve", label=sharp.label, done=len(found), total=len(todo))
                alone = mirage_evidence(sharp, None, sampler)
                joint = mirage_evidence(sharp, other, sampler) if other is not None else None
                finished(sharp.index, (alone, joint))
        if todo:
            bar("done", label="", done=len(todo), total=len(todo))
    return [found[i] for i, _ in todo]


def _verdicts_for(
    curves: CurveSet, *, out: Path, fits: Path | None, spec: ModelSpec, console: Console, options: dict
) -> pd.DataFrame:
    """The fit analysis' verdicts of `curves`, in curve order: read from a finished fit or fitted."""
    source = Path(fits) if fits is not None else out
    run_file, table = source / "run.json", source / "verdicts.csv"
    if run_file.is_file() and table.is_file():
        run = json.loads(run_file.read_text(encoding="utf-8"))
        same = run.get("data_hash") == curves.data_hash and run.get("x_axis") == curves.x_axis
        if same and (fits is not None or run.get("spec_hash") == spec_hash(spec)):
            console.print(f"reusing the fits in {source}", markup=False)
            return _align(read_run_files(source)["verdicts"], curves, source=table)  # no posterior needed
        if fits is not None:
            raise PhasefitError(
                f"{source}: fitted on other data or another axis than this analysis "
                f"(data hash {run.get('data_hash')}, x {run.get('x_axis')}; "
                f"here {curves.data_hash}, x {curves.x_axis}): "
                "fit the same data and options, or leave out --fits"
            )
    elif fits is not None:
        raise PhasefitError(f"{source}: not a finished fit directory (no verdicts.csv and run.json)")
    return fit_to_directory(curves, out=out, console=console, **options).verdicts


def _align(verdicts: pd.DataFrame, curves: CurveSet, *, source: Path) -> pd.DataFrame:
    """The rows of a verdict table read back from a fit directory, in `curves` order."""
    c = curves.curves[list(CURVE_KEY)].astype(str).reset_index(drop=True)
    merged = c.merge(verdicts, on=list(CURVE_KEY), how="left", indicator=True)
    missing = merged["_merge"] != "both"
    if missing.any() or len(merged) != len(c):
        first = c[missing.to_numpy()].iloc[0] if missing.any() else c.iloc[0]
        raise PhasefitError(f"{source}: no verdict row for curve {', '.join(map(str, first))}")
    return merged.drop(columns="_merge")


def _sensitivity_summary(table: pd.DataFrame, tasks: pd.DataFrame) -> str:
    by_group = table.groupby(["task", "family", "condition"])
    n_metrics = by_group["metric"].nunique()
    multi = n_metrics[n_metrics >= 2].index
    flips = by_group["flip"].first().reindex(multi).fillna(False).astype(bool)
    decisive = by_group["flip_decisive"].first().reindex(multi).fillna(False).astype(bool)
    alone = int((n_metrics < 2).sum())
    lines = [
        f"metric sensitivity: {len(multi)} task x family x condition groups under 2+ metrics "
        f"({int(table.set_index(['task', 'family', 'condition']).index.isin(multi).sum())} curves); the "
        f"verdict changes with the metric in {int(flips.sum())}, from emergent to smooth/absent in "
        f"{int(decisive.sum())}"
        + (f"; {alone} more scored by one sharp metric alone (mirage evidence only)" if alone else "")
    ]
    sharp = table[table["paired_metric"].notna() & table["verdict"].isin(["emergent", "inconclusive"])]
    if len(sharp):
        lines.append(
            f"mirage: of the {len(sharp)} sharp-metric curves called emergent or inconclusive, "
            f"{int(sharp['mirage_attributed'].sum())} are better explained by a smooth per-token skill seen "
            f"through the metric (p_mirage >= 0.5), and {int(sharp['flat_below_resolution'].sum())} have a "
            "flat stretch that the test set cannot resolve"
        )
    shown = tasks[["task", "condition", "n_families", "families_flip", "emergent_under", "not_emergent_under"]]
    lines += ["", shown.to_string(index=False)]
    return "\n".join(lines)
