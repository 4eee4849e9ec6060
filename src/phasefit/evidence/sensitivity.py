"""How much a curve's evidence moves when a hypothesis' prior is power-scaled.

Power-scaling (Kallioinen et al. 2023, the check behind `arviz_stats.psense`) replaces a prior p(theta)
by p_alpha(theta) = p(theta)^alpha / c(alpha): alpha < 1 widens it, alpha > 1 narrows it. `psense`
asks how the *posterior* moves; a verdict rests on the *marginal likelihoods*, so here the question is
how P(breakpoint | data) moves. Both come from the draws already made, by importance sampling:

    Z_h(alpha) = Z_h E_{theta ~ p(theta | y, h)} [ p(theta)^(alpha - 1) ] / c(alpha),
    c(alpha)   = E_{theta ~ p(theta)} [ p(theta)^(alpha - 1) ]

over a hypothesis' own parameters (the nuisance priors are shared by all hypotheses). Each hypothesis
is scaled alone, by each alpha; the largest change of P(breakpoint) and whether the verdict changes are
reported per curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from phasefit.evidence.verdicts import decide
from phasefit.inference.importance import logsumexp
from phasefit.models.priors import Prior, log_prior, sample
from phasefit.models.spec import EMERGENT, ModelSpec

ALPHAS = (0.5, 2.0)  # the prior's log density halved (wider) and doubled (narrower)
NORMALISER_DRAWS = 20000


@dataclass(frozen=True, kw_only=True)
class Sensitivity:
    p_emergent: float  # as fitted (alpha = 1)
    p_min: float  # smallest P(breakpoint) over the scalings
    p_max: float  # largest
    changes_verdict: bool  # some scaling moves the verdict (with the same P(above floor))
    most_sensitive: str  # "hypothesis^alpha" with the largest change


@lru_cache(maxsize=256)
def _log_normaliser(prior: Prior, alpha: float) -> float:
    """log c(alpha) by Monte Carlo from the prior (fixed stream: the same value in every run)."""
    x = sample(prior, NORMALISER_DRAWS, np.random.default_rng(0))
    return float(logsumexp((alpha - 1) * log_prior(x, prior)) - np.log(NORMALISER_DRAWS))


def log_evidence_shift(draws: dict[str, np.ndarray], priors: list[tuple[str, Prior]], alpha: float) -> float:
    """log Z(alpha) - log Z: the change of a hypothesis' log marginal likelihood when the priors of the
    named parameters are power-scaled by alpha, from its posterior draws."""
    log_p = sum(log_prior(np.asarray(draws[name]).reshape(-1), prior) for name, prior in priors)
    log_c = sum(_log_normaliser(prior, alpha) for _, prior in priors)
    return float(logsumexp((alpha - 1) * log_p) - np.log(np.size(log_p))) - log_c


def prior_sensitivity(
    draws: dict[str, dict[str, np.ndarray]],
    log_z: dict[str, float],
    spec: ModelSpec,
    *,
    student_t: bool,
    p_above_floor: float,
    alphas: tuple[float, ...] = ALPHAS,
) -> Sensitivity:
    """P(breakpoint) under each hypothesis' power-scaled prior, from its posterior `draws` and `log_z`."""
    names = list(spec.names)
    base = np.array([log_z[h] for h in names]) + np.asarray(spec.log_weights())
    bp = names.index(EMERGENT)

    def p_of(t: np.ndarray) -> float:
        return float(np.exp(t[bp] - logsumexp(t)))

    def verdict(t: np.ndarray) -> str:
        p = np.exp(t - logsumexp(t))
        return decide(
            ok=True,
            p_absent=float(p[names.index("absent")]) if "absent" in names else 0.0,
            p_emergent=float(p[bp]),
            thresholds=spec.verdict,
            p_above_floor=p_above_floor,
        )

    p0, v0 = p_of(base), verdict(base)
    ps, changed, worst, label = [p0], False, 0.0, ""
    for i, h in enumerate(names):
        hspec, plugin = spec.hypothesis(h), spec.plugin(h)
        priors = [(p, hspec.prior(p, student_t=student_t)) for p in plugin.params]
        for a in alphas:
            t = base.copy()
            t[i] += log_evidence_shift(draws[h], priors, a)
            p = p_of(t)
            ps.append(p)
            changed |= verdict(t) != v0
            if abs(p - p0) > worst:
                worst, label = abs(p - p0), f"{h}^{a:g}"
    return Sensitivity(p_emergent=p0, p_min=min(ps), p_max=max(ps), changes_verdict=changed, most_sensitive=label)
