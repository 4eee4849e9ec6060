"""Importance-sampling marginal likelihoods against exact answers."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from _models import sampler
from scipy import integrate, special, stats

from phasefit.data.curves import load_curves
from phasefit.evidence.marginal import (
    PROPOSAL_SCALE,
    _importance_estimate,
    hypothesis_probabilities,
    log_marginal_likelihood,
)
from phasefit.models.curve_model import curve_inputs, parameter_priors, pointwise_loglik


def _flat_curve():
    x = np.linspace(20, 23, 5)
    df = pd.DataFrame(
        {
            "task": "t",
            "metric": "acc",
            "family": "f",
            "model": [f"m{i}" for i in range(5)],
            "score": [0.05, 0.04, 0.06, 0.05, 0.05],
            "train_flops": 10**x,
            "n_items": 200,
        }
    )
    return load_curves(df).curve(0)


def test_absent_evidence_matches_quadrature():
    """Absent has 2 parameters here (level, concentration): integrate numerically and compare."""
    s = sampler()
    spec = s.spec
    curve = _flat_curve()
    inputs = curve_inputs(curve, spec)
    fit = s.fit(inputs, "absent", seed=3)
    ev = log_marginal_likelihood(fit.draws, inputs, "absent", spec, n_proposal=8000, seed=1)
    assert ev.ok
    assert ev.log_z == pytest.approx(_absent_log_z_by_quadrature(inputs, spec), abs=0.05)
    assert ev.log_z_se < 0.05


def test_too_narrow_a_proposal_is_widened():
    """Draws shrunk 7x towards their mean make the first proposal miss the tails (k-hat > 0.7);
    the wider fallback proposals must recover the exact answer."""
    s = sampler()
    spec = s.spec
    inputs = curve_inputs(_flat_curve(), spec)
    draws = s.fit(inputs, "absent", seed=3).draws
    lvl, logc = draws["level"], np.log(draws["concentration"])
    narrow = {
        "level": lvl.mean() + (lvl - lvl.mean()) / 7,
        "concentration": np.exp(logc.mean() + (logc - logc.mean()) / 7),
    }
    first = _importance_estimate(
        narrow,
        parameter_priors("absent", inputs.likelihood, spec),
        lambda v: pointwise_loglik("absent", v, inputs, spec).sum(-1),
        n_proposal=8000,
        seed=1,
        scale=PROPOSAL_SCALE,
    )
    assert first.k_hat > 0.7
    ev = log_marginal_likelihood(narrow, inputs, "absent", spec, n_proposal=8000, seed=1)
    assert ev.ok
    assert ev.log_z == pytest.approx(_absent_log_z_by_quadrature(inputs, spec), abs=0.1)


def _absent_log_z_by_quadrature(inputs, spec) -> float:
    lp = spec.hypothesis("absent").prior("level")
    cp = spec.shared_prior("concentration")

    def integrand(level, log_c):
        c = np.exp(log_c)
        p = special.expit(level)
        ll = stats.betabinom.logpmf(inputs.y, inputs.n, p * c, (1 - p) * c).sum()
        return np.exp(
            ll + stats.norm.logpdf(level, lp["mu"], lp["sigma"]) + stats.norm.logpdf(log_c, cp["mu"], cp["sigma"])
        )

    exact, _ = integrate.dblquad(integrand, cp["mu"] - 8 * cp["sigma"], cp["mu"] + 8 * cp["sigma"], -12, 6)
    return float(np.log(exact))


def test_probabilities_sum_to_one_and_follow_evidence():
    from phasefit.evidence.marginal import Evidence

    ev = {
        "absent": Evidence(log_z=-10.0, log_z_se=0.0, k_hat=0.1),
        "smooth": Evidence(log_z=-5.0, log_z_se=0.0, k_hat=0.1),
        "breakpoint": Evidence(log_z=-5.0 + np.log(3), log_z_se=0.0, k_hat=0.1),
    }
    spec = sampler().spec  # equal prior weights
    p = hypothesis_probabilities(ev, spec)
    assert list(p) == list(spec.names)
    assert sum(p.values()) == pytest.approx(1)
    assert p["breakpoint"] / p["smooth"] == pytest.approx(3)
    assert p["smooth"] / p["absent"] == pytest.approx(np.exp(5.0))
    # the spec's prior weights multiply the evidence
    weighted = replace(spec, prior_weights=(("absent", 1.0), ("smooth", 2.0), ("breakpoint", 1.0)))
    q = hypothesis_probabilities(ev, weighted)
    assert q["breakpoint"] / q["smooth"] == pytest.approx(1.5)
    assert not Evidence(log_z=0.0, log_z_se=0.0, k_hat=0.9).ok


def test_a_collapsed_posterior_gives_unreliable_evidence_not_an_error():
    """A constant continuous curve drives its scale to 0 and its draws' covariance to singular (here:
    two parameters that move as one, on a large scale)."""
    inputs = curve_inputs(_flat_curve(), sampler().spec)
    t = np.random.default_rng(0).normal(size=(2, 100))
    draws = {"level": -3.0 + 30 * t, "concentration": np.exp(3.0 + 30 * t)}
    ev = log_marginal_likelihood(draws, inputs, "absent", sampler().spec, seed=1)
    assert not ev.ok and math.isinf(ev.k_hat) and math.isnan(ev.log_z)
