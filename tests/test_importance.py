"""The posterior by importance sampling from a short NUTS pilot: exact on a conjugate model, refused
when its proposal is wrong, and what `Sampler.fit` does with it (or without it)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _models import sampler, sim_curves, tiny_spec
from scipy import stats

from phasefit.inference.importance import (
    ImportanceFit,
    chain_components,
    draw_moments,
    importance_posterior,
    laplace,
    resampled_ess,
)
from phasefit.inference.sampler import Sampler
from phasefit.models.curve_model import curve_inputs
from phasefit.models.priors import Prior
from phasefit.models.spec import RetrySpec

# y_i ~ Normal(mu, 1), mu ~ Normal(0, 2); log sigma ~ Normal(0, 1) is a second, unidentified parameter
Y = np.array([0.8, 1.4, 0.3, 1.1, 0.9])
PRIORS = [
    ("mu", Prior("normal", (("mu", 0.0), ("sigma", 2.0)))),
    ("s", Prior("lognormal", (("mu", 0.0), ("sigma", 1.0)))),
]
POST_VAR = 1.0 / (1.0 / 4.0 + len(Y))
POST_MEAN = POST_VAR * Y.sum()


def _loglik(values):
    return stats.norm.logpdf(Y, loc=np.asarray(values["mu"])[..., None], scale=1.0).sum(-1)


def _exact_log_z():
    cov = np.eye(len(Y)) + 4.0 * np.ones((len(Y), len(Y)))
    return stats.multivariate_normal(mean=np.zeros(len(Y)), cov=cov).logpdf(Y)


def _pilot(mean, sd, *, n=400, seed=0):
    """The proposal moments of pilot draws around `mean` with sd `sd`."""
    rng = np.random.default_rng(seed)
    return draw_moments({"mu": rng.normal(mean, sd, n), "s": rng.lognormal(0.0, 1.0, n)}, PRIORS)


def test_importance_posterior_recovers_a_conjugate_posterior_and_its_evidence():
    drawn, log_density, fit = importance_posterior(
        _pilot(POST_MEAN, np.sqrt(POST_VAR)), PRIORS, _loglik, n_proposal=8000, n_keep=4000, ess_min=400, seed=3
    )
    assert fit.rounds == 1 and fit.k_hat <= 0.7 and fit.ess >= 400
    mu = drawn["mu"]
    assert mu.shape == (4000,)
    se = np.sqrt(POST_VAR / fit.ess)
    assert abs(mu.mean() - POST_MEAN) < 4 * se
    assert abs(mu.std() / np.sqrt(POST_VAR) - 1) < 0.1
    # the second parameter keeps its prior (median 1)
    assert abs(np.median(drawn["s"]) - 1.0) < 0.15
    assert abs(fit.log_z - _exact_log_z()) < max(4 * fit.log_z_se, 0.02)
    # reproducible to the bit for a seed
    # the log density at each draw: log prior (with log s's Jacobian) + log likelihood
    s = drawn["s"]
    expected = stats.norm.logpdf(drawn["mu"], 0, 2) + stats.lognorm.logpdf(s, 1.0) + np.log(s) + _loglik(drawn)
    np.testing.assert_allclose(log_density, expected, rtol=1e-10)
    again, _, _ = importance_posterior(
        _pilot(POST_MEAN, np.sqrt(POST_VAR)), PRIORS, _loglik, n_proposal=8000, n_keep=4000, ess_min=400, seed=3
    )
    np.testing.assert_array_equal(drawn["mu"], again["mu"])


def test_a_pilot_off_target_is_adapted_or_refused():
    # a pilot a little too narrow and off-centre: the second, adapted round repairs it
    out = importance_posterior(
        _pilot(POST_MEAN + 0.3, 0.1), PRIORS, _loglik, n_proposal=4000, n_keep=4000, ess_min=400, seed=5
    )
    assert not isinstance(out, ImportanceFit)
    drawn, _, fit = out
    assert fit.n_proposal == 4000 * 3 and fit.rounds == 2
    assert abs(drawn["mu"].mean() - POST_MEAN) < 0.05
    # a pilot far away: no reliable round, the caller samples with NUTS
    refused = importance_posterior(
        _pilot(POST_MEAN + 8.0, 0.01), PRIORS, _loglik, n_proposal=2000, n_keep=1000, ess_min=400, seed=5
    )
    assert isinstance(refused, ImportanceFit) and not (refused.k_hat <= 0.7 and refused.ess >= 400)


def test_a_third_round_draws_more_when_only_the_ess_falls_short():
    """Reliable weights (k-hat) but too few effective draws after two rounds: a third round draws
    `EXTRA_ROUND_DRAWS` x as many instead of refusing; weights that stay unreliable get no third round."""
    from phasefit.inference.importance import EXTRA_ROUND_DRAWS

    kwargs = dict(n_proposal=2000, n_keep=4000, seed=11)
    # 2000 and 4000 draws give at most 1333 and 2000 effective resampled draws: short of 2200
    out = importance_posterior(_pilot(POST_MEAN, np.sqrt(POST_VAR)), PRIORS, _loglik, ess_min=2200, **kwargs)
    assert not isinstance(out, ImportanceFit)
    drawn, _, fit = out
    assert fit.rounds == 3 and fit.n_proposal == 2000 * (1 + 2 + EXTRA_ROUND_DRAWS)
    assert fit.k_hat <= 0.7 and fit.ess >= 2200
    assert abs(drawn["mu"].mean() - POST_MEAN) < 4 * np.sqrt(POST_VAR / fit.ess)
    # an ESS no round can reach (above n_keep): all three rounds are drawn, then refused
    refused = importance_posterior(_pilot(POST_MEAN, np.sqrt(POST_VAR)), PRIORS, _loglik, ess_min=5000, **kwargs)
    assert isinstance(refused, ImportanceFit) and refused.rounds == 3
    # a proposal whose weights stay unreliable stops after the second round
    far = importance_posterior(_pilot(POST_MEAN + 8.0, 0.01), PRIORS, _loglik, ess_min=400, **kwargs)
    assert isinstance(far, ImportanceFit) and far.rounds == 2 and far.k_hat > 0.7


def test_resampled_draws_count_as_fewer_than_the_weights():
    assert resampled_ess(4000.0, 4000) == pytest.approx(2000.0)
    assert resampled_ess(1e12, 4000) == pytest.approx(4000.0)


@pytest.fixture(scope="module")
def curves():
    return sim_curves(("breakpoint", "smooth", "flat"))


def test_sampler_draws_by_importance_and_agrees_with_nuts(curves):
    s = sampler()
    nuts = Sampler(s.spec.with_sampler(method="nuts"))
    inputs = curve_inputs(curves.curve(0), s.spec)
    r = s.fit(inputs, "breakpoint", seed=7)
    assert r.importance is not None and r.settings["method"] == "importance"
    assert r.diagnostics.ok and r.diagnostics.ess_bulk_min == pytest.approx(r.importance.ess)
    assert r.diagnostics.rhat_max <= s.spec.diagnostics.pilot_rhat_max
    # derived quantities are computed for the resampled draws: tau from tau_fraction on the range
    lo, hi = inputs.center + inputs.range_lo, inputs.center + inputs.range_hi
    np.testing.assert_allclose(r.draws["tau"], lo + (hi - lo) * r.draws["tau_fraction"])
    n = nuts.fit(inputs, "breakpoint", seed=7)
    assert n.importance is None and "method" not in n.settings
    for name in ("tau", "level", "gain"):
        a, b = np.median(r.draws[name]), np.median(n.draws[name])
        spread = np.subtract(*np.quantile(n.draws[name], [0.75, 0.25]))
        assert abs(a - b) < 0.5 * spread, name


def test_laplace_is_exact_on_a_gaussian_posterior_and_its_weights_give_the_evidence():
    """The Laplace approximation of the conjugate model: mu's posterior mean and variance exactly,
    log s at its prior's N(0, 1); as a proposal it gives the posterior and the marginal likelihood."""
    mode, cov = laplace(PRIORS, _loglik)
    np.testing.assert_allclose(mode, [POST_MEAN, 0.0], atol=1e-5)
    np.testing.assert_allclose(cov, np.diag([POST_VAR, 1.0]), rtol=1e-4, atol=1e-6)
    drawn, _, fit = importance_posterior(
        (mode, cov), PRIORS, _loglik, n_proposal=4000, n_keep=4000, ess_min=400, seed=1
    )
    assert fit.rounds == 1 and fit.k_hat <= 0.7
    assert abs(drawn["mu"].mean() - POST_MEAN) < 4 * np.sqrt(POST_VAR / fit.ess)
    assert abs(fit.log_z - _exact_log_z()) < max(4 * fit.log_z_se, 0.02)


