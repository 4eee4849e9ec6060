"""The one place where a spec prior becomes a distribution: PyMC (to sample), SciPy (to score and
draw) and the unconstrained transform NUTS and importance sampling work in.

A prior is written in a TOML as `{ dist = "normal", mu = 0, sigma = 1 }`; `DISTRIBUTIONS` lists the
families and their parameters. Adding a family means adding it here only.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special, stats

Support = Literal["real", "positive", "unit"]


@dataclass(frozen=True)
class Family:
    params: tuple[str, ...]
    positive: tuple[str, ...]  # parameters that must be > 0
    support: Support


DISTRIBUTIONS: dict[str, Family] = {
    "normal": Family(("mu", "sigma"), ("sigma",), "real"),
    "studentt": Family(("nu", "mu", "sigma"), ("nu", "sigma"), "real"),
    "lognormal": Family(("mu", "sigma"), ("sigma",), "positive"),
    "halfnormal": Family(("sigma",), ("sigma",), "positive"),
    "gamma": Family(("alpha", "beta"), ("alpha", "beta"), "positive"),
    "beta": Family(("alpha", "beta"), ("alpha", "beta"), "unit"),
}


@dataclass(frozen=True)
class Prior:
    """A univariate prior: `dist` with its parameters in `params` (name, value) pairs."""

    dist: str
    params: tuple[tuple[str, float], ...]

    def __getitem__(self, name: str) -> float:
        return dict(self.params)[name]

    def describe(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.dist.capitalize()}({args})"

    @property
    def support(self) -> Support:
        return DISTRIBUTIONS[self.dist].support

    def scaled(self, factor: float) -> Prior:
        """The same family with its scale multiplied by `factor` (prior-sensitivity checks)."""
        key = "sigma" if "sigma" in dict(self.params) else None
        if key is None:  # beta / gamma: scale the concentration down to widen
            return Prior(self.dist, tuple((k, v / factor**2 if k in ("alpha", "beta") else v) for k, v in self.params))
        return Prior(self.dist, tuple((k, v * factor if k == key else v) for k, v in self.params))


def pymc_rv(name: str, prior: Prior, **kwargs):
    """The PyMC random variable for `prior` (inside a model context)."""
    import pymc as pm

    p = dict(prior.params)
    match prior.dist:
        case "normal":
            return pm.Normal(name, mu=p["mu"], sigma=p["sigma"], **kwargs)
        case "studentt":
            return pm.StudentT(name, nu=p["nu"], mu=p["mu"], sigma=p["sigma"], **kwargs)
        case "lognormal":
            return pm.LogNormal(name, mu=p["mu"], sigma=p["sigma"], **kwargs)
        case "halfnormal":
            return pm.HalfNormal(name, sigma=p["sigma"], **kwargs)
        case "gamma":
            return pm.Gamma(name, alpha=p["alpha"], beta=p["beta"], **kwargs)
        case "beta":
            return pm.Beta(name, alpha=p["alpha"], beta=p["beta"], **kwargs)
    raise ValueError(f"unknown prior family {prior.dist!r}")


@functools.lru_cache(maxsize=256)
def scipy_dist(prior: Prior):
    """The frozen SciPy distribution of `prior` (logpdf, rvs, ppf); kept per prior, because freezing
    one costs a millisecond and importance sampling scores every prior thousands of times."""
    p = dict(prior.params)
    match prior.dist:
        case "normal":
            return stats.norm(p["mu"], p["sigma"])
        case "studentt":
            return stats.t(p["nu"], p["mu"], p["sigma"])
        case "lognormal":
            return stats.lognorm(s=p["sigma"], scale=np.exp(p["mu"]))
        case "halfnormal":
            return stats.halfnorm(scale=p["sigma"])
        case "gamma":
            return stats.gamma(p["alpha"], scale=1.0 / p["beta"])
        case "beta":
            return stats.beta(p["alpha"], p["beta"])
    raise ValueError(f"unknown prior family {prior.dist!r}")


_LOG_2PI = float(np.log(2.0 * np.pi))


def log_prior(value: np.ndarray, prior: Prior) -> np.ndarray:
    """Log density of `prior` at `value`: SciPy's `logpdf` (-inf outside the support), written out
    with `scipy.special` because a frozen distribution's argument checks cost ~1 ms per call, 20x the
    arithmetic, and importance sampling calls this for every prior of every round."""
    v = np.asarray(value, float)
    return np.where(np.isnan(v), np.nan, _log_density(v, prior.dist, dict(prior.params)))


def _log_density(v: np.ndarray, dist: str, p: dict[str, float]) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        match dist:
            case "normal":
                z = (v - p["mu"]) / p["sigma"]
                return -0.5 * z * z - np.log(p["sigma"]) - 0.5 * _LOG_2PI
            case "studentt":
                nu, z = p["nu"], (v - p["mu"]) / p["sigma"]
                const = special.gammaln(0.5 * (nu + 1)) - special.gammaln(0.5 * nu) - 0.5 * np.log(nu * np.pi)
                return const - np.log(p["sigma"]) - 0.5 * (nu + 1) * np.log1p(z * z / nu)
            case "lognormal":
                pos = v > 0
                lv = np.log(np.where(pos, v, 1.0))
                z = (lv - p["mu"]) / p["sigma"]
                return np.where(pos, -lv - np.log(p["sigma"]) - 0.5 * _LOG_2PI - 0.5 * z * z, -np.inf)
            case "halfnormal":
                z = v / p["sigma"]
                return np.where(v >= 0, 0.5 * np.log(2.0 / np.pi) - np.log(p["sigma"]) - 0.5 * z * z, -np.inf)
            case "gamma":
                a, b = p["alpha"], p["beta"]
                out = a * np.log(b) - special.gammaln(a) + special.xlogy(a - 1, v) - b * v
                return np.where((v >= 0) & (v < np.inf), out, -np.inf)
            case "beta":
                a, b = p["alpha"], p["beta"]
                out = special.xlogy(a - 1, v) + special.xlog1py(b - 1, -v) - special.betaln(a, b)
                return np.where((v >= 0) & (v <= 1), out, -np.inf)
    raise ValueError(f"unknown prior family {dist!r}")


def sample(prior: Prior, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` draws (NumPy's own generators for the common families, so streams stay stable)."""
    p = dict(prior.params)
    match prior.dist:
        case "normal":
            return rng.normal(p["mu"], p["sigma"], size)
        case "lognormal":
            return rng.lognormal(p["mu"], p["sigma"], size)
        case "beta":
            return rng.beta(p["alpha"], p["beta"], size)
        case "halfnormal":
            return np.abs(rng.normal(0.0, p["sigma"], size))
    return np.asarray(scipy_dist(prior).rvs(size=size, random_state=rng), float)


def to_unconstrained(value: np.ndarray, prior: Prior) -> np.ndarray:
    """The value on the real line, as PyMC's default transforms put it (log, logit)."""
    match prior.support:
        case "real":
            return np.asarray(value, float)
        case "positive":
            return np.log(value)
    return special.logit(value)


def from_unconstrained(u: np.ndarray, prior: Prior) -> tuple[np.ndarray, np.ndarray]:
    """Value and log |d value / d u|."""
    match prior.support:
        case "real":
            return u, np.zeros_like(u)
        case "positive":
            return np.exp(u), u
    return special.expit(u), -np.logaddexp(0.0, -u) - np.logaddexp(0.0, u)  # log v(1 - v), stable


def prior_density_at(u: np.ndarray, priors: Sequence[tuple[str, Prior]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Points on the joint unconstrained scale (..., parameter) -> (values by name, log prior density
    there with the Jacobian): what an importance sampler on that scale needs."""
    values, log_density = {}, np.zeros(u.shape[:-1])
    for j, (name, prior) in enumerate(priors):
        v, log_jac = from_unconstrained(u[..., j], prior)
        values[name] = v
        log_density = log_density + (log_prior(v, prior) + log_jac)  # (p + j) first: the same bits as before
    return values, log_density
