"""One hypothesis as a PyMC model of one curve, and the curve's data on the model's scale.

Each hypothesis is its own small model (its parameters, its likelihood's nuisance parameters and
the observed `y`), compiled once per run and likelihood family; every curve, leave-future-out subset
and exact LOO refit is swapped in as data (`pm.Data`), since parameter shapes never depend on the
data. The mean function is the plug-in's, written once for PyMC and NumPy; `pointwise_loglik` and
`mean_curve` evaluate it with NumPy for any draws, held-out points included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from phasefit.data.curves import Curve, Likelihood
from phasefit.models import likelihoods
from phasefit.models.hypotheses import NUMPY, Hypothesis, MathBackend, _pytensor_backend
from phasefit.models.priors import pymc_rv
from phasefit.models.spec import ModelSpec

BETA_EPS = 1e-3  # bounded continuous scores are clipped to [eps, 1 - eps] for the beta likelihood


@dataclass(frozen=True, kw_only=True)
class CurveInputs:
    """A curve on the model's scale: centred x, the observed y, the admissible range of a feature.

    `y` holds counts (beta_binomial), proportions (beta) or the standardised score (student_t).
    `x_ref` is the largest model of the whole curve (centred): subsets (leave-future-out, LOO
    refits) keep it, so a breakpoint's `gain` means the same in every refit.
    """

    likelihood: Likelihood
    x: np.ndarray  # log10 scale minus `center`
    center: float
    y: np.ndarray
    n: np.ndarray  # items per point (beta_binomial), else zeros
    y_loc: float
    y_scale: float
    floor: float
    range_lo: float
    range_hi: float
    x_ref: float
    answer_tokens: float = 0.0  # target length L when the data give it, else 0 (a hypothesis' prior decides)

    def subset(self, keep: np.ndarray, *, range_: tuple[float, float] | None = None) -> CurveInputs:
        """The same curve restricted to the points in `keep` (leave-future-out and LOO refits)."""
        lo, hi = range_ if range_ is not None else (self.range_lo, self.range_hi)
        return CurveInputs(
            likelihood=self.likelihood,
            x=self.x[keep],
            center=self.center,
            y=self.y[keep],
            n=self.n[keep],
            y_loc=self.y_loc,
            y_scale=self.y_scale,
            floor=self.floor,
            range_lo=lo,
            range_hi=hi,
            x_ref=self.x_ref,
            answer_tokens=self.answer_tokens,
        )

    def data(self) -> dict[str, np.ndarray]:
        """The `pm.Data` values of every hypothesis model."""
        return {
            "x": self.x,
            "y_data": self.y,
            "n": self.n,
            "floor": np.asarray(self.floor),
            "center": np.asarray(self.center),
            "range_lo": np.asarray(self.range_lo),
            "range_hi": np.asarray(self.range_hi),
            "x_ref": np.asarray(self.x_ref),
            "answer_tokens": np.asarray(self.answer_tokens),
        }

    @property
    def x_axis_values(self) -> np.ndarray:
        return self.x + self.center


def curve_inputs(curve: Curve, spec: ModelSpec) -> CurveInputs:
    """Centre x on the curve's range; the admissible feature range is the range-using hypothesis'."""
    x = curve.x
    center = 0.5 * (x.min() + x.max())
    xs = np.sort(x - center)
    lo, hi = float(xs[0]), float(xs[-1])
    for h in spec.plugins():
        if h.uses_range:
            lo, hi = h.admissible_range(xs)
            break
    zeros = np.zeros(len(x))
    tokens = curve.answer_tokens if np.isfinite(curve.answer_tokens) else 0.0
    common = dict(
        x=x - center, center=float(center), range_lo=lo, range_hi=hi, x_ref=float(xs[-1]), answer_tokens=tokens
    )
    if curve.likelihood == "beta_binomial":
        return CurveInputs(
            likelihood="beta_binomial",
            y=curve.k.astype(np.int64),
            n=curve.n.astype(np.int64),
            y_loc=0.0,
            y_scale=1.0,
            floor=curve.floor,
            **common,
        )
    if curve.likelihood == "beta":
        return CurveInputs(
            likelihood="beta",
            y=np.clip(curve.y, BETA_EPS, 1 - BETA_EPS),
            n=zeros,
            y_loc=0.0,
            y_scale=1.0,
            floor=min(curve.floor, 1 - 10 * BETA_EPS),
            **common,
        )
    loc, scale = float(np.mean(curve.y)), float(np.std(curve.y))
    scale = scale if scale > 0 else 1.0
    return CurveInputs(
        likelihood="student_t", y=(curve.y - loc) / scale, n=zeros, y_loc=loc, y_scale=scale, floor=0.0, **common
    )


def template_inputs(likelihood: Likelihood) -> CurveInputs:
    """A typical curve to build a model with before any real curve is swapped in."""
    x = np.linspace(-1.5, 1.5, 6)
    if likelihood == "beta_binomial":
        y, n = np.array([1, 2, 2, 10, 40, 70], np.int64), np.full(6, 100, np.int64)
    else:
        y, n = np.array([0.02, 0.03, 0.02, 0.1, 0.4, 0.7]), np.zeros(6)
    return CurveInputs(
        likelihood=likelihood,
        x=x,
        center=0.0,
        y=y,
        n=n,
        y_loc=0.0,
        y_scale=1.0,
        floor=0.0,
        range_lo=x[1],
        range_hi=x[4],
        x_ref=x[-1],
    )


# ------------------------------------------------------------------------------------- PyMC


def parameter_priors(hypothesis: str, likelihood: Likelihood, spec: ModelSpec):
    """(name, Prior) of every free parameter of a hypothesis' model: its own, then the nuisance ones."""
    hspec, plugin = spec.hypothesis(hypothesis), spec.plugin(hypothesis)
    is_t = likelihood == "student_t"
    own = [(p, hspec.prior(p, student_t=is_t)) for p in plugin.params]
    return own + [
        (n, spec.shared_prior(key)) for n, key in likelihoods.nuisance(likelihood, uses_ceiling=plugin.uses_ceiling)
    ]


