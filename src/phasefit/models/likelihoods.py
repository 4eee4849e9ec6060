"""Likelihood families: the observed random variable `y` of a curve, for PyMC, SciPy and simulation.

- `beta_binomial`: y = correct items out of n (proportion metrics with `n_items`); over-dispersion
  between models (prompts, item heterogeneity) through the concentration c: p_i ~ Beta(mu c, (1-mu) c);
- `beta`: y = a proportion in (0, 1) (bounded continuous scores, or proportions without n_items),
  precision c;
- `student_t`: y = the standardised transform of an unbounded score, scale sigma, `t_nu` degrees of
  freedom.
For proportion families the mean is mu(x) = floor + (1 - floor) * u * logistic(eta(x)) with the
ceiling fraction u (1 for hypotheses without a ceiling); for Student-t it is eta(x).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
from scipy import special, stats

from phasefit.data.curves import Likelihood

# nuisance parameters of each family and the [shared] prior each one uses
NUISANCE: dict[str, tuple[tuple[str, str], ...]] = {
    "beta_binomial": (("ceiling_fraction", "ceiling_fraction"), ("concentration", "concentration")),
    "beta": (("ceiling_fraction", "ceiling_fraction"), ("precision", "beta_precision")),
    "student_t": (("sigma", "t_sigma"),),
}
# families in which a hypothesis' `laplace_proposal` holds; a Student-t likelihood can have a mode per
# outlying point, so its fits always start from a NUTS pilot
LAPLACE_FAMILIES = ("beta_binomial", "beta")
P_CLIP = 1e-9
OBSERVED = "y"


def nuisance(likelihood: Likelihood, *, uses_ceiling: bool) -> tuple[tuple[str, str], ...]:
    """(parameter, spec prior) pairs of the family's nuisance parameters for one hypothesis."""
    return tuple((n, p) for n, p in NUISANCE[likelihood] if uses_ceiling or n != "ceiling_fraction")


def mean(eta: Any, p: Mapping[str, Any], data: Mapping[str, Any], likelihood: Likelihood, *, xp_clip, sigmoid) -> Any:
    """Expected response: the proportion for beta/beta-binomial, eta itself for Student-t."""
    if likelihood == "student_t":
        return eta
    ceiling = p.get("ceiling_fraction", 1.0)
    return xp_clip(data["floor"] + (1 - data["floor"]) * ceiling * sigmoid(eta), P_CLIP, 1 - P_CLIP)


def observe(likelihood: Likelihood, mu: Any, p: Mapping[str, Any], data: Mapping[str, Any], *, t_nu: float):
    """The observed random variable `y` (inside a PyMC model)."""
    import pymc as pm

    if likelihood == "beta_binomial":
        c = p["concentration"]
        return pm.BetaBinomial(OBSERVED, n=data["n"], alpha=mu * c, beta=(1 - mu) * c, observed=data["y_data"])
    if likelihood == "beta":
        c = p["precision"]
        return pm.Beta(OBSERVED, alpha=mu * c, beta=(1 - mu) * c, observed=data["y_data"])
    return pm.StudentT(OBSERVED, nu=t_nu, mu=mu, sigma=p["sigma"], observed=data["y_data"])


def logpdf(
    likelihood: Likelihood, y: np.ndarray, n: np.ndarray, mu: np.ndarray, p: Mapping[str, np.ndarray], *, t_nu: float
) -> np.ndarray:
    """Pointwise log likelihood (SciPy), broadcasting draws (leading axes) against points (last)."""
    # the log Beta functions written as log Gammas with a + b = c: `special.betaln` is ~2.5x slower
    # for the same value to ~1e-12 relative (tests), and this runs on every importance draw
    if likelihood == "beta_binomial":
        c = np.asarray(p["concentration"], float)
        mu = np.asarray(mu, float)
        y, n = np.asarray(y, float), np.asarray(n, float)
        if mu.ndim >= 1 and y.size and y.shape == n.shape == mu.shape[-1:] and c.shape == mu.shape[:-1]:
            flat = _beta_binomial_kernel(y, n, mu.reshape(-1, y.size), c.reshape(-1))
            return flat.reshape(mu.shape)
        c = c[..., None]
        a, b = mu * c, (1 - mu) * c
        gl = special.gammaln
        return (gl(n + 1) - gl(y + 1) - gl(n - y + 1)) + (log_rising(a, y) + log_rising(b, n - y) - log_rising(c, n))
    if likelihood == "beta":
        c = np.asarray(p["precision"], float)[..., None]
        a, b = mu * c, (1 - mu) * c
        with np.errstate(divide="ignore", invalid="ignore"):
            log_beta = special.gammaln(a) + special.gammaln(b) - special.gammaln(c)
            out = special.xlogy(a - 1, y) + special.xlog1py(b - 1, -y) - log_beta
        return np.where((y >= 0) & (y <= 1), out, -np.inf)
    return stats.t.logpdf(y, t_nu, loc=mu, scale=np.asarray(p["sigma"])[..., None])


