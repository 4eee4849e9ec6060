"""Intervention analysis: does a technique help only past some scale, and hurt below it?

For every (task, metric, family) measured under a baseline arm and a treatment arm on the same
models (`condition` column: e.g. `direct` vs `cot`), both arms are fitted jointly
(`models/arms.py`) under each gain hypothesis (`models/hypotheses/gain.py`: `no_gain`,
`smooth_gain`, and the emergent family `breakpoint_gain` (a step) and `hinge_gain` (a ramp)). Their
marginal likelihoods (importance sampling, PSIS k-hat checked) are weighed in two stages:

1. `fit_pair`: each pair alone (parallel, checkpointed): the fits, log Z per hypothesis, and the
   draws the decision needs (onsets, the gain at both ends, rows for the figure's bands).
2. `pair_probabilities`: P(h | data) of every pair at once, with the hypotheses' prior weights
   learned from the run's pairs (`weights="learned"`, the default): pi ~ Dirichlet(1, ..., 1), each
   pair's hypothesis drawn from pi, and P(h_i | all pairs) by Gibbs sampling, Rao-Blackwellised. A
   run whose pairs mostly show one shape of gain weighs that shape up for every pair, as the
   Bayes-optimal classifier of a population does; a run of one pair gets even prior odds exactly
   (in expectation). `weights="even"` keeps every pair at even prior odds.
3. `decide_pair`: the verdict, with the fit analysis' vocabulary and thresholds, from

       p_emergent = P(breakpoint_gain | data) + P(hinge_gain | data)
       p_absent   = P(no_gain | data)           (the technique changes nothing)

   An `emergent` gain must also be an emergent *benefit* within the data: the onset must lie past
   the smallest model and by the largest in at least half of the draws, else the pair is
   `inconclusive` with a note (a gain already >= margin at the smallest model grows, it does not
   emerge; one that never reaches it is no benefit yet).

The onset is where the gain becomes credibly positive: per draw of the emergent family, the smallest
scale from which the gain stays at or above `margin` log-odds up to the largest model (0.5 by
default: odds x 1.65); it is reported where the break is favoured (p_emergent >= 0.5).
`p_harm_smallest` is P(gain < 0 at the smallest model), averaged over the hypotheses. Pure: the
sampler is passed in (its spec must hold the gain hypotheses: `intervention_spec`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from phasefit.analyses.curve import QUANTILES, curve_seed, diagnostic_problems, scale_axes, scale_columns
from phasefit.data.curves import Curve, CurveSet
from phasefit.evidence.marginal import K_HAT_MAX, Evidence, importance_log_z
from phasefit.evidence.verdicts import decide
from phasefit.inference.diagnostics import Diagnostics, largest_rhat
from phasefit.inference.importance import logsumexp
from phasefit.inference.sampler import FitResult, Sampler, thin_to
from phasefit.inference.threads import single_blas_thread
from phasefit.models.arms import (
    arm_means,
    arms_inputs,
    arms_loglik,
    arms_names,
    arms_priors,
    build_arms_model,
    gain,
)
from phasefit.models.spec import ModelSpec, VerdictSpec

NO_GAIN, SMOOTH_GAIN, BREAKPOINT_GAIN, HINGE_GAIN = "no_gain", "smooth_gain", "breakpoint_gain", "hinge_gain"
HYPOTHESES = (NO_GAIN, SMOOTH_GAIN, BREAKPOINT_GAIN, HINGE_GAIN)
EMERGENT = (BREAKPOINT_GAIN, HINGE_GAIN)  # P(emergent) sums these
WEIGHTS = ("learned", "even")
SEED_OFFSET = 90  # apart from the fit analysis' (curve_seed + 0..50) and the mirage stage's (+70..76)
ONSET_MARGIN = 0.5  # log-odds the gain must reach and keep for the onset
GRID = 121
KEEP = 256  # draws per hypothesis kept for the figure's bands (the onset and the ends use all)
N_PROPOSAL = 8000  # importance draws per marginal likelihood: 6-17 dimensions (the fit analysis: 4000 for 2-6)
GIBBS_SWEEPS, GIBBS_BURN = 20000, 1000  # learned weights: sweeps kept, and discarded first
PAIR_KEY = ("task", "metric", "family")
# intervention.csv: the documented columns first (docs/intervention.md), then the extras
COLUMNS = (
    "task",
    "metric",
    "family",
    "baseline",
    "treatment",
    "n_points",
    "x_axis",
    "p_emergent",
    "p_smooth",
    "p_absent",
    "verdict",
    "onset_flops_median",
    "onset_flops_q05",
    "onset_flops_q95",
    "onset_params_median",
    "onset_params_q05",
    "onset_params_q95",
    "p_harm_smallest",
    "p_benefit_largest",
    "gain_smallest_median",
    "gain_largest_median",
    "break_flops_median",
    "break_flops_q05",
    "break_flops_q95",
    "onset_beyond_data",
    "onset_at_smallest",
    "onset_margin",
    "p_step",
    "p_ramp",
    "rhat_max",
    "ess_bulk_min",
    "divergences",
    "attempts",
    *(f"log_z_{h}" for h in HYPOTHESES),
    "k_hat_max",
    "likelihood",
    "models",
    "failure_reason",
    "notes",
)


@dataclass(frozen=True, kw_only=True)
class PairFit:
    """One pair's fits before the run's weights: per hypothesis (in `HYPOTHESES` order) what the
    decision and the figure need. Draw arrays have one row per posterior draw."""

    label: str
    info: dict  # task, metric, family, baseline, treatment, n_points, x_axis, likelihood, models
    log_z: np.ndarray  # (H,)
    k_hat: np.ndarray  # (H,)
    diagnostics: tuple[Diagnostics, ...]  # (H,) each fit's convergence checks
    onset: np.ndarray  # (E, R) onset per draw of each emergent hypothesis, log10 scale (+inf beyond the data)
    tau: np.ndarray  # (E, R) the break, log10 scale
    ends: np.ndarray  # (H, R, 2) the gain at the smallest and the largest model
    gain_rows: np.ndarray  # (H, KEEP, GRID) float32, the gain on `grid`
    arm_rows: np.ndarray  # (H, KEEP, 2, m) float32, expected score of (baseline, treatment)
    x: np.ndarray  # the models' scale, log10 of the analysis axis
    axis_x: np.ndarray  # `scale_axes` of the baseline curve: onsets in FLOPs and parameters
    axis_other: np.ndarray
    grid: np.ndarray  # log10 scale, GRID points over the models' range
    observed: np.ndarray  # (2, m) observed share of (baseline, treatment)
    n_items: np.ndarray  # (2, m) items (0 without counts)
    floor: float
    margin: float
    seconds: float


@dataclass(frozen=True, kw_only=True)
class InterventionResult:
    """One pair's row of intervention.csv and what its figure needs (quantiles, not draws)."""

    label: str
    row: dict
    x: np.ndarray  # the models' scale, log10 of the analysis axis
    grid: np.ndarray  # log10 scale, GRID points over the models' range
    gain_q: np.ndarray  # (3, GRID) 5/50/95% of the gain, averaged over the hypotheses
    gain_break_q: np.ndarray  # (3, GRID) the same under the emergent family alone
    arms_q: np.ndarray  # (2, 3, m) 5/50/95% of the expected score of (baseline, treatment) at each model
    observed: np.ndarray  # (2, m) observed share of (baseline, treatment)
    n_items: np.ndarray  # (2, m) items (0 without counts)
    floor: float
    seconds: float = math.nan


