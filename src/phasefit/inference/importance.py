"""Importance sampling on a hypothesis' unconstrained scale: the Student-t proposal, its draws, the
Pareto k-hat check, and a posterior drawn by importance sampling from a short NUTS pilot.

Every hypothesis has 1-6 parameters. A multivariate Student-t fitted to a few hundred pilot draws
(on the scale NUTS works in: log for positive, logit for unit-interval parameters) covers such a
posterior well, so weighting `n` draws of it by prior x likelihood / proposal gives the posterior
and, from the same weights, the marginal likelihood. ArviZ's Pareto-smoothed importance sampling
says when it does not (k-hat > `K_HAT_MAX`, Vehtari et al. 2024); then the caller samples with
NUTS as before. The evidence layer uses the same pieces for marginal likelihoods and for LOO and
leave-future-out refits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from arviz_stats.base import array_stats
from scipy import stats

from phasefit.models.priors import Prior, prior_density_at, to_unconstrained

K_HAT_MAX = 0.7
PROPOSAL_DF = 5.0
PROPOSAL_SCALE = 1.3  # proposal covariance inflation: heavier than the posterior
ADAPTED_SCALE = 1.5  # covariance inflation of a proposal fitted to weighted draws


@dataclass(frozen=True, kw_only=True)
class ImportanceFit:
    """How a posterior drawn by importance sampling was weighted: what its checks and the marginal
    likelihood read."""

    log_z: float  # log marginal likelihood: the log mean importance ratio
    log_z_se: float  # its Monte Carlo standard error (delta method)
    k_hat: float  # Pareto k-hat of the ratios
    ess: float  # effective size of the resampled draws (`resampled_ess` of the smoothed weights')
    n_proposal: int  # proposal draws weighted (all rounds)
    rounds: int  # 1: the pilot's proposal sufficed; 2: a proposal fitted to the weighted draws


def logsumexp(a, axis: int | None = None, keepdims: bool = False):
    """log(sum(exp(a))) along `axis`, as `scipy.special.logsumexp` (-inf for an empty or all -inf
    slice, NaN for NaN) without its array-API dispatch, which costs ~0.15 ms a call: 15x the
    arithmetic on the few thousand weights this module and the evidence layer sum thousands of times."""
    a = np.asarray(a, float)
    m = np.max(a, axis=axis, keepdims=True) if a.size else np.full((1,) * a.ndim, -np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    if keepdims:
        return out
    out = np.squeeze(out, axis=axis)
    return float(out) if out.ndim == 0 else out


def psis(log_ratio: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed log weights, normalised (logsumexp 0), and the Pareto k-hat of importance
    ratios given on the log scale (ArviZ's `psislw`). Ratios so lopsided that the tail fit over- or
    underflows give a non-finite k-hat, which every caller reads as unreliable."""
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        smoothed, k_hat = array_stats.psislw(-log_ratio)  # ArviZ takes the LOO convention: -log ratio
        log_w = np.asarray(smoothed, float) - logsumexp(smoothed)
    return log_w, float(k_hat)


def pareto_k(log_ratio: np.ndarray) -> float:
    """Pareto k-hat of importance ratios given on the log scale (> `K_HAT_MAX`: unreliable)."""
    return psis(log_ratio)[1]


def unconstrained_draws(draws: dict[str, np.ndarray], priors: Sequence[tuple[str, Prior]]) -> np.ndarray:
    """Posterior draws as rows on the joint unconstrained scale of `priors` (draw, parameter)."""
    return np.column_stack([to_unconstrained(np.asarray(draws[n]).reshape(-1), pr) for n, pr in priors])


def draw_moments(draws: dict[str, np.ndarray], priors: Sequence[tuple[str, Prior]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of posterior draws on the joint unconstrained scale of `priors`: where a
    proposal around that posterior is centred and how it is shaped."""
    u = unconstrained_draws(draws, priors)
    return u.mean(0), np.atleast_2d(np.cov(u, rowvar=False))


def weighted_moments(z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of draws `z` (draw, parameter) under normalised weights `w`: the next
    proposal of adaptive importance sampling."""
    mean = w @ z
    return mean, ((z - mean) * w[:, None]).T @ (z - mean)


def log_mean_ratio(log_ratio: np.ndarray) -> tuple[float, float]:
    """log of the mean importance ratio (a marginal likelihood) and its Monte Carlo standard error
    (delta method: sd(ratio) / (mean(ratio) sqrt(n)))."""
    n = len(log_ratio)
    raw = np.exp(log_ratio - log_ratio.max())
    rel_var = np.var(raw) / max(np.mean(raw) ** 2, 1e-300) / n
    return float(logsumexp(log_ratio) - np.log(n)), float(np.sqrt(rel_var))


def t_proposal(mean: np.ndarray, cov: np.ndarray, *, scale: float, seed: int):
    """A multivariate Student-t (df `PROPOSAL_DF`) around `mean` with covariance `cov` x `scale`;
    None when the moments are unusable (non-finite, or a covariance that is not positive definite)."""
    d = len(mean)
    shape = np.atleast_2d(cov) * scale + 1e-9 * np.eye(d)
    try:
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(shape))):
            raise np.linalg.LinAlgError("non-finite moments")
        return stats.multivariate_t(loc=mean, shape=shape, df=PROPOSAL_DF, seed=np.random.default_rng(seed))
    except (np.linalg.LinAlgError, ValueError):
        return None


