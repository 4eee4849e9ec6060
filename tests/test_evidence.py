"""LOO with exact refits (importance sampling or NUTS), stacking, and leave-future-out on simulated
curves with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _models import sampler
from scipy import special

from phasefit.data.curves import load_curves
from phasefit.evidence import loo as loo_module
from phasefit.evidence.loo import ImportanceRefit, compare, leave_future_out, logmeanexp, loo
from phasefit.models.curve_model import curve_inputs


def _curve(y, n=2000):
    x = np.linspace(20.0, 23.5, len(y))
    df = pd.DataFrame(
        {
            "task": "t",
            "metric": "acc",
            "family": "f",
            "model": [f"m{i}" for i in range(len(y))],
            "score": np.round(np.asarray(y) * n) / n,
            "train_flops": 10**x,
            "n_items": n,
        }
    )
    return load_curves(df).curve(0)


EMERGENT = _curve([0.01, 0.011, 0.009, 0.01, 0.012, 0.2, 0.7, 0.9])


@pytest.fixture(scope="module")
def fits():
    s = sampler()
    inputs = curve_inputs(EMERGENT, s.spec)
    return s, inputs, {h: s.fit(inputs, h, seed=4) for h in ("smooth", "breakpoint")}


def test_loo_uses_arviz_and_refits_high_k_points(fits):
    s, inputs, f = fits
    res, ll = loo(f["breakpoint"], inputs, s.spec, refit=s.fit, seed=1)
    assert ll.shape == (2, 150, 8)
    plain, _ = loo(f["breakpoint"], inputs, s.spec, refit=None, seed=1)
    assert plain.refits == 0
    k = np.asarray(plain.elpd.pareto_k)
    n_bad = int((~(k <= plain.elpd.good_k)).sum())
    assert res.refits == n_bad
    assert res.elpd.elpd == pytest.approx(float(np.sum(res.elpd.elpd_i)))
    if n_bad:  # refitted points replace PSIS estimates; the rest are unchanged
        good = k <= plain.elpd.good_k
        np.testing.assert_allclose(np.asarray(res.elpd.elpd_i)[good], np.asarray(plain.elpd.elpd_i)[good])


def test_breakpoint_beats_smooth_on_a_sharp_break(fits):
    s, inputs, f = fits
    ls, _ = loo(f["smooth"], inputs, s.spec, refit=None, seed=2)
    lb, _ = loo(f["breakpoint"], inputs, s.spec, refit=None, seed=3)
    c = compare(ls, lb)
    assert c.elpd_diff > 0
    assert c.stacking_weight_breakpoint > 0.5
    assert c.elpd_diff_se > 0


def test_smaller_models_do_not_predict_the_emergent_rise():
    s = sampler()
    inputs = curve_inputs(EMERGENT, s.spec)
    cutoff = inputs.x[4] + 0.01  # train on the 5 flat models
    r = leave_future_out(inputs, cutoff, s.spec, refit=s.fit, seed=5)
    assert r.n_train == 5 and r.n_test == 3
    assert r.lfo_elpd_diff > 0  # breakpoint minus smooth: the break predicts the larger models better
    assert r.lfo_elpd_diff == pytest.approx(r.elpd_breakpoint - r.elpd_smooth)
    assert r.cutoff_x == pytest.approx(cutoff + inputs.center)  # on the analysis axis
    assert not r.largest_in_interval


def test_lfo_not_defined_without_enough_training_models():
    s = sampler()
    inputs = curve_inputs(EMERGENT, s.spec)
    assert leave_future_out(inputs, inputs.x[1], s.spec, refit=s.fit, seed=1) is None  # 2 training models
    assert leave_future_out(inputs, inputs.x[-1] + 1, s.spec, refit=s.fit, seed=1) is None  # nothing to predict


@pytest.mark.parametrize("chains", [1, 2, 4])
def test_relative_efficiency_is_what_arviz_loo_uses_by_default(chains):
    import arviz_stats as azs
    import xarray as xr

    rng = np.random.default_rng(chains)
    draws = {  # one well-mixed and one autocorrelated variable: their efficiencies differ
        "a": rng.normal(size=(chains, 300)),
        "b": np.cumsum(rng.normal(size=(chains, 300)), axis=1) / 30,
    }
    ll = rng.normal(-1.0, 0.3, size=(chains, 300, 6))
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({k: (("chain", "draw"), v) for k, v in draws.items()}),
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "point"), ll)}),
        }
    )
    reff = loo_module.relative_efficiency(draws)
    assert (reff == 1.0) == (chains == 1) and 0 < reff
    default, given = azs.loo(tree, pointwise=True, var_name="y"), azs.loo(tree, pointwise=True, var_name="y", reff=reff)
    assert np.array_equal(default.elpd_i.values, given.elpd_i.values)
    assert np.array_equal(default.pareto_k.values, given.pareto_k.values)
    if chains > 1:  # and a wrong efficiency would change the smoothing
        other = azs.loo(tree, pointwise=True, var_name="y", reff=reff / 4)
        assert not np.array_equal(default.pareto_k.values, other.pareto_k.values)


def test_logmeanexp():
    a = np.log(np.array([[1.0, 2.0], [3.0, 6.0]]))
    assert logmeanexp(a) == pytest.approx(np.log(3.0))
    np.testing.assert_allclose(logmeanexp(a, axis=0), np.log([2.0, 4.0]))


def _importance(s, inputs, fit, seed=11):
    return ImportanceRefit(fit, inputs, s.spec, draws=16000, seed=seed)


def test_importance_sampling_agrees_with_a_nuts_refit_for_a_left_out_point(fits):
    """The posterior without one point by importance sampling gives the refit's elpd_i within Monte
    Carlo error; the 4,000-draw refit here is the yardstick (its own error is ~0.05)."""
    s, inputs, f = fits
    i = 5  # the first model of the rise: the most influential point
    keep = np.arange(len(inputs.x)) != i
    weighted = _importance(s, inputs, f["breakpoint"]).condition(keep, seed=3)
    assert weighted is not None and weighted.k_hat <= 0.7
    assert np.exp(weighted.log_weights).sum() == pytest.approx(1.0)
    spec = s.spec.with_sampler(chains=4, draws=1000, tune=500)
    from phasefit.inference.sampler import Sampler

    exact = Sampler(spec).fit(inputs.subset(keep), "breakpoint", seed=8)
    refit_elpd = float(logmeanexp(loo_module._loglik(exact, inputs, spec)[..., i]))
    assert weighted.elpd(i) == pytest.approx(refit_elpd, abs=0.25)
    # and it is not the full posterior's value: the point's own likelihood is left out of the weights
    full = float(logmeanexp(loo_module._loglik(f["breakpoint"], inputs, s.spec)[..., i]))
    assert weighted.elpd(i) < full


def test_loo_scores_high_k_points_by_importance_and_refits_only_where_it_fails(fits, monkeypatch):
    s, inputs, f = fits
    plain, _ = loo(f["breakpoint"], inputs, s.spec, refit=None, seed=1)
    n_bad = int((~(np.asarray(plain.elpd.pareto_k) <= plain.elpd.good_k)).sum())
    assert n_bad > 0
    res, _ = loo(
        f["breakpoint"], inputs, s.spec, refit=s.fit, seed=1, importance=_importance(s, inputs, f["breakpoint"])
    )
    assert res.refits == n_bad and res.refits_sampled < n_bad  # most by importance sampling (this fit is tiny)
    assert not res.elpd.warning and float(np.max(res.elpd.pareto_k)) <= res.elpd.good_k
    # where importance sampling is unreliable, the point is refitted with NUTS instead
    monkeypatch.setattr(ImportanceRefit, "condition", lambda self, keep, *, seed, points=None: None)
    fallback, _ = loo(
        f["breakpoint"], inputs, s.spec, refit=s.fit, seed=1, importance=_importance(s, inputs, f["breakpoint"])
    )
    assert fallback.refits == n_bad and fallback.refits_sampled == n_bad


SMOOTH = _curve(special.expit(np.linspace(-3.5, 1.5, 8)))


def _lfo_both_ways(curve, cutoff_index, refit_seeds=(5,)):
    """Leave-future-out by importance sampling (seed 5), and by NUTS refits with each of `refit_seeds`."""
    s = sampler()
    inputs = curve_inputs(curve, s.spec)
    cutoff = inputs.x[cutoff_index] + 0.01
    fits = {h: s.fit(inputs, h, seed=4) for h in ("smooth", "breakpoint")}
    importance = {h: _importance(s, inputs, fits[h], seed=20 + j) for j, h in enumerate(fits)}
    fast = leave_future_out(inputs, cutoff, s.spec, refit=s.fit, seed=5, importance=importance)
    return fast, [leave_future_out(inputs, cutoff, s.spec, refit=s.fit, seed=k) for k in refit_seeds]


def test_leave_future_out_by_importance_matches_the_refits():
    """The importance estimate of the future models' summed elpd agrees with NUTS refits to within
    the refits' own Monte Carlo spread: three refits (other seeds) of this curve span ~0.7."""
    fast, refits = _lfo_both_ways(SMOOTH, 4, refit_seeds=(5, 6, 7))
    assert fast.refits_sampled == 0 and refits[0].refits_sampled == 2
    for h in ("smooth", "breakpoint"):
        values = [getattr(r, f"elpd_{h}") for r in refits]
        assert getattr(fast, f"elpd_{h}") == pytest.approx(np.mean(values), abs=0.5), (h, values)
    # largest_in_interval is not compared: this curve's largest model lies at the edge of the smooth
    # extrapolation's 90% interval, where refits with other seeds disagree too (1 in 10 outside)


