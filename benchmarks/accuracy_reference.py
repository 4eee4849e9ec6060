"""Bayes-optimal reference of the accuracy benchmark: P(kind | data) and the break's posterior under a
world's own priors, by adaptive importance sampling over the world's uniforms.

For one curve and one kind of a world, the parameters are a function of u ~ Uniform(0, 1)^d
(`accuracy_worlds`). In z = logit(u) the prior is a product of standard logistic densities, and the
marginal likelihood Z = E_prior[p(k | theta(u))] is estimated by importance sampling in z:

1. round 0: `n_prior` draws from the prior itself;
2. each further round fits a multivariate Student-t (5 degrees of freedom, covariance x `inflate`) to
   the weighted draws so far (weights tempered, L^beta, with the largest beta in (0, 1] that keeps their
   effective sample size >= `ess_fit`, so a first round dominated by one draw still gives a usable
   shape) and draws `n_round` new points from the defensive mixture `defensive` * prior + (1 -
   `defensive`) * t;
3. all draws are weighted with the balance heuristic, w = L p(z) / sum_r (N_r / N) q_r(z) (q_0 = the
   prior), which is unbiased for Z whatever the proposals; rounds stop when the Kish ESS of w reaches
   `ess_target` or after `max_rounds`.

log Z = logsumexp(log w) - log N, with the delta-method Monte Carlo SE sd(w) / (mean(w) sqrt(N)). The
likelihood is the generator's own: beta-binomial (or binomial where kappa = inf) on the counts, the
over-dispersion integrated with the other parameters; the binomial coefficient, common to every kind,
is left out. P(kind | data) uses the generator's kind weights (1/3 each). The break's posterior
(conditional on the break kind) is the weighted draws: weighted 5/50/95% quantiles of tau, and of the
onset computed on `n_resample` draws resampled by weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from accuracy_worlds import KIND_WEIGHTS, KINDS, ONSET_PAD, P_EPS, Design, Kind, World, onset
from scipy import linalg, special

QUANTILES = (0.05, 0.5, 0.95)


# -------------------------------------------------------------------------------- likelihood


def loglik(p: np.ndarray, kappa: np.ndarray, k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """log p(k | p, kappa) summed over the models, without log C(n, k): beta-binomial where kappa is
    finite, binomial where it is inf. p (M, K), kappa (M,), k and n (K,)."""
    p = np.clip(p, P_EPS, 1.0 - P_EPS)
    k, n = np.asarray(k, float), np.asarray(n, float)
    out = np.empty(p.shape[0])
    fin = np.isfinite(kappa)
    if fin.any():
        kap = kappa[fin][:, None]
        a, b = p[fin] * kap, (1.0 - p[fin]) * kap
        out[fin] = (
            special.gammaln(k + a)
            - special.gammaln(a)
            + special.gammaln(n - k + b)
            - special.gammaln(b)
            + special.gammaln(kap)
            - special.gammaln(n + kap)
        ).sum(axis=1)
    if (~fin).any():
        q = p[~fin]
        out[~fin] = (k * np.log(q) + (n - k) * np.log1p(-q)).sum(axis=1)
    return out


def log_binom_coef(k: np.ndarray, n: np.ndarray) -> float:
    k, n = np.asarray(k, float), np.asarray(n, float)
    return float((special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)).sum())


# ------------------------------------------------------------------------------ weighted stats


def kish_ess(logw: np.ndarray) -> float:
    w = np.exp(logw - np.max(logw))
    return float(w.sum() ** 2 / (w**2).sum())


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q) -> np.ndarray:
    """Quantiles of the discrete distribution putting `weights` (normalised) on `values`, with the
    midpoint rule: the sorted values sit at cumulative weight cumsum - w / 2 and the quantile function
    is interpolated linearly between them (for equal weights, numpy's 'hazen' quantile). Values may be
    +-inf; NaN values are dropped."""
    values, weights = np.asarray(values, float), np.asarray(weights, float)
    keep = ~np.isnan(values) & (weights > 0)
    values, weights = values[keep], weights[keep]
    q = np.atleast_1d(np.asarray(q, float))
    if len(values) == 0:
        return np.full(q.shape, np.nan)
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order] / weights.sum()
    c = np.cumsum(w) - 0.5 * w
    idx = np.searchsorted(c, q, side="left")  # first midpoint >= q
    out = np.empty(q.shape)
    for j, (qq, i) in enumerate(zip(q, idx, strict=True)):
        if i == 0:
            out[j] = v[0]
        elif i >= len(v):
            out[j] = v[-1]
        else:
            lo, hi = v[i - 1], v[i]
            if lo == hi or not (np.isfinite(lo) and np.isfinite(hi)):
                out[j] = hi if qq >= c[i] else lo
            else:
                out[j] = lo + (hi - lo) * (qq - c[i - 1]) / (c[i] - c[i - 1])
    return out


def systematic_resample(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    w = np.asarray(weights, float)
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    return np.searchsorted(c, (rng.uniform() + np.arange(n)) / n)


# ------------------------------------------------------------------------- importance sampling


def _log_prior_z(z: np.ndarray) -> np.ndarray:
    """log density of z = logit(u), u ~ Uniform(0, 1)^d: a product of standard logistic densities."""
    a = np.abs(z)
    return -(a + 2.0 * np.log1p(np.exp(-a))).sum(axis=1)


@dataclass
class _T:
    mu: np.ndarray
    chol: np.ndarray
    nu: float

    def __post_init__(self):
        self.linv = np.linalg.inv(self.chol)

    def logpdf(self, z: np.ndarray) -> np.ndarray:
        d = len(self.mu)
        y = (z - self.mu) @ self.linv.T
        maha = (y**2).sum(axis=1)
        return (
            special.gammaln((self.nu + d) / 2)
            - special.gammaln(self.nu / 2)
            - d / 2 * math.log(self.nu * math.pi)
            - np.log(np.diag(self.chol)).sum()
            - (self.nu + d) / 2 * np.log1p(maha / self.nu)
        )

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        g = rng.chisquare(self.nu, n) / self.nu
        return self.mu + (rng.standard_normal((n, len(self.mu))) @ self.chol.T) / np.sqrt(g)[:, None]


@dataclass
class KindEvidence:
    log_z: float
    log_z_se: float
    ess: float
    n_draws: int
    rounds: int
    z: np.ndarray  # (N, d) draws in logit space
    log_w: np.ndarray  # (N,) balance-heuristic log weights
    tau: np.ndarray | None  # (N,) the break of each draw (break kinds)


@dataclass
class _Mix:
    """A mixture of Student-t components (weights `pi`)."""

    comps: list[_T]
    pi: np.ndarray

    def logpdf(self, z: np.ndarray) -> np.ndarray:
        return special.logsumexp(
            np.stack([math.log(w) + c.logpdf(z) for c, w in zip(self.comps, self.pi, strict=True)]), axis=0
        )

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        which = rng.choice(len(self.comps), size=n, p=self.pi)
        out = np.empty((n, len(self.comps[0].mu)))
        for j, c in enumerate(self.comps):
            m = which == j
            out[m] = c.sample(int(m.sum()), rng)
        return out


def _chol(cov: np.ndarray) -> np.ndarray:
    try:
        return linalg.cholesky(cov, lower=True)
    except linalg.LinAlgError:
        return np.diag(np.sqrt(np.maximum(np.diag(cov), 1e-3)))


def _tempered_fit(
    z, ll, log_rest, ess_fit: float, inflate: float, nu: float, rng: np.random.Generator, max_components: int = 6
) -> _Mix:
    """Proposal fitted to the draws weighted by L^beta * rest, beta the largest in (0, 1] whose ESS is at
    least ess_fit (bisection): a mixture of Student-t's, one per k-means cluster of draws resampled by
    those weights (whitened), each with its cluster's covariance (shrunk 10% towards the overall one)
    times `inflate`; one component when the weights are too concentrated to split."""

    def weights(beta):
        lw = beta * ll + log_rest
        return np.where(np.isfinite(lw), lw, -np.inf)

    if kish_ess(weights(1.0)) >= ess_fit:
        beta = 1.0
    else:
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            if kish_ess(weights(mid)) >= ess_fit:
                lo = mid
            else:
                hi = mid
        beta = lo
    lw = weights(beta)
    ess = kish_ess(lw)
    w = np.exp(lw - lw.max())
    w /= w.sum()
    d = z.shape[1]
    mu = w @ z
    dz = z - mu
    cov = (dz * w[:, None]).T @ dz + 1e-6 * np.eye(d)
    k = int(np.clip(ess // 75, 1, max_components))
    if k == 1:
        return _Mix([_T(mu=mu, chol=_chol(inflate * cov), nu=nu)], np.ones(1))
    idx = systematic_resample(w, 2000, rng)
    pts = z[idx]
    sd = np.sqrt(np.diag(cov))
    _, labels = _kmeans(pts / sd, k, rng)
    comps, pis = [], []
    for j in range(k):
        m = labels == j
        if len(np.unique(idx[m])) < d + 2:
            continue
        c_mu = pts[m].mean(axis=0)
        c_cov = np.cov(pts[m], rowvar=False).reshape(d, d)
        c_cov = 0.9 * c_cov + 0.1 * cov + 1e-6 * np.eye(d)
        comps.append(_T(mu=c_mu, chol=_chol(inflate * c_cov), nu=nu))
        pis.append(m.mean())
    if not comps:
        return _Mix([_T(mu=mu, chol=_chol(inflate * cov), nu=nu)], np.ones(1))
    pis = np.asarray(pis)
    return _Mix(comps, pis / pis.sum())


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Plain k-means with k-means++ seeding (deterministic given rng)."""
    centers = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.asarray(centers)[None]) ** 2).sum(-1), axis=1)
        if d2.sum() <= 0:
            break
        centers.append(x[rng.choice(len(x), p=d2 / d2.sum())])
    c = np.asarray(centers)
    labels = np.zeros(len(x), int)
    for _ in range(iters):
        labels = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        new = np.array([x[labels == j].mean(axis=0) if (labels == j).any() else c[j] for j in range(len(c))])
        if np.allclose(new, c):
            break
        c = new
    return c, labels