def test_laplace_refuses_a_density_without_a_mode():
    """A log likelihood that grows without bound in mu under a flat-enough prior has no proper mode."""
    flat = [("mu", Prior("normal", (("mu", 0.0), ("sigma", 1e6))))]
    assert laplace(flat, lambda values: 1e3 * np.asarray(values["mu"])) is None


def test_absent_starts_from_laplace_and_agrees_with_nuts(curves):
    """absent (nearly Gaussian on the unconstrained scale) is drawn from a Laplace proposal: no pilot,
    no chains (R-hat NaN), the weights' ESS; its posterior agrees with NUTS. smooth, the breakpoint
    and `laplace = false` use the pilot."""
    s = sampler()
    inputs = curve_inputs(curves.curve(2), s.spec)
    r = s.fit(inputs, "absent", seed=3)
    assert r.settings["proposal"] == "laplace" and r.settings["tune"] == 0
    assert r.diagnostics.ok and np.isnan(r.diagnostics.rhat_max)
    assert r.diagnostics.ess_bulk_min == pytest.approx(r.importance.ess) and r.importance.ess >= 20
    n = Sampler(s.spec.with_sampler(method="nuts")).fit(inputs, "absent", seed=3)
    for name in n.draws:
        a, b = np.median(r.draws[name]), np.median(n.draws[name])
        spread = np.subtract(*np.quantile(n.draws[name], [0.75, 0.25]))
        assert abs(a - b) < 0.5 * spread, name
    off = Sampler(s.spec.with_sampler(laplace=False))
    for i, hypothesis, by in ((1, "smooth", s), (0, "breakpoint", s), (2, "absent", off)):
        settings = by.fit(curve_inputs(curves.curve(i), s.spec), hypothesis, seed=4).settings
        # the pilot's proposal (one Student-t, or a mixture when its chains disagree), or NUTS after the
        # (tiny) pilot failed: never a Laplace proposal
        fallback = settings.get("importance_fallback", "")
        assert settings.get("proposal", "").startswith("pilot") or fallback.startswith(("pilot", "importance"))