def stored_names(hypothesis: str, likelihood: Likelihood, spec: ModelSpec) -> tuple[str, ...]:
    """Every quantity kept per draw: free parameters and the plug-in's derived quantities."""
    plugin = spec.plugin(hypothesis)
    return (
        *plugin.params,
        *plugin.derived,
        *(n for n, _ in likelihoods.nuisance(likelihood, uses_ceiling=plugin.uses_ceiling)),
    )


def build_model(hypothesis: str, likelihood: Likelihood, spec: ModelSpec, *, template: CurveInputs | None = None):
    """One hypothesis' PyMC model for one curve, its data as `pm.Data` and `y` observed."""
    import pymc as pm
    import pytensor.tensor as pt

    t = template if template is not None else template_inputs(likelihood)
    plugin = spec.plugin(hypothesis)
    xp = _pytensor_backend()
    with pm.Model() as model:
        data = {name: pm.Data(name, value) for name, value in t.data().items()}
        p = {name: pymc_rv(name, prior) for name, prior in parameter_priors(hypothesis, likelihood, spec)}
        for name, value in plugin.deterministics(p, data, xp).items():
            p[name] = pm.Deterministic(name, value)
        eta = plugin.eta(data["x"], p, data, xp)
        mu = likelihoods.mean(eta, p, data, likelihood, xp_clip=pt.clip, sigmoid=pt.sigmoid)
        likelihoods.observe(likelihood, mu, p, data, t_nu=spec.t_nu)
    return model


# ------------------------------------------------------------------------------------ NumPy


def with_derived(
    plugin: Hypothesis, draws: Mapping[str, np.ndarray], inputs: CurveInputs, xp: MathBackend = NUMPY
) -> dict[str, np.ndarray]:
    """The draws as arrays, with the plug-in's derived quantities (tau, ...) added where missing."""
    d = {k: np.asarray(v) for k, v in draws.items()}
    missing = [k for k in plugin.derived if k not in d]
    if missing:
        d |= {k: v for k, v in plugin.deterministics(d, inputs.data(), xp).items() if k in missing}
    return d


def mean_curve(
    hypothesis: str, draws: Mapping[str, np.ndarray], inputs: CurveInputs, x: np.ndarray, spec: ModelSpec
) -> np.ndarray:
    """Expected response at centred `x` for every draw: shape draws.shape + x.shape."""
    plugin = spec.plugin(hypothesis)
    d = with_derived(plugin, draws, inputs)
    p = {k: v[..., None] for k, v in d.items()}
    eta = plugin.eta(np.asarray(x, float), p, inputs.data(), NUMPY)
    eta = np.broadcast_to(eta, np.broadcast_shapes(np.shape(eta), (*np.shape(next(iter(d.values()))), len(x))))
    return likelihoods.mean(eta, p, inputs.data(), inputs.likelihood, xp_clip=np.clip, sigmoid=NUMPY.sigmoid)


def mean_at(
    hypothesis: str, draws: Mapping[str, np.ndarray], inputs: CurveInputs, x: np.ndarray, spec: ModelSpec
) -> np.ndarray:
    """Expected response of each draw at its own centred scale: draws flattened, `x` one value per draw."""
    plugin = spec.plugin(hypothesis)
    d = with_derived(plugin, draws, inputs)
    eta = plugin.eta(np.asarray(x, float), d, inputs.data(), NUMPY)
    return likelihoods.mean(eta, d, inputs.data(), inputs.likelihood, xp_clip=np.clip, sigmoid=NUMPY.sigmoid)


def pointwise_loglik(
    hypothesis: str, draws: Mapping[str, np.ndarray], inputs: CurveInputs, spec: ModelSpec
) -> np.ndarray:
    """Log likelihood of every point of `inputs`, shape draws.shape + (n_points,)."""
    mu = mean_curve(hypothesis, draws, inputs, inputs.x, spec)
    return likelihoods.logpdf(inputs.likelihood, inputs.y, inputs.n, mu, draws, t_nu=spec.t_nu)


def predictive(
    hypothesis: str, draws: Mapping[str, np.ndarray], inputs: CurveInputs, spec: ModelSpec, *, rng: np.random.Generator
) -> np.ndarray:
    """Simulated y at the curve's points for every draw (posterior or prior predictive)."""
    mu = mean_curve(hypothesis, draws, inputs, inputs.x, spec)
    return likelihoods.simulate(inputs.likelihood, mu, inputs.n, draws, t_nu=spec.t_nu, rng=rng)