def test_leave_future_out_refits_where_the_smaller_models_hide_the_rise():
    """Trained on the flat models only, the posteriors are far from the whole curve's: the importance
    weights are unreliable and both hypotheses are refitted with NUTS, as with refits = "exact"."""
    fast, (exact,) = _lfo_both_ways(EMERGENT, 4)
    assert fast.refits_sampled == 2
    assert fast == exact


def test_importance_sampling_is_seeded():
    s = sampler()
    inputs = curve_inputs(EMERGENT, s.spec)
    fit = s.fit(inputs, "smooth", seed=4)
    keep = np.arange(len(inputs.x)) != 6
    a = _importance(s, inputs, fit).condition(keep, seed=1)
    b = _importance(s, inputs, fit).condition(keep, seed=1)
    assert a.elpd(6) == b.elpd(6)
    assert _importance(s, inputs, fit, seed=12).condition(keep, seed=1).elpd(6) != a.elpd(6)


def test_importance_proposal_is_shared_across_ranges_by_hypotheses_without_one(fits):
    """Leave-future-out moves the admissible range: the breakpoint's prior changes with it (a new
    proposal and weights), the smooth hypothesis' does not (the same object, nothing recomputed)."""
    s, inputs, f = fits
    moved = inputs.subset(np.ones(len(inputs.x), bool), range_=(inputs.range_lo + 0.2, inputs.range_hi))
    assert (moved.range_lo, moved.range_hi) != (inputs.range_lo, inputs.range_hi)
    smooth = _importance(s, inputs, f["smooth"])
    assert smooth.on(moved) is smooth
    bp = _importance(s, inputs, f["breakpoint"])
    assert bp.on(moved) is not bp and bp.on(inputs) is bp


