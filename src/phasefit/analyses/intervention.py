"""Intervention analysis: does a technique help only past some scale, and hurt below it?

For every (task, metric, family) measured under a baseline arm and a treatment arm on the same
models (`condition` column: e.g. `direct` vs `cot`), both arms are fitted jointly
(`models/arms.py`) under each gain hypothesis (`models/hypotheses/gain.py`: `no_gain`,
`smooth_gain`, `breakpoint_gain`). Their marginal likelihoods (importance sampling, PSIS k-hat
checked) give P(h | data) at even prior odds; the verdict uses the fit analysis' vocabulary and
thresholds (an `emergent` gain must also reach the margin within the data, else `inconclusive`) with

    p_emergent = P(breakpoint_gain | data)   (harm or nothing, then a benefit past a break)
    p_absent   = P(no_gain | data)           (the technique changes nothing)

The onset is where the gain becomes credibly positive: per draw of `breakpoint_gain`, the smallest
scale from which the gain stays at or above `margin` log-odds up to the largest model (0.5 by
default: odds x 1.65); it is reported where the break is favoured (p_emergent >= 0.5).
`p_harm_smallest` is P(gain < 0 at the smallest model), averaged over the hypotheses. Pure: the
sampler is passed in (its spec must hold the gain hypotheses: `intervention_spec`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from phasefit.analyses.curve import QUANTILES, break_scale, convergence_problems, curve_seed
from phasefit.data.curves import Curve, CurveSet
from phasefit.evidence.marginal import Evidence, importance_log_z
from phasefit.evidence.verdicts import decide
from phasefit.inference.sampler import FitResult, Sampler, thin_to
from phasefit.models.arms import (
    arm_means,
    arms_inputs,
    arms_loglik,
    arms_names,
    arms_priors,
    build_arms_model,
    gain,
)
from phasefit.models.spec import ModelSpec

NO_GAIN, SMOOTH_GAIN, BREAKPOINT_GAIN = "no_gain", "smooth_gain", "breakpoint_gain"
HYPOTHESES = (NO_GAIN, SMOOTH_GAIN, BREAKPOINT_GAIN)
SEED_OFFSET = 90  # apart from the fit analysis' (curve_seed + 0..50) and the mirage stage's (+70..76)
ONSET_MARGIN = 0.5  # log-odds the gain must reach and keep for the onset
GRID = 121
N_PROPOSAL = 8000  # importance draws per marginal likelihood: 6-17 dimensions (the fit analysis: 4000 for 2-6)
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
    "rhat_max",
    "ess_bulk_min",
    "divergences",
    "attempts",
    "log_z_no_gain",
    "log_z_smooth_gain",
    "log_z_breakpoint_gain",
    "k_hat_max",
    "likelihood",
    "models",
    "failure_reason",
    "notes",
)


@dataclass(frozen=True, kw_only=True)
class InterventionResult:
    """One pair's row of intervention.csv and what its figure needs (quantiles, not draws)."""

    label: str
    row: dict
    x: np.ndarray  # the models' scale, log10 of the analysis axis
    grid: np.ndarray  # log10 scale, GRID points over the models' range
    gain_q: np.ndarray  # (3, GRID) 5/50/95% of the gain, averaged over the hypotheses
    gain_break_q: np.ndarray  # (3, GRID) the same under breakpoint_gain alone
    arms_q: np.ndarray  # (2, 3, m) 5/50/95% of the expected score of (baseline, treatment) at each model
    observed: np.ndarray  # (2, m) observed share of (baseline, treatment)
    n_items: np.ndarray  # (2, m) items (0 without counts)
    floor: float


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


