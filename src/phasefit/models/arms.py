"""Two arms of an intervention on the same models, fitted jointly: the baseline and the treatment.

For one (task, metric, family) measured under a baseline arm and a treatment arm (e.g. answer-only
and chain-of-thought prompting) on the same models, with the gain hypotheses of
`models/hypotheses/gain.py`:

    baseline  at model i: mu = floor + (1 - floor) logistic(b_i)
    treatment at model i: mu = floor + (1 - floor) logistic(b_i + g(x_i))

b_i is a free value per model (prior `baseline` in the gain hypotheses' TOMLs), so the baseline may
have any shape, emergent included, and the gain is learnt from the paired difference at each model:
no baseline curve has to be right for the gain to be. Both arms share the likelihood's dispersion
(beta-binomial concentration, or beta precision).

One model per (likelihood, hypothesis, slots) is compiled once; every pair only swaps data. With
counts the arrays are padded to `slots` (a multiple of 4) with n = 0, which adds nothing to the
likelihood; the padded b_j follow their prior and are left out of the marginal likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phasefit.data.curves import Curve, Likelihood
from phasefit.models import likelihoods
from phasefit.models.curve_model import BETA_EPS, with_derived
from phasefit.models.hypotheses import NUMPY, _pytensor_backend
from phasefit.models.priors import pymc_rv
from phasefit.models.spec import ModelSpec

BASELINE_PRIOR = "baseline"
SLOT = 4  # count arrays are padded to a multiple of this (fewer compiled models)
OBSERVED = ("y_baseline", "y_treatment")
DISPERSION = {"beta_binomial": ("concentration", "concentration"), "beta": ("precision", "beta_precision")}


@dataclass(frozen=True, kw_only=True)
class ArmsInputs:
    """Both arms at the models they share, on the model's scale (x centred on their range)."""

    likelihood: Likelihood
    models: tuple[str, ...]
    x: np.ndarray  # log10 scale minus `center`, ascending
    center: float
    y_base: np.ndarray  # counts (beta_binomial) or proportions (beta)
    n_base: np.ndarray  # items (beta_binomial), else zeros
    y_treat: np.ndarray
    n_treat: np.ndarray
    floor: float
    range_lo: float
    range_hi: float
    x_ref: float

    @property
    def m(self) -> int:
        return len(self.x)

    @property
    def slots(self) -> int:
        return SLOT * -(-self.m // SLOT) if self.likelihood == "beta_binomial" else self.m

    def data(self) -> dict[str, np.ndarray]:
        """The `pm.Data` values, padded to `slots` (n = 0 adds nothing to a beta-binomial)."""
        pad = self.slots - self.m

        def p(a, fill):
            return np.concatenate([a, np.full(pad, fill, dtype=a.dtype)])

        fill = 0 if self.likelihood == "beta_binomial" else 0.5
        return {
            "x": p(self.x, 0.0),
            "y_base": p(self.y_base, fill),
            "n_base": p(self.n_base, 0),
            "y_treat": p(self.y_treat, fill),
            "n_treat": p(self.n_treat, 0),
            "floor": np.asarray(self.floor),
            "center": np.asarray(self.center),
            "range_lo": np.asarray(self.range_lo),
            "range_hi": np.asarray(self.range_hi),
            "x_ref": np.asarray(self.x_ref),
        }

    @property
    def x_axis_values(self) -> np.ndarray:
        return self.x + self.center


def arms_inputs(baseline: Curve, treatment: Curve, spec: ModelSpec, *, hypothesis: str) -> ArmsInputs:
    """Both arms at their common models; the break's admissible range is `hypothesis`' (the one with a break)."""
    if baseline.likelihood != treatment.likelihood or baseline.likelihood not in DISPERSION:
        raise ValueError(
            f"{baseline.label} / {treatment.label}: an intervention needs both arms as proportions "
            f"(counts with n_items, or bounded scores), got {baseline.likelihood} and {treatment.likelihood}"
        )
    if not np.isclose(baseline.floor, treatment.floor):
        raise ValueError(f"{baseline.label} / {treatment.label}: the arms have different floors")
    tb, tt = (
        {m: i for i, m in enumerate(baseline.models)},
        {m: i for i, m in enumerate(treatment.models)},
    )
    common = sorted((m for m in tb if m in tt), key=lambda m: (baseline.x[tb[m]], m))
    if len(common) < 4:
        raise ValueError(f"{baseline.label} / {treatment.label}: {len(common)} models in both arms, at least 4 needed")
    ib, it = np.array([tb[m] for m in common]), np.array([tt[m] for m in common])
    x = baseline.x[ib]
    center = 0.5 * (x.min() + x.max())
    xs = x - center
    lo, hi = spec.plugin(hypothesis).admissible_range(np.sort(xs))
    if baseline.likelihood == "beta_binomial":
        assert baseline.k is not None and baseline.n is not None and treatment.k is not None and treatment.n is not None
        yb, nb = baseline.k[ib].astype(np.int64), baseline.n[ib].astype(np.int64)
        yt, nt = treatment.k[it].astype(np.int64), treatment.n[it].astype(np.int64)
        floor = baseline.floor
    else:
        yb, yt = (np.clip(c.y[i], BETA_EPS, 1 - BETA_EPS) for c, i in ((baseline, ib), (treatment, it)))
        nb = nt = np.zeros(len(common), np.int64)
        floor = min(baseline.floor, 1 - 10 * BETA_EPS)
    return ArmsInputs(
        likelihood=baseline.likelihood,
        models=tuple(common),
        x=xs,
        center=float(center),
        y_base=yb,
        n_base=nb,
        y_treat=yt,
        n_treat=nt,
        floor=float(floor),
        range_lo=float(lo),
        range_hi=float(hi),
        x_ref=float(xs.max()),
    )


def base_names(slots: int) -> tuple[str, ...]:
    return tuple(f"base_{j}" for j in range(slots))


def arms_priors(hypothesis: str, spec: ModelSpec, inputs: ArmsInputs, *, all_slots: bool = False):
    """(name, Prior) of every free parameter: the gain's, the baseline value of each model (of every
    slot with `all_slots`, else of the models that are there), then the dispersion."""
    hspec, plugin = spec.hypothesis(hypothesis), spec.plugin(hypothesis)
    own = [(p, hspec.prior(p)) for p in plugin.params]
    base = hspec.prior(BASELINE_PRIOR)
    name, key = DISPERSION[inputs.likelihood]
    n = inputs.slots if all_slots else inputs.m
    return own + [(b, base) for b in base_names(n)] + [(name, spec.shared_prior(key))]


def arms_names(hypothesis: str, spec: ModelSpec, inputs: ArmsInputs) -> tuple[str, ...]:
    """Every quantity kept per draw: the free parameters of all slots and the gain's derived ones."""
    plugin = spec.plugin(hypothesis)
    names = [n for n, _ in arms_priors(hypothesis, spec, inputs, all_slots=True)]
    return (*plugin.params, *plugin.derived, *names[len(plugin.params) :])


def _observe(likelihood: str, name: str, mu, c, y, n):
    import pymc as pm

    if likelihood == "beta_binomial":
        return pm.BetaBinomial(name, n=n, alpha=mu * c, beta=(1 - mu) * c, observed=y)
    return pm.Beta(name, alpha=mu * c, beta=(1 - mu) * c, observed=y)


def build_arms_model(hypothesis: str, spec: ModelSpec, *, template: ArmsInputs):
    """The joint PyMC model of both arms under one gain hypothesis; arms observed as `y_baseline`
    and `y_treatment`."""
    import pymc as pm
    import pytensor.tensor as pt

    plugin = spec.plugin(hypothesis)
    xp = _pytensor_backend()
    with pm.Model() as model:
        data = {name: pm.Data(name, value) for name, value in template.data().items()}
        p = {name: pymc_rv(name, prior) for name, prior in arms_priors(hypothesis, spec, template, all_slots=True)}
        for name, value in plugin.deterministics(p, data, xp).items():
            p[name] = pm.Deterministic(name, value)
        b = pt.stack([p[n] for n in base_names(template.slots)])
        g = plugin.eta(data["x"], p, data, xp)
        f = data["floor"]
        c = p[DISPERSION[template.likelihood][0]]
        for name, eta, y, n in (
            (OBSERVED[0], b, data["y_base"], data["n_base"]),
            (OBSERVED[1], b + g, data["y_treat"], data["n_treat"]),
        ):
            mu = pt.clip(f + (1 - f) * pt.sigmoid(eta), likelihoods.P_CLIP, 1 - likelihoods.P_CLIP)
            _observe(template.likelihood, name, mu, c, y, n)
    return model


def gain(hypothesis: str, draws: dict[str, np.ndarray], inputs: ArmsInputs, x: np.ndarray, spec: ModelSpec):
    """The gain g(x) at centred `x` for every draw: shape draws.shape + x.shape."""
    plugin = spec.plugin(hypothesis)
    d = with_derived(plugin, draws, inputs)  # type: ignore[arg-type]
    p = {k: v[..., None] for k, v in d.items()}
    shape = np.shape(next(iter(d.values())))
    return np.broadcast_to(plugin.eta(np.asarray(x, float), p, inputs.data(), NUMPY), (*shape, len(x)))


def arm_means(hypothesis: str, draws: dict[str, np.ndarray], inputs: ArmsInputs, spec: ModelSpec):
    """Expected score of (baseline, treatment) at the models for every draw: 2 arrays draws.shape + (m,)."""
    b = np.stack([np.asarray(draws[n]) for n in base_names(inputs.m)], axis=-1)
    g = gain(hypothesis, draws, inputs, inputs.x, spec)
    f = inputs.floor
    return tuple(
        np.clip(f + (1 - f) * NUMPY.sigmoid(e), likelihoods.P_CLIP, 1 - likelihoods.P_CLIP) for e in (b, b + g)
    )


def arms_loglik(hypothesis: str, draws: dict[str, np.ndarray], inputs: ArmsInputs, spec: ModelSpec) -> np.ndarray:
    """Total log likelihood of both arms for every draw (NumPy), shape draws.shape."""
    mu_b, mu_t = arm_means(hypothesis, draws, inputs, spec)
    disp: dict[str, np.ndarray] = {n: draws[n] for n in ("concentration", "precision") if n in draws}
    base = likelihoods.logpdf(inputs.likelihood, inputs.y_base, inputs.n_base, mu_b, disp, t_nu=spec.t_nu)
    treat = likelihoods.logpdf(inputs.likelihood, inputs.y_treat, inputs.n_treat, mu_t, disp, t_nu=spec.t_nu)
    return base.sum(-1) + treat.sum(-1)
