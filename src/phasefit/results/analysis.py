"""What a fit returns: the verdict, parameter and task tables, the DataTree and the run record.

`assemble` turns the typed per-curve results of `phasefit.analyses.fit` into the tables of the
outputs contract (docs/verdicts.md) and the posterior DataTree. Everything here is deterministic in
its inputs: the same results give byte-identical tables.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from phasefit.analyses.fit import FitOutcome
from phasefit.analyses.population import PopulationResult
from phasefit.data.curves import CurveSet
from phasefit.evidence.verdicts import VERDICT_COLUMNS, describe, summary_text
from phasefit.models.spec import ModelSpec
from phasefit.results.posterior import build_tree

PARAMETER_COLUMNS = (
    "task",
    "metric",
    "family",
    "condition",
    "x_axis",
    "tau_median",
    "tau_q05",
    "tau_q95",
    "break_flops_median",
    "break_flops_q05",
    "break_flops_q95",
    "break_params_median",
    "break_params_q05",
    "break_params_q95",
    "p_absent",
    "p_smooth",
    "p_emergent",
    "verdict",
    "p_emergent_pooled",
    "tau_median_pooled",
    "tau_q05_pooled",
    "tau_q95_pooled",
    "importance_ess",
)
RUN_FORMAT = 2


@dataclass(frozen=True)
class Analysis:
    """Verdicts (one row per curve), per-curve parameters, task table, posterior DataTree, run record."""

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


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("phasefit", "pymc", "pytensor", "nutpie", "arviz", "arviz-stats", "numpy", "xarray", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def spec_hash(spec: ModelSpec) -> str:
    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def assemble(
    curves: CurveSet, outcome: FitOutcome, spec: ModelSpec, *, lfo_cutoff: float | None, seconds: float, argv: list[str]
) -> Analysis:
    """The tables, the DataTree and the run record of a finished fit."""
    results = sorted(outcome.results, key=lambda r: r.index)
    rows = pd.DataFrame([r.row for r in results])
    population = outcome.population
    rows = _apply_population(rows, population)
    verdicts = rows[list(VERDICT_COLUMNS)].copy()
    _blank_inapplicable(verdicts)
    params = rows[list(PARAMETER_COLUMNS)].copy()
    tasks = task_table(results, population, curves.x_axis)
    run = {
        "phasefit_run": RUN_FORMAT,
        "source": curves.source,
        "data_hash": curves.data_hash,
        "x_axis": curves.x_axis,
        "n_curves": len(curves),
        "spec": spec.to_dict(),
        "spec_hash": spec_hash(spec),
        "seed": spec.sampler.seed,
        "lfo_cutoff": lfo_cutoff,
        "versions": versions(),
        "compile_seconds": outcome.compile_seconds,
        "seconds": round(seconds, 2),
        "dropped": curves.dropped.to_dict(orient="records"),
        "argv": argv,
        "population": _population_summary(population, spec),
    }
    models = {r.index: curves.curve(r.index).models for r in results}
    tree = build_tree(
        results,
        spec,
        population=population,
        models=models,
        attrs={"phasefit_run": json.dumps({k: run[k] for k in ("source", "data_hash", "x_axis", "spec_hash", "seed")})},
    )
    return Analysis(verdicts=verdicts, parameters=params, posterior=tree, run=run, tasks=tasks)


def _apply_population(rows: pd.DataFrame, population: PopulationResult | None) -> pd.DataFrame:
    """Add the pooled P(h) and break quantiles beside the per-curve ones (NaN where not pooled).

    Verdicts stay on the per-curve evidence: with a handful of curves per task and family the
    learned population can be narrower than the data justify (docs/models.md, "Hierarchy").
    """
    rows = rows.copy()
    for col in ("p_absent", "p_smooth", "p_emergent", "tau_q05", "tau_median", "tau_q95", "importance_ess"):
        name = col if col == "importance_ess" else f"{col}_pooled"
        rows[name] = float("nan")
        if population is not None and population.diagnostics.ok:
            pooled = population.curves.set_index("curve")[col]
            rows[name] = rows["curve"].map(pooled)
    return rows


TASK_KEY = ("task", "metric", "condition")


def task_table(results, population: PopulationResult | None, x_axis: str) -> pd.DataFrame:
    """How emergent each task is, per task x metric x condition, pooling its families.

    `p_any_emergent` = 1 - prod(1 - p_emergent) over the task's curves (families), the probability
    that at least one is emergent when the curves' evidence is independent; the expected number
    of emergent families is the sum of p_emergent. The pooled onset mixes the onset draws of the
    curves called emergent only (each weighted equally), so a task that never rises has none.
    `failed` curves are left out (`n_failed`). Beside it, when the population stage ran and passed
    its checks, the task's pooled break (`break_*_pooled_*`) for inspection.
    """
    rows = []
    by_key: dict[tuple, list] = {}
    for r in results:
        by_key.setdefault(tuple(r.row[k] for k in TASK_KEY), []).append(r)
    pooled_break = {}
    if population is not None and population.diagnostics.ok:
        for t in population.tasks.itertuples(index=False):
            pooled_break[t.task] = (t.break_x_median, t.break_x_q05, t.break_x_q95)
    for key in sorted(by_key):
        group = by_key[key]
        ok = [r for r in group if r.row["verdict"] != "failed"]
        p = np.array([r.row["p_emergent"] for r in ok], float)
        rising = [r for r in ok if r.row["verdict"] == "emergent" and np.isfinite(r.onset).any()]
        if rising:
            n = min(len(r.onset) for r in rising)
            pooled = np.concatenate([r.onset[np.linspace(0, len(r.onset) - 1, n).round().astype(int)] for r in rising])
            q = np.quantile(pooled, (0.5, 0.05, 0.95), method="inverted_cdf")  # inf: beyond the data
            q = np.where(np.isfinite(q), 10.0 ** np.where(np.isfinite(q), q, 0.0), np.nan)
        else:
            q = np.full(3, np.nan)
        brk = pooled_break.get(key[0], (np.nan, np.nan, np.nan)) if rising else (np.nan, np.nan, np.nan)
        rows.append(
            {
                **dict(zip(TASK_KEY, key, strict=True)),
                "n_curves": len(ok),
                "n_failed": len(group) - len(ok),
                "p_any_emergent": float(1 - np.prod(1 - p)) if len(p) else np.nan,
                "expected_emergent_families": float(p.sum()) if len(p) else np.nan,
                "n_emergent": len(rising),
                f"onset_{x_axis}_median": q[0],
                f"onset_{x_axis}_q05": q[1],
                f"onset_{x_axis}_q95": q[2],
                f"break_{x_axis}_pooled_median": 10 ** brk[0],
                f"break_{x_axis}_pooled_q05": 10 ** brk[1],
                f"break_{x_axis}_pooled_q95": 10 ** brk[2],
            }
        )
    return pd.DataFrame(rows)


def _population_summary(population: PopulationResult | None, spec: ModelSpec) -> dict | None:
    if population is None:
        return None
    d = population.diagnostics
    rates = population.rates
    return {
        "ok": d.ok,
        "reason": d.reason,
        "rhat_max": d.rhat_max,
        "ess_bulk_min": d.ess_bulk_min,
        "divergences": d.divergences,
        "rates_mean": dict(zip(spec.names, rates.mean(0).round(4).tolist(), strict=True)),
        "families": population.families.round(4).to_dict(orient="records"),
    }


def _blank_inapplicable(v: pd.DataFrame) -> None:
    """The break and onset apply to emergent and inconclusive curves only (empty cells otherwise)."""
    no_break = ~v["verdict"].isin(["emergent", "inconclusive"])
    cols = [c for c in v.columns if c.startswith(("break_", "onset_")) and c != "onset_below_resolution"]
    v.loc[no_break, cols] = float("nan")
