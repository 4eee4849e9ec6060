"""Every likelihood x hypothesis: finite log-probability and gradient, prior predictive in range, and the
NumPy log likelihood (used for LOO, LFO and P(h|y)) agreeing with the compiled PyMC graph."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from phasefit.data.curves import load_curves
from phasefit.models.curve_model import (
    CurveInputs,
    build_model,
    curve_inputs,
    mean_curve,
    parameter_priors,
    pointwise_loglik,
    predictive,
)
from phasefit.models.hypotheses import NUMPY
from phasefit.models.hypotheses.breakpoint import rise_from_gain
from phasefit.models.predictive import prior_draws
from phasefit.models.priors import log_prior
from phasefit.models.spec import HYPOTHESES, load_spec

SPEC = load_spec()
LIKELIHOODS = ("beta_binomial", "beta", "student_t")
FAST = "FAST_COMPILE"  # the graph, not its speed, is under test
OWN = {
    "absent": {"level"},
    "smooth": {"intercept", "slope"},
    "breakpoint": {"level", "slope_before", "gain", "tau_fraction"},
}
NUISANCE = {
    "beta_binomial": {"ceiling_fraction", "concentration"},
    "beta": {"ceiling_fraction", "precision"},
    "student_t": {"sigma"},
}


def _curve(likelihood: str):
    x = np.linspace(20, 23, 7)
    base = {"task": "t", "family": "f", "model": [f"m{i}" for i in range(7)], "train_flops": 10**x}
    if likelihood == "beta_binomial":
        df = pd.DataFrame(
            {**base, "metric": "acc", "score": [0.25, 0.26, 0.25, 0.3, 0.5, 0.7, 0.8], "n_items": 400, "chance": 0.25}
        )
    elif likelihood == "beta":
        df = pd.DataFrame({**base, "metric": "bleu", "score": [0.0, 0.5, 1.0, 3.0, 10.0, 30.0, 45.0]})
    else:
        df = pd.DataFrame(
            {**base, "metric": "ppl", "score": [80.0, 50.0, 30.0, 20.0, 12.0, 9.0, 7.0], "higher_is_better": 0}
        )
    cs = load_curves(df)
    assert cs.curves["likelihood"].iloc[0] == likelihood
    return cs.curve(0)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("hypothesis", HYPOTHESES)
def test_finite_logp_and_gradient_at_initial_point(likelihood, hypothesis):
    inputs = curve_inputs(_curve(likelihood), SPEC)
    model = build_model(hypothesis, likelihood, SPEC, template=inputs)
    point = model.initial_point()
    assert np.isfinite(model.compile_logp(mode=FAST)(point))
    grad = model.compile_dlogp(mode=FAST)(point)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    # a hypothesis' model carries its own parameters and its likelihood's nuisance ones, nothing else
    # (absent has no ceiling)
    names = {rv.name for rv in model.free_RVs}
    nuisance = NUISANCE[likelihood] - ({"ceiling_fraction"} if hypothesis == "absent" else set())
    assert names == OWN[hypothesis] | nuisance
    assert {name for name, _ in parameter_priors(hypothesis, likelihood, SPEC)} == names
    assert [rv.name for rv in model.observed_RVs] == ["y"]


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("hypothesis", HYPOTHESES)
def test_numpy_loglik_matches_compiled_model(likelihood, hypothesis):
    """At prior draws: log p(y | theta) of the compiled graph = the sum of the NumPy pointwise log likelihood,
    and the graph's log prior = the SciPy log prior (what the marginal likelihood integrates)."""
    inputs = curve_inputs(_curve(likelihood), SPEC)
    model = build_model(hypothesis, likelihood, SPEC, template=inputs)
    loglik = model.compile_logp(vars=[model["y"]], jacobian=False, mode=FAST)
    total = model.compile_logp(jacobian=False, mode=FAST)
    priors = parameter_priors(hypothesis, likelihood, SPEC)
    draws = prior_draws(hypothesis, inputs, SPEC, draws=5, rng=np.random.default_rng(1))
    for j in range(5):
        point = model.initial_point()
        values = {name: draws[name][0, j] for name, _ in priors}
        for name, v in values.items():
            tr = model.rvs_to_transforms[model[name]]
            key = f"{name}_{tr.name}__" if tr is not None else name
            point[key] = tr.forward(v).eval() if tr is not None else np.asarray(v)
        ll = pointwise_loglik(hypothesis, {k: np.array([v]) for k, v in values.items()}, inputs, SPEC)[0]
        assert ll.shape == inputs.x.shape and np.all(np.isfinite(ll))
        assert loglik(point) == pytest.approx(ll.sum(), rel=1e-6, abs=1e-6)
        lp = sum(float(log_prior(values[name], prior)) for name, prior in priors)
        assert total(point) == pytest.approx(lp + ll.sum(), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("hypothesis", HYPOTHESES)
def test_prior_predictive_within_metric_range(likelihood, hypothesis):
    inputs = curve_inputs(_curve(likelihood), SPEC)
    draws = prior_draws(hypothesis, inputs, SPEC, draws=400, rng=np.random.default_rng(2))
    assert all(v.shape == (1, 400) for v in draws.values())
    means = mean_curve(hypothesis, draws, inputs, inputs.x, SPEC)
    assert means.shape == (1, 400, len(inputs.x))
    sims = predictive(hypothesis, draws, inputs, SPEC, rng=np.random.default_rng(3))
    assert sims.shape == means.shape
    assert np.all(np.isfinite(sims))
    if likelihood == "beta_binomial":
        assert np.all((sims >= 0) & (sims <= inputs.n))
        assert np.all(means >= inputs.floor - 1e-12) and np.all(means <= 1)
    elif likelihood == "beta":
        assert np.all((sims >= 0) & (sims <= 1))
        assert np.all(means >= inputs.floor - 1e-12) and np.all(means <= 1)


def test_breakpoint_range_leaves_points_on_both_sides():
    inputs = curve_inputs(_curve("beta_binomial"), SPEC)
    xs = np.sort(inputs.x)
    assert inputs.range_lo == xs[1] and inputs.range_hi == xs[-2]
    assert abs(inputs.center) < 1e-12 or np.isclose(xs[0] + xs[-1], 0)


def _inputs(center: float = 0.0, *, lo: float = -1.0, hi: float = 1.0, x_ref: float = 1.5) -> CurveInputs:
    x = np.linspace(-1.5, 1.5, 7)
    return CurveInputs(
        likelihood="beta_binomial",
        x=x,
        center=center,
        y=np.zeros(7, np.int64),
        n=np.full(7, 100, np.int64),
        y_loc=0.0,
        y_scale=1.0,
        floor=0.0,
        range_lo=lo,
        range_hi=hi,
        x_ref=x_ref,
    )


def test_breakpoint_is_flat_before_and_rises_after():
    draws = {
        "level": np.array([-4.0]),
        "slope_before": np.array([0.0]),
        "rise": np.array([3.0]),
        "tau": np.array([0.0]),
        "ceiling_fraction": np.array([1.0]),
    }
    x = np.array([-2.0, -1.0, 1.0, 2.0])
    m = mean_curve("breakpoint", draws, _inputs(), x, SPEC)[0]
    assert m[0] == pytest.approx(m[1], abs=1e-6)
    assert special.logit(m[3]) - special.logit(m[2]) == pytest.approx(3.0, abs=1e-3)


def test_gain_is_what_the_rise_adds_at_the_largest_model():
    """The prior is on the gain at x_ref; the slope change that achieves it depends on the break."""
    width = SPEC.hypothesis("breakpoint").option("width")
    for tau in (-1.0, 0.0, 1.2):
        rise = rise_from_gain(4.0, tau, 1.5, width, NUMPY.softplus)
        draws = {
            "level": np.array([-3.0]),
            "slope_before": np.array([0.2]),
            "rise": np.array([rise]),
            "tau": np.array([tau]),
            "ceiling_fraction": np.array([1.0]),
        }
        eta_ref = special.logit(mean_curve("breakpoint", draws, _inputs(), np.array([1.5]), SPEC)[0, 0])
        assert eta_ref == pytest.approx(-3.0 + 0.2 * (1.5 - tau) + 4.0, abs=1e-6)


def test_break_is_derived_on_the_analysis_axis():
    """From the free parameters alone: tau = center + lo + (hi - lo) * tau_fraction (log10, not centred),
    and the derived rise adds `gain` at the largest model."""
    center, lo, hi, x_ref = 21.5, -1.0, 1.0, 1.5
    inputs = _inputs(center, lo=lo, hi=hi, x_ref=x_ref)
    frac = np.array([0.0, 0.25, 0.9])
    free = {
        "level": np.full(3, -3.0),
        "slope_before": np.full(3, 0.2),
        "gain": np.full(3, 4.0),
        "tau_fraction": frac,
        "ceiling_fraction": np.ones(3),
    }
    derived = SPEC.plugin("breakpoint").deterministics(free, inputs.data(), NUMPY)
    tau_c = lo + (hi - lo) * frac
    np.testing.assert_allclose(derived["tau"], center + tau_c)
    eta_ref = special.logit(mean_curve("breakpoint", free, inputs, np.array([x_ref]), SPEC)[:, 0])
    np.testing.assert_allclose(eta_ref, -3.0 + 0.2 * (x_ref - tau_c) + 4.0, atol=1e-6)
    # the same from a prior draw, whose stored tau is on the analysis axis too
    d = prior_draws("breakpoint", inputs, SPEC, draws=200, rng=np.random.default_rng(0))
    assert np.all((d["tau"] >= center + lo) & (d["tau"] <= center + hi))


PRIOR_FAMILIES = {
    "normal": (("mu", 0.5), ("sigma", 2.0)),
    "studentt": (("nu", 4.0), ("mu", -1.0), ("sigma", 0.7)),
    "lognormal": (("mu", 1.6), ("sigma", 0.4)),
    "halfnormal": (("sigma", 0.5),),
    "gamma": (("alpha", 2.0), ("beta", 3.0)),
    "beta": (("alpha", 1.2), ("beta", 3.0)),
}


@pytest.mark.parametrize("dist", sorted(PRIOR_FAMILIES))
def test_prior_family_agrees_between_pymc_scipy_and_the_transform(dist):
    """priors.py is the one place a prior becomes PyMC, SciPy and an unconstrained value: the three agree
    (the marginal likelihood integrates the SciPy density on PyMC's unconstrained scale)."""
    import pymc as pm
    from scipy import stats

    from phasefit.models.priors import (
        DISTRIBUTIONS,
        Prior,
        from_unconstrained,
        pymc_rv,
        sample,
        scipy_dist,
        to_unconstrained,
    )

    assert set(PRIOR_FAMILIES) == set(DISTRIBUTIONS)
    prior = Prior(dist, PRIOR_FAMILIES[dist])
    with pm.Model() as model:
        rv = pymc_rv("theta", prior)
    tr = model.rvs_to_transforms[rv]
    value_name = model.rvs_to_values[rv].name
    logp = model.compile_logp(jacobian=True, mode=FAST)
    draws = sample(prior, 4000, np.random.default_rng(7))
    assert stats.kstest(draws, scipy_dist(prior).cdf).pvalue > 0.01
    for v in draws[:5]:
        u = to_unconstrained(np.array([v]), prior)
        back, log_jac = from_unconstrained(u, prior)
        np.testing.assert_allclose(back, [v], rtol=1e-9)
        if tr is not None:
            np.testing.assert_allclose(tr.forward(np.float64(v)).eval(), u[0], rtol=1e-9, atol=1e-12)
        expected = float(log_prior(back, prior)[0] + log_jac[0])
        assert logp({value_name: u[0]}) == pytest.approx(expected, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("dist", sorted(PRIOR_FAMILIES))
def test_prior_log_density_is_scipys_everywhere(dist):
    """`log_prior` is written out with `scipy.special` (for speed): it gives SciPy's `logpdf` inside the
    support, at its edges and outside it (-inf), and NaN for NaN."""
    from phasefit.models.priors import Prior, scipy_dist

    prior = Prior(dist, PRIOR_FAMILIES[dist])
    rng = np.random.default_rng(3)
    edges = [0.0, 1.0, -1.0, 2.0, -np.inf, np.nan]
    v = np.concatenate([rng.normal(0, 3, 300), np.exp(rng.normal(0, 4, 300)), rng.uniform(size=300), edges])
    with np.errstate(all="ignore"):
        ours, theirs = log_prior(v, prior), scipy_dist(prior).logpdf(v)
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ours[~finite], theirs[~finite])


@pytest.mark.parametrize("log_concentration", [-3.0, 0.0, 5.0, 10.0])
def test_beta_binomial_log_likelihood_is_the_beta_function_formula(log_concentration):
    """The beta-binomial log likelihood is computed with log Gammas instead of `special.betaln`
    (2.5x faster): the same values, to 1e-12 relative, from over-dispersed to nearly binomial."""
    from phasefit.models import likelihoods

    rng = np.random.default_rng(5)
    n = np.array([10.0, 100.0, 1000.0, 5000.0, 200.0])
    y = np.array([0.0, 3.0, 999.0, 2500.0, 200.0])
    mu = np.clip(special.expit(rng.normal(0, 8, size=(400, 5))), 1e-9, 1 - 1e-9)
    c = np.exp(log_concentration + rng.normal(0, 0.5, size=400))
    a, b = mu * c[:, None], (1 - mu) * c[:, None]
    expected = (
        special.gammaln(n + 1)
        - special.gammaln(y + 1)
        - special.gammaln(n - y + 1)
        + special.betaln(y + a, n - y + b)
        - special.betaln(a, b)
    )
    got = likelihoods.logpdf("beta_binomial", y, n, mu, {"concentration": c}, t_nu=4.0)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-9)