def test_a_laplace_proposal_that_fails_falls_back_to_the_pilot_then_nuts(curves):
    """With an ESS no proposal can reach, both the Laplace and the pilot's rounds are refused, in that
    order, and the fit is NUTS's; the reasons are kept."""
    spec = tiny_spec()
    greedy = replace(spec, diagnostics=replace(spec.diagnostics, ess_bulk_min=10_000.0))
    r = Sampler(greedy).fit(curve_inputs(curves.curve(2), greedy), "absent", seed=5)
    assert r.importance is None and r.settings["method"] == "nuts"
    reason = r.settings["importance_fallback"]
    assert reason.startswith("laplace: k-hat") and "; importance: k-hat" in reason


def test_a_pilot_that_fails_its_checks_falls_back_to_nuts(curves):
    """Chains that disagree get a mixture proposal; when its weights cannot reach the ESS either, the fit
    is NUTS's, with both reasons."""
    spec = tiny_spec()
    strict = replace(spec, diagnostics=replace(spec.diagnostics, pilot_rhat_max=1.0, ess_bulk_min=10_000.0))
    r = Sampler(strict).fit(curve_inputs(curves.curve(1), strict), "smooth", seed=5)
    assert r.importance is None
    reason = r.settings["importance_fallback"]
    assert r.settings["method"] == "nuts" and reason.startswith("pilot: R-hat") and "; importance: k-hat" in reason
    assert next(iter(r.draws.values())).shape == (2, 150)


BIMODAL = ((-2.0, 0.3, 0.3), (2.0, 0.3, 0.7))  # (centre, sd, mass) of each mode of the likelihood in mu


def _bimodal_loglik(values):
    mu = np.asarray(values["mu"])
    return np.logaddexp(*(np.log(m) + stats.norm.logpdf(mu, c, sd) for c, sd, m in BIMODAL))