def intervention_spec(spec: ModelSpec) -> ModelSpec:
    """The spec with the gain hypotheses added (their bundled TOMLs), for a `Sampler`."""
    return spec.with_bundled(*HYPOTHESES)


def intervention_pairs(
    curves: CurveSet, *, baseline: str, treatment: str
) -> tuple[list[tuple[int, int]], list[tuple[str, str]]]:
    """(baseline curve, treatment curve) of every (task, metric, family) with both arms, in table
    order; and (label, reason) of the ones left out (one arm only, unbounded scores)."""
    c = curves.curves.reset_index(drop=True)
    conditions = set(c["condition"])
    for arm, name in (("baseline", baseline), ("treatment", treatment)):
        if name not in conditions:
            raise ValueError(
                f"{curves.source}: no curve has condition {name!r} (the {arm} arm); "
                f"conditions: {', '.join(sorted(map(str, conditions))) or 'none'}"
            )
    if baseline == treatment:
        raise ValueError(f"the baseline and the treatment are the same condition {baseline!r}")
    pairs, skipped = [], []
    for key, sub in c[c["condition"].isin([baseline, treatment])].groupby(list(PAIR_KEY), sort=True):
        arms = dict(zip(sub["condition"], sub.index, strict=True))
        label = ", ".join(map(str, key))
        if len(arms) < 2:
            skipped.append((label, f"only the {'baseline' if baseline in arms else 'treatment'} arm"))
        elif sub["likelihood"].iloc[0] not in ("beta_binomial", "beta"):
            skipped.append((label, f"{sub['likelihood'].iloc[0]} scores: the gain needs proportions"))
        else:
            pairs.append((int(arms[baseline]), int(arms[treatment])))
    return pairs, skipped


