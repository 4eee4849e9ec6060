"""What a fit returns: the verdict, parameter and task tables, the DataTree and the run record.

`assemble` turns the typed per-curve results of `phasefit.analyses.fit` into the tables of the
outputs contract (docs/verdicts.md) and the posterior DataTree. Everything here is deterministic in
its inputs: the same results give byte-identical tables.
"""

from __future__ import annotations

import hashlib
import json
import platform

import numpy as np
import pandas as pd

from phasefit import _version
from phasefit.analyses.curve import break_scale
from phasefit.analyses.fit import FitOutcome
from phasefit.analyses.population import MIN_IMPORTANCE_ESS, PopulationResult
from phasefit.data.curves import CurveSet
from phasefit.evidence.verdicts import VERDICT_COLUMNS, agreement, decide
from phasefit.models.spec import EMERGENT, ModelSpec
from phasefit.results.posterior import PosteriorShards
from phasefit.results.run import Analysis, load_run  # noqa: F401  (re-exported)

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
    "pooled",
    "p_emergent_unpooled",
    "p_emergent_pooled",
    "tau_median_unpooled",
    "tau_q05_unpooled",
    "tau_q95_unpooled",
    "tau_median_pooled",
    "tau_q05_pooled",
    "tau_q95_pooled",
    "importance_ess",
)
RUN_FORMAT = 3


