"""Convergence diagnostics of one fit: rank-normalised R-hat, bulk/tail ESS (ArviZ), divergences and
tree-depth saturation, checked against the spec's thresholds.

R-hat and ESS come from ArviZ's array functions on one (parameter, chain, draw) array: the same
numbers as `arviz_stats.rhat`/`ess` on a Dataset (tail ESS at ArviZ's `stats.ci_prob`, as there),
without a Dataset per fit, which cost ~6x as much as the diagnostics themselves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from arviz_base import rcParams
from arviz_stats.base import array_stats

from phasefit.models.spec import ModelSpec


@dataclass(frozen=True, kw_only=True)
class Diagnostics:
    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    treedepth_share: float
    attempts: int
    ok: bool
    reason: str  # empty when ok


def diagnose(
    draws: dict[str, np.ndarray], stats: dict[str, np.ndarray], spec: ModelSpec, *, attempts: int
) -> Diagnostics:
    """Diagnostics over every (chain, draw) array in `draws`."""
    ary = stacked(draws)
    r = _rhat(ary)
    eb = float(np.nanmin(array_stats.ess(ary, method="bulk")))
    et = float(np.nanmin(array_stats.ess(ary, method="tail", prob=rcParams["stats.ci_prob"])))
    d = spec.diagnostics
    problems = _rhat_problems(r, d.rhat_max)
    if not np.isfinite(eb) or eb < d.ess_bulk_min:
        problems.append(f"bulk ESS {eb:.0f} < {d.ess_bulk_min:g}")
    if not np.isfinite(et) or et < d.ess_tail_min:
        problems.append(f"tail ESS {et:.0f} < {d.ess_tail_min:g}")
    div, depth_share, trajectory = _trajectory_problems(stats, spec)
    problems += trajectory
    return Diagnostics(
        rhat_max=r,
        ess_bulk_min=eb,
        ess_tail_min=et,
        divergences=div,
        treedepth_share=depth_share,
        attempts=attempts,
        ok=not problems,
        reason="; ".join(problems),
    )


def diagnose_pilot(draws: dict[str, np.ndarray], stats: dict[str, np.ndarray], spec: ModelSpec) -> Diagnostics:
    """Diagnostics of an importance-sampling pilot, whose draws only shape a proposal: `ok` unless its
    chains disagree (R-hat above `pilot_rhat_max`), it diverged or its trees saturated. Its ESS is
    not checked (NaN): the importance draws carry their own."""
    r = _rhat(stacked(draws))
    problems = _rhat_problems(r, spec.diagnostics.pilot_rhat_max)
    div, depth_share, trajectory = _trajectory_problems(stats, spec)
    problems += trajectory
    return Diagnostics(
        rhat_max=r,
        ess_bulk_min=float("nan"),
        ess_tail_min=float("nan"),
        divergences=div,
        treedepth_share=depth_share,
        attempts=1,
        ok=not problems,
        reason="; ".join(problems),
    )


def largest_rhat(diagnostics) -> float:
    """The largest R-hat of several fits, over those that have one: a fit drawn by importance
    sampling from a Laplace approximation ran no chains (NaN). NaN when none has one."""
    finite = [d.rhat_max for d in diagnostics if np.isfinite(d.rhat_max)]
    return float(max(finite)) if finite else float("nan")


def stacked(draws: dict[str, np.ndarray]) -> np.ndarray:
    """The (chain, draw) arrays of `draws` as one (parameter, chain, draw) array for ArviZ's array functions."""
    return np.stack([np.asarray(v, float) for v in draws.values()])  # (parameter, chain, draw)


def _rhat(ary: np.ndarray) -> float:
    """The largest R-hat. A parameter that does not move within its chains has none (0/0, NaN): it
    is passed over without the RuntimeWarning that otherwise lands in a run's log; when no parameter
    has one the result is NaN, which the checks fail. (`np.errstate` is per thread; the warnings
    filters that would also hide nanmax's all-NaN warning are process-wide, so NaN is dropped here.)"""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.asarray(array_stats.rhat(ary), float)
    r = r[~np.isnan(r)]
    return float(r.max()) if r.size else float("nan")


def _rhat_problems(r: float, rhat_max: float) -> list[str]:
    return [f"R-hat {r:.3f} > {rhat_max}"] if not np.isfinite(r) or r > rhat_max else []


def _trajectory_problems(stats: dict[str, np.ndarray], spec: ModelSpec) -> tuple[int, float, list[str]]:
    """Divergences, the share of draws at the maximum tree depth, and what they fail."""
    d = spec.diagnostics
    div = int(np.sum(stats["diverging"]))
    depth_share = float(np.mean(stats["reached_max_treedepth"])) if "reached_max_treedepth" in stats else 0.0
    problems = []
    if div > d.max_divergences:
        problems.append(f"{div} divergences")
    if depth_share > d.max_treedepth_share:
        problems.append(f"{depth_share:.0%} of draws hit the maximum tree depth")
    return div, depth_share, problems
