"""The onset by bisection (draws whose eta the plug-in declares convex) is the whole grid's first
crossing, draw by draw; draws not declared convex are scanned on the whole grid."""

from __future__ import annotations

import numpy as np
import pytest
from _models import sim_curves, tiny_spec

from phasefit.evidence.onset import GRID, onset_draws
from phasefit.models.curve_model import curve_inputs, mean_curve, parameter_priors, with_derived
from phasefit.models.hypotheses.breakpoint import Breakpoint
from phasefit.models.priors import sample
from phasefit.models.spec import EMERGENT


def _prior_draws(inputs, spec, n, seed):
    """Breakpoint draws from the priors, widened so that levels, slopes (negative too) and gains of
    every size occur: curves above the margin from the start, never above it, and crossing anywhere."""
    rng = np.random.default_rng(seed)
    d = {name: sample(prior, n, rng) for name, prior in parameter_priors(EMERGENT, inputs.likelihood, spec)}
    d["level"] = rng.uniform(-9, 2, n)
    d["slope_before"] = rng.normal(0, 1.5, n)
    d["gain"] = np.exp(rng.uniform(-3, 3, n))
    return d


def _grid_onset(draws, inputs, spec, margin):
    """The definition: the first of 241 grid points where the expected score reaches the level."""
    grid = np.linspace(inputs.x.min(), inputs.x.max(), GRID)
    mu = mean_curve(EMERGENT, draws, inputs, grid, spec)
    above = mu >= inputs.floor + margin * (1 - inputs.floor)
    return np.where(above.any(axis=1), grid[np.argmax(above, axis=1)] + inputs.center, np.inf)


@pytest.mark.parametrize("floor", [0.0, 0.25])
@pytest.mark.parametrize("margin", [0.05, 0.3])
def test_bisection_finds_the_grid_s_first_crossing(floor, margin):
    spec = tiny_spec()
    inputs = curve_inputs(sim_curves(("breakpoint",), floor=floor).curve(0), spec)
    draws = _prior_draws(inputs, spec, 6000, seed=int(100 * floor + 10 * margin))
    expected = _grid_onset(draws, inputs, spec, margin)
    got = onset_draws(draws, inputs, spec, margin=margin)
    np.testing.assert_array_equal(got, expected)
    # the draws cover every case: at the first model, crossing inside, never within the data
    lo = inputs.x.min() + inputs.center
    assert (got == lo).any() and np.isinf(got).any() and ((got > lo) & np.isfinite(got)).sum() > 1000


def test_draws_not_declared_convex_are_scanned_on_the_whole_grid(monkeypatch):
    """A negative rise (a concave eta: down after the break) is not convex; such draws, and every draw
    of a plug-in that declares nothing, take the whole grid, with the same answer as the definition."""
    spec = tiny_spec()
    inputs = curve_inputs(sim_curves(("breakpoint",)).curve(0), spec)
    draws = _prior_draws(inputs, spec, 3000, seed=5)
    plugin = spec.plugin(EMERGENT)
    full = with_derived(plugin, draws, inputs)
    full["rise"] = np.where(np.arange(3000) % 3 == 0, -full["rise"], full["rise"])  # a third concave
    assert not plugin.convex_in_x(full).all()
    np.testing.assert_array_equal(onset_draws(full, inputs, spec, margin=0.05), _grid_onset(full, inputs, spec, 0.05))
    monkeypatch.setattr(Breakpoint, "convex_in_x", lambda self, p: np.zeros(len(p["rise"]), bool))
    np.testing.assert_array_equal(onset_draws(draws, inputs, spec, margin=0.05), _grid_onset(draws, inputs, spec, 0.05))
