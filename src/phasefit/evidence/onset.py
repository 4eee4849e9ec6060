"""The onset: the smallest scale at which a curve's expected score is credibly above its floor.

For every posterior draw of the breakpoint hypothesis, the onset is the first scale (on a fine grid
over the observed range) where the expected score mu(x) reaches floor + margin * (1 - floor)
(margin 0.05 by default, `[verdict] onset_margin`). Unlike the break tau it stays identified when
the pre-break level is not: a curve that rises from 0.1% and one that rises from 1% cross the
margin at nearly the same scale. Draws already above the margin at the smallest model give the
smallest model's scale (the onset is at or before it); draws that never reach it within the data
give +inf (the onset lies beyond the largest model), so an upper quantile can be infinite.
"""

from __future__ import annotations

import numpy as np

from phasefit.models.curve_model import CurveInputs, mean_at, mean_curve, with_derived
from phasefit.models.spec import EMERGENT, ModelSpec

GRID = 241


def onset_draws(draws: dict[str, np.ndarray], inputs: CurveInputs, spec: ModelSpec, *, margin: float) -> np.ndarray:
    """Onset per draw (flattened), log10 of the analysis axis; NaN for unbounded (Student-t) scores.

    The first grid point at or above the level: by bisection for the draws whose linear predictor the
    plug-in declares convex in x (`Hypothesis.convex_in_x`; the same grid point, ~8 evaluations
    instead of 241), on the whole grid for the others."""
    n = int(np.prod(next(iter(draws.values())).shape))
    if inputs.likelihood == "student_t":
        return np.full(n, np.nan)
    grid = np.linspace(inputs.x.min(), inputs.x.max(), GRID)
    plugin = spec.plugin(EMERGENT)
    flat = with_derived(plugin, {k: np.asarray(v).reshape(-1) for k, v in draws.items()}, inputs)
    level = inputs.floor + margin * (1.0 - inputs.floor)
    convex = np.broadcast_to(np.asarray(plugin.convex_in_x(flat), bool), (n,))
    first = np.full(n, GRID)  # GRID: never above the level within the data
    if (~convex).any():
        rest = {k: v[~convex] for k, v in flat.items()}
        above = mean_curve(EMERGENT, rest, inputs, grid, spec) >= level  # (draws, grid)
        first[~convex] = np.where(above.any(axis=1), np.argmax(above, axis=1), GRID)
    if convex.any():
        first[convex] = _first_above_convex({k: v[convex] for k, v in flat.items()}, inputs, spec, grid, level)
    return np.where(first < GRID, grid[np.minimum(first, GRID - 1)] + inputs.center, np.inf)


def _first_above_convex(
    draws: dict[str, np.ndarray], inputs: CurveInputs, spec: ModelSpec, grid: np.ndarray, level: float
) -> np.ndarray:
    """Per draw, the first grid index where the expected score is at or above `level` (len(grid): none).
    A convex eta below the level at the first grid point stays above it once it crosses it, so the
    points above form a tail of the grid, and bisection finds where it starts."""
    m = len(next(iter(draws.values())))

    def above(idx: np.ndarray, sel: np.ndarray) -> np.ndarray:
        return mean_at(EMERGENT, {k: v[sel] for k, v in draws.items()}, inputs, grid[idx], spec) >= level

    everyone = np.arange(m)
    at_first = above(np.zeros(m, int), everyone)
    at_last = above(np.full(m, len(grid) - 1), everyone)
    first = np.where(at_first, 0, len(grid))
    todo = np.flatnonzero(~at_first & at_last)
    lo, hi = np.zeros(len(todo), int), np.full(len(todo), len(grid) - 1)  # above(lo) false, above(hi) true
    while (open_ := hi - lo > 1).any():
        mid = (lo + hi) // 2
        up = np.zeros(len(todo), bool)
        up[open_] = above(mid[open_], todo[open_])
        hi = np.where(open_ & up, mid, hi)
        lo = np.where(open_ & ~up, mid, lo)
    first[todo] = hi
    return first


def resolution(inputs: CurveInputs) -> float:
    """The smallest change in a score the test set resolves: 1 / n_items (0 without item counts)."""
    if inputs.likelihood != "beta_binomial":
        return 0.0
    return float(1.0 / np.median(inputs.n))
