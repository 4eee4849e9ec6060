"""Prior and posterior predictive simulation on the metric's own scale (counts or response)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from phasefit.models.hypotheses import CurveInputs, mean_curves, rise_from_gain
from phasefit.models.spec import ModelSpec, Prior


def sample_prior(prior: Prior, size: int, rng: np.random.Generator) -> np.ndarray:
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
    raise ValueError(prior.dist)


def prior_draws(spec: ModelSpec, inputs: CurveInputs, *, draws: int, seed: int) -> dict[str, np.ndarray]:
    """Draws of every parameter from its prior, shape (1, draws): the DataTree's `prior` group."""
    rng = np.random.default_rng(seed)
    is_t = inputs.likelihood == "student_t"
    a, s, b = (spec.hypothesis(h) for h in ("absent", "smooth", "breakpoint"))
    out = {
        "absent_level": sample_prior(a.prior("level", student_t=is_t), draws, rng),
        "smooth_intercept": sample_prior(s.prior("intercept", student_t=is_t), draws, rng),
        "smooth_slope": sample_prior(s.prior("slope", student_t=is_t), draws, rng),
        "bp_level": sample_prior(b.prior("level", student_t=is_t), draws, rng),
        "bp_slope_before": sample_prior(b.prior("slope_before", student_t=is_t), draws, rng),
        "bp_gain": sample_prior(b.prior("gain", student_t=is_t), draws, rng),
    }
    frac = sample_prior(b.prior("tau_fraction", student_t=is_t), draws, rng)
    out["bp_tau"] = inputs.tau_lo + (inputs.tau_hi - inputs.tau_lo) * frac
    out["bp_rise"] = rise_from_gain(out["bp_gain"], out["bp_tau"], inputs.x_ref, b.width)
    if is_t:
        out["sigma"] = sample_prior(spec.shared_prior("t_sigma"), draws, rng)
    else:
        out["ceiling_fraction"] = sample_prior(spec.shared_prior("ceiling_fraction"), draws, rng)
        key = "concentration" if inputs.likelihood == "beta_binomial" else "precision"
        out[key] = sample_prior(spec.shared_prior(key if key == "concentration" else "beta_precision"), draws, rng)
    return {k: v[None, :] for k, v in out.items()}


def posterior_predictive(draws: dict[str, np.ndarray], inputs: CurveInputs, hypothesis: str, spec: ModelSpec, *,
                         point: int | None = None, seed: int) -> np.ndarray:
    """Simulated observations (counts, proportions or standardised values) per draw and point."""
    rng = np.random.default_rng(seed)
    x = inputs.x if point is None else inputs.x[[point]]
    width = spec.hypothesis("breakpoint").width
    mu = mean_curves(draws, x, likelihood=inputs.likelihood, floor=inputs.floor, width=width,
                     hypotheses=(hypothesis,))[hypothesis]
    mu = mu.reshape(-1, len(x))
    flat = {k: np.asarray(v).reshape(-1, 1) for k, v in draws.items()}
    if inputs.likelihood == "beta_binomial":
        n = inputs.n if point is None else inputs.n[[point]]
        p = np.clip(mu, 1e-9, 1 - 1e-9)
        c = flat["concentration"]
        q = rng.beta(p * c, (1 - p) * c)
        sims = rng.binomial(np.broadcast_to(n, q.shape), q)
    elif inputs.likelihood == "beta":
        p = np.clip(mu, 1e-9, 1 - 1e-9)
        c = flat["precision"]
        sims = rng.beta(p * c, (1 - p) * c)
    else:
        sims = mu + flat["sigma"] * stats.t.rvs(spec.t_nu, size=mu.shape, random_state=rng)
    return sims[:, 0] if point is not None else sims