def kind_evidence(
    kind: Kind,
    design: Design,
    k: np.ndarray,
    rng: np.random.Generator,
    *,
    n_prior: int = 20000,
    n_round: int = 20000,
    max_rounds: int = 8,
    ess_target: float = 1500.0,
    ess_fit: float = 400.0,
    defensive: float = 0.1,
    inflate: float = 1.5,
    nu: float = 5.0,
) -> KindEvidence:
    """log marginal likelihood of one kind for one curve by adaptive importance sampling (module doc)."""
    d = kind.dim

    def evaluate(z):
        u = special.expit(np.clip(z, -35.0, 35.0))
        u = np.clip(u, 1e-15, 1.0 - 1e-15)
        shape = kind.shape(u, design, design.x)
        ll = loglik(shape.p, shape.kappa, k, design.n)
        ll = np.where(np.isfinite(ll), ll, -np.inf)
        return ll, shape.tau

    z = special.logit(rng.uniform(1e-15, 1.0 - 1e-15, size=(n_prior, d)))
    ll, tau = evaluate(z)
    zs, lls, taus, sizes, comps = [z], [ll], [tau], [n_prior], []
    log_prior = [_log_prior_z(z)]
    log_t: list[list[np.ndarray]] = []  # log_t[r][batch]: the r-th Student-t's log density on each batch
    rounds = 0
    while True:
        z_all, ll_all, lp_all = np.concatenate(zs), np.concatenate(lls), np.concatenate(log_prior)
        total = sum(sizes)
        terms = [math.log(sizes[0] / total) + lp_all]  # balance heuristic: log sum_r (N_r / N) q_r(z)
        for r, n_r in enumerate(sizes[1:]):
            lt = np.concatenate(log_t[r])
            terms.append(
                math.log(n_r / total) + np.logaddexp(math.log(defensive) + lp_all, math.log1p(-defensive) + lt)
            )
        log_q = special.logsumexp(np.stack(terms), axis=0)
        log_w = ll_all + lp_all - log_q
        ess = kish_ess(log_w)
        if ess >= ess_target or rounds >= max_rounds:
            break
        t = _tempered_fit(z_all, ll_all, lp_all - log_q, min(ess_fit, 0.5 * ess_target), inflate, nu, rng)
        from_prior = rng.uniform(size=n_round) < defensive
        z_new = np.empty((n_round, d))
        z_new[from_prior] = special.logit(rng.uniform(1e-15, 1.0 - 1e-15, size=(int(from_prior.sum()), d)))
        z_new[~from_prior] = t.sample(int((~from_prior).sum()), rng)
        ll_new, tau_new = evaluate(z_new)
        log_t.append([t.logpdf(b) for b in zs])  # the new proposal on the old batches
        for r, comp in enumerate(comps):
            log_t[r].append(comp.logpdf(z_new))  # the old proposals on the new batch
        log_t[-1].append(t.logpdf(z_new))
        zs.append(z_new)
        lls.append(ll_new)
        taus.append(tau_new)
        log_prior.append(_log_prior_z(z_new))
        sizes.append(n_round)
        comps.append(t)
        rounds += 1
    n = len(log_w)
    m = np.max(log_w)
    log_z = float(m + math.log(np.exp(log_w - m).sum()) - math.log(n))
    w = np.exp(log_w - m)
    se = float(np.std(w) / (np.mean(w) * math.sqrt(n)))
    tau_all = None if taus[0] is None else np.concatenate(taus)
    return KindEvidence(log_z=log_z, log_z_se=se, ess=ess, n_draws=n, rounds=rounds, z=z_all, log_w=log_w, tau=tau_all)


