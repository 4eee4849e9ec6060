"""Marginal likelihood of each hypothesis by importance sampling, with a PSIS reliability check.

P(h | y) = pi_h Z_h / sum_k pi_k Z_k needs Z_h = integral of p(y | theta) p(theta | h). Each
hypothesis has 3-6 parameters, so importance sampling from a multivariate Student-t fitted to the
hypothesis' own posterior draws (in an unconstrained space) estimates Z_h accurately; the Pareto
k-hat of the importance ratios (ArviZ's PSIS) says when it does not. This replaces sampling a mixture
with a marginalised indicator, whose posterior is cross-shaped (one hypothesis' parameters fit
while the other's roam their prior) and mixes badly exactly when the evidence is balanced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from arviz_stats.base import array_stats
from scipy import special, stats

from phasefit.models.hypotheses import NUISANCE, CurveInputs, pointwise_loglik, rise_from_gain
from phasefit.models.spec import ModelSpec, Prior

# the free parameters of each hypothesis, and which spec prior each one uses
OWN = {
    "absent": (("absent_level", "absent", "level"),),
    "smooth": (("smooth_intercept", "smooth", "intercept"), ("smooth_slope", "smooth", "slope")),
    "breakpoint": (("bp_level", "breakpoint", "level"), ("bp_slope_before", "breakpoint", "slope_before"),
                   ("bp_gain", "breakpoint", "gain"), ("bp_tau_fraction", "breakpoint", "tau_fraction")),
}
SHARED_PRIOR = {"ceiling_fraction": "ceiling_fraction", "concentration": "concentration",
                "precision": "beta_precision", "sigma": "t_sigma"}
K_HAT_MAX = 0.7
PROPOSAL_DF = 5.0
PROPOSAL_SCALE = 1.3  # proposal covariance inflation: heavier than the posterior
FALLBACK_SCALES = (2.5, 5.0)  # wider proposals tried in turn when k-hat is too high


@dataclass(frozen=True, kw_only=True)
class Evidence:
    log_z: float  # log marginal likelihood (counts: beta-binomial pmf; continuous: density)
    log_z_se: float  # Monte Carlo standard error of log_z (delta method)
    k_hat: float  # Pareto k of the importance ratios; > 0.7 means unreliable

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.log_z) and self.k_hat <= K_HAT_MAX)


def _priors(hypothesis: str, inputs: CurveInputs, spec: ModelSpec) -> list[tuple[str, Prior]]:
    is_t = inputs.likelihood == "student_t"
    out = [(name, spec.hypothesis(h).prior(p, student_t=is_t)) for name, h, p in OWN[hypothesis]]
    nuisance = NUISANCE[inputs.likelihood]
    if hypothesis == "absent":  # absent has no ceiling
        nuisance = tuple(n for n in nuisance if n != "ceiling_fraction")
    return out + [(n, spec.shared_prior(SHARED_PRIOR[n])) for n in nuisance]


def _to_unconstrained(v: np.ndarray, prior: Prior) -> np.ndarray:
    if prior.dist == "normal":
        return v
    if prior.dist in ("lognormal", "halfnormal"):
        return np.log(v)
    return special.logit(v)


def _from_unconstrained(u: np.ndarray, prior: Prior) -> tuple[np.ndarray, np.ndarray]:
    """Value and log |d value / d u|."""
    if prior.dist == "normal":
        return u, np.zeros_like(u)
    if prior.dist in ("lognormal", "halfnormal"):
        return np.exp(u), u
    return special.expit(u), -np.logaddexp(0.0, -u) - np.logaddexp(0.0, u)  # log v(1-v), stable


def _log_prior(v: np.ndarray, prior: Prior) -> np.ndarray:
    p = dict(prior.params)
    match prior.dist:
        case "normal":
            return stats.norm.logpdf(v, p["mu"], p["sigma"])
        case "lognormal":
            return stats.lognorm.logpdf(v, s=p["sigma"], scale=np.exp(p["mu"]))
        case "halfnormal":
            return stats.halfnorm.logpdf(v, scale=p["sigma"])
    return stats.beta.logpdf(v, p["alpha"], p["beta"])


def log_marginal_likelihood(draws: dict[str, np.ndarray], inputs: CurveInputs, hypothesis: str, spec: ModelSpec,
                            *, n_proposal: int = 4000, seed: int) -> Evidence:
    """Importance-sampling estimate of log Z for one hypothesis from its own posterior draws.

    When the Pareto k-hat of the ratios is too high (a posterior with heavier tails or more skew
    than the proposal), the proposal is widened (`FALLBACK_SCALES`) before giving up; the first
    reliable estimate is returned, else the one with the smallest k-hat.
    """
    best = None
    for j, scale in enumerate((PROPOSAL_SCALE, *FALLBACK_SCALES)):
        ev = _importance_estimate(draws, inputs, hypothesis, spec, n_proposal=n_proposal, seed=seed + j, scale=scale)
        if ev.ok:
            return ev
        if best is None or ev.k_hat < best.k_hat:
            best = ev
    return best


def _importance_estimate(draws: dict[str, np.ndarray], inputs: CurveInputs, hypothesis: str, spec: ModelSpec,
                         *, n_proposal: int, seed: int, scale: float) -> Evidence:
    priors = _priors(hypothesis, inputs, spec)
    u = np.column_stack([_to_unconstrained(np.asarray(draws[n]).reshape(-1), pr) for n, pr in priors])
    d = u.shape[1]
    mean = u.mean(0)
    cov = np.atleast_2d(np.cov(u, rowvar=False)) * scale + 1e-9 * np.eye(d)
    proposal = stats.multivariate_t(loc=mean, shape=cov, df=PROPOSAL_DF, seed=np.random.default_rng(seed))
    z = np.atleast_2d(proposal.rvs(size=n_proposal)).reshape(n_proposal, d)
    log_q = proposal.logpdf(z)
    values, log_target = {}, np.zeros(n_proposal)
    for j, (name, pr) in enumerate(priors):
        v, log_jac = _from_unconstrained(z[:, j], pr)
        values[name] = v
        log_target += _log_prior(v, pr) + log_jac
    if hypothesis == "breakpoint":
        values["bp_tau"] = inputs.tau_lo + (inputs.tau_hi - inputs.tau_lo) * values["bp_tau_fraction"]
        values["bp_rise"] = rise_from_gain(values["bp_gain"], values["bp_tau"], inputs.x_ref,
                                           spec.hypothesis("breakpoint").width)
    ll = pointwise_loglik(values, inputs, width=spec.hypothesis("breakpoint").width, t_nu=spec.t_nu,
                          hypotheses=(hypothesis,))[hypothesis].sum(-1)
    log_ratio = np.where(np.isfinite(ll), log_target + ll - log_q, -np.inf)
    log_z = float(special.logsumexp(log_ratio) - np.log(n_proposal))
    w = np.exp(log_ratio - log_ratio.max())
    rel_var = np.var(w) / max(np.mean(w) ** 2, 1e-300) / n_proposal
    _, k_hat = array_stats.psislw(-log_ratio)  # ArviZ takes the LOO convention (log likelihood = -log ratio)
    return Evidence(log_z=log_z, log_z_se=float(np.sqrt(rel_var)), k_hat=float(k_hat))


def hypothesis_probabilities(evidence: dict[str, Evidence], log_weights: np.ndarray) -> np.ndarray:
    """P(h | y) in (absent, smooth, breakpoint) order from log Z_h and log prior weights."""
    t = np.array([evidence[h].log_z for h in ("absent", "smooth", "breakpoint")]) + log_weights
    return np.exp(t - special.logsumexp(t))
