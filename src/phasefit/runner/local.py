"""Run an analysis end to end: curves -> fits -> evidence -> verdicts -> files.

`fit(curves)` returns an `Analysis` (verdict table, parameter table, DataTree, prose summary).
`fit_to_directory` writes `verdicts.csv`, `parameters.csv`, `posterior.nc` and `run.json`
atomically. Finished curves are checkpointed in `DIR/.phasefit-work/` as they complete, so an
interrupted run resumes where it stopped; the work folder is removed once the outputs are whole.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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

from phasefit.analyses.curve import CurveResult, analyse_curve
from phasefit.data.curves import CURVE_KEY, CurveSet
from phasefit.errors import PhasefitError
from phasefit.inference.sampler import Sampler
from phasefit.results.files import write_atomic, write_json_atomic, write_table_atomic
from phasefit.analyses.population import PopulationResult, fit_population
from phasefit.results.posterior import build_tree, save_tree
from phasefit.models.spec import ModelSpec, load_spec
from phasefit.evidence.verdicts import VERDICT_COLUMNS, describe, summary_text

PARAMETER_COLUMNS = ("task", "metric", "family", "condition", "x_axis", "tau_median", "tau_q05", "tau_q95",
                     "break_flops_median", "break_flops_q05", "break_flops_q95", "break_params_median",
                     "break_params_q05", "break_params_q95", "p_absent", "p_smooth", "p_emergent", "verdict",
                     "p_emergent_pooled", "tau_median_pooled", "tau_q05_pooled", "tau_q95_pooled", "importance_ess")


@dataclass(frozen=True)
class Analysis:
    """What a fit returns: verdicts (DESIGN §4), per-curve parameters, the posterior DataTree."""

    verdicts: pd.DataFrame
    parameters: pd.DataFrame
    posterior: xr.DataTree
    run: dict
    tasks: pd.DataFrame  # emergence scale per task, pooled across families

    def summary(self) -> str:
        """Verdict counts and one sentence per curve."""
        return summary_text(self.verdicts)

    def describe(self, i: int) -> str:
        return describe(self.verdicts.iloc[i])


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("phasefit", "pymc", "pytensor", "nutpie", "arviz", "arviz-stats", "numpy", "xarray", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _spec_hash(spec: ModelSpec) -> str:
    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _resolve_spec(models: str | Path | ModelSpec | None, **sampler) -> ModelSpec:
    spec = models if isinstance(models, ModelSpec) else load_spec(models)
    for key in ("chains", "draws", "tune"):
        v = sampler.get(key)
        if v is not None and v < 1:
            raise PhasefitError(f"--{key} must be at least 1, got {v}")
    return spec.with_sampler(**sampler)


def fit(curves: CurveSet, *, models: str | Path | ModelSpec | None = None, backend: str | None = None,
        chains: int | None = None, draws: int | None = None, tune: int | None = None, seed: int | None = None,
        lfo_cutoff: float | None = None, progress: bool = True, console: Console | None = None,
        work_dir: Path | None = None) -> Analysis:
    """Fit every curve (compiling each likelihood's model once) and decide its verdict.

    `lfo_cutoff` is in FLOPs (or parameters when the curves use `x_axis="params"`); by default each
    curve's leave-future-out cutoff is its posterior median break. With `work_dir`, finished curves
    are checkpointed there and reused by a rerun with the same data and spec.
    """
    if len(curves) == 0:
        raise PhasefitError(f"{curves.source}: no curves to fit (all dropped: see `phasefit validate`)")
    if lfo_cutoff is not None and lfo_cutoff <= 0:
        raise PhasefitError(f"--lfo-cutoff must be positive, got {lfo_cutoff}")
    spec = _resolve_spec(models, backend=backend, chains=chains, draws=draws, tune=tune, seed=seed)
    sampler = Sampler(spec)
    cutoff = math.log10(lfo_cutoff) if lfo_cutoff is not None else None
    key = hashlib.sha256(f"{curves.data_hash}|{_spec_hash(spec)}|{cutoff}|{curves.x_axis}".encode()).hexdigest()[:16]
    cache = (work_dir / key) if work_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    console = console or Console(stderr=True)
    results: list[CurveResult] = []
    t0 = time.perf_counter()
    columns = (TextColumn("[bold]fitting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
        task = bar.add_task("", total=len(curves))
        for curve in curves:
            bar.update(task, description=curve.label)
            path = cache / f"curve-{curve.index:06d}.pkl" if cache is not None else None
            result = _load_checkpoint(path)
            if result is not None and tuple(result.row[k] for k in CURVE_KEY) != tuple(
                    getattr(curve, k) for k in CURVE_KEY):
                result = None  # a checkpoint of another curve: refit
            if result is None:
                result = analyse_curve(curve, sampler, x_axis=curves.x_axis, lfo_cutoff=cutoff)
                if path is not None:
                    write_atomic(path, lambda p, r=result: p.write_bytes(pickle.dumps(r)))
            results.append(result)
            bar.advance(task)
    rows = pd.DataFrame([r.row for r in results])
    population = None
    if spec.population.enabled and len(results) >= 2:
        console.print("population stage: pooling rates, task breaks and family offsets across curves", markup=False)
        population = fit_population(curves, results, spec, seed=spec.sampler.seed)
    rows = _apply_population(rows, population)
    seconds = time.perf_counter() - t0
    verdicts = rows[list(VERDICT_COLUMNS)].copy()
    _blank_inapplicable(verdicts)
    params = rows[list(PARAMETER_COLUMNS)].copy()
    tasks = _task_table(population, curves.x_axis)
    run = {
        "phasefit_run": 1, "source": curves.source, "data_hash": curves.data_hash, "x_axis": curves.x_axis,
        "n_curves": len(curves), "spec": spec.to_dict(), "spec_hash": _spec_hash(spec),
        "seed": spec.sampler.seed, "lfo_cutoff": lfo_cutoff, "versions": _versions(),
        "compile_seconds": sampler.compile_seconds, "seconds": round(seconds, 2),
        "dropped": curves.dropped.to_dict(orient="records"), "argv": sys.argv,
        "population": _population_summary(population),
    }
    tree = build_tree(curves, results, spec, population=population, attrs={"phasefit_run": json.dumps(
        {k: run[k] for k in ("source", "data_hash", "x_axis", "spec_hash", "seed")})})
    return Analysis(verdicts=verdicts, parameters=params, posterior=tree, run=run, tasks=tasks)


def _apply_population(rows: pd.DataFrame, population: PopulationResult | None) -> pd.DataFrame:
    """Add the pooled P(h) and break quantiles beside the per-curve ones (NaN where not pooled).

    Verdicts stay on the per-curve evidence: with a handful of curves per task and family the
    learned population can be narrower than the data justify, and a narrow population prior
    raises every overlapping curve's breakpoint evidence (docs/models.md, "Hierarchy").
    """
    rows = rows.copy()
    for col in ("p_absent", "p_smooth", "p_emergent", "tau_q05", "tau_median", "tau_q95", "importance_ess"):
        name = col if col == "importance_ess" else f"{col}_pooled"
        rows[name] = float("nan")
        if population is not None and population.diagnostics.ok:
            pooled = population.curves.set_index("curve")[col]
            rows[name] = rows["curve"].map(pooled)
    return rows


def _task_table(population: PopulationResult | None, x_axis: str) -> pd.DataFrame:
    """The emergence scale per task, pooled across families (empty without a population stage)."""
    cols = ["task", "n_curves", f"break_{x_axis}_median", f"break_{x_axis}_q05", f"break_{x_axis}_q95"]
    if population is None or not population.diagnostics.ok:
        return pd.DataFrame(columns=cols)
    t = population.tasks
    return pd.DataFrame({"task": t["task"], "n_curves": t["n_curves"],
                         f"break_{x_axis}_median": 10 ** t["break_x_median"],
                         f"break_{x_axis}_q05": 10 ** t["break_x_q05"],
                         f"break_{x_axis}_q95": 10 ** t["break_x_q95"]})


def _population_summary(population: PopulationResult | None) -> dict | None:
    if population is None:
        return None
    d = population.diagnostics
    rates = population.rates
    return {"ok": d.ok, "reason": d.reason, "rhat_max": d.rhat_max, "ess_bulk_min": d.ess_bulk_min,
            "divergences": d.divergences,
            "rates_mean": dict(zip(("absent", "smooth", "breakpoint"), rates.mean(0).round(4).tolist(), strict=True)),
            "families": population.families.round(4).to_dict(orient="records")}


def _blank_inapplicable(v: pd.DataFrame) -> None:
    """The break's scale applies to emergent and inconclusive curves only (empty cells otherwise)."""
    no_break = ~v["verdict"].isin(["emergent", "inconclusive"])
    cols = [c for c in v.columns if c.startswith("break_")]
    v.loc[no_break, cols] = float("nan")


def _load_checkpoint(path: Path | None) -> CurveResult | None:
    if path is None or not path.exists():
        return None
    try:
        return pickle.loads(path.read_bytes())
    except Exception:  # a checkpoint from another version: refit that curve
        return None


def fit_to_directory(curves: CurveSet, *, out: Path, console: Console | None = None, **options) -> Analysis:
    """`fit` and write verdicts.csv, parameters.csv, posterior.nc and run.json to `out`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PhasefitError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".phasefit-work"
    console = console or Console()
    analysis = fit(curves, console=console, work_dir=work, **options)
    # everything is written to a staging folder first, then moved in; verdicts.csv moves last
    staging = work / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    save_tree(analysis.posterior, staging / "posterior.nc")
    write_table_atomic(analysis.parameters, staging / "parameters.csv")
    write_table_atomic(analysis.tasks, staging / "tasks.csv")
    write_json_atomic(analysis.run, staging / "run.json")
    write_table_atomic(analysis.verdicts, staging / "verdicts.csv")
    for name in OUTPUT_FILES:
        os.replace(staging / name, out / name)
    shutil.rmtree(work, ignore_errors=True)
    console.print(analysis.summary(), markup=False, highlight=False)
    if len(analysis.tasks):
        console.print("\nemergence scale per task, pooled across families:", markup=False)
        console.print(analysis.tasks.to_string(index=False, float_format=lambda v: f"{v:.2e}"), markup=False)
    console.print(f"\nwrote {', '.join(str(out / n) for n in OUTPUT_FILES)}", markup=False)
    return analysis


OUTPUT_FILES = ("posterior.nc", "parameters.csv", "tasks.csv", "run.json", "verdicts.csv")


DEMO_TASKS = ("arithmetic_2da", "arithmetic_3ds", "word_unscrambling", "ipa_transliterate", "parsinlu_qa")


def demo_curves() -> CurveSet:
    """The demo subset: ObsScaling's emergent-capability tasks across families (bundled real data)."""
    from phasefit.data import datasets
    from phasefit.data.curves import load_curves

    df = datasets.load("obsscaling_emergent")
    df = df[df["task"].isin(DEMO_TASKS) & (df["metric"] != "bleu")]
    return load_curves(df, x_axis="flops", min_points=5, name="dataset:obsscaling_emergent")


def run_demo(*, out: Path, draws: int | None = None, tune: int | None = None, chains: int | None = None,
             console: Console | None = None) -> Analysis:
    console = console or Console()
    curves = demo_curves()
    console.print(f"phasefit demo: {len(curves)} curves from the bundled ObsScaling emergent-capability table "
                  f"({', '.join(DEMO_TASKS)}), x = log10 training FLOPs", markup=False)
    return fit_to_directory(curves, out=out, console=console, draws=draws, tune=tune, chains=chains)