def test_chains_in_different_modes_give_a_mixture_proposal_that_weighs_the_modes():
    """Two pilot chains, each stuck in one mode of a bimodal posterior: one Student-t per chain (and one
    over both) as the proposal; the weights give each mode its exact mass and the marginal likelihood
    its exact value, which neither chain's draws nor their pooled moments show."""
    rng = np.random.default_rng(2)
    pilot = {
        "mu": np.stack([rng.normal(c, sd, 300) for c, sd, _ in BIMODAL]),  # (chain, draw): one mode each
        "s": rng.lognormal(0.0, 1.0, (2, 300)),
    }
    components = chain_components(pilot, PRIORS)
    assert len(components) == 3 and all(w == pytest.approx(1 / 3) for w, _, _ in components)
    drawn, _, fit = importance_posterior(
        components, PRIORS, _bimodal_loglik, n_proposal=8000, n_keep=4000, ess_min=400, seed=4
    )
    assert fit.k_hat <= 0.7 and fit.ess >= 400
    # prior Normal(0, 2) is symmetric: the posterior masses are the likelihood's, 0.3 and 0.7
    share = float(np.mean(drawn["mu"] > 0))
    assert abs(share - 0.7) < 4 * np.sqrt(0.21 / fit.ess)
    exact = np.log(sum(m * stats.norm.pdf(c, 0.0, np.sqrt(4.0 + sd**2)) for c, sd, m in BIMODAL))
    assert abs(fit.log_z - exact) < max(4 * fit.log_z_se, 0.02)
    # the same seed gives the same draws
    again, _, _ = importance_posterior(
        components, PRIORS, _bimodal_loglik, n_proposal=8000, n_keep=4000, ess_min=400, seed=4
    )
    np.testing.assert_array_equal(drawn["mu"], again["mu"])


def test_a_mixture_proposal_is_adapted_by_an_em_step():
    """A mixture whose components sit off the modes is refitted to its weighted draws (one EM step) and
    then passes; the masses stay right."""
    rng = np.random.default_rng(3)
    pilot = {
        "mu": np.stack([rng.normal(c + 0.4, 0.1, 300) for c, _, _ in BIMODAL]),
        "s": rng.lognormal(0.0, 1.0, (2, 300)),
    }
    out = importance_posterior(
        chain_components(pilot, PRIORS), PRIORS, _bimodal_loglik, n_proposal=4000, n_keep=4000, ess_min=1200, seed=6
    )
    assert not isinstance(out, ImportanceFit)
    drawn, _, fit = out
    assert fit.rounds >= 2 and fit.k_hat <= 0.7
    assert abs(float(np.mean(drawn["mu"] > 0)) - 0.7) < 4 * np.sqrt(0.21 / fit.ess)


def _pilots_recorded(monkeypatch, *, diverge_first: bool):
    """Record each sampling run's target_accept; with `diverge_first`, the first pilot reports a divergence."""
    calls = []
    original = Sampler._sample

    def recording(self, compiled, data, names, **kw):
        draws, stats = original(self, compiled, data, names, **kw)
        calls.append(kw["target_accept"])
        if diverge_first and len(calls) == 1:
            stats = {
                **stats,
                "diverging": np.where(np.arange(stats["diverging"].size) == 0, True, False).reshape(
                    stats["diverging"].shape
                ),
            }
        return draws, stats

    monkeypatch.setattr(Sampler, "_sample", recording)
    return calls


def test_a_pilot_that_diverged_runs_again_at_the_first_retrys_target_accept(curves, monkeypatch):
    """A pilot with a divergence but agreeing chains is rerun once at the first retry's target_accept
    (as a NUTS fit would be), and its proposal used; the reason is kept. Without retries it goes to NUTS."""
    spec = tiny_spec()
    strict = replace(
        spec,
        diagnostics=replace(
            spec.diagnostics, max_divergences=0, retries=(RetrySpec(target_accept=0.99, tune=300, draws=150),)
        ),
    )
    inputs = curve_inputs(curves.curve(1), strict)
    calls = _pilots_recorded(monkeypatch, diverge_first=True)
    r = Sampler(strict).fit(inputs, "smooth", seed=5)
    assert calls == [strict.sampler.target_accept, 0.99]
    assert r.importance is not None and r.settings["method"] == "importance"
    assert r.settings["pilot_escalated"] == "pilot: 1 divergences" and r.settings["pilot_target_accept"] == 0.99
    # no retry to escalate to: the fit is NUTS's, with the pilot's reason
    calls.clear()
    bare = replace(strict, diagnostics=replace(strict.diagnostics, retries=()))
    n = Sampler(bare).fit(curve_inputs(curves.curve(1), bare), "smooth", seed=5)
    assert calls[0] == bare.sampler.target_accept and len(calls) == 2  # the pilot, then one NUTS run
    assert n.importance is None and n.settings["importance_fallback"] == "pilot: 1 divergences"