@cache
def _compiled_kernel():
    """The beta-binomial log likelihood of draws (rows) x points (columns) in one pass (numba, cached
    on disk): ~1.7x faster than SciPy's five passes over the array, equal to ~1e-12 relative (tests)."""
    import numba

    @numba.njit(cache=True)
    def kernel(y, n, mu, c):  # pragma: no cover - compiled
        def rising(x, k):  # log_rising for scalars (an inner function: the kernel stays cacheable)
            if x < STIRLING_FROM:
                return math.lgamma(x + k) - math.lgamma(x)
            xk = x + k
            return (
                (x - 0.5) * math.log1p(k / x)
                + k * math.log(xk)
                - k
                + (1.0 / xk - 1.0 / x) / 12.0
                - (1.0 / xk**3 - 1.0 / x**3) / 360.0
            )

        draws, points = mu.shape
        out = np.empty((draws, points))
        const = np.empty(points)
        for j in range(points):
            const[j] = math.lgamma(n[j] + 1) - math.lgamma(y[j] + 1) - math.lgamma(n[j] - y[j] + 1)
        for i in range(draws):
            ci = c[i]
            small = ci < STIRLING_FROM
            lg_c = math.lgamma(ci) if small else 0.0  # once per draw
            for j in range(points):
                a = mu[i, j] * ci
                b = (1 - mu[i, j]) * ci
                total = math.lgamma(n[j] + ci) - lg_c if small else rising(ci, n[j])
                out[i, j] = const[j] + rising(a, y[j]) + rising(b, n[j] - y[j]) - total
        return out

    return kernel


# log Gamma(x + k) - log Gamma(x) as the difference of two log Gammas loses ~1e-16 x log(x) to rounding:
# nothing at the concentrations of real curves, but an importance proposal's tail reaches 1e17, where
# the error is ~1e3 and a draw of nonsense outweighs the posterior. From x = 1e5 on, the difference of
# Stirling's series, which has no cancellation (its truncation error is below 1e-25 there).
STIRLING_FROM = 1e5


def log_rising(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """log Gamma(x + k) - log Gamma(x) (the log rising factorial), broadcast, accurate for large x:
    Stirling's series where x >= `STIRLING_FROM` (rare), the log Gammas elsewhere."""
    x, k = np.broadcast_arrays(np.asarray(x, float), np.asarray(k, float))
    out = np.array(special.gammaln(x + k) - special.gammaln(x), float)
    big = x >= STIRLING_FROM
    if np.any(big):
        xb, kb = x[big], k[big]
        xk = xb + kb
        out[big] = (
            (xb - 0.5) * np.log1p(kb / xb)
            + kb * np.log(xk)
            - kb
            + (1.0 / xk - 1.0 / xb) / 12.0
            - (1.0 / xk**3 - 1.0 / xb**3) / 360.0
        )
    return out


def _beta_binomial_kernel(y: np.ndarray, n: np.ndarray, mu: np.ndarray, c: np.ndarray) -> np.ndarray:
    return _compiled_kernel()(np.ascontiguousarray(y), np.ascontiguousarray(n), np.ascontiguousarray(mu), c)


def simulate(
    likelihood: Likelihood,
    mu: np.ndarray,
    n: np.ndarray,
    p: Mapping[str, np.ndarray],
    *,
    t_nu: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draws of y given the mean per draw and point (posterior and prior predictive)."""
    if likelihood == "beta_binomial":
        c = np.asarray(p["concentration"])[..., None]
        q = rng.beta(mu * c, (1 - mu) * c)
        return rng.binomial(np.broadcast_to(n.astype(np.int64), q.shape), q).astype(float)
    if likelihood == "beta":
        c = np.asarray(p["precision"])[..., None]
        return rng.beta(mu * c, (1 - mu) * c)
    sigma = np.asarray(p["sigma"])[..., None]
    return mu + sigma * rng.standard_t(t_nu, size=np.shape(mu))
