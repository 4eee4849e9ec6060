"""Every likelihood x fit: finite log-probability and gradient, prior predictive in range, and the
NumPy log likelihood (used for LOO, LFO and P(h|y)) agreeing with the compiled PyMC graph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from phasefit.data.curves import load_curves
from phasefit.models.hypotheses import (
    EXCLUDED,
    build_model,
    curve_inputs,
    free_params,
    mean_curves,
    pointwise_loglik,
    rise_from_gain,
    weights_for,
)
from phasefit.models.predictive import posterior_predictive, prior_draws
from phasefit.models.spec import HYPOTHESES, load_spec

SPEC = load_spec()
LIKELIHOODS = ("beta_binomial", "beta", "student_t")
FITS = ("mixture", "absent", "smooth", "breakpoint")
FAST = "FAST_COMPILE"  # the graph, not its speed, is under test


def _curve(likelihood: str):
    x = np.linspace(20, 23, 7)
    base = {"task": "t", "family": "f", "model": [f"m{i}" for i in range(7)], "train_flops": 10**x}
    if likelihood == "beta_binomial":
        df = pd.DataFrame({**base, "metric": "acc", "score": [0.25, 0.26, 0.25, 0.3, 0.5, 0.7, 0.8],
                           "n_items": 400, "chance": 0.25})
    elif likelihood == "beta":
        df = pd.DataFrame({**base, "metric": "bleu", "score": [0.0, 0.5, 1.0, 3.0, 10.0, 30.0, 45.0]})
    else:
        df = pd.DataFrame({**base, "metric": "ppl", "score": [80.0, 50.0, 30.0, 20.0, 12.0, 9.0, 7.0],
                           "higher_is_better": 0})
    cs = load_curves(df)
    assert cs.curves["likelihood"].iloc[0] == likelihood
    return cs.curve(0)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("fit", FITS)
def test_finite_logp_and_gradient_at_initial_point(likelihood, fit):
    inputs = curve_inputs(_curve(likelihood), SPEC)
    model = build_model(likelihood, SPEC, fit=fit, template=inputs)
    point = model.initial_point()
    assert np.isfinite(model.compile_logp(mode=FAST)(point))
    grad = model.compile_dlogp(mode=FAST)(point)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    own = {"absent": {"absent_level"}, "smooth": {"smooth_intercept", "smooth_slope"},
           "breakpoint": {"bp_level", "bp_gain"}}
    names = {rv.name for rv in model.free_RVs}
    if fit != "mixture":  # a single hypothesis carries none of the others' parameters
        others = set().union(*(v for h, v in own.items() if h != fit))
        assert own[fit] <= names and not (names & others)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_numpy_loglik_matches_compiled_model(likelihood):
    """log p(model) at random points = log prior + logsumexp(log w + sum of NumPy pointwise loglik)."""
    inputs = curve_inputs(_curve(likelihood), SPEC)
    model = build_model(likelihood, SPEC, template=inputs)
    logp = model.compile_logp(vars=model.potentials, jacobian=False, mode=FAST)
    draws = prior_draws(SPEC, inputs, draws=5, seed=1)
    log_w = weights_for("mixture", SPEC)
    for j in range(5):
        point = model.initial_point()
        frac = (draws["bp_tau"][0, j] - inputs.tau_lo) / (inputs.tau_hi - inputs.tau_lo)
        values = {k: draws[k][0, j] for k in free_params(likelihood) if k not in ("bp_tau", "bp_rise", "bp_tau_fraction")}
        values["bp_tau_fraction"] = frac
        for name, v in values.items():
            rv = model[name]
            tr = model.rvs_to_transforms[rv]
            key = f"{name}_{tr.name}__" if tr is not None else name
            point[key] = tr.forward(v).eval() if tr is not None else np.asarray(v)
        ll = pointwise_loglik({k: np.array([v]) for k, v in values.items()} | {"bp_tau": draws["bp_tau"][0, [j]], "bp_rise": draws["bp_rise"][0, [j]]},
                              inputs, width=SPEC.hypothesis("breakpoint").width, t_nu=SPEC.t_nu)
        expected = special.logsumexp(log_w + np.array([ll[h][0].sum() for h in HYPOTHESES]))
        assert logp(point) == pytest.approx(expected, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_prior_predictive_within_metric_range(likelihood):
    inputs = curve_inputs(_curve(likelihood), SPEC)
    draws = prior_draws(SPEC, inputs, draws=400, seed=2)
    means = mean_curves(draws, inputs.x, likelihood=likelihood, floor=inputs.floor,
                        width=SPEC.hypothesis("breakpoint").width)
    for h in HYPOTHESES:
        sims = posterior_predictive(draws, inputs, h, SPEC, seed=3)
        assert np.all(np.isfinite(sims))
        if likelihood == "beta_binomial":
            assert np.all((sims >= 0) & (sims <= inputs.n))
            assert np.all(means[h] >= inputs.floor - 1e-12) and np.all(means[h] <= 1)
        elif likelihood == "beta":
            assert np.all((sims >= 0) & (sims <= 1))
            assert np.all(means[h] >= inputs.floor - 1e-12) and np.all(means[h] <= 1)


def test_breakpoint_range_leaves_points_on_both_sides():
    inputs = curve_inputs(_curve("beta_binomial"), SPEC)
    xs = np.sort(inputs.x)
    assert inputs.tau_lo == xs[1] and inputs.tau_hi == xs[-2]
    assert abs(inputs.center) < 1e-12 or np.isclose(xs[0] + xs[-1], 0)


def test_single_hypothesis_weights_switch_others_off():
    for h in HYPOTHESES:
        w = weights_for(h, SPEC)
        assert w[HYPOTHESES.index(h)] == 0 and sorted(w)[:2] == [EXCLUDED, EXCLUDED]
    assert np.exp(weights_for("mixture", SPEC)).sum() == pytest.approx(1)


def test_breakpoint_is_flat_before_and_rises_after():
    draws = {"absent_level": np.array([-3.0]), "smooth_intercept": np.array([0.0]), "smooth_slope": np.array([1.0]),
             "bp_level": np.array([-4.0]), "bp_slope_before": np.array([0.0]), "bp_rise": np.array([3.0]),
             "bp_tau": np.array([0.0]), "ceiling_fraction": np.array([1.0])}
    x = np.array([-2.0, -1.0, 1.0, 2.0])
    m = mean_curves(draws, x, likelihood="beta_binomial", floor=0.0, width=0.1)["breakpoint"][0]
    assert m[0] == pytest.approx(m[1], abs=1e-6)
    assert special.logit(m[3]) - special.logit(m[2]) == pytest.approx(3.0, abs=1e-3)


def test_gain_is_what_the_rise_adds_at_the_largest_model():
    """The prior is on the gain at x_ref; the slope change that achieves it depends on the break."""
    width = 0.1
    for tau in (-1.0, 0.0, 1.2):
        rise = rise_from_gain(4.0, tau, 1.5, width)
        draws = {"bp_level": np.array([-3.0]), "bp_slope_before": np.array([0.2]), "bp_rise": np.array([rise]),
                 "bp_tau": np.array([tau]), "ceiling_fraction": np.array([1.0])}
        eta_ref = special.logit(mean_curves(draws, np.array([1.5]), likelihood="beta_binomial", floor=0.0,
                                            width=width, hypotheses=("breakpoint",))["breakpoint"][0, 0])
        assert eta_ref == pytest.approx(-3.0 + 0.2 * (1.5 - tau) + 4.0, abs=1e-6)