def pair_seed(base: Curve, treat: Curve, seed: int) -> int:
    return (curve_seed(base, seed) + curve_seed(treat, seed) + SEED_OFFSET) % (2**31 - 1)


@single_blas_thread
def fit_pair(base: Curve, treat: Curve, sampler: Sampler, *, x_axis: str, margin: float = ONSET_MARGIN) -> PairFit:
    """Fit every gain hypothesis to one pair of arms: log Z and the draws `decide_pair` needs."""
    t0 = time.perf_counter()
    spec = sampler.spec
    seed = pair_seed(base, treat, spec.sampler.seed)
    inputs = arms_inputs(base, treat, spec, hypothesis=BREAKPOINT_GAIN)
    grid_c = np.linspace(inputs.x.min(), inputs.x.max(), GRID)
    n = spec.sampler.draws
    fits: dict[str, FitResult] = {}
    log_z, k_hat, onset, tau, ends, gain_rows, arm_rows = [], [], [], [], [], [], []
    for j, h in enumerate(HYPOTHESES):
        f = fits[h] = sampler.fit_model(
            f"arms/{inputs.likelihood}/{h}/{inputs.slots}",
            lambda h=h: build_arms_model(h, spec, template=inputs),
            inputs.data(),
            arms_names(h, spec, inputs),
            hypothesis=h,
            seed=seed + j,
        )
        ev = importance_log_z(
            f.draws,
            arms_priors(h, spec, inputs),
            lambda v, h=h: arms_loglik(h, v, inputs, spec),
            n_proposal=N_PROPOSAL,
            seed=seed + 5 + j,
        )
        log_z.append(ev.log_z)
        k_hat.append(ev.k_hat)
        draws = thin_to(f.draws, n)
        g = gain(h, draws, inputs, grid_c, spec).reshape(-1, GRID)
        keep = np.linspace(0, len(g) - 1, KEEP).round().astype(int)
        ends.append(g[:, [0, -1]])
        gain_rows.append(g[keep].astype(np.float32))
        a_b, a_t = (a.reshape(-1, inputs.m) for a in arm_means(h, draws, inputs, spec))
        arm_rows.append(np.stack([a_b[keep], a_t[keep]], axis=1).astype(np.float32))
        if h in EMERGENT:
            onset.append(onset_draws(g, grid_c + inputs.center, margin=margin))
            tau.append(np.asarray(draws["tau"]).reshape(-1))
    observed = np.stack(
        [inputs.y_base / np.maximum(inputs.n_base, 1), inputs.y_treat / np.maximum(inputs.n_treat, 1)]
        if inputs.likelihood == "beta_binomial"
        else [inputs.y_base, inputs.y_treat]
    )
    axis_x, axis_other = scale_axes(base, x_axis)
    return PairFit(
        label=f"{base.task}, {base.family}, {base.metric} [{treat.condition} vs {base.condition}]",
        info={
            "task": base.task,
            "metric": base.metric,
            "family": base.family,
            "baseline": base.condition,
            "treatment": treat.condition,
            "n_points": inputs.m,
            "x_axis": x_axis,
            "likelihood": inputs.likelihood,
            "models": ";".join(inputs.models),
        },
        log_z=np.array(log_z, float),
        k_hat=np.array(k_hat, float),
        diagnostics=tuple(f.diagnostics for f in fits.values()),
        onset=np.stack(onset),
        tau=np.stack(tau),
        ends=np.stack(ends),
        gain_rows=np.stack(gain_rows),
        arm_rows=np.stack(arm_rows),
        x=inputs.x_axis_values,
        axis_x=axis_x,
        axis_other=axis_other,
        grid=grid_c + inputs.center,
        observed=observed,
        n_items=np.stack([inputs.n_base, inputs.n_treat]).astype(float),
        floor=inputs.floor,
        margin=float(margin),
        seconds=float(time.perf_counter() - t0),
    )


