"""Partial pooling across curves: population rates, task break locations, family offsets.

A second, small model fitted after the per-curve fits (the two-stage construction used for
population inference from per-unit posteriors, e.g. in gravitational-wave catalogues). It is exact
for this model family because the hierarchical prior only replaces per-curve priors:

    p(y_c | pi, psi) = sum_h pi_h m_ch R_ch(psi),   m_ch = Z_ch, the per-curve marginal likelihood
    R_c,bp(psi) = E_{theta ~ p(theta | y_c, bp)} [ p(theta | psi) / p0(theta) ],  R_c,absent = R_c,smooth = 1

where theta = (tau, log rise) of the breakpoint hypothesis, p0 their per-curve prior (implied by the
priors on tau and on the gain at the largest model), and
p(theta | psi): tau ~ Normal(mu_task + delta_family, sd) truncated to the curve's admissible range,
log rise ~ Normal(m_task, sd). The expectation is a Monte Carlo average over the curve's
breakpoint-fit draws. Learning pi is the answer to multiple comparisons: in a suite of mostly smooth
curves a borderline break is shrunk towards smooth. Per-curve pooled quantities are importance
reweightings of the per-curve draws; their effective sample size is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from scipy import special, stats

from phasefit.analyses.curve import CurveResult
from phasefit.data.curves import CurveSet
from phasefit.inference.sampler import Diagnostics, sample_model
from phasefit.models.priors import Prior, pymc_rv
from phasefit.models.spec import EMERGENT, ModelSpec

HYPER_DRAWS_FOR_CURVES = 200  # hyper-posterior draws used to reweight each curve's draws
SD_FLOOR = 0.25  # decades (break) / log units (rise): smallest curve-level spread the population allows


@dataclass(frozen=True, kw_only=True)
class PopulationResult:
    rates: np.ndarray  # (draws, 3) population rates of absent / smooth / breakpoint
    tasks: pd.DataFrame  # pooled break per task (log10 x, and 10**)
    families: pd.DataFrame  # compute-efficiency offsets per family (decades of x)
    curves: pd.DataFrame  # per curve (index): pooled P(h), pooled tau quantiles, importance ESS
    draws: dict[str, np.ndarray]  # hyper-posterior (chain, draw[, dim])
    diagnostics: Diagnostics


def _hyper(name: str, prior: Prior, **kw):
    return pymc_rv(name, prior, **kw)


def _log_tn(x, mu, sd, lo, hi, *, xp):
    """Log density of Normal(mu, sd) truncated to [lo, hi], for NumPy (xp=np) or PyTensor."""
    if xp is np:
        z = stats.norm.logpdf(x, mu, sd)
        mass = np.log(np.clip(stats.norm.cdf(hi, mu, sd) - stats.norm.cdf(lo, mu, sd), 1e-300, None))
        return z - mass
    dist = pm.Normal.dist(mu=mu, sigma=sd)
    mass = pm.math.logdiffexp(pm.logcdf(dist, hi), pm.logcdf(dist, lo))
    return pm.logp(dist, x) - mass


def fit_population(
    curves: CurveSet, results: Sequence[CurveResult], spec: ModelSpec, *, seed: int
) -> PopulationResult | None:
    """Fit the population stage on the converged curves; None when fewer than 2 qualify."""
    pop = spec.population
    # proportion-scale curves only: a Student-t curve's rise is in standard deviations, not log-odds
    use = [r for r in results if r.row["verdict"] != "failed" and r.row["likelihood"] != "student_t"]
    if not pop.enabled or len(use) < 2:
        return None
    rng = np.random.default_rng(seed)
    bp = spec.hypothesis(EMERGENT)
    width = bp.option("width")
    hyps = spec.names
    S = pop.draws_per_curve
    tau, logr, logp0, lo, hi = [], [], [], [], []
    for r in use:
        inputs = r.inputs
        d = r.fits[EMERGENT].draws
        flat_tau = d["tau"].reshape(-1) - inputs.center
        idx = rng.choice(flat_tau.size, size=S, replace=flat_tau.size < S)
        t = flat_tau[idx]
        lr = np.log(d["rise"].reshape(-1)[idx])
        frac = np.clip((t - inputs.range_lo) / (inputs.range_hi - inputs.range_lo), 1e-9, 1 - 1e-9)
        fp, gp = bp.prior("tau_fraction"), bp.prior("gain")
        # log gain = log rise + log L(tau) with L = w softplus((x_ref - tau) / w): given tau, the
        # per-curve prior of log rise is the gain prior's normal at that point (unit Jacobian)
        log_len = np.log(width * np.logaddexp(0.0, (inputs.x_ref - t) / width))
        lp = (
            stats.beta.logpdf(frac, fp["alpha"], fp["beta"])
            - np.log(inputs.range_hi - inputs.range_lo)
            + stats.norm.logpdf(lr + log_len, gp["mu"], gp["sigma"])
        )
        tau.append(t + inputs.center)
        logr.append(lr)
        logp0.append(lp)
        lo.append(inputs.range_lo + inputs.center)
        hi.append(inputs.range_hi + inputs.center)
    tau, logr, logp0 = np.array(tau), np.array(logr), np.array(logp0)
    lo, hi = np.array(lo)[:, None], np.array(hi)[:, None]
    log_m = np.array([[r.row[f"log_z_{h}"] for h in hyps] for r in use])  # per-curve marginal likelihoods
    log_m = log_m - log_m.max(1, keepdims=True)  # a constant per curve cancels
    tasks = sorted({r.row["task"] for r in use})
    fams = sorted({r.row["family"] for r in use})
    t_idx = np.array([tasks.index(r.row["task"]) for r in use])
    f_idx = np.array([fams.index(r.row["family"]) for r in use])

    coords = {"task": tasks, "family": fams, "hypothesis": list(hyps)}
    bp_at = np.array([h == EMERGENT for h in hyps])
    with pm.Model(coords=coords) as model:
        grand = pm.Normal("break_mean", mu=float(np.mean(lo + hi) / 2), sigma=2.0)
        sd_task = _hyper("task_break_sd", pop.prior("task_break_sd"))
        sd_fam = _hyper("family_offset_sd", pop.prior("family_offset_sd"))
        # floors keep the Monte Carlo ratio smooth: a population narrower than a curve's own
        # posterior spread would be resolved by a handful of draws (docs/models.md)
        sd_curve = pm.Deterministic(
            "curve_break_sd", SD_FLOOR + _hyper("curve_break_sd_excess", pop.prior("curve_break_sd"))
        )
        z_task = pm.Normal("z_task", 0, 1, dims="task")
        z_fam = pm.Normal("z_family", 0, 1, dims="family")
        task_break = pm.Deterministic("task_break", grand + sd_task * z_task, dims="task")
        fam_offset = pm.Deterministic("family_offset", sd_fam * z_fam, dims="family")
        rise_mean = _hyper("log_rise_mean", pop.prior("log_rise_mean"))
        sd_rise_task = _hyper("task_log_rise_sd", pop.prior("task_log_rise_sd"))
        sd_rise = pm.Deterministic(
            "curve_log_rise_sd", SD_FLOOR + _hyper("curve_log_rise_sd_excess", pop.prior("curve_log_rise_sd"))
        )
        z_rise = pm.Normal("z_rise", 0, 1, dims="task")
        task_rise = pm.Deterministic("task_log_rise", rise_mean + sd_rise_task * z_rise, dims="task")
        rates = pm.Dirichlet("rates", a=np.full(len(hyps), pop.rates_concentration), dims="hypothesis")
        mu = (task_break[t_idx] + fam_offset[f_idx])[:, None]
        log_ratio = (
            _log_tn(tau, mu, sd_curve, lo, hi, xp=pt)
            + pm.logp(pm.Normal.dist(task_rise[t_idx][:, None], sd_rise), logr)
            - logp0
        )
        log_r = pt.logsumexp(log_ratio, axis=1) - np.log(S)
        terms = pt.log(rates)[None, :] + log_m + pt.where(bp_at[None, :], log_r[:, None], 0.0)
        pm.Potential("curves", pt.logsumexp(terms, axis=1).sum())
    names = [
        "break_mean",
        "task_break_sd",
        "family_offset_sd",
        "curve_break_sd",
        "task_break",
        "family_offset",
        "log_rise_mean",
        "task_log_rise_sd",
        "curve_log_rise_sd",
        "task_log_rise",
        "rates",
    ]
    draws, diag = sample_model(model, spec, names=names, seed=seed)

    # per-curve pooled quantities from a subset of hyper draws
    flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in draws.items()}
    J = min(HYPER_DRAWS_FOR_CURVES, flat["break_mean"].shape[0])
    js = rng.choice(flat["break_mean"].shape[0], size=J, replace=False)
    mu_j = flat["task_break"][js][:, t_idx] + flat["family_offset"][js][:, f_idx]  # (J, C)
    lr_j = flat["task_log_rise"][js][:, t_idx]
    sdc, sdr = flat["curve_break_sd"][js], flat["curve_log_rise_sd"][js]
    log_ratio = (
        _log_tn(tau[None], mu_j[..., None], sdc[:, None, None], lo[None], hi[None], xp=np)
        + stats.norm.logpdf(logr[None], lr_j[..., None], sdr[:, None, None])
        - logp0[None]
    )  # (J, C, S)
    log_r = special.logsumexp(log_ratio, axis=2) - np.log(S)  # (J, C)
    terms = np.log(flat["rates"][js])[:, None, :] + log_m[None] + np.where(bp_at[None, None, :], log_r[..., None], 0.0)
    pooled_p = np.exp(terms - special.logsumexp(terms, axis=2, keepdims=True)).mean(0)  # (C, H)
    w = np.exp(log_ratio - log_r[..., None]).mean(0)  # (C, S) importance weights for tau given bp
    rows = []
    for c, r in enumerate(use):
        wc = w[c] / w[c].sum()
        q = _weighted_quantiles(tau[c], wc, (0.05, 0.5, 0.95))
        p_of = dict(zip(hyps, pooled_p[c], strict=True))
        rows.append(
            {
                "curve": r.index,
                "p_absent": p_of.get("absent", 0.0),
                "p_smooth": p_of.get("smooth", 0.0),
                "p_emergent": p_of[EMERGENT],
                "tau_q05": q[0],
                "tau_median": q[1],
                "tau_q95": q[2],
                "importance_ess": float(1.0 / np.sum(wc**2)),
            }
        )
    task_rows = []
    for i, t in enumerate(tasks):
        q = np.quantile(flat["task_break"][:, i], (0.05, 0.5, 0.95))
        task_rows.append(
            {
                "task": t,
                "n_curves": int(np.sum(t_idx == i)),
                "break_x_q05": q[0],
                "break_x_median": q[1],
                "break_x_q95": q[2],
            }
        )
    fam_rows = []
    for i, f in enumerate(fams):
        q = np.quantile(flat["family_offset"][:, i], (0.05, 0.5, 0.95))
        fam_rows.append(
            {
                "family": f,
                "n_curves": int(np.sum(f_idx == i)),
                "offset_q05": q[0],
                "offset_median": q[1],
                "offset_q95": q[2],
            }
        )
    return PopulationResult(
        rates=flat["rates"],
        tasks=pd.DataFrame(task_rows),
        families=pd.DataFrame(fam_rows),
        curves=pd.DataFrame(rows),
        draws=draws,
        diagnostics=diag,
    )


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs) -> np.ndarray:
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    cw = (cw - 0.5 * w[order]) / cw[-1]
    return np.interp(qs, cw, x[order])
