"""Compile once, sample many: real (tiny) nutpie fits through one compiled model per likelihood."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _models import sampler, sim_curves, tiny_spec

from phasefit.inference.diagnostics import diagnose
from phasefit.inference.sampler import STATS, Sampler, model_key, thin_to
from phasefit.models.curve_model import curve_inputs, stored_names
from phasefit.models.spec import DiagnosticsSpec, RetrySpec


@pytest.fixture(scope="module")
def curves():
    return sim_curves(("breakpoint", "smooth", "flat"))


def test_one_compile_serves_every_curve_and_fit(curves):
    s = sampler()
    for curve in curves:
        inputs = curve_inputs(curve, s.spec)
        for hypothesis in ("absent", "smooth", "breakpoint"):
            r = s.fit(inputs, hypothesis, seed=1)
            assert r.hypothesis == hypothesis
            assert tuple(r.draws) == stored_names(hypothesis, inputs.likelihood, s.spec)
            assert all(v.shape == (2, 150) for v in r.draws.values())
            assert set(r.stats) == set(STATS) and all(v.shape == (2, 150) for v in r.stats.values())
            assert r.stats["diverging"].dtype == bool and r.stats["reached_max_treedepth"].dtype == bool
            if r.importance is not None:  # independent draws: no trajectories, but a log density
                assert np.isnan(r.stats["energy"]).all() and np.isfinite(r.stats["lp"]).all()
    # each hypothesis compiled exactly once, whatever the number of curves
    # (other likelihoods may have been compiled by earlier tests of the session's shared sampler)
    assert sorted(k for k in s.compile_seconds if k.startswith("beta_binomial/")) == [
        "beta_binomial/absent",
        "beta_binomial/breakpoint",
        "beta_binomial/smooth",
    ]


def test_seeded_fits_reproduce_exactly(curves):
    s = sampler()
    inputs = curve_inputs(curves.curve(0), s.spec)
    a = s.fit(inputs, "breakpoint", seed=11)
    b = s.fit(inputs, "breakpoint", seed=11)
    c = s.fit(inputs, "breakpoint", seed=12)
    np.testing.assert_array_equal(a.draws["tau"], b.draws["tau"])
    assert not np.array_equal(a.draws["tau"], c.draws["tau"])
    # the sampled break is on the analysis axis (log10 FLOPs), inside the admissible range
    lo, hi = inputs.center + inputs.range_lo, inputs.center + inputs.range_hi
    assert np.all((a.draws["tau"] >= lo - 1e-9) & (a.draws["tau"] <= hi + 1e-9))


def test_swapped_data_changes_the_posterior(curves):
    """with_data really swaps: a rising curve and a flat one give different slopes."""
    s = sampler()
    slopes = [np.median(s.fit(curve_inputs(c, s.spec), "smooth", seed=3).draws["slope"]) for c in curves]
    assert slopes[1] > 0.5  # the smooth (rising) curve
    assert abs(slopes[2]) < slopes[1]  # the flat one


def test_failed_checks_trigger_retries_then_failure(curves):
    spec = tiny_spec()
    strict = replace(
        spec,
        diagnostics=DiagnosticsSpec(
            ess_bulk_min=1e9,
            ess_tail_min=20,
            rhat_max=1.1,
            max_divergences=10,
            retries=(RetrySpec(target_accept=0.97, tune=100, draws=100),),
        ),
    )
    s = Sampler(strict)
    r = s.fit(curve_inputs(curves.curve(1), strict), "smooth", seed=5)
    assert r.diagnostics.attempts == 2
    assert not r.diagnostics.ok
    assert "bulk ESS" in r.diagnostics.reason
    # importance sampling cannot reach that ESS either: NUTS, and why, are recorded
    assert r.importance is None and r.settings["method"] == "nuts"
    assert r.settings["importance_fallback"].startswith("importance: k-hat")
    # ESS alone failed: the retry draws twice as many with the first attempt's adaptation
    sampled = {k: r.settings[k] for k in ("target_accept", "tune", "draws")}
    assert sampled == {"target_accept": spec.sampler.target_accept, "tune": 150, "draws": 300}
    assert next(iter(r.draws.values())).shape == (2, 300)
    divergent = replace(strict, diagnostics=replace(strict.diagnostics, max_divergences=-1))
    s = Sampler(divergent)
    r = s.fit(curve_inputs(curves.curve(1), divergent), "smooth", seed=5)
    assert r.diagnostics.attempts == 2 and r.settings["target_accept"] == 0.97  # divergences: escalate


def test_compiled_models_are_kept_for_the_process(curves):
    """A second Sampler of the same models (other sampler or check settings) compiles nothing; other
    priors or another backend are other models."""
    from phasefit.models.priors import Prior

    base = tiny_spec()
    absent = base.hypothesis("absent")
    # a level prior no other test uses: the first compile below is a miss of the process cache
    odd = replace(
        absent,
        priors=tuple(
            (n, Prior("normal", (("mu", -4.4321), ("sigma", 2.0)))) if n == "level" else (n, p)
            for n, p in absent.priors
        ),
    )
    spec = replace(base, hypotheses=tuple(odd if h.name == "absent" else h for h in base.hypotheses))
    assert model_key(spec) != model_key(base)
    assert model_key(spec.with_sampler(draws=99, target_accept=0.9)) == model_key(spec)
    assert model_key(replace(spec, diagnostics=DiagnosticsSpec())) == model_key(spec)
    assert model_key(spec.with_sampler(backend="pymc")) != model_key(spec)
    inputs = curve_inputs(curves.curve(2), spec)
    first = Sampler(spec)
    first.fit(inputs, "absent", seed=4)
    second = Sampler(spec.with_sampler(draws=120))
    b = second.fit(inputs, "absent", seed=4)
    # the first built (and compiled, or loaded from the disk cache: 0.4 s on a warm machine) the model,
    # the second only looked it up in the process cache
    assert second.compile_seconds["beta_binomial/absent"] < 0.05
    assert first.compile_seconds["beta_binomial/absent"] > 5 * second.compile_seconds["beta_binomial/absent"]
    assert second.compiled("beta_binomial", "absent") is first.compiled("beta_binomial", "absent")
    assert b.draws["level"].shape == (2, 120)


def test_diagnose_flags_unmixed_chains():
    rng = np.random.default_rng(0)
    good = {"a": rng.normal(size=(4, 500))}
    bad = {"a": rng.normal(size=(4, 500)) + np.arange(4)[:, None] * 3}
    stats = {"diverging": np.zeros((4, 500), bool), "reached_max_treedepth": np.zeros((4, 500), bool)}
    spec = tiny_spec()
    assert diagnose(good, stats, spec, attempts=1).ok
    d = diagnose(bad, stats, spec, attempts=1)
    assert not d.ok and "R-hat" in d.reason
    div = dict(stats, diverging=np.ones((4, 500), bool))
    assert "divergences" in diagnose(good, div, spec, attempts=1).reason
    deep = dict(stats, reached_max_treedepth=np.ones((4, 500), bool))
    assert "tree depth" in diagnose(good, deep, spec, attempts=1).reason


def test_a_parameter_that_never_moves_is_passed_over_without_a_warning(recwarn):
    """0/0 in its R-hat printed a RuntimeWarning into a corpus run's log (BIG-Bench-Hard)."""
    rng = np.random.default_rng(0)
    stats = {"diverging": np.zeros((4, 500), bool), "reached_max_treedepth": np.zeros((4, 500), bool)}
    spec = tiny_spec()
    draws = {"a": rng.normal(size=(4, 500)), "stuck": np.full((4, 500), 0.25)}
    d = diagnose(draws, stats, spec, attempts=1)
    assert np.isfinite(d.rhat_max) and d.rhat_max < 1.01  # the moving parameter's
    only_stuck = diagnose({"stuck": draws["stuck"]}, stats, spec, attempts=1)
    assert not only_stuck.ok and "R-hat nan" in only_stuck.reason
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_thin_to_keeps_evenly_spaced_draws():
    d = {"a": np.arange(20.0).reshape(2, 10)}
    out = thin_to(d, 5)["a"]
    assert out.shape == (2, 5) and out[0, 0] == 0 and out[0, -1] == 9


