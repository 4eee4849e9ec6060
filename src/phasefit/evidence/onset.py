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

from phasefit.models.curve_model import CurveInputs, mean_curve
from phasefit.models.spec import EMERGENT, ModelSpec

GRID = 241


def onset_draws(draws: dict[str, np.ndarray], inputs: CurveInputs, spec: ModelSpec, *, margin: float) -> np.ndarray:
    """Onset per draw (flattened), log10 of the analysis axis; NaN for unbounded (Student-t) scores."""
    n = int(np.prod(next(iter(draws.values())).shape))
    if inputs.likelihood == "student_t":
        return np.full(n, np.nan)
    grid = np.linspace(inputs.x.min(), inputs.x.max(), GRID)
    flat = {k: np.asarray(v).reshape(-1) for k, v in draws.items()}
    mu = mean_curve(EMERGENT, flat, inputs, grid, spec)  # (draws, grid)
    above = mu >= inputs.floor + margin * (1.0 - inputs.floor)
    first = np.argmax(above, axis=1)
    return np.where(above.any(axis=1), grid[first] + inputs.center, np.inf)


def resolution(inputs: CurveInputs) -> float:
    """The smallest change in a score the test set resolves: 1 / n_items (0 without item counts)."""
    if inputs.likelihood != "beta_binomial":
        return 0.0
    return float(1.0 / np.median(inputs.n))
