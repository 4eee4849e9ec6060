"""Power-scaling sensitivity of the evidence: the estimator against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from phasefit.evidence.sensitivity import _log_normaliser, log_evidence_shift
from phasefit.models.priors import Prior


def normal(mu: float, sigma: float) -> Prior:
    return Prior(dist="normal", params=(("mu", mu), ("sigma", sigma)))


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_normaliser_matches_the_closed_form(alpha):
    """c(alpha) = integral of N(x; mu, s)^alpha = (2 pi s^2)^((1 - alpha) / 2) / sqrt(alpha)."""
    s = 1.7
    exact = 0.5 * (1 - alpha) * np.log(2 * np.pi * s**2) - 0.5 * np.log(alpha)
    assert _log_normaliser(normal(0.3, s), alpha) == pytest.approx(exact, abs=0.02)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_evidence_shift_matches_a_conjugate_model(alpha):
    """y ~ N(theta, 1), theta ~ N(0, s0): power-scaling the prior by alpha is N(0, s0 / sqrt(alpha)),
    so Z(alpha) = N(y; 0, sqrt(1 + s0^2 / alpha)) exactly."""
    s0, y = 2.0, 1.3
    v = 1 / (1 / s0**2 + 1)
    draws = {"theta": np.random.default_rng(4).normal(v * y, np.sqrt(v), 40000)}
    exact = stats.norm.logpdf(y, 0, np.sqrt(1 + s0**2 / alpha)) - stats.norm.logpdf(y, 0, np.sqrt(1 + s0**2))
    got = log_evidence_shift(draws, [("theta", normal(0.0, s0))], alpha)
    assert got == pytest.approx(exact, abs=0.02)
    assert (got > 0) == (alpha > 1)  # here the data sit well inside the prior: narrowing it pays