def test_pymc_backend_reuses_a_frozen_model(curves):
    spec = tiny_spec().with_sampler(backend="pymc", draws=60, tune=60)
    s = Sampler(spec)
    inputs = [curve_inputs(c, spec) for c in list(curves)[:2]]
    r1 = s.fit(inputs[0], "smooth", seed=1)
    r2 = s.fit(inputs[1], "smooth", seed=1)
    assert list(s.compile_seconds) == ["beta_binomial/smooth"]
    assert r1.draws["slope"].shape == (2, 60)
    assert not np.allclose(r1.draws["slope"].mean(), r2.draws["slope"].mean())


def test_numpyro_backend_samples_when_installed(curves):
    pytest.importorskip("numpyro")
    spec = tiny_spec().with_sampler(backend="numpyro", draws=60, tune=60)
    r = Sampler(spec).fit(curve_inputs(curves.curve(0), spec), "smooth", seed=1)
    assert r.draws["slope"].shape == (2, 60)
    assert np.isfinite(r.diagnostics.rhat_max)


def test_numpyro_backend_without_jax_is_a_clear_error(monkeypatch):
    import builtins

    from phasefit.errors import SamplingError

    real_import = builtins.__import__

    def no_jax(name, *a, **k):
        if name in ("jax", "numpyro"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_jax)
    with pytest.raises(SamplingError, match=r"phasefit\[gpu\]"):
        Sampler(tiny_spec().with_sampler(backend="numpyro"))


def test_one_off_model_retries_a_mixing_failure_with_more_draws():
    """`sample_model` (the population stage's NUTS): a fit that fails on ESS alone is retried with
    twice its draws, not with the escalations meant for divergences; a divergent one escalates."""
    import pymc as pm

    from phasefit.inference.sampler import _only_mixing, sample_model

    spec = replace(
        tiny_spec().with_sampler(chains=2, draws=50, tune=100),
        diagnostics=DiagnosticsSpec(
            ess_bulk_min=1e9, ess_tail_min=20, rhat_max=1.1, max_divergences=10, retries=(RetrySpec(0.97, 100, 60),) * 2
        ),
    )
    with pm.Model() as model:
        pm.Normal("a", 0.0, 1.0)
    draws, diag = sample_model(model, spec, names=["a"], seed=3)
    assert diag.attempts == 3 and not diag.ok and "bulk ESS" in diag.reason
    assert draws["a"].shape == (2, 200)  # 50, then 100, then 200 draws per chain
    mixing = diagnose({"a": draws["a"]}, {"diverging": np.zeros((2, 200), bool)}, spec, attempts=1)
    assert _only_mixing(mixing, spec)
    divergent = diagnose({"a": draws["a"]}, {"diverging": np.ones((2, 200), bool)}, spec, attempts=1)
    assert not _only_mixing(divergent, spec)
