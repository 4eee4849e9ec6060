"""Importance sampling on a hypothesis' unconstrained scale: the Student-t proposal, its draws, the
Pareto k-hat check, and a posterior drawn by importance sampling from a short NUTS pilot.

Every hypothesis has 1-6 parameters. A multivariate Student-t fitted to a few hundred pilot draws
(on the scale NUTS works in: log for positive, logit for unit-interval parameters) covers such a
posterior well, so weighting `n` draws of it by prior x likelihood / proposal gives the posterior
and, from the same weights, the marginal likelihood. ArviZ's Pareto-smoothed importance sampling
says when it does not (k-hat > `K_HAT_MAX`, Vehtari et al. 2024); then the caller samples with
NUTS as before. The evidence layer uses the same pieces for marginal likelihoods and for LOO and
leave-future-out refits.

Where a hypothesis' posterior is close to a Gaussian on that scale (its plug-in says
`laplace_proposal`: `absent`), the proposal can be centred and shaped by a Laplace approximation
(`laplace`: the mode and the inverse Hessian of the log posterior, by finite differences on
vectorised NumPy densities) instead of a pilot: a few milliseconds instead of a NUTS run, with the
same weights and the same k-hat check (as Yao et al. 2018 check variational approximations). A
missed second mode, or a long one-sided tail that few proposal draws reach, is what k-hat cannot
see, hence the plug-in's declaration.

Where a pilot's chains disagree (each found a different mode of a multimodal posterior, typically of
the break's location) without diverging, the proposal is a mixture of Student-t's, one per chain plus
one over all of them (`chain_components`), adapted between rounds by one weighted EM step
(population Monte Carlo, Cappe et al. 2008): importance weights give each mode its mass, which
chains stuck in their modes cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from arviz_stats.base import array_stats
from scipy import optimize, stats

from phasefit.models.priors import Prior, prior_density_at, scipy_dist, to_unconstrained

K_HAT_MAX = 0.7
LAPLACE_K_HAT_MAX = 0.5  # a Laplace proposal's first round: finite-variance weights, else one adapted round
PROPOSAL_DF = 5.0
PROPOSAL_SCALE = 1.3  # proposal covariance inflation: heavier than the posterior
ADAPTED_SCALE = 1.5  # covariance inflation of a proposal fitted to weighted draws
# a third round, only when the second's weights are reliable (k-hat) but too few are effective: the ESS
# grows with the draws, so more of them (x n_proposal) instead of a NUTS fit that costs 10-50x as much
EXTRA_ROUND_DRAWS = 6
GRADIENT_STEP = 1e-5  # central differences on the unconstrained scale: the mode's gradient ...
HESSIAN_STEP = 1e-3  # ... and its Hessian (error ~1e-6 relative for these smooth densities)


@dataclass(frozen=True, kw_only=True)
class ImportanceFit:
    """How a posterior drawn by importance sampling was weighted: what its checks and the marginal
    likelihood read."""

    log_z: float  # log marginal likelihood: the log mean importance ratio
    log_z_se: float  # its Monte Carlo standard error (delta method)
    k_hat: float  # Pareto k-hat of the ratios
    ess: float  # effective size of the resampled draws (`resampled_ess` of the smoothed weights')
    n_proposal: int  # proposal draws weighted (all rounds)
    rounds: int  # 1: the pilot's proposal sufficed; 2: a proposal fitted to the weighted draws; 3: more of them


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


Component = tuple[float, np.ndarray, np.ndarray]  # weight, mean, covariance of one Student-t of a mixture
MIN_COMPONENT_WEIGHT = 0.01  # a mixture component whose weighted share falls below this is dropped


def chain_components(draws: dict[str, np.ndarray], priors: Sequence[tuple[str, Prior]]) -> list[Component]:
    """Mixture components from a pilot's (chain, draw) draws: one per chain (its mode) and one over all
    chains (defensive: it covers the space between the modes), equal weights."""
    n_chains = np.asarray(next(iter(draws.values()))).shape[0]
    parts = [draw_moments({k: np.asarray(v)[c] for k, v in draws.items()}, priors) for c in range(n_chains)]
    parts.append(draw_moments(draws, priors))
    return [(1.0 / len(parts), mean, cov) for mean, cov in parts]


class TMixture:
    """A finite mixture of multivariate Student-t's with the `rvs`/`logpdf` of SciPy's frozen
    `multivariate_t`: an importance proposal for a posterior with several modes."""

    def __init__(self, weights: np.ndarray, components: list, rng: np.random.Generator):
        self.log_weights = np.log(np.asarray(weights, float))
        self.components = components
        self.rng = rng

    def rvs(self, size: int) -> np.ndarray:
        counts = self.rng.multinomial(size, np.exp(self.log_weights))
        d = len(self.components[0].loc)
        parts = [np.reshape(c.rvs(size=k), (k, d)) for c, k in zip(self.components, counts, strict=True) if k]
        return self.rng.permutation(np.concatenate(parts))

    def component_logpdf(self, z: np.ndarray) -> np.ndarray:
        """log weight + log density of each component at `z` (component, draw)."""
        z = np.reshape(z, (-1, len(self.components[0].loc)))
        return np.stack(
            [lw + np.atleast_1d(c.logpdf(z)) for lw, c in zip(self.log_weights, self.components, strict=True)]
        )

    def logpdf(self, z: np.ndarray) -> np.ndarray:
        return logsumexp(self.component_logpdf(z), axis=0)


def mixture_proposal(components: Sequence[Component], *, scale: float, seed: int) -> TMixture | None:
    """The `TMixture` of `components`, each a `t_proposal` with covariance x `scale`; None when any is
    unusable."""
    rng = np.random.default_rng(seed)
    parts = [t_proposal(mean, cov, scale=scale, seed=int(rng.integers(2**31))) for _, mean, cov in components]
    if any(p is None for p in parts):
        return None
    return TMixture(np.array([w for w, _, _ in components]), parts, rng)


def em_components(proposal: TMixture, z: np.ndarray, w: np.ndarray) -> list[Component]:
    """One weighted EM step of a mixture proposal (draws `z`, normalised importance weights `w`): each
    component's share, mean and covariance under its responsibilities. Components with too small a
    share, or too few effective draws for a covariance, are dropped; with none left, one component of
    the weighted moments."""
    log_c = proposal.component_logpdf(z)
    resp = np.exp(log_c - logsumexp(log_c, axis=0))  # (component, draw)
    out = []
    for r in resp:
        wr = w * r
        share = float(wr.sum())
        if share < MIN_COMPONENT_WEIGHT or share**2 / max(float(np.sum(wr**2)), 1e-300) < z.shape[1] + 2:
            continue
        out.append((share, *weighted_moments(z, wr / share)))
    if not out:
        return [(1.0, *weighted_moments(z, w))]
    total = sum(s for s, _, _ in out)
    return [(s / total, mean, cov) for s, mean, cov in out]


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


def laplace(
    priors: Sequence[tuple[str, Prior]], loglik: Callable[[dict[str, np.ndarray]], np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The Laplace approximation of the posterior on the joint unconstrained scale of `priors`: its
    mode (L-BFGS from the priors' medians) and covariance (the inverse Hessian of the negative log
    density there), both by central differences, each step's points scored in one vectorised call
    of `loglik`. None when the optimiser stops short of a mode or the Hessian is not positive definite."""
    d = len(priors)
    eye = np.eye(d)

    def neg_log_density(u: np.ndarray) -> np.ndarray:
        values, log_prior = prior_density_at(u, priors)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            f = -(log_prior + loglik(values))
        return np.where(np.isfinite(f), f, np.inf)

    def value_and_gradient(u: np.ndarray) -> tuple[float, np.ndarray]:
        f = neg_log_density(np.vstack([u, u + GRADIENT_STEP * eye, u - GRADIENT_STEP * eye]))
        return float(f[0]), (f[1 : d + 1] - f[d + 1 :]) / (2 * GRADIENT_STEP)

    start = np.array([float(to_unconstrained(np.asarray(scipy_dist(p).median()), p)) for _, p in priors])
    with np.errstate(over="ignore", invalid="ignore"):
        opt = optimize.minimize(value_and_gradient, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    mode = opt.x
    if not (opt.success and np.isfinite(opt.fun) and np.all(np.isfinite(mode))):
        return None
    h = HESSIAN_STEP * eye
    corners = np.array([[mode + si * h[i] + sj * h[j] for si, sj in _CORNERS] for i in range(d) for j in range(d)])
    f = neg_log_density(corners.reshape(-1, d)).reshape(d, d, 4)
    hess = (f[..., 0] - f[..., 1] - f[..., 2] + f[..., 3]) / (4 * HESSIAN_STEP**2)
    hess = 0.5 * (hess + hess.T)
    if not np.all(np.isfinite(hess)) or np.linalg.eigvalsh(hess).min() <= 0:
        return None
    return mode, np.linalg.inv(hess)


_CORNERS = ((1, 1), (1, -1), (-1, 1), (-1, -1))  # f(++) - f(+-) - f(-+) + f(--): the mixed difference


def importance_posterior(
    proposal: tuple[np.ndarray, np.ndarray] | list[Component],
    priors: Sequence[tuple[str, Prior]],
    loglik: Callable[[dict[str, np.ndarray]], np.ndarray],
    *,
    n_proposal: int,
    n_keep: int,
    ess_min: float,
    seed: int,
    first_k_hat_max: float = K_HAT_MAX,
) -> tuple[dict[str, np.ndarray], np.ndarray, ImportanceFit] | ImportanceFit:
    """The posterior of a model with independent priors `priors` and total log likelihood
    `loglik(values)` (one value per draw), by importance sampling from a Student-t with the
    `proposal`'s mean and covariance on the unconstrained scale (a pilot's `draw_moments`, or
    `laplace`), or from a mixture of them (`chain_components`): `n_keep` draws resampled with the
    Pareto-smoothed weights (systematic resampling, in random order), the log posterior density at
    each (prior with the Jacobian of the unconstrained scale, plus likelihood: what NUTS reports as
    `lp`), and how they were weighted (`ess`: the effective size of the resampled draws).

    A proposal whose k-hat is above `K_HAT_MAX`, or whose resampled draws would have fewer than
    `ess_min` effective draws, is refitted once to its own weighted draws with twice the draws
    (adaptive importance sampling); when that round's k-hat passes and only its ESS falls short, a
    third round refitted to it draws `EXTRA_ROUND_DRAWS` x `n_proposal`. `first_k_hat_max` holds the
    first round to a stricter k-hat (a Laplace proposal: its weights must have a finite variance,
    k-hat <= 0.5, or be adapted). Returns only the `ImportanceFit` of the last round (the caller then
    samples with NUTS) when no round is reliable.
    """
    rng = np.random.default_rng(seed)
    mixture = proposal if isinstance(proposal, list) else None
    (mean, cov) = proposal if mixture is None else (None, None)
    scale, n = PROPOSAL_SCALE, n_proposal
    drawn = 0
    fit = ImportanceFit(log_z=np.nan, log_z_se=np.inf, k_hat=np.inf, ess=0.0, n_proposal=0, rounds=0)
    for r in (1, 2, 3):
        if r == 3 and not fit.k_hat <= K_HAT_MAX:  # a third round only for too few effective draws
            break
        seed_r = int(rng.integers(2**31))
        proposal = (
            t_proposal(mean, cov, scale=scale, seed=seed_r)
            if mixture is None
            else mixture_proposal(mixture, scale=scale, seed=seed_r)
        )
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
        if fit.k_hat <= (first_k_hat_max if r == 1 else K_HAT_MAX) and ess >= ess_min:
            idx = _systematic(w, n_keep, rng)
            return {k: np.asarray(v)[idx] for k, v in values.items()}, (log_prior + ll)[idx], fit
        if mixture is None:
            mean, cov = weighted_moments(z, w)
        else:
            mixture = em_components(proposal, z, w)
        scale, n = ADAPTED_SCALE, (2 if r == 1 else EXTRA_ROUND_DRAWS) * n_proposal
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