def test_a_pilot_whose_chains_disagree_is_not_rerun(curves, monkeypatch):
    """Chains that disagree (R-hat) are not a step-size problem: no second pilot; their draws shape a
    mixture proposal (one Student-t per chain), and the fit is drawn by importance sampling with the
    pilot's disagreement kept in its settings, not reported as its R-hat."""
    spec = tiny_spec()
    strict = replace(
        spec,
        diagnostics=replace(
            spec.diagnostics, pilot_rhat_max=1.0, retries=(RetrySpec(target_accept=0.99, tune=150, draws=150),)
        ),
    )
    calls = _pilots_recorded(monkeypatch, diverge_first=False)
    inputs = curve_inputs(curves.curve(1), strict)
    r = Sampler(strict).fit(inputs, "smooth", seed=5)
    assert calls == [strict.sampler.target_accept]  # one pilot, no NUTS
    assert r.importance is not None and r.settings["proposal"] == "pilot chains (mixture)"
    assert r.settings["pilot_disagreed"].startswith("R-hat") and "pilot_escalated" not in r.settings
    assert r.diagnostics.ok and np.isnan(r.diagnostics.rhat_max)
    # the same posterior as the pilot's usual proposal gives (both are exact)
    usual = Sampler(spec).fit(inputs, "smooth", seed=5)
    assert usual.settings["proposal"] == "pilot"
    for name in ("intercept", "slope"):
        a, b = r.draws[name].ravel(), usual.draws[name].ravel()
        assert abs(a.mean() - b.mean()) < 4 * np.sqrt(a.var() / 200 + b.var() / 200)
    assert abs(r.importance.log_z - usual.importance.log_z) < 0.1


def test_logsumexp_is_scipys():
    """The module's `logsumexp` (no array-API dispatch) gives SciPy's values, infinities and NaN,
    along any axis, with and without kept dimensions."""
    from scipy import special

    from phasefit.inference.importance import logsumexp

    rng = np.random.default_rng(0)
    for a in (rng.normal(size=100) * 50, [-np.inf, -np.inf], [], [np.inf, 1.0], [np.nan, 1.0], [-np.inf, 3.0]):
        assert logsumexp(a) == pytest.approx(float(special.logsumexp(a)), rel=1e-14, nan_ok=True)
    b = rng.normal(size=(3, 4, 5)) * 10
    b[0, 1, :] = -np.inf
    for axis in (0, 1, 2):
        for keepdims in (False, True):
            expected = special.logsumexp(b, axis=axis, keepdims=keepdims)
            np.testing.assert_allclose(logsumexp(b, axis=axis, keepdims=keepdims), expected, rtol=1e-14)


def test_a_pilot_that_diverged_and_disagreed_is_rerun_then_mixed(curves, monkeypatch):
    """Divergences are a step-size problem whatever the R-hat: the pilot runs again at the first retry's
    target_accept; when that run only disagrees, its chains shape the mixture proposal."""
    spec = tiny_spec()
    strict = replace(
        spec,
        diagnostics=replace(
            spec.diagnostics,
            pilot_rhat_max=1.0,
            max_divergences=0,
            retries=(RetrySpec(target_accept=0.99, tune=150, draws=150),),
        ),
    )
    calls = _pilots_recorded(monkeypatch, diverge_first=True)
    r = Sampler(strict).fit(curve_inputs(curves.curve(1), strict), "smooth", seed=5)
    assert calls == [strict.sampler.target_accept, 0.99]
    assert r.settings["proposal"] == "pilot chains (mixture)" and r.settings["pilot_target_accept"] == 0.99
    assert r.settings["pilot_escalated"].startswith("pilot: R-hat") and "1 divergences" in r.settings["pilot_escalated"]