def analyse_pair(
    base: Curve,
    treat: Curve,
    sampler: Sampler,
    *,
    x_axis: str,
    margin: float = ONSET_MARGIN,
) -> InterventionResult:
    """Fit the three gain hypotheses to one pair of arms, weigh them and decide."""
    spec = sampler.spec
    seed = pair_seed(base, treat, spec.sampler.seed)
    inputs = arms_inputs(base, treat, spec, hypothesis=BREAKPOINT_GAIN)
    fits: dict[str, FitResult] = {}
    evidence: dict[str, Evidence] = {}
    for j, h in enumerate(HYPOTHESES):
        fits[h] = sampler.fit_model(
            f"arms/{inputs.likelihood}/{h}/{inputs.slots}",
            lambda h=h: build_arms_model(h, spec, template=inputs),
            inputs.data(),
            arms_names(h, spec, inputs),
            hypothesis=h,
            seed=seed + j,
        )
        evidence[h] = importance_log_z(
            fits[h].draws,
            arms_priors(h, spec, inputs),
            lambda v, h=h: arms_loglik(h, v, inputs, spec),
            n_proposal=N_PROPOSAL,
            seed=seed + 5 + j,
        )
    probability = _probabilities(evidence)
    problems, notes = convergence_problems(fits, evidence, probability)
    ok = not problems
    p_none, p_smooth, p_bp = (probability[h] for h in HYPOTHESES)
    verdict = decide(ok=ok, p_absent=p_none, p_emergent=p_bp, thresholds=spec.verdict)

    grid_c = np.linspace(inputs.x.min(), inputs.x.max(), GRID)
    n = spec.sampler.draws
    curves = {h: gain(h, thin_to(f.draws, n), inputs, grid_c, spec).reshape(-1, GRID) for h, f in fits.items()}
    mixed = _mix(curves, probability)
    ends = mixed[:, [0, -1]]
    onset = onset_draws(curves[BREAKPOINT_GAIN], grid_c + inputs.center, margin=margin)
    beyond, at_smallest = float(np.mean(np.isinf(onset))), float(np.mean(onset == grid_c[0] + inputs.center))
    if verdict == "emergent" and beyond >= 0.5:  # a break upward that never becomes a benefit
        verdict = "inconclusive"
        notes.append(
            f"the gain breaks upward (P = {p_bp:.2f}) but stays below {margin:g} log-odds up to the largest "
            f"model in {beyond:.0%} of the draws: no emergent benefit within the data"
        )
    favoured = ok and p_bp >= 0.5 and fits[BREAKPOINT_GAIN].diagnostics.ok
    oq = np.quantile(onset, QUANTILES, method="inverted_cdf") if favoured else np.full(3, np.nan)
    oq = np.where(np.isinf(oq), np.nan, oq)
    tq = np.quantile(fits[BREAKPOINT_GAIN].draws["tau"], QUANTILES) if favoured else np.full(3, np.nan)
    diags = [f.diagnostics for f in fits.values()]
    row = {
        "task": base.task,
        "metric": base.metric,
        "family": base.family,
        "baseline": base.condition,
        "treatment": treat.condition,
        "n_points": inputs.m,
        "x_axis": x_axis,
        "p_emergent": p_bp if ok else math.nan,
        "p_smooth": p_smooth if ok else math.nan,
        "p_absent": p_none if ok else math.nan,
        "verdict": verdict,
        **{k.replace("break_", "onset_"): v for k, v in break_scale(base, oq, x_axis).items()},
        "p_harm_smallest": float(np.mean(ends[:, 0] < 0)) if ok else math.nan,
        "p_benefit_largest": float(np.mean(ends[:, 1] > 0)) if ok else math.nan,
        "gain_smallest_median": float(np.median(ends[:, 0])) if ok else math.nan,
        "gain_largest_median": float(np.median(ends[:, 1])) if ok else math.nan,
        **{k: v for k, v in break_scale(base, tq, x_axis).items() if k.startswith("break_flops")},
        "onset_beyond_data": beyond if favoured else math.nan,
        "onset_at_smallest": at_smallest if favoured else math.nan,
        "onset_margin": margin,
        "rhat_max": max(d.rhat_max for d in diags),
        "ess_bulk_min": min(d.ess_bulk_min for d in diags),
        "divergences": sum(d.divergences for d in diags),
        "attempts": max(d.attempts for d in diags),
        **{f"log_z_{h}": e.log_z for h, e in evidence.items()},
        "k_hat_max": max(e.k_hat for e in evidence.values()),
        "likelihood": inputs.likelihood,
        "models": ";".join(inputs.models),
        "failure_reason": "; ".join(problems),
        "notes": "; ".join(notes),
    }
    arms = [arm_means(h, thin_to(f.draws, n), inputs, spec) for h, f in fits.items()]
    arms_q = np.stack(
        [
            np.quantile(
                _mix({h: a[k].reshape(-1, inputs.m) for h, a in zip(fits, arms, strict=True)}, probability),
                QUANTILES,
                axis=0,
            )
            for k in (0, 1)
        ]
    )
    observed = np.stack(
        [inputs.y_base / np.maximum(inputs.n_base, 1), inputs.y_treat / np.maximum(inputs.n_treat, 1)]
        if inputs.likelihood == "beta_binomial"
        else [inputs.y_base, inputs.y_treat]
    )
    return InterventionResult(
        label=f"{base.task}, {base.family}, {base.metric} [{treat.condition} vs {base.condition}]",
        row=row,
        x=inputs.x_axis_values,
        grid=grid_c + inputs.center,
        gain_q=np.quantile(mixed, QUANTILES, axis=0),
        gain_break_q=np.quantile(curves[BREAKPOINT_GAIN], QUANTILES, axis=0),
        arms_q=arms_q,
        observed=observed,
        n_items=np.stack([inputs.n_base, inputs.n_treat]).astype(float),
        floor=inputs.floor,
    )