def test_rounds_are_pooled_where_one_alone_is_not_reliable_for_the_scored_points():
    """Trained on the six smaller models, the smooth posterior's weights are reliable after one
    adapted round, but the two larger models' likelihoods under them are not (k-hat of weight x
    likelihood): the first and adapted rounds are pooled as draws of their mixture instead of
    adapting again, and the pooled estimate agrees with NUTS refits within their Monte Carlo spread."""
    s = sampler()
    inputs = curve_inputs(EMERGENT, s.spec)
    fit = s.fit(inputs, "smooth", seed=4)
    train = np.arange(len(inputs.x)) <= 5
    points = np.flatnonzero(~train)

    def estimate(pool):
        return ImportanceRefit(fit, inputs, s.spec, draws=16000, seed=20, pool=pool).condition(
            train, seed=5, points=points
        )

    alone, pooled = estimate(False), estimate(True)
    assert pooled is not None and len(pooled.log_weights) == 2 * 16000  # the first and the adapted round
    assert pooled.reliable_for(points) and len(alone.log_weights) == 16000  # alone: one more round
    refits = [s.fit(inputs.subset(train), "smooth", seed=k) for k in (5, 6, 7)]
    values = [
        float(logmeanexp(loo_module._loglik(r, inputs, s.spec)[..., points].reshape(-1, 2), axis=0).sum())
        for r in refits
    ]
    assert sum(pooled.elpd(i) for i in points) == pytest.approx(np.mean(values), abs=0.5), values