def versions() -> dict:
    """The versions a run used, with phasefit's `code_stamp` (its source's hash)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("phasefit", "pymc", "pytensor", "nutpie", "arviz", "arviz-stats", "numpy", "xarray", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    out["phasefit_code"] = _version.code_stamp()
    return out


def _content(spec: ModelSpec) -> dict:
    """The spec's content, without `source` (where it was read from): the same spec read from another
    path, e.g. exported with `phasefit models export` or in another checkout, is the same analysis."""
    d = spec.to_dict()
    d.pop("source", None)
    return d


def spec_hash(spec: ModelSpec) -> str:
    return hashlib.sha256(json.dumps(_content(spec), sort_keys=True).encode()).hexdigest()[:16]


def curve_spec_hash(spec: ModelSpec) -> str:
    """The hash of what one curve's analysis depends on: the spec less its population stage, so that
    changing the population stage reuses every curve's checkpoint."""
    d = _content(spec)
    d.pop("population", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def assemble(
    curves: CurveSet,
    outcome: FitOutcome,
    spec: ModelSpec,
    *,
    lfo_cutoff: float | None,
    seconds: float,
    argv: list[str],
    posterior: PosteriorShards,
) -> Analysis:
    """The tables, the DataTree and the run record of a finished fit; `posterior` holds the curves'
    draws (the sink `analyse_curves` filled)."""
    results = sorted(outcome.results, key=lambda r: r.index)
    rows = pd.DataFrame([r.row for r in results])
    population = outcome.population
    sens = outcome.sensitivity
    rows["p_emergent_prior_min"] = rows["curve"].map(lambda c: sens[c].p_min if c in sens else np.nan)
    rows["p_emergent_prior_max"] = rows["curve"].map(lambda c: sens[c].p_max if c in sens else np.nan)
    rows["prior_sensitive"] = rows["curve"].map(lambda c: sens[c].changes_verdict if c in sens else False)
    onsets = {r.index: r.onset for r in results}
    taus = dict(outcome.taus)
    rows = _apply_population(rows, population, curves, spec, onsets, taus)
    # P(breakpoint, and its rise above the floor margin by the largest model): the share is the
    # breakpoint posterior's own, so it also holds for a pooled p_emergent (priors re-weighted)
    rows["p_emergent_above_floor"] = rows["p_emergent"] * rows["breakpoint_above_floor"]
    verdicts = rows[list(VERDICT_COLUMNS)].copy()
    _blank_inapplicable(verdicts)
    params = rows[list(PARAMETER_COLUMNS)].copy()
    tasks = task_table(rows, onsets, taus, curves.x_axis)
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
    tree = posterior.tree(
        population=population,
        attrs={"phasefit_run": json.dumps({k: run[k] for k in ("source", "data_hash", "x_axis", "spec_hash", "seed")})},
    )
    return Analysis(verdicts=verdicts, parameters=params, posterior=tree, run=run, tasks=tasks)


def _apply_population(
    rows: pd.DataFrame,
    population: PopulationResult | None,
    curves: CurveSet,
    spec: ModelSpec,
    onsets: dict[int, np.ndarray],
    taus: dict[int, np.ndarray],
) -> pd.DataFrame:
    """The pooled columns beside the curves' own, and, where the pooled values decide, the verdict
    rows under the learned priors; `onsets` and `taus` (curve -> draws, log10 axis) are then updated
    in place with the re-weighted draws of the pooled curves.

    When the population stage is used (`decide = true`, converged, at least `min_curves` curves), a
    pooled curve's P(h), break and onset come from its draws re-weighted by the learned priors and
    its verdict is decided on them; `*_unpooled` keep the curve alone under the fixed priors. A
    curve the stage left out (failed, Student-t) keeps its own values; one whose re-weighted break
    draws are too few (ESS < MIN_IMPORTANCE_ESS) keeps its own break and onset, with a note.
    """
    rows = rows.copy()
    rows["pooled"] = False
    rows["p_emergent_unpooled"] = rows["p_emergent"]
    rows["p_emergent_pooled"] = float("nan")
    for q in ("median", "q05", "q95"):
        rows[f"tau_{q}_unpooled"] = rows[f"tau_{q}"]
        rows[f"tau_{q}_pooled"] = float("nan")
    rows["importance_ess"] = float("nan")
    if population is None or not population.diagnostics.ok:
        return rows
    pooled = population.curves.set_index("curve")
    at = rows["curve"].isin(pooled.index)
    for col, src in (("p_emergent_pooled", f"p_{EMERGENT}"), ("importance_ess", "importance_ess")):
        rows.loc[at, col] = rows.loc[at, "curve"].map(pooled[src])
    for q in ("median", "q05", "q95"):
        rows.loc[at, f"tau_{q}_pooled"] = rows.loc[at, "curve"].map(pooled[f"tau_{q}"])
    if not population.used:
        return rows
    pooled = population.curves.set_index("curve")
    for i, row in rows.iterrows():
        c = int(row["curve"])
        if c not in pooled.index:
            continue
        pr = pooled.loc[c]
        rows.at[i, "pooled"] = True
        for h in spec.names:
            rows.at[i, f"p_{h}"] = pr[f"p_{h}"]
        rows.at[i, "p_emergent"] = pr[f"p_{EMERGENT}"]
        if row["verdict"] != "failed":
            verdict = decide(
                ok=True,
                p_absent=float(pr["p_absent"]),
                p_emergent=float(pr[f"p_{EMERGENT}"]),
                thresholds=spec.verdict,
                p_above_floor=float(row["p_above_floor"]),
            )
            rows.at[i, "verdict"] = verdict
            rows.at[i, "evidence_agreement"] = agreement(
                verdict=verdict,
                elpd_diff=float(row["elpd_diff"]),
                elpd_diff_se=float(row["elpd_diff_se"]),
                lfo_elpd_diff=float(row["lfo_elpd_diff"]),
            )
        if pr["importance_ess"] < MIN_IMPORTANCE_ESS:  # the pooled break would rest on a handful of draws
            note = f"break and onset from the curve alone (re-weighted draws: ESS {pr['importance_ess']:.0f})"
            rows.at[i, "notes"] = "; ".join(x for x in (row["notes"], note) if x)
            continue
        curve = curves.curve(c)
        tq = np.array([pr["tau_q05"], pr["tau_median"], pr["tau_q95"]], float)
        for q, v in zip(("q05", "median", "q95"), tq, strict=True):
            rows.at[i, f"tau_{q}"] = v
        for k, v in break_scale(curve, tq, row["x_axis"]).items():
            rows.at[i, k] = v
        oq = np.array([pr["onset_q05"], pr["onset_median"], pr["onset_q95"]], float)
        oq = np.where(np.isinf(oq), np.nan, oq)
        for k, v in break_scale(curve, oq, row["x_axis"]).items():
            rows.at[i, k.replace("break_", "onset_")] = v
        rows.at[i, "onset_beyond_data"] = pr["onset_beyond_data"]
        onsets[c], taus[c] = population.onsets[c], population.taus[c]
    return rows


TASK_KEY = ("task", "metric", "condition")


def _mixture_quantiles(draws: list[np.ndarray]) -> np.ndarray:
    """Median, 5% and 95% of an equal-weight mixture of draw sets, as 10**x (inf -> NaN)."""
    if not draws:
        return np.full(3, np.nan)
    n = min(len(d) for d in draws)
    mixed = np.concatenate([d[np.linspace(0, len(d) - 1, n).round().astype(int)] for d in draws])
    q = np.quantile(mixed, (0.5, 0.05, 0.95), method="inverted_cdf")  # inf: beyond the data
    return np.where(np.isfinite(q), 10.0 ** np.where(np.isfinite(q), q, 0.0), np.nan)


def task_table(
    rows: pd.DataFrame, onsets: dict[int, np.ndarray], taus: dict[int, np.ndarray], x_axis: str
) -> pd.DataFrame:
    """How emergent each task is, per task x metric x condition, pooling its families.

    `p_any_emergent` = 1 - prod(1 - p) over the task's curves (families), the probability that at
    least one is emergent when the curves' evidence is independent given the population; the expected
    number of emergent families is the sum of p. p is `p_emergent_above_floor`, P(breakpoint and a
    rise above the floor margin by the largest model), so that a family whose curve never credibly
    leaves its floor (verdict `absent`) does not count as emergent through a break the data do not
    show; for unbounded (Student-t) scores, which have no floor, p is `p_emergent`. The task's onset
    and break mix the draws of the curves called emergent only (each weighted equally; re-weighted by
    the learned priors where the curve was pooled), so a task that never rises has neither. `failed`
    curves are left out (`n_failed`).
    """
    out = []
    for key, group in rows.groupby(list(TASK_KEY), sort=True, dropna=False):
        ok = group[group["verdict"] != "failed"]
        risen = ok["p_emergent_above_floor"].to_numpy(float)
        p = np.where(np.isfinite(risen), risen, ok["p_emergent"].to_numpy(float))
        rising = [int(c) for c in ok.loc[ok["verdict"] == "emergent", "curve"] if np.isfinite(onsets[int(c)]).any()]
        onset = _mixture_quantiles([onsets[c] for c in rising])
        brk = _mixture_quantiles([taus[c] for c in rising])
        out.append(
            {
                **dict(zip(TASK_KEY, key, strict=True)),
                "n_curves": len(ok),
                "n_failed": len(group) - len(ok),
                "p_any_emergent": float(1 - np.prod(1 - p)) if len(p) else np.nan,
                "expected_emergent_families": float(p.sum()) if len(p) else np.nan,
                "n_emergent": len(rising),
                f"onset_{x_axis}_median": onset[0],
                f"onset_{x_axis}_q05": onset[1],
                f"onset_{x_axis}_q95": onset[2],
                f"break_{x_axis}_median": brk[0],
                f"break_{x_axis}_q05": brk[1],
                f"break_{x_axis}_q95": brk[2],
            }
        )
    return pd.DataFrame(out)


def _population_summary(population: PopulationResult | None, spec: ModelSpec) -> dict | None:
    if population is None:
        return None
    d = population.diagnostics
    return {
        "used": population.used,
        "ok": d.ok,
        "reason": d.reason,
        "method": d.method,
        "iterations": d.iterations,
        "grad_norm": d.grad_norm,
        "n_curves": d.n_curves,
        "min_curves": spec.population.min_curves,
        "min_importance_ess": d.min_importance_ess,
        "laplace_k_hat": d.laplace_k_hat,
        "seconds": round(d.seconds, 2),
        "rates_mean": dict(zip(spec.names, population.rates.mean(0).round(4).tolist(), strict=True)),
        "learned": population.learned.round(4).to_dict(orient="records"),
        "families": population.families.round(4).to_dict(orient="records"),
    }


def _blank_inapplicable(v: pd.DataFrame) -> None:
    """The break and onset apply to emergent and inconclusive curves only (empty cells otherwise)."""
    no_break = ~v["verdict"].isin(["emergent", "inconclusive"])
    cols = [c for c in v.columns if c.startswith(("break_", "onset_")) and c != "onset_below_resolution"]
    v.loc[no_break, cols] = float("nan")