def onset_draws(gain_draws: np.ndarray, grid: np.ndarray, *, margin: float) -> np.ndarray:
    """Per draw (rows of `gain_draws`, on `grid`): the smallest scale from which the gain stays at or
    above `margin` up to the grid's end; +inf where it does not end above it (beyond the data)."""
    above = gain_draws >= margin
    stays = np.flip(np.logical_and.accumulate(np.flip(above, axis=1), axis=1), axis=1)
    first = np.argmax(stays, axis=1)
    return np.where(stays[:, -1], grid[first], np.inf)


def _probabilities(evidence: dict[str, Evidence]) -> dict[str, float]:
    """P(h | data) at even prior odds (NaN where an estimate is not finite)."""
    t = np.array([evidence[h].log_z for h in HYPOTHESES])
    if not np.all(np.isfinite(t)):
        return dict.fromkeys(HYPOTHESES, math.nan)
    p = np.exp(t - special.logsumexp(t))
    return {h: float(v) for h, v in zip(HYPOTHESES, p, strict=True)}


def _mix(values: dict[str, np.ndarray], probability: dict[str, float]) -> np.ndarray:
    """Rows of each hypothesis' draws in proportion to its probability (evenly spaced within each)."""
    n = min(len(v) for v in values.values())
    w = np.array([probability[h] for h in values])
    w = np.where(np.isfinite(w), w, 0.0)
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))
    counts = np.floor(w * n).astype(int)
    counts[np.argmax(w)] += n - counts.sum()
    parts = [
        v[np.linspace(0, len(v) - 1, k).round().astype(int)] for v, k in zip(values.values(), counts, strict=True) if k
    ]
    return np.concatenate(parts)


def intervention_table(results: list[InterventionResult]) -> pd.DataFrame:
    """intervention.csv: one row per pair, the documented columns first."""
    return pd.DataFrame([r.row for r in results], columns=list(COLUMNS))


def figure_table(results: list[InterventionResult]) -> pd.DataFrame:
    """intervention_curves.csv: what each pair's figure draws, in long form.

    `series`: `gain` (averaged over the hypotheses) and `gain_breakpoint` on the grid;
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