def pair_probabilities(
    log_z: np.ndarray, k_hat: np.ndarray, *, weights: str = "learned", seed: int = 0
) -> tuple[np.ndarray, dict]:
    """P(h | data) per pair from each pair's log Z and importance k-hat (rows: pairs, columns:
    `HYPOTHESES`; NaN for a pair whose evidence is not reliable) and a record of the weights.

    `learned`: the hypotheses' prior weights pi ~ Dirichlet(1, ..., 1) are shared by the pairs
    whose evidence is reliable, each pair's hypothesis ~ Categorical(pi); Gibbs sampling over pi
    and the labels, with P(h_i | all pairs) averaged over the sweeps (Rao-Blackwellised).
    `even`: every pair at even prior odds, alone."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    log_z = np.asarray(log_z, float).reshape(-1, len(HYPOTHESES))
    k_hat = np.asarray(k_hat, float).reshape(log_z.shape)
    ok = np.all(np.isfinite(log_z), axis=1) & np.all(k_hat <= K_HAT_MAX, axis=1)
    out = np.full(log_z.shape, np.nan)
    lz = log_z[ok]
    record: dict = {"method": weights, "pairs": int(ok.sum())}
    if weights == "even" or len(lz) == 0:
        out[ok] = np.exp(lz - logsumexp(lz, axis=1, keepdims=True))
        record["prior"] = dict.fromkeys(HYPOTHESES, 1 / len(HYPOTHESES))
        return out, record
    post, pi = learned_probabilities(lz, seed=seed)
    out[ok] = post
    record |= {
        "prior": {h: float(v) for h, v in zip(HYPOTHESES, pi.mean(0), strict=True)},
        "prior_q05": {h: float(v) for h, v in zip(HYPOTHESES, np.quantile(pi, 0.05, axis=0), strict=True)},
        "prior_q95": {h: float(v) for h, v in zip(HYPOTHESES, np.quantile(pi, 0.95, axis=0), strict=True)},
        "hyperprior": "Dirichlet(1, ..., 1)",
        "sweeps": GIBBS_SWEEPS,
        "burn_in": GIBBS_BURN,
    }
    return out, record


def learned_probabilities(
    log_z: np.ndarray, *, seed: int, sweeps: int = GIBBS_SWEEPS, burn: int = GIBBS_BURN
) -> tuple[np.ndarray, np.ndarray]:
    """Gibbs sampler of the weights' mixture: P(h_i | all pairs) (N, H) and the draws of pi (sweeps, H)."""
    rng = np.random.default_rng([seed, 9090])
    n, k = log_z.shape
    pi = np.full(k, 1 / k)
    acc = np.zeros((n, k))
    kept = np.empty((sweeps, k))
    for sweep in range(sweeps + burn):
        lp = log_z + np.log(pi)
        r = np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
        if sweep >= burn:
            acc += r
            kept[sweep - burn] = pi
        z = (rng.random(n)[:, None] > np.cumsum(r, axis=1)).sum(axis=1).clip(0, k - 1)
        pi = rng.dirichlet(1.0 + np.bincount(z, minlength=k))
    return acc / sweeps, kept