@pytest.mark.parametrize("concentration", [1e5, 1e9, 1e17])
def test_beta_binomial_log_likelihood_tends_to_the_binomial_without_rounding_error(concentration):
    """As the concentration grows the beta-binomial becomes the binomial (difference ~ n^2 / c). As a
    difference of log Gammas near 1e17 it was off by ~1e3 (rounding), and one importance draw in an
    over-wide proposal's tail then outweighed the whole posterior; the log rising factorial from
    Stirling's series has no such error. Both the compiled kernel and the broadcasting path."""
    from phasefit.models import likelihoods

    n = np.array([131.0, 131.0, 1000.0, 5000.0, 200.0])
    y = np.array([0.0, 40.0, 999.0, 2500.0, 200.0])
    mu = np.array([[0.2, 0.3, 0.999, 0.5, 1 - 1e-9]])
    binomial = stats.binom.logpmf(y, n, mu)
    bound = 2 * n**2 / concentration + 1e-9
    kernel = likelihoods.logpdf("beta_binomial", y, n, mu, {"concentration": np.array([concentration])}, t_nu=4.0)
    broadcast = likelihoods.logpdf("beta_binomial", y, n, mu[0], {"concentration": np.array(concentration)}, t_nu=4.0)
    assert np.all(np.abs(kernel - binomial) <= bound) and np.all(np.abs(broadcast - binomial) <= bound)
    # the rising factorial against its exact sum of logs, on both sides of the switch to Stirling
    for x in (likelihoods.STIRLING_FROM * 0.999, likelihoods.STIRLING_FROM, 1e17):
        exact = math.fsum(math.log(x + i) for i in range(50))
        assert likelihoods.log_rising(x, 50.0) == pytest.approx(exact, rel=1e-12)
