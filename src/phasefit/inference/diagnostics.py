"""Convergence diagnostics of one fit: rank-normalised R-hat, bulk/tail ESS (ArviZ), divergences and
tree-depth saturation, checked against the spec's thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import arviz_stats as azs
import numpy as np
import xarray as xr

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
    ds = xr.Dataset({k: (("chain", "draw"), v) for k, v in draws.items()})
    rhat = azs.rhat(ds)
    ess_b = azs.ess(ds, method="bulk")
    ess_t = azs.ess(ds, method="tail")
    r = float(np.nanmax([rhat[k].item() for k in ds.data_vars]))
    eb = float(np.nanmin([ess_b[k].item() for k in ds.data_vars]))
    et = float(np.nanmin([ess_t[k].item() for k in ds.data_vars]))
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