def posterior_probabilities(log_z: dict[str, float], weights: dict[str, float] = KIND_WEIGHTS) -> dict[str, float]:
    names = list(log_z)
    a = np.array([math.log(weights[h]) + log_z[h] for h in names])
    p = np.exp(a - special.logsumexp(a))
    return dict(zip(names, p.tolist(), strict=True))


def reference_curve(
    world: World, design: Design, k: np.ndarray, rng: np.random.Generator, *, n_resample: int = 2000, **is_options
) -> dict:
    """The Bayes-optimal reference for one curve: P(kind | data) for the three kinds, the break's and the
    onset's posterior quantiles (given a break), and the Monte Carlo diagnostics. Onset values outside the
    search window are clamped to its ends (x_min - ONSET_PAD, x_max + ONSET_PAD)."""
    ev = {h: kind_evidence(world.kinds[h], design, k, rng, **is_options) for h in KINDS}
    probs = posterior_probabilities({h: e.log_z for h, e in ev.items()})
    out: dict = {f"ref_p_{h}": probs[h] for h in KINDS}
    # delta-method SE of P(break): dP/dlogZ_b = P(1-P), dP/dlogZ_o = -P P_o
    pb = probs["break"]
    var = (pb * (1 - pb) * ev["break"].log_z_se) ** 2 + sum(
        (pb * probs[h] * ev[h].log_z_se) ** 2 for h in KINDS if h != "break"
    )
    out["ref_p_break_se"] = math.sqrt(var)
    for h in KINDS:
        out[f"ref_logz_{h}"] = ev[h].log_z + log_binom_coef(k, design.n)
        out[f"ref_logz_se_{h}"] = ev[h].log_z_se
        out[f"ref_ess_{h}"] = ev[h].ess
        out[f"ref_draws_{h}"] = ev[h].n_draws
    out["ref_ess_min"] = min(ev[h].ess for h in KINDS)
    b = ev["break"]
    w = np.exp(b.log_w - b.log_w.max())
    tq = weighted_quantile(b.tau, w, QUANTILES)
    out |= {"ref_tau_q05": tq[0], "ref_tau_median": tq[1], "ref_tau_q95": tq[2]}
    idx = systematic_resample(w, n_resample, rng)
    uniq, counts = np.unique(idx, return_counts=True)
    u = np.clip(special.expit(np.clip(b.z[uniq], -35.0, 35.0)), 1e-15, 1.0 - 1e-15)
    grid = design.onset_grid()
    on = onset(world.kinds["break"].shape(u, design, grid), design, grid)
    on = np.clip(on, design.x_lo - ONSET_PAD, design.x_hi + ONSET_PAD)
    oq = weighted_quantile(on, counts.astype(float), QUANTILES)
    out |= {"ref_onset_q05": oq[0], "ref_onset_median": oq[1], "ref_onset_q95": oq[2]}
    return out