def decide_pair(fit: PairFit, probability: np.ndarray, *, thresholds: VerdictSpec) -> InterventionResult:
    """The verdict, onset and figure quantiles of one pair from its P(h | data) (`HYPOTHESES` order)."""
    p = dict(zip(HYPOTHESES, (float(v) for v in probability), strict=True))
    diags = dict(zip(HYPOTHESES, fit.diagnostics, strict=True))
    evidence = {
        h: Evidence(log_z=float(z), log_z_se=math.nan, k_hat=float(k))
        for h, z, k in zip(HYPOTHESES, fit.log_z, fit.k_hat, strict=True)
    }
    problems, notes = diagnostic_problems(diags, evidence, p)
    ok = bool(np.all(np.isfinite(probability))) and not problems
    p_em = p[BREAKPOINT_GAIN] + p[HINGE_GAIN] if ok else math.nan
    verdict = decide(ok=ok, p_absent=p[NO_GAIN], p_emergent=p_em, thresholds=thresholds)
    w = np.where(np.isfinite(probability), probability, 0.0)
    # the emergent family's draws, each shape by its weight (a fit that did not converge: none)
    w_em = np.array([w[HYPOTHESES.index(h)] * diags[h].ok for h in EMERGENT])
    onset = _mix(list(fit.onset), w_em)
    tau = _mix(list(fit.tau), w_em)
    ends = _mix(list(fit.ends), w)
    beyond = float(np.mean(np.isinf(onset)))
    at_smallest = float(np.mean(onset == fit.grid[0]))
    if verdict == "emergent" and beyond + at_smallest > 0.5:
        verdict = "inconclusive"
        if beyond >= at_smallest:
            notes.append(
                f"the gain breaks upward (P = {p_em:.2f}) but stays below {fit.margin:g} log-odds up to the "
                f"largest model in {beyond:.0%} of the draws: no emergent benefit within the data"
            )
        else:
            notes.append(
                f"the gain breaks upward (P = {p_em:.2f}) but is already >= {fit.margin:g} log-odds at the "
                f"smallest model in {at_smallest:.0%} of the draws: a benefit that grows, not one that emerges"
            )
    favoured = ok and p_em >= 0.5 and w_em.sum() > 0
    oq = np.quantile(onset, QUANTILES, method="inverted_cdf") if favoured else np.full(3, np.nan)
    oq = np.where(np.isinf(oq), np.nan, oq)
    tq = np.quantile(tau, QUANTILES) if favoured else np.full(3, np.nan)
    axes = (fit.axis_x, fit.axis_other)
    x_axis = fit.info["x_axis"]
    row = {
        **{k: fit.info[k] for k in ("task", "metric", "family", "baseline", "treatment", "n_points", "x_axis")},
        "p_emergent": p_em,
        "p_smooth": p[SMOOTH_GAIN] if ok else math.nan,
        "p_absent": p[NO_GAIN] if ok else math.nan,
        "verdict": verdict,
        **{k.replace("break_", "onset_"): v for k, v in scale_columns(*axes, oq, x_axis).items()},
        "p_harm_smallest": float(np.mean(ends[:, 0] < 0)) if ok else math.nan,
        "p_benefit_largest": float(np.mean(ends[:, 1] > 0)) if ok else math.nan,
        "gain_smallest_median": float(np.median(ends[:, 0])) if ok else math.nan,
        "gain_largest_median": float(np.median(ends[:, 1])) if ok else math.nan,
        **{k: v for k, v in scale_columns(*axes, tq, x_axis).items() if k.startswith("break_flops")},
        "onset_beyond_data": beyond if favoured else math.nan,
        "onset_at_smallest": at_smallest if favoured else math.nan,
        "onset_margin": fit.margin,
        "p_step": p[BREAKPOINT_GAIN] if ok else math.nan,
        "p_ramp": p[HINGE_GAIN] if ok else math.nan,
        "rhat_max": largest_rhat(fit.diagnostics),
        "ess_bulk_min": float(min(d.ess_bulk_min for d in fit.diagnostics)),
        "divergences": int(sum(d.divergences for d in fit.diagnostics)),
        "attempts": int(max(d.attempts for d in fit.diagnostics)),
        **{f"log_z_{h}": float(v) for h, v in zip(HYPOTHESES, fit.log_z, strict=True)},
        "k_hat_max": float(np.max(fit.k_hat)),
        "likelihood": fit.info["likelihood"],
        "models": fit.info["models"],
        "failure_reason": "; ".join(problems),
        "notes": "; ".join(notes),
    }
    mixed = _mix(list(fit.gain_rows), w).astype(float)
    arms = _mix(list(fit.arm_rows), w).astype(float)
    return InterventionResult(
        label=fit.label,
        row=row,
        x=fit.x,
        grid=fit.grid,
        gain_q=np.quantile(mixed, QUANTILES, axis=0),
        gain_break_q=np.quantile(_mix([fit.gain_rows[HYPOTHESES.index(h)] for h in EMERGENT], w_em), QUANTILES, axis=0),
        arms_q=np.stack([np.quantile(arms[:, k], QUANTILES, axis=0) for k in (0, 1)]),
        observed=fit.observed,
        n_items=fit.n_items,
        floor=fit.floor,
        seconds=fit.seconds,
    )