def proposal_draws(
    proposal, priors: Sequence[tuple[str, Prior]], *, n: int
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """`n` draws of `proposal`: the draws (draw, parameter) on the unconstrained scale, the parameter
    values, the log prior density there (Jacobian included) and the log proposal density; log prior +
    log likelihood - log proposal are the importance ratios."""
    z = np.atleast_2d(proposal.rvs(size=n)).reshape(n, len(priors))
    log_q = proposal.logpdf(z)
    values, log_target = prior_density_at(z, priors)
    return z, values, log_target, log_q


def importance_posterior(
    pilot: dict[str, np.ndarray],
    priors: Sequence[tuple[str, Prior]],
    loglik: Callable[[dict[str, np.ndarray]], np.ndarray],
    *,
    n_proposal: int,
    n_keep: int,
    ess_min: float,
    seed: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, ImportanceFit] | ImportanceFit:
    """The posterior of a model with independent priors `priors` and total log likelihood
    `loglik(values)` (one value per draw), by importance sampling from a Student-t fitted to the
    `pilot` draws: `n_keep` draws resampled with the Pareto-smoothed weights (systematic resampling,
    in random order), the log posterior density at each (prior with the Jacobian of the unconstrained
    scale, plus likelihood: what NUTS reports as `lp`), and how they were weighted (`ess`: the
    effective size of the resampled draws).

    A proposal whose k-hat is above `K_HAT_MAX`, or whose resampled draws would have fewer than
    `ess_min` effective draws, is refitted once to its own weighted draws with twice the draws
    (adaptive importance sampling). Returns only the `ImportanceFit` (the caller then samples with
    NUTS) when neither round is reliable.
    """
    rng = np.random.default_rng(seed)
    (mean, cov), scale, n = draw_moments(pilot, priors), PROPOSAL_SCALE, n_proposal
    drawn = 0
    fit = ImportanceFit(log_z=np.nan, log_z_se=np.inf, k_hat=np.inf, ess=0.0, n_proposal=0, rounds=0)
    for r in (1, 2):
        proposal = t_proposal(mean, cov, scale=scale, seed=int(rng.integers(2**31)))
        if proposal is None:
            return fit
        z, values, log_prior, log_q = proposal_draws(proposal, priors, n=n)
        drawn += n
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # extreme draws: weight 0
            ll = loglik(values)
        log_ratio = np.where(np.isfinite(ll) & np.isfinite(log_prior), log_prior + ll - log_q, -np.inf)
        if not np.isfinite(log_ratio).any():
            return fit
        log_w, k_hat = psis(log_ratio)
        w = np.exp(log_w)
        ess = resampled_ess(float(1.0 / np.sum(w**2)), n_keep)
        log_z, se = log_mean_ratio(log_ratio)
        fit = ImportanceFit(log_z=log_z, log_z_se=se, k_hat=k_hat, ess=ess, n_proposal=drawn, rounds=r)
        if fit.k_hat <= K_HAT_MAX and ess >= ess_min:
            idx = _systematic(w, n_keep, rng)
            return {k: np.asarray(v)[idx] for k, v in values.items()}, (log_prior + ll)[idx], fit
        mean, cov = weighted_moments(z, w)
        scale, n = ADAPTED_SCALE, 2 * n_proposal
    return fit


def _systematic(w: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` indices drawn with probabilities `w` by systematic resampling (each draw kept within one
    of its expected count), returned in random order."""
    cdf = np.cumsum(w)
    cdf[-1] = 1.0
    idx = np.searchsorted(cdf, (rng.random() + np.arange(n)) / n)
    return rng.permutation(np.minimum(idx, len(w) - 1))


def resampled_ess(ess: float, n_keep: int) -> float:
    """Effective size of `n_keep` draws resampled from weights whose effective size is `ess`."""
    return 1.0 / (1.0 / ess + 1.0 / n_keep)
