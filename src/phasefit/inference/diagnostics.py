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
    ary = np.stack([np.asarray(v, float) for v in draws.values()])  # (parameter, chain, draw)
    r = float(np.nanmax(array_stats.rhat(ary)))
    eb = float(np.nanmin(array_stats.ess(ary, method="bulk")))
    et = float(np.nanmin(array_stats.ess(ary, method="tail", prob=rcParams["stats.ci_prob"])))
    div = int(np.sum(stats["diverging"]))
    depth_share = float(np.mean(stats["reached_max_treedepth"])) if "reached_max_treedepth" in stats else 0.0
    d = spec.diagnostics
    problems = []
    if not np.isfinite(r) or r > d.rhat_max:
        problems.append(f"R-hat {r:.3f} > {d.rhat_max}")
    if not np.isfinite(eb) or eb < d.ess_bulk_min:
        problems.append(f"bulk ESS {eb:.0f} < {d.ess_bulk_min:g}")
    if not np.isfinite(et) or et < d.ess_tail_min:
        problems.append(f"tail ESS {et:.0f} < {d.ess_tail_min:g}")
    if div > d.max_divergences:
        problems.append(f"{div} divergences")
    if depth_share > d.max_treedepth_share:
        problems.append(f"{depth_share:.0%} of draws hit the maximum tree depth")
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


def pilot_problems(
    draws: dict[str, np.ndarray], stats: dict[str, np.ndarray], spec: ModelSpec
) -> tuple[float, list[str]]:
    """The R-hat of an importance-sampling pilot and what stops its draws from shaping a proposal:
    chains that disagree (R-hat above `pilot_rhat_max`), divergences, saturated trees. Its ESS is
    not checked: the importance draws carry their own."""
    ary = np.stack([np.asarray(v, float) for v in draws.values()])
    r = float(np.nanmax(array_stats.rhat(ary)))
    d = spec.diagnostics
    problems = []
    if not np.isfinite(r) or r > d.pilot_rhat_max:
        problems.append(f"R-hat {r:.3f} > {d.pilot_rhat_max}")
    div = int(np.sum(stats["diverging"]))
    if div > d.max_divergences:
        problems.append(f"{div} divergences")
    depth_share = float(np.mean(stats["reached_max_treedepth"])) if "reached_max_treedepth" in stats else 0.0
    if depth_share > d.max_treedepth_share:
        problems.append(f"{depth_share:.0%} of draws hit the maximum tree depth")
    return r, problems
