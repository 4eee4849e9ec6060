"""The mirage stage: is a sharp curve a smooth per-token skill seen through a sharp metric?

For one sharp curve (exact match: counts with a chance floor) and, where the same outputs are also
scored by a continuous metric, that metric's curve, fit two hypotheses of one per-token skill q(x)
(`models/hypotheses/mirage.py`): `mirage` (q smooth, logit-linear) and `latent_break` (q itself
breaks), jointly on both metrics when there are two (`models/paired.py`). Their marginal
likelihoods (importance sampling, PSIS k-hat checked) give

    p_mirage = Z_mirage / (Z_mirage + Z_latent_break),

the posterior weight on "a smooth skill seen through a sharp metric" at even prior odds. Pure: the
sampler is passed in (its spec must hold both hypotheses: `ModelSpec.with_bundled`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from phasefit.analyses.curve import curve_seed
from phasefit.data.curves import Curve
from phasefit.evidence.marginal import Evidence, importance_log_z, log_marginal_likelihood
from phasefit.inference.sampler import Sampler
from phasefit.inference.threads import single_blas_thread
from phasefit.models.curve_model import curve_inputs, mean_curve
from phasefit.models.paired import build_paired_model, paired_inputs, paired_loglik, paired_names, paired_priors
from phasefit.models.spec import ModelSpec

MIRAGE, LATENT_BREAK = "mirage", "latent_break"
HYPOTHESES = (MIRAGE, LATENT_BREAK)
SEED_OFFSET = 70  # apart from the fit analysis' per-curve seeds (curve_seed + 0..50)


@dataclass(frozen=True, kw_only=True)
class MirageResult:
    """The mirage evidence of one sharp curve (alone, or jointly with `other_metric`)."""

    index: int  # the sharp curve's index in its CurveSet
    label: str
    other_metric: str  # "" when the sharp metric is alone
    p_mirage: float  # NaN when the fits or the evidence failed their checks
    log_z_mirage: float
    log_z_latent_break: float
    log_z_se: float  # the larger Monte Carlo SE of the two log Z
    tokens_given: bool  # L from the data's answer_tokens
    tokens_q05: float  # L: 90% interval and median averaged over both hypotheses (the given value when given)
    tokens_median: float
    tokens_q95: float
    link_median: float  # other metric = q ** link (NaN without one)
    resolution: float  # 1 / n_items: the smallest change of the exact-match share the test set resolves
    token_resolution: float  # 1 / (n_items L): the same per token (L = tokens_median)
    hidden_models: int  # models whose exact match under the mirage fit lies below `resolution` above the floor
    ok: bool
    reason: str
    seconds: float


def mirage_spec(spec: ModelSpec) -> ModelSpec:
    """The spec with the mirage hypotheses added (their bundled TOMLs), for a `Sampler`."""
    return spec.with_bundled(*HYPOTHESES)


@single_blas_thread
def mirage_evidence(sharp: Curve, other: Curve | None, sampler: Sampler) -> MirageResult:
    """Fit mirage and latent_break to one sharp curve (and jointly to `other` when given)."""
    spec = sampler.spec
    if sharp.likelihood != "beta_binomial":
        raise ValueError(f"{sharp.label}: the mirage needs a sharp metric with item counts (n_items)")
    seed = curve_seed(sharp, spec.sampler.seed) + SEED_OFFSET
    inputs = curve_inputs(sharp, spec)
    fits, evidence = {}, {}
    for j, h in enumerate(HYPOTHESES):
        if other is None:
            fit = sampler.fit(inputs, h, seed=seed + j)
            ev = log_marginal_likelihood(fit.draws, inputs, h, spec, seed=seed + 5 + j)
        else:
            pair = paired_inputs(inputs, other)
            fit = sampler.fit_model(
                f"paired/{h}",
                lambda h=h, pair=pair: build_paired_model(h, spec, template=pair),
                pair.data(),
                paired_names(h, spec),
                hypothesis=h,
                seed=seed + j,
            )
            ev = importance_log_z(
                fit.draws,
                paired_priors(h, spec),
                lambda v, h=h, pair=pair: paired_loglik(h, v, pair, spec),
                seed=seed + 5 + j,
            )
        fits[h], evidence[h] = fit, ev
    problems = [f"{h}: {f.diagnostics.reason}" for h, f in fits.items() if not f.diagnostics.ok]
    problems += [f"{h} evidence: importance k-hat {e.k_hat:.2f} > 0.7" for h, e in evidence.items() if not e.ok]
    ok = not problems
    p_mirage = _p_mirage(evidence) if ok else math.nan
    given = math.isfinite(sharp.answer_tokens)
    if given:
        t05 = tmed = t95 = float(sharp.answer_tokens)
    else:
        t05, tmed, t95 = (float(v) for v in np.quantile(_averaged_tokens(fits, p_mirage), [0.05, 0.5, 0.95]))
    link = float(np.median(fits[MIRAGE].draws["link"])) if other is not None else math.nan
    n = float(np.median(inputs.n))
    expected = mean_curve(MIRAGE, fits[MIRAGE].draws, inputs, inputs.x, spec)
    excess = np.median((expected - inputs.floor) / (1 - inputs.floor), axis=(0, 1))
    return MirageResult(
        index=sharp.index,
        label=sharp.label,
        other_metric=other.metric if other is not None else "",
        p_mirage=p_mirage,
        log_z_mirage=evidence[MIRAGE].log_z,
        log_z_latent_break=evidence[LATENT_BREAK].log_z,
        log_z_se=max(e.log_z_se for e in evidence.values()),
        tokens_given=given,
        tokens_q05=t05,
        tokens_median=tmed,
        tokens_q95=t95,
        link_median=link,
        resolution=1.0 / n,
        token_resolution=1.0 / (n * tmed),
        hidden_models=int(np.sum(excess < 1.0 / n)),
        ok=ok,
        reason="; ".join(problems),
        seconds=sum(f.seconds for f in fits.values()),
    )


def _averaged_tokens(fits, p_mirage: float) -> np.ndarray:
    """L's posterior averaged over the two hypotheses (weights p_mirage, 1 - p_mirage): evenly spaced
    draws of each fit in proportion; the mirage's alone when the evidence failed."""
    a, b = (np.asarray(fits[h].draws["tokens"]).reshape(-1) for h in HYPOTHESES)
    w = 1.0 if not math.isfinite(p_mirage) else p_mirage
    n = min(len(a), len(b))
    k = int(round(w * n))
    return np.concatenate([_evenly(a, k), _evenly(b, n - k)])


def _evenly(v: np.ndarray, m: int) -> np.ndarray:
    return v[np.linspace(0, len(v) - 1, m).round().astype(int)] if m else v[:0]


def _p_mirage(evidence: dict[str, Evidence]) -> float:
    d = evidence[LATENT_BREAK].log_z - evidence[MIRAGE].log_z
    return float(1.0 / (1.0 + math.exp(d))) if d < 700 else 0.0
