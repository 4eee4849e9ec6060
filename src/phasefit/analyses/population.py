"""The hierarchy: priors learned from the analysis's own curves, and the per-curve evidence under them.

Every curve is first fitted under the spec's fixed, deliberately wide priors. This stage then learns
the population those curves come from and re-weighs each curve's evidence with it, exactly, because
the learned prior only replaces the per-curve one (the two-stage construction of population
inference from per-unit posteriors):

    p(y_c | psi) = sum_h rate_h Z_ch R_ch(psi),   Z_ch the curve's marginal likelihood under the fixed prior
    R_ch(psi)    = E_{theta ~ p(theta | y_c, h)} [ p_psi(theta) / p_0(theta) ]

a Monte Carlo average over the curve's posterior draws of hypothesis h. What is learned
(`[population]` in the spec):

* for each parameter named in `learn` (e.g. `breakpoint.gain`), on the unconstrained scale of its
  fixed prior (log for a log-normal, identity for a normal), a Normal(mean, sd) population, with a
  heavy-tailed hyperprior centred on the fixed prior (Student-t(3) location, half-Student-t(3)
  scale, both with the fixed prior's own scale): a small analysis keeps nearly the fixed prior;
* the break tau (log10 scale): Normal(break_mean + task effect + family offset, curve sd) truncated
  to the curve's admissible range;
* the rates of the hypotheses (Dirichlet): the share of the curves that are absent, smooth or
  emergent, which is what a Bayes-optimal classifier knows and a per-curve fit cannot.

The hyperparameters get a Laplace approximation on the unconstrained scale (mode by L-BFGS on the
compiled log density and its gradient, curvature by finite differences of the gradient), used as a
Student-t importance proposal for the exact hyper-posterior (Pareto-smoothed weights; NUTS on the same
log density when their k-hat exceeds 0.7). Every per-curve result averages over `hyper_draws` draws:
pooled P(h | all curves), and the break and onset quantiles as importance re-weightings of the curve's
draws, with their effective sample size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, special

from phasefit.analyses.curve import CurveResult
from phasefit.data.curves import CurveSet
from phasefit.evidence.onset import onset_draws
from phasefit.inference.importance import K_HAT_MAX, psis
from phasefit.inference.threads import single_blas_thread
from phasefit.models.priors import Prior, from_unconstrained, log_prior, sample, to_unconstrained
from phasefit.models.spec import EMERGENT, POPULATION_PRIORS, ModelSpec

POPULATION_T_NU = 4.0  # the learned populations are Student-t: a curve unlike most is not ruled out
HYPER_T_NU = 3.0  # degrees of freedom of the Student-t hyperpriors (heavy tails: robust for small analyses)
SD_FLOOR_FRACTION = 0.1  # population sd >= this share of the fixed prior's sd (keeps the Monte Carlo ratio stable)
BREAK_SD_FLOOR = 0.1  # decades: the same for the break
MIN_GROUP_CURVES = 3  # a task or family gets its own break level with at least this many curves (and 2 such groups)
DRAW_BUDGET = 2_500_000  # curves x draws per curve the stage reads at most: bounds its memory and time
MIN_DRAWS_PER_CURVE = 100
MIN_IMPORTANCE_ESS = 20.0  # a curve whose re-weighted draws are fewer than this keeps its per-curve values
GRAD_TOL = 1e-3
PROPOSAL_DF = 5.0  # the hyper draws: Student-t around the mode with the Laplace covariance ...
# ... scaled up in the first round (heavier than it: k-hat 0.3-0.4 on the development suite, 0.5-0.9 at
# 1-1.5), then importance-weighted to the exact hyper-posterior. With task and family levels (40+
# dimensions on BIG-Bench-Hard) that inflation alone gives k-hat > 2, so the later rounds use the
# covariance itself and, once the weights allow (ESS >= 2 x dimensions), the weighted draws' moments
PROPOSAL_SCALES = (2.0, 1.0, 1.0, 1.0)
PROPOSALS_PER_DRAW = 5  # proposals per kept hyper draw
# NUTS on the hyper-posterior costs (curves x draws) per gradient: about a minute on 20-100 curves, not
# finished after 15 minutes on 252 BIG-Bench-Hard curves. Above this many curves, when every
# importance round fails, the stage reports that it failed (pooled values left empty) instead
NUTS_MAX_CURVES = 200
OPT_DRAWS = 200  # per-curve draws in the objective the optimiser sees (all of them for the results)


@dataclass(frozen=True, kw_only=True)
class PopulationDiagnostics:
    """Whether the Laplace approximation can be trusted: the optimiser converged at a proper maximum."""

    ok: bool
    reason: str
    method: str
    iterations: int
    grad_norm: float
    n_curves: int
    min_importance_ess: float
    laplace_k_hat: float  # Pareto k-hat of the Laplace approximation as a proposal (> 0.7: not trusted)
    seconds: float  # the whole stage, compilation included


@dataclass(frozen=True, kw_only=True)
class PopulationResult:
    rates: np.ndarray  # (hyper draws, hypotheses) population rates
    learned: pd.DataFrame  # per learned parameter: fixed prior, population mean/sd (unconstrained scale)
    tasks: pd.DataFrame  # the population break per task (log10 x)
    families: pd.DataFrame  # compute-efficiency offsets per family (decades of x)
    curves: pd.DataFrame  # per curve: pooled P(h), break and onset quantiles (log10 x), importance ESS
    onsets: dict[int, np.ndarray]  # per curve: onset draws resampled by the importance weights (log10 x)
    taus: dict[int, np.ndarray]  # per curve: break draws, resampled the same way
    draws: dict[str, np.ndarray]  # hyper draws (chain=1, draw[, dim])
    diagnostics: PopulationDiagnostics
    used: bool  # whether the pooled values may set the verdicts (converged, >= min_curves curves, `decide`)


def _loc_scale(prior: Prior) -> tuple[float, float]:
    """Location and scale of a fixed prior on its unconstrained scale (exact for normal and log-normal)."""
    p = dict(prior.params)
    if prior.dist in ("normal", "lognormal", "studentt"):
        return float(p["mu"]), float(p["sigma"])
    u = to_unconstrained(sample(prior, 20000, np.random.default_rng(0)), prior)
    return float(np.median(u)), float(np.std(u))


def _base_log_density(u: np.ndarray, prior: Prior) -> np.ndarray:
    """Log density of the fixed prior at u on the unconstrained scale (with the Jacobian)."""
    value, log_jac = from_unconstrained(u, prior)
    return log_prior(value, prior) + log_jac


@dataclass(frozen=True)
class _Layout:
    """Where each hyperparameter lives in the flat vector the optimiser sees."""

    names: tuple[str, ...]  # learned "hypothesis.param"
    n_tasks: int
    n_fams: int
    n_rates: int

    @property
    def size(self) -> int:
        return 2 * len(self.names) + 4 + self.n_tasks + self.n_fams + self.n_rates - 1

    def split(self, phi, n_tasks=None, n_fams=None):
        """The named pieces of `phi`; `n_tasks` and `n_fams` may be symbolic (PyTensor scalars), so
        that one compiled graph serves analyses of any number of tasks and families."""
        k = len(self.names)
        i = 2 * k
        nt = self.n_tasks if n_tasks is None else n_tasks
        nf = self.n_fams if n_fams is None else n_fams
        return {
            "mean": phi[:k],
            "log_sd": phi[k : 2 * k],
            "break_mean": phi[i],
            "log_task_sd": phi[i + 1],
            "log_family_sd": phi[i + 2],
            "log_curve_sd": phi[i + 3],
            "z_task": phi[i + 4 : i + 4 + nt],
            "z_family": phi[i + 4 + nt : i + 4 + nt + nf],
            "logits": phi[i + 4 + nt + nf :],
        }


def draws_per_curve(spec: ModelSpec, n_curves: int) -> int:
    """Draws per curve and hypothesis the stage reads: the spec's `draws_per_curve`, fewer above 2,500
    curves (`DRAW_BUDGET`: at 10,000 curves 250), never under `MIN_DRAWS_PER_CURVE`."""
    return min(spec.population.draws_per_curve, max(MIN_DRAWS_PER_CURVE, DRAW_BUDGET // max(1, n_curves)))


@single_blas_thread
def fit_population(
    curves: CurveSet, results: Sequence[CurveResult], spec: ModelSpec, *, seed: int
) -> PopulationResult | None:
    """Learn the population from the converged proportion-scale curves; None when fewer than 2 qualify."""
    t0 = time.perf_counter()
    pop = spec.population
    # proportion-scale curves only: a Student-t curve's parameters are in standard deviations, not log-odds
    use = [r for r in results if r.row["verdict"] != "failed" and r.row["likelihood"] != "student_t"]
    if not pop.enabled or len(use) < 2:
        return None
    rng = np.random.default_rng(seed)
    hyps = list(spec.names)
    H, C = len(hyps), len(use)
    kept = min(next(iter(r.fits[h].draws.values())).size for r in use for h in hyps)
    S = min(pop.draws_per_curve, kept)  # the same number from every curve, none twice
    learn = [tuple(n.split(".", 1)) for n in pop.learn]
    fixed = {f"{h}.{p}": spec.hypothesis(h).prior(p) for h, p in learn}
    loc_scale = {n: _loc_scale(fixed[n]) for n in fixed}
    names = tuple(fixed)

    # per curve, per hypothesis: S posterior draws (same draws for every learned parameter of h)
    idx = {}
    for c, r in enumerate(use):
        for h in hyps:
            n = next(iter(r.fits[h].draws.values())).size
            idx[c, h] = np.sort(rng.choice(n, size=S, replace=False))
    U = np.zeros((len(names), C, S))
    LP0 = np.zeros((len(names), C, S))
    for j, n in enumerate(names):
        h, p = n.split(".", 1)
        for c, r in enumerate(use):
            u = to_unconstrained(r.fits[h].draws[p].reshape(-1)[idx[c, h]], fixed[n])
            U[j, c], LP0[j, c] = u, _base_log_density(u, fixed[n])
    bp = spec.hypothesis(EMERGENT)
    fp = bp.prior("tau_fraction")
    tau = np.zeros((C, S))
    lp0_tau = np.zeros((C, S))
    lo = np.array([r.inputs.range_lo + r.inputs.center for r in use])
    hi = np.array([r.inputs.range_hi + r.inputs.center for r in use])
    for c, r in enumerate(use):
        t = r.fits[EMERGENT].draws["tau"].reshape(-1)[idx[c, EMERGENT]]
        frac = np.clip((t - lo[c]) / (hi[c] - lo[c]), 1e-9, 1 - 1e-9)
        tau[c], lp0_tau[c] = t, log_prior(frac, fp) - np.log(hi[c] - lo[c])
    log_z = np.array([[r.row[f"log_z_{h}"] for h in hyps] for r in use])
    log_z = log_z - log_z.max(1, keepdims=True)  # a constant per curve cancels
    tasks, t_idx = _groups([r.row["task"] for r in use])
    fams, f_idx = _groups([r.row["family"] for r in use])
    lay = _Layout(names=names, n_tasks=len(tasks), n_fams=len(fams), n_rates=H)
    centre = float(np.mean((lo + hi) / 2))

    # ---- the compiled log density of the hyperparameters (unconstrained), and per-curve terms
    mloc = np.array([loc_scale[n][0] for n in names])
    mscale = np.array([loc_scale[n][1] for n in names])
    owned = [[j for j, n in enumerate(names) if n.split(".", 1)[0] == h] for h in hyps]
    sd_scales = [float(dict(pop.prior(k).params)["sigma"]) for k in POPULATION_PRIORS]
    f_logp, f_value, f_curves, graph = _compile(
        lay, mloc, mscale, owned, hyps.index(EMERGENT), sd_scales, pop.rates_concentration
    )
    data = (log_z, t_idx, f_idx, lo, hi, np.float64(centre), np.int64(len(tasks)), np.int64(len(fams)))

    def arrays(keep: np.ndarray | None):
        """The per-draw arrays, optionally on a subset of the draws."""
        k = slice(None) if keep is None else keep
        return (U[:, :, k], LP0[:, :, k], tau[:, k], lp0_tau[:, k])

    # ---- mode and curvature
    x0 = np.concatenate(
        [
            mloc,
            np.log(mscale),
            [centre, 0.0, np.log(0.5), 0.0],
            np.zeros(lay.n_tasks + lay.n_fams + H - 1),
        ]
    )

    fit_arrays = arrays(np.sort(rng.choice(S, size=min(S, OPT_DRAWS), replace=False)))

    def neg(x):
        val, g = f_logp(x, *fit_arrays, *data)
        return -float(val), -np.asarray(g, float)

    opt = optimize.minimize(neg, x0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-6})
    mode = opt.x
    grad_norm = float(np.max(np.abs(neg(mode)[1])))
    hess = _hessian(lambda x: -neg(x)[1], mode, lay)
    # a group scale without groups touches no curve: its posterior is its hyperprior, left at the mode
    k = len(names)
    active = np.ones(lay.size, bool)
    active[2 * k + 1] = lay.n_tasks > 0
    active[2 * k + 2] = lay.n_fams > 0
    hess = hess[np.ix_(active, active)]
    ok, reason = True, ""
    evals, evecs = np.linalg.eigh(-(hess + hess.T) / 2)
    if not np.all(np.isfinite(evals)) or grad_norm > GRAD_TOL * max(1.0, C):
        ok, reason = False, f"the optimiser did not reach a maximum (gradient {grad_norm:.2g})"
    if ok and evals.min() <= 0:
        reason = f"{int(np.sum(evals <= 0))} flat or negative curvature directions (clipped)"
    evals = np.clip(evals, 1e-6, None)
    J = pop.hyper_draws
    # the Laplace approximation, as a multivariate Student-t, is the first importance proposal for the
    # exact hyper-posterior: Pareto-smoothed weights correct it, and their k-hat says whether it can be
    # trusted (as for the curves' marginal likelihoods). Later rounds (adaptive importance sampling)
    # refit the proposal to the weighted draws, shrunk towards the Laplace covariance
    D = int(active.sum())
    n_prop = PROPOSALS_PER_DRAW * J
    laplace = (mode[active], (evecs / evals) @ evecs.T)
    loc, cov = laplace
    k_hats = []
    for scale in PROPOSAL_SCALES:
        z = rng.standard_normal((n_prop, D)) / np.sqrt(rng.chisquare(PROPOSAL_DF, size=(n_prop, 1)) / PROPOSAL_DF)
        draws = np.repeat(mode[None], n_prop, axis=0)
        draws[:, active] = loc + scale * z @ np.linalg.cholesky(cov).T
        log_q = -0.5 * (PROPOSAL_DF + D) * np.log1p(np.sum(z**2, axis=1) / PROPOSAL_DF)  # up to a constant
        log_target = np.array([float(f_value(d, *fit_arrays, *data)) for d in draws])  # no gradient: ~2x faster
        log_ratio = np.where(np.isfinite(log_target), log_target - log_q, -np.inf)
        log_w, k_hat = psis(log_ratio)
        hyper_w = np.exp(log_w)
        k_hats.append(k_hat)
        if not ok or k_hat <= K_HAT_MAX:
            break
        x, ess_w = draws[:, active], 1.0 / np.sum(hyper_w**2)
        if ess_w < 2 * D:  # too few weights to estimate a covariance: the Laplace one, unwidened
            loc, cov = laplace
            continue
        loc = hyper_w @ x
        shrink = ess_w / (ess_w + D)
        cov = shrink * ((x - loc).T * hyper_w) @ (x - loc) + (1 - shrink) * laplace[1]
        cov = (cov + cov.T) / 2
    method = "laplace" if len(k_hats) == 1 else f"adaptive importance (k-hat {', '.join(f'{k:.2f}' for k in k_hats)})"
    if ok and not k_hat <= K_HAT_MAX and C > NUTS_MAX_CURVES:
        ok = False
        reason = (
            f"importance k-hat {', '.join(f'{k:.2f}' for k in k_hats)} > {K_HAT_MAX}, and {C} curves are too many "
            f"for the NUTS fallback (at most {NUTS_MAX_CURVES}): no pooled values"
        )
        draws = draws[:J]
    elif ok and not k_hat <= K_HAT_MAX:
        # a small analysis, or task and family levels, can make the hyper-posterior too skewed for it:
        # then NUTS on the same log density (its own checks decide)
        method = f"nuts (importance k-hat {', '.join(f'{k:.2f}' for k in k_hats)} > {K_HAT_MAX})"
        nuts_draws, diag = _nuts(graph, fit_arrays, data, active, mode, spec, seed=seed)
        ok, reason = diag.ok, diag.reason
        draws = nuts_draws[np.linspace(0, len(nuts_draws) - 1, J).round().astype(int)]
    elif not ok:
        draws = draws[:J]
    else:
        # ---- per-curve results averaged over J hyper draws resampled by those weights
        draws = draws[np.sort(rng.choice(n_prop, size=J, p=hyper_w))]
    pooled = np.zeros((C, H))
    weights = np.zeros((H, C, S))
    rates = np.zeros((J, H))
    all_arrays = arrays(None)
    for j in range(J):
        p_j, w_j, lr_j = f_curves(draws[j], *all_arrays, *data)
        pooled += p_j / J
        weights += w_j / J  # 0 for a curve none of whose draws this hyper draw allows
        rates[j] = np.exp(lr_j)
    # such hyper draws weigh nothing: renormalise; a curve none of them allows keeps its own draws
    # (seen with the unweighted hyper draws of a failed stage, whose pooled values are not reported)
    total = weights.sum(axis=2, keepdims=True)
    short = total[..., 0] < 1 - 1e-9
    if short.any():
        weights[short] = np.where(total[short] > 0, weights[short] / np.maximum(total[short], 1e-300), 1.0 / S)
    ess = 1.0 / np.sum(weights**2, axis=2)  # (H, C)
    margin = spec.verdict.onset_margin
    h_bp = hyps.index(EMERGENT)
    rows, onsets, taus = [], {}, {}
    for c, r in enumerate(use):
        w = weights[h_bp, c]
        d = {k: v.reshape(-1)[idx[c, EMERGENT]] for k, v in r.fits[EMERGENT].draws.items()}
        onset = onset_draws(d, r.inputs, spec, margin=margin)
        tq = _weighted_quantiles(tau[c], w, (0.05, 0.5, 0.95))
        oq = _weighted_quantiles(onset, w, (0.05, 0.5, 0.95))
        row = {"curve": r.index, "importance_ess": float(ess[h_bp, c])}
        row |= {f"p_{h}": float(pooled[c, i]) for i, h in enumerate(hyps)}
        row |= {f"tau_{q}": v for q, v in zip(("q05", "median", "q95"), tq, strict=True)}
        row |= {f"onset_{q}": v for q, v in zip(("q05", "median", "q95"), oq, strict=True)}
        row["onset_beyond_data"] = float(np.sum(w * np.isinf(onset)))
        rows.append(row)
        pick = rng.choice(S, size=S, p=w / w.sum())
        onsets[r.index], taus[r.index] = onset[pick], tau[c][pick]
    curves_df = pd.DataFrame(rows)
    split = [lay.split(d) for d in draws]
    stack = {k: np.stack([s[k] for s in split]) for k in split[0]}
    sd_draws = _floored(stack["log_sd"], SD_FLOOR_FRACTION * mscale, np)
    task_break = stack["break_mean"][:, None] + np.exp(stack["log_task_sd"])[:, None] * stack["z_task"]  # (J, T)
    fam_offset = np.exp(stack["log_family_sd"])[:, None] * stack["z_family"]
    learned = pd.DataFrame(
        {
            "parameter": list(names),
            "fixed_prior": [fixed[n].describe() for n in names],
            "fixed_mean": mloc,
            "fixed_sd": mscale,
            "mean": stack["mean"].mean(0),
            "sd": sd_draws.mean(0),
        }
    )
    out_draws = {
        **{f"mean_{n.replace('.', '_')}": stack["mean"][:, j] for j, n in enumerate(names)},
        **{f"sd_{n.replace('.', '_')}": sd_draws[:, j] for j, n in enumerate(names)},
        "break_mean": stack["break_mean"],
        "task_break_sd": np.exp(stack["log_task_sd"]),
        "family_offset_sd": np.exp(stack["log_family_sd"]),
        "curve_break_sd": _floored(stack["log_curve_sd"], BREAK_SD_FLOOR, np),
        "task_break": task_break,
        "family_offset": fam_offset,
        "rates": rates,
    }
    out_draws = {k: v[None] for k, v in out_draws.items()}  # (chain=1, draw, ...)
    diagnostics = PopulationDiagnostics(
        ok=ok,
        reason=reason if not ok else (reason or ""),
        method=method,
        iterations=int(opt.nit),
        grad_norm=grad_norm,
        n_curves=C,
        min_importance_ess=float(ess[h_bp].min()),
        laplace_k_hat=k_hat,
        seconds=time.perf_counter() - t0,
    )
    return PopulationResult(
        rates=rates,
        learned=learned,
        tasks=_group_table("task", tasks, t_idx, task_break, "break_x"),
        families=_group_table("family", fams, f_idx, fam_offset, "offset"),
        curves=curves_df,
        onsets=onsets,
        taus=taus,
        draws=out_draws,
        diagnostics=diagnostics,
        used=ok and C >= pop.min_curves and pop.decide,
    )


@lru_cache(maxsize=8)
def _compile_cached(key):
    return _build(*key)


def _compile(lay, mloc, mscale, owned, bp, sd_scales, concentration):
    """The log density (and gradient) of the hyperparameters, and the per-curve terms, compiled once
    per spec: the data are inputs, and so are the numbers of tasks and families (where `phi` is split),
    so neither the number of curves, draws, tasks nor families recompiles (and PyTensor's on-disk
    cache finds the compiled code again in the next run of any analysis with the same spec)."""
    key = (
        len(lay.names),
        lay.n_rates,
        tuple(float(v) for v in mloc),
        tuple(float(v) for v in mscale),
        tuple(tuple(o) for o in owned),
        bp,
        tuple(sd_scales),
        float(concentration),
    )
    return _compile_cached(key)


def _build(n_learned, n_rates, mloc, mscale, owned, bp, sd_scales, concentration):
    import pytensor
    import pytensor.tensor as pt

    lay = _Layout(names=tuple(f"p{j}" for j in range(n_learned)), n_tasks=0, n_fams=0, n_rates=n_rates)
    mloc, mscale = np.array(mloc), np.array(mscale)
    phi = pt.vector("phi")
    U, LP0 = pt.tensor3("U"), pt.tensor3("LP0")  # (learned, C, S)
    tau, lp0_tau = pt.matrix("tau"), pt.matrix("lp0_tau")  # (C, S)
    log_z = pt.matrix("log_z")  # (C, H)
    t_idx, f_idx = pt.lvector("t_idx"), pt.lvector("f_idx")
    lo, hi = pt.vector("lo"), pt.vector("hi")
    centre = pt.scalar("centre")
    n_tasks, n_fams = pt.lscalar("n_tasks"), pt.lscalar("n_fams")
    v = lay.split(phi, n_tasks, n_fams)
    sd = _floored(v["log_sd"], SD_FLOOR_FRACTION * mscale, pt)
    task_sd, fam_sd = pt.exp(v["log_task_sd"]), pt.exp(v["log_family_sd"])
    curve_sd = _floored(v["log_curve_sd"], BREAK_SD_FLOOR, pt)
    logits = pt.concatenate([pt.zeros(1), v["logits"]])
    log_rates = logits - pt.logsumexp(logits)

    def t_logpdf(x, loc, scale):
        z = (x - loc) / scale
        return -0.5 * (HYPER_T_NU + 1) * pt.log1p(z**2 / HYPER_T_NU) - pt.log(scale)

    hyper = t_logpdf(v["mean"], mloc, mscale).sum()
    hyper += (t_logpdf(pt.exp(v["log_sd"]), 0.0, mscale) + v["log_sd"]).sum()  # half-t, Jacobian of log
    hyper += t_logpdf(v["break_mean"], centre, 2.0)
    for name, scale in zip(("log_task_sd", "log_family_sd", "log_curve_sd"), sd_scales, strict=True):
        hyper += t_logpdf(pt.exp(v[name]), 0.0, scale) + v[name]
    hyper += -0.5 * (pt.sqr(v["z_task"]).sum() + pt.sqr(v["z_family"]).sum())
    hyper += concentration * log_rates.sum()  # Dirichlet(a) on the simplex, additive-logistic Jacobian

    # learned parameters: log N(u; m, sd) - log p0(u), summed over each hypothesis' own parameters
    nu = POPULATION_T_NU
    z2 = pt.sqr((U - v["mean"][:, None, None]) / sd[:, None, None])
    lr = (
        -0.5 * (nu + 1) * pt.log1p(z2 / nu)
        - pt.log(sd)[:, None, None]
        + float(special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np.log(nu * np.pi))
        - LP0
    )  # (learned, C, S): log Student-t(nu; mean, sd) - log p0
    z_task = pt.concatenate([v["z_task"], pt.zeros(1)])  # the last: curves of a task without its own level
    z_fam = pt.concatenate([v["z_family"], pt.zeros(1)])
    mu = v["break_mean"] + task_sd * z_task[t_idx] + fam_sd * z_fam[f_idx]  # (C,)
    log_mass = _log_ndtr_diff((lo - mu) / curve_sd, (hi - mu) / curve_sd, pt)
    lw_tau = (
        -0.5 * pt.sqr((tau - mu[:, None]) / curve_sd)
        - pt.log(curve_sd)
        - 0.5 * np.log(2 * np.pi)
        - log_mass[:, None]
        - lp0_tau
    )
    per_h = []
    for h, own in enumerate(owned):
        w = pt.zeros_like(tau)
        for j in own:
            w = w + lr[j]
        if h == bp:
            w = w + lw_tau
        per_h.append(w)
    lw = pt.stack(per_h)  # (H, C, S)
    log_r = pt.logsumexp(lw, axis=2) - pt.log(lw.shape[2])  # (H, C)
    terms = log_rates[None, :] + log_z + log_r.T  # (C, H)
    logp = hyper + pt.logsumexp(terms, axis=1).sum()
    inputs = [phi, U, LP0, tau, lp0_tau, log_z, t_idx, f_idx, lo, hi, centre, n_tasks, n_fams]
    f_logp = pytensor.function(inputs, [logp, pytensor.grad(logp, phi)], on_unused_input="ignore")
    f_value = pytensor.function(inputs, logp, on_unused_input="ignore")  # the importance proposals' density
    # per curve, under one hyper draw: P(h) and each draw's normalised weight (0 for every draw of a
    # curve that the draw makes impossible), fused into one pass instead of NumPy's several
    p_h = pt.exp(terms - pt.logsumexp(terms, axis=1, keepdims=True))
    lse = pt.logsumexp(lw, axis=2, keepdims=True)
    w = pt.switch(pt.isfinite(lse), pt.exp(lw - lse), 0.0)
    f_curves = pytensor.function(inputs, [p_h, w, log_rates], on_unused_input="ignore")
    return f_logp, f_value, f_curves, (inputs, logp)


def _floored(log_sd, floor, xp):
    """A scale from its unconstrained coordinate, kept above `floor` smoothly (NumPy or PyTensor `xp`)."""
    return xp.sqrt(xp.exp(2 * log_sd) + floor**2)


def _group_table(key: str, groups: list[str], at: np.ndarray, draws: np.ndarray, value: str) -> pd.DataFrame:
    """One row per group: its curves and the 5%, 50% and 95% quantiles of its draws (draw, group)."""
    q = np.quantile(draws, (0.05, 0.5, 0.95), axis=0).reshape(3, len(groups))
    return pd.DataFrame(
        {
            key: groups,
            "n_curves": [int(np.sum(at == i)) for i in range(len(groups))],
            f"{value}_q05": q[0],
            f"{value}_median": q[1],
            f"{value}_q95": q[2],
        },
        columns=[key, "n_curves", f"{value}_q05", f"{value}_median", f"{value}_q95"],
    )


def _groups(keys: list[str]) -> tuple[list[str], np.ndarray]:
    """The groups (tasks or families) that get their own break level, and each curve's index into
    them (len(groups): none). A group of one or two curves cannot separate its level from the curves'
    spread (its maximum a posteriori level would sit on its own curve's break), so it has none; nor
    does a lone group, whose level is the grand mean's."""
    counts = pd.Series(keys).value_counts()
    groups = sorted(counts.index[counts >= MIN_GROUP_CURVES])
    if len(groups) < 2:
        groups = []
    at = {g: i for i, g in enumerate(groups)}
    return groups, np.array([at.get(k, len(groups)) for k in keys], dtype=np.int64)


def _nuts(graph, arrays, data, active, mode, spec: ModelSpec, *, seed: int):
    """Draws (n, D) of the hyperparameters by NUTS on the same log density (inactive ones at the mode)."""
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.graph.replace import graph_replace

    from phasefit.inference.sampler import sample_model

    inputs, logp = graph
    values = (*arrays, *data)
    with pm.Model() as model:
        free = pm.Flat("phi", shape=int(active.sum()), initval=mode[active])
        phi = pt.set_subtensor(pt.constant(mode)[np.flatnonzero(active)], free)
        # the curves' draws as data, not constants: a compiled backend (numba) would otherwise freeze
        # every array into the machine code, which took minutes to compile on 20 curves
        shared = {
            v: pt.cast(pm.Data(f"input_{i}", np.asarray(x)), v.dtype)  # pm.Data stores integers as int32
            for i, (v, x) in enumerate(zip(inputs[1:], values, strict=True))
        }
        replace = {inputs[0]: phi, **shared}
        pm.Potential("hyper", graph_replace(logp, replace, strict=False))
    draws, diag = sample_model(model, spec, names=["phi"], seed=seed)
    flat = draws["phi"].reshape(-1, int(active.sum()))
    out = np.repeat(mode[None], len(flat), axis=0)
    out[:, active] = flat
    return out, diag


def _log_ndtr_diff(a, b, pt):
    """log(Phi(b) - Phi(a)) for a < b, stable in both tails (PyTensor)."""
    from pymc.distributions.dist_math import normal_lcdf

    # where both are positive, reflect: Phi(b) - Phi(a) = Phi(-a) - Phi(-b)
    small, large = pt.switch(a > 0, -b, a), pt.switch(a > 0, -a, b)
    l_small, l_large = normal_lcdf(0.0, 1.0, small), normal_lcdf(0.0, 1.0, large)
    return l_large + pt.log1mexp(l_small - l_large)


def _hessian(grad, x: np.ndarray, lay: _Layout, h: float = 1e-4) -> np.ndarray:
    """Hessian by central differences of the gradient. The task effects touch only their own curves,
    so they are perturbed together (their block is diagonal); everything else one at a time."""
    D = x.size
    k = len(lay.names)
    i_task = 2 * k + 4
    task = np.arange(i_task, i_task + lay.n_tasks)
    others = np.setdiff1d(np.arange(D), task)
    H = np.zeros((D, D))
    for i in others:
        e = np.zeros(D)
        e[i] = h
        H[:, i] = (grad(x + e) - grad(x - e)) / (2 * h)
    if task.size:
        e = np.zeros(D)
        e[task] = h
        col = (grad(x + e) - grad(x - e)) / (2 * h)
        H[task, task] = col[task]
        H[task[:, None], others[None, :]] = H[others[:, None], task[None, :]].T  # symmetry
    return H


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs) -> np.ndarray:
    """Quantiles of weighted draws (inf allowed: an onset beyond the data); NaN without finite mass."""
    order = np.argsort(x)
    xs, ws = x[order], w[order]
    if not np.isfinite(xs).any() or ws.sum() <= 0:
        return np.full(len(qs), np.nan)
    cw = np.cumsum(ws) / ws.sum()
    pos = np.searchsorted(cw, qs, side="left").clip(0, xs.size - 1)
    return xs[pos]


__all__: Sequence[str] = ("PopulationDiagnostics", "PopulationResult", "fit_population")
