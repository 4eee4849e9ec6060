"""Analyse one curve: the fits, the evidence and the verdict row, in one picklable record.

Fits (all through the one compiled model of the curve's likelihood): each hypothesis alone (absent,
smooth, breakpoint), whose marginal likelihoods give P(hypothesis | data) (phasefit.evidence.marginal) and
whose pointwise log likelihoods give LOO and stacking; and smooth and breakpoint on the smaller
models only (leave-future-out).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from phasefit.data.curves import Curve
from phasefit.evidence import baselines
from phasefit.evidence.loo import ImportanceRefit, compare, leave_future_out, loo
from phasefit.evidence.marginal import K_HAT_MAX, Evidence, hypothesis_probabilities, log_marginal_likelihood
from phasefit.evidence.onset import onset_draws, resolution
from phasefit.evidence.verdicts import agreement, decide
from phasefit.inference.diagnostics import Diagnostics, largest_rhat
from phasefit.inference.sampler import FitResult, Sampler, thin_to
from phasefit.inference.threads import single_blas_thread
from phasefit.models.curve_model import CurveInputs, curve_inputs, mean_curve, pointwise_loglik, predictive
from phasefit.models.spec import EMERGENT

QUANTILES = (0.05, 0.5, 0.95)
NEGLIGIBLE = 0.01  # a hypothesis this improbable cannot move a verdict (thresholds 0.1 / 0.5 / 0.9)


@dataclass(frozen=True, kw_only=True)
class CurveResult:
    """Everything kept about one curve: its verdict row and the draws that go into the DataTree."""

    index: int
    label: str
    row: dict
    onset: np.ndarray  # onset draws of the breakpoint hypothesis, log10 axis (+inf: beyond the data)
    inputs: CurveInputs
    fits: dict[str, FitResult]  # every hypothesis (draws thinned to the spec's count)
    loglik: dict[str, np.ndarray]  # pointwise log likelihood per hypothesis, (chain, draw, point)
    predictive: dict[str, np.ndarray]  # posterior predictive y per hypothesis, (chain, draw, point)


def slim(result: CurveResult, *, draws: int) -> CurveResult:
    """The result as an analysis keeps it once its draws are written: each fit thinned to about
    `draws` draws in all (evenly spaced per chain), no sample statistics, log likelihoods or
    predictions. What the population stage reads; it keeps a 10,000-curve run's memory bounded."""
    fits = {}
    for h, f in result.fits.items():
        chains, n = next(iter(f.draws.values())).shape[:2]
        fits[h] = replace(f, draws=thin_to(f.draws, min(n, max(1, -(-draws // chains)))), stats={})
    return replace(result, fits=fits, loglik={}, predictive={})


def curve_seed(curve: Curve, base: int) -> int:
    """A seed that depends on the curve's identity, not its position (reruns and subsets agree)."""
    return (base + zlib.crc32(curve.label.encode())) % (2**31 - 1)


@single_blas_thread
def analyse_curve(curve: Curve, sampler: Sampler, *, x_axis: str, lfo_cutoff: float | None = None) -> CurveResult:
    """Fit, compare and decide one curve. `lfo_cutoff` is log10 of the scale (None: median break)."""
    spec = sampler.spec
    seed = curve_seed(curve, spec.sampler.seed)
    inputs = curve_inputs(curve, spec)
    fits, evidence, probability = fit_hypotheses(inputs, sampler, seed=seed)
    p_absent, p_smooth, p_bp = (probability.get(h, 0.0) for h in ("absent", "smooth", EMERGENT))

    importance = (
        {
            h: ImportanceRefit(fits[h], inputs, spec, draws=spec.evidence.importance_draws, seed=seed + 60 + j)
            for j, h in enumerate(("smooth", EMERGENT))
        }
        if spec.evidence.refits == "importance"
        else {}
    )
    loo_s, ll_s = loo(
        fits["smooth"], inputs, spec, refit=sampler.fit, seed=seed + 10, importance=importance.get("smooth")
    )
    loo_b, ll_b = loo(
        fits[EMERGENT], inputs, spec, refit=sampler.fit, seed=seed + 20, importance=importance.get(EMERGENT)
    )
    cmp = compare(loo_s, loo_b)

    # the break's quantiles only from a converged breakpoint fit (on the analysis axis, log10)
    tau = fits[EMERGENT].draws["tau"]
    tq = np.quantile(tau, QUANTILES) if fits[EMERGENT].diagnostics.ok else np.full(3, np.nan)
    cutoff = lfo_cutoff - inputs.center if lfo_cutoff is not None else default_lfo_cutoff(inputs, tq[1])
    lfo = leave_future_out(inputs, cutoff, spec, refit=sampler.fit, seed=seed + 30, importance=importance)

    diags = [f.diagnostics for f in fits.values()]
    problems, notes = convergence_problems(fits, evidence, probability)
    ok = not problems
    reasons = "; ".join(problems)
    p_above, above_by_hypothesis = above_floor(fits, inputs, spec, probability)
    verdict = decide(ok=ok, p_absent=p_absent, p_emergent=p_bp, thresholds=spec.verdict, p_above_floor=p_above)
    row = {
        "curve": curve.index,
        "label": curve.label,
        "task": curve.task,
        "metric": curve.metric,
        "family": curve.family,
        "condition": curve.condition,
        "n_points": curve.n_points,
        "x_axis": x_axis,
        "p_emergent": p_bp,
        "p_absent": p_absent,
        "p_smooth": p_smooth,
        "elpd_diff": cmp.elpd_diff,
        "elpd_diff_se": cmp.elpd_diff_se,
        "stacking_weight_breakpoint": cmp.stacking_weight_breakpoint,
        "lfo_elpd_diff": lfo.lfo_elpd_diff if lfo else np.nan,
        "lfo_largest_in_pi90": lfo.largest_in_interval if lfo else np.nan,
        "lfo_cutoff": 10**lfo.cutoff_x if lfo else np.nan,
        "verdict": verdict,
        "likelihood": curve.likelihood,
        "rhat_max": largest_rhat(diags),
        "ess_bulk_min": min(d.ess_bulk_min for d in diags),
        "ess_tail_min": min(d.ess_tail_min for d in diags),
        "divergences": sum(d.divergences for d in diags),
        "treedepth_share": max(d.treedepth_share for d in diags),
        "attempts": max(d.attempts for d in diags),
        "nuts_fits": sum(f.importance is None for f in fits.values()),
        "loo_refits": cmp.loo_refits,
        "loo_refits_sampled": cmp.loo_refits_sampled,
        "loo_refits_unconverged": cmp.refits_unconverged,
        "pareto_k_max": cmp.max_pareto_k,
        "failure_reason": reasons,
        "notes": "; ".join(notes),
        "p_above_floor": p_above,
        "breakpoint_above_floor": above_by_hypothesis.get(EMERGENT, np.nan),
        "evidence_agreement": agreement(
            verdict=verdict,
            elpd_diff=cmp.elpd_diff,
            elpd_diff_se=cmp.elpd_diff_se,
            lfo_elpd_diff=lfo.lfo_elpd_diff if lfo else np.nan,
        ),
        "lfo_converged": lfo.ok if lfo else np.nan,
        "lfo_refits_sampled": lfo.refits_sampled if lfo else np.nan,
        "breakthroughness": baselines.breakthroughness(curve.x, curve.y),
        "linearity": baselines.linearity(curve.x, curve.y),
    }
    row |= {f"p_{h}": p for h, p in probability.items()}
    row |= {f"log_z_{h}": e.log_z for h, e in evidence.items()}
    row |= {f"log_z_se_{h}": e.log_z_se for h, e in evidence.items()}
    row |= {f"k_hat_{h}": e.k_hat for h, e in evidence.items()}
    row |= break_scale(curve, tq, x_axis)
    margin = spec.verdict.onset_margin
    onset = onset_draws(fits[EMERGENT].draws, inputs, spec, margin=margin)
    oq = (
        np.quantile(onset, QUANTILES, method="inverted_cdf")
        if fits[EMERGENT].diagnostics.ok and np.isfinite(onset).any()
        else np.full(3, np.nan)
    )
    oq = np.where(np.isinf(oq), np.nan, oq)  # beyond the largest model: no finite scale to report
    row |= {k.replace("break_", "onset_"): v for k, v in break_scale(curve, oq, x_axis).items()}
    row["onset_beyond_data"] = np.nan if np.isnan(onset).all() else float(np.mean(np.isinf(onset)))
    res = resolution(inputs)
    row["onset_below_resolution"] = bool(margin * (1 - inputs.floor) < res) if res > 0 else False
    row |= {f"tau_{name}": float(v) for name, v in zip(("q05", "median", "q95"), tq, strict=True)}
    n = spec.sampler.draws
    kept = {
        name: FitResult(
            hypothesis=name,
            draws=thin_to(f.draws, n),
            diagnostics=f.diagnostics,
            seconds=f.seconds,
            stats=thin_to(f.stats, n),
            settings=f.settings,
            importance=f.importance,
        )
        for name, f in fits.items()
    }
    rng = np.random.default_rng(seed + 50)
    computed = thin_to({"smooth": ll_s, EMERGENT: ll_b}, n)  # LOO already evaluated these two
    loglik = {h: computed[h] if h in computed else pointwise_loglik(h, f.draws, inputs, spec) for h, f in kept.items()}
    sims = {h: predictive(h, f.draws, inputs, spec, rng=rng) for h, f in kept.items()}
    return CurveResult(
        index=curve.index,
        label=curve.label,
        row=row,
        onset=onset,
        inputs=inputs,
        fits=kept,
        loglik=loglik,
        predictive=sims,
    )


def default_lfo_cutoff(inputs: CurveInputs, tau_median: float) -> float:
    """Leave-future-out's default cutoff (centred): the breakpoint's median break `tau_median` (on the
    analysis axis; NaN: the middle of the range), moved up to leave at least 3 models to learn from."""
    median = float(tau_median - inputs.center) if np.isfinite(tau_median) else 0.0
    return max(median, float(np.sort(inputs.x)[min(2, len(inputs.x) - 1)]))


def fit_hypotheses(
    inputs: CurveInputs, sampler: Sampler, *, seed: int
) -> tuple[dict[str, FitResult], dict[str, Evidence], dict[str, float]]:
    """Each hypothesis fitted alone, its marginal likelihood (from the fit's own importance weights
    when it was drawn by importance sampling), and P(h | data) with the spec's weights."""
    spec = sampler.spec
    fits = {h: sampler.fit(inputs, h, seed=seed + j) for j, h in enumerate(spec.names)}
    evidence = {
        h: Evidence(log_z=w.log_z, log_z_se=w.log_z_se, k_hat=w.k_hat)
        if (w := fits[h].importance) is not None
        else log_marginal_likelihood(fits[h].draws, inputs, h, spec, seed=seed + 40 + j)
        for j, h in enumerate(spec.names)
    }
    return fits, evidence, hypothesis_probabilities(evidence, spec)


def above_floor(
    fits: dict[str, FitResult], inputs: CurveInputs, spec, probability: dict[str, float]
) -> tuple[float, dict[str, float]]:
    """P(the expected score at the largest model is above floor + onset_margin * (1 - floor)),
    averaged over the hypotheses with their posterior probabilities, and the same share under each
    hypothesis alone (NaN and {} for unbounded scores, which have no floor)."""
    if inputs.likelihood == "student_t":
        return float("nan"), {}
    threshold = inputs.floor + spec.verdict.onset_margin * (1 - inputs.floor)
    x = np.array([inputs.x_ref])
    share = {h: float(np.mean(mean_curve(h, f.draws, inputs, x, spec)[..., 0] >= threshold)) for h, f in fits.items()}
    return float(sum(probability[h] * share[h] for h in fits)), share


def convergence_problems(
    fits: dict[str, FitResult], evidence: dict[str, Evidence], probability: dict[str, float]
) -> tuple[list[str], list[str]]:
    """`diagnostic_problems` of the fits' diagnostics."""
    return diagnostic_problems({name: f.diagnostics for name, f in fits.items()}, evidence, probability)


def diagnostic_problems(
    diagnostics: dict[str, Diagnostics], evidence: dict[str, Evidence], probability: dict[str, float]
) -> tuple[list[str], list[str]]:
    """What makes the curve `failed`, and what is only noted.

    The verdict rests on the marginal likelihoods, and an importance-sampling estimate is valid
    whatever proposal it used as long as its k-hat is good; the posterior draws only shape the
    proposal. So an unreliable marginal likelihood always fails the curve, and so does a fit that
    did not converge for a hypothesis that matters. A fit that did not converge for a hypothesis
    whose probability is below `NEGLIGIBLE` (with reliable evidence) cannot move the verdict: it is
    noted, and what that fit alone gives (the break's quantiles) is left empty.
    """
    problems, notes = [], []
    for name, d in diagnostics.items():
        if d.ok:
            continue
        if evidence[name].ok and probability[name] < NEGLIGIBLE:
            notes.append(
                f"{name} fit not converged ({d.reason}) but P({name}) = "
                f"{probability[name]:.1e} < {NEGLIGIBLE}: verdict unaffected"
            )
        else:
            problems.append(f"{name}: {d.reason}")
    problems += [f"{h} evidence: importance k-hat {e.k_hat:.2f} > {K_HAT_MAX}" for h, e in evidence.items() if not e.ok]
    return problems, notes


def scale_axes(curve: Curve, x_axis: str) -> tuple[np.ndarray, np.ndarray]:
    """The curve's models on the analysis axis (ascending) and on the other axis (log10, may be NaN)."""
    order = np.argsort(curve.x)
    other = curve.log10_params if x_axis == "flops" else curve.log10_flops
    return curve.x[order], other[order]


def break_scale(curve: Curve, tau_q: np.ndarray, x_axis: str) -> dict:
    """The break's quantiles as FLOPs and as parameters, mapping across axes within the curve."""
    return scale_columns(*scale_axes(curve, x_axis), tau_q, x_axis)


def scale_columns(x: np.ndarray, other: np.ndarray, tau_q: np.ndarray, x_axis: str) -> dict:
    """`break_scale` from the axes `scale_axes` gives."""
    out = {}
    names = ("q05", "median", "q95")
    own = "flops" if x_axis == "flops" else "params"
    cross = "params" if x_axis == "flops" else "flops"
    for name, v in zip(names, tau_q, strict=True):
        out[f"break_{own}_{name}"] = float(10**v)
    ok = np.isfinite(other)
    for name, v in zip(names, tau_q, strict=True):
        out[f"break_{cross}_{name}"] = float(10 ** np.interp(v, x[ok], other[ok])) if ok.sum() >= 2 else np.nan
    return out