def analyse_pair(
    base: Curve, treat: Curve, sampler: Sampler, *, x_axis: str, margin: float = ONSET_MARGIN
) -> InterventionResult:
    """One pair alone, at even prior odds (what a run of this pair alone gives)."""
    fit = fit_pair(base, treat, sampler, x_axis=x_axis, margin=margin)
    probability, _ = pair_probabilities(fit.log_z, fit.k_hat, weights="even")
    return decide_pair(fit, probability[0], thresholds=sampler.spec.verdict)


def onset_draws(gain_draws: np.ndarray, grid: np.ndarray, *, margin: float) -> np.ndarray:
    """Per draw (rows of `gain_draws`, on `grid`): the smallest scale from which the gain stays at or
    above `margin` up to the grid's end; +inf where it does not end above it (beyond the data)."""
    above = gain_draws >= margin
    stays = np.flip(np.logical_and.accumulate(np.flip(above, axis=1), axis=1), axis=1)
    first = np.argmax(stays, axis=1)
    return np.where(stays[:, -1], grid[first], np.inf)


def _mix(values: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Rows of each array in proportion to its weight (evenly spaced within each); even weights
    where none is positive."""
    n = min(len(v) for v in values)
    w = np.asarray(weights, float)
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))
    counts = np.floor(w * n).astype(int)
    counts[np.argmax(w)] += n - counts.sum()
    parts = [v[np.linspace(0, len(v) - 1, k).round().astype(int)] for v, k in zip(values, counts, strict=True) if k]
    return np.concatenate(parts)


def intervention_table(results: list[InterventionResult]) -> pd.DataFrame:
    """intervention.csv: one row per pair, the documented columns first."""
    return pd.DataFrame([r.row for r in results], columns=list(COLUMNS))


def figure_table(results: list[InterventionResult]) -> pd.DataFrame:
    """intervention_curves.csv: what each pair's figure draws, in long form.

    `series`: `gain` (averaged over the hypotheses) and `gain_breakpoint` (the emergent family) on the grid;
    `baseline` / `treatment` (expected score) at the models, with the observed share and n_items.
    """
    rows = []
    for r in results:
        key = {k: r.row[k] for k in (*PAIR_KEY, "baseline", "treatment")}
        for series, q in (("gain", r.gain_q), ("gain_breakpoint", r.gain_break_q)):
            for j, x in enumerate(r.grid):
                rows.append(key | {"series": series, "log10_x": x, "q05": q[0, j], "median": q[1, j], "q95": q[2, j]})
        for a, series in enumerate(("baseline", "treatment")):
            for j, x in enumerate(r.x):
                rows.append(
                    key
                    | {
                        "series": series,
                        "log10_x": x,
                        "q05": r.arms_q[a, 0, j],
                        "median": r.arms_q[a, 1, j],
                        "q95": r.arms_q[a, 2, j],
                        "observed": r.observed[a, j],
                        "n_items": r.n_items[a, j],
                        "floor": r.floor,
                    }
                )
    return pd.DataFrame(rows)
