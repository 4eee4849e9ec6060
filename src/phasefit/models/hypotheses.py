"""The competing hypotheses (absent, smooth, breakpoint) as PyMC models of one curve.

Each hypothesis is its own small model (only its parameters and its likelihood), compiled once per
run and likelihood family; every curve, leave-future-out subset and exact LOO refit is swapped in
as data (`pm.Data`), since parameter shapes never depend on the data. A three-hypothesis mixture
with the indicator marginalised (weights as data) is also available (`fit="mixture"`), but the
pipeline gets P(h | y) from marginal likelihoods instead (phasefit.evidence.marginal explains why). The
mean functions and log likelihoods are also written for NumPy (`mean_curves`, `pointwise_loglik`)
so pointwise log likelihoods of any draw, held-out points included, need no compiled graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import special, stats

from phasefit.data.curves import Curve, Likelihood
from phasefit.models.spec import HYPOTHESES, ModelSpec, Prior

Fit = Literal["mixture", "absent", "smooth", "breakpoint"]
# parameter names by hypothesis (mixture models carry all of them)
PARAMS = {
    "absent": ("absent_level",),
    "smooth": ("smooth_intercept", "smooth_slope"),
    "breakpoint": ("bp_level", "bp_slope_before", "bp_gain", "bp_rise", "bp_tau"),
}
NUISANCE = {
    "beta_binomial": ("ceiling_fraction", "concentration"),
    "beta": ("ceiling_fraction", "precision"),
    "student_t": ("sigma",),
}
DATA_NAMES = {
    "beta_binomial": ("x", "k", "n", "floor", "tau_lo", "tau_hi", "x_ref", "log_w"),
    "beta": ("x", "y", "floor", "tau_lo", "tau_hi", "x_ref", "log_w"),
    "student_t": ("x", "y", "tau_lo", "tau_hi", "x_ref", "log_w"),
}
BETA_EPS = 1e-3  # bounded continuous scores are clipped to [eps, 1 - eps] for the beta likelihood
EXCLUDED = -1e4  # log weight that switches a hypothesis off (exp underflows to exactly 0)


@dataclass(frozen=True, kw_only=True)
class CurveInputs:
    """A curve on the model's scale: centred x, the response, the break's admissible range.

    `x_ref` is the largest model of the whole curve (centred): the breakpoint hypothesis' `gain` is
    the log-odds its rise adds there, so subsets (leave-future-out, LOO refits) keep it.
    """

    likelihood: Likelihood
    x: np.ndarray  # log10 scale minus `center`
    center: float
    k: np.ndarray  # counts (beta_binomial), else zeros
    n: np.ndarray
    y: np.ndarray  # proportion (beta) or standardised transform (student_t), else zeros
    y_loc: float
    y_scale: float
    floor: float
    tau_lo: float
    tau_hi: float
    x_ref: float

    def subset(self, keep: np.ndarray, *, tau_range: tuple[float, float] | None = None) -> CurveInputs:
        """The same curve restricted to the points in `keep` (leave-future-out training data)."""
        lo, hi = tau_range if tau_range is not None else (self.tau_lo, self.tau_hi)
        return CurveInputs(
            likelihood=self.likelihood,
            x=self.x[keep],
            center=self.center,
            k=self.k[keep],
            n=self.n[keep],
            y=self.y[keep],
            y_loc=self.y_loc,
            y_scale=self.y_scale,
            floor=self.floor,
            tau_lo=lo,
            tau_hi=hi,
            x_ref=self.x_ref,
        )

    def data(
        self, log_weights: tuple[float, float, float] | np.ndarray, *, fit: Fit = "mixture"
    ) -> dict[str, np.ndarray]:
        """The `pm.Data` values of the model for this likelihood and fit."""
        every = {
            "x": self.x,
            "k": self.k,
            "n": self.n,
            "y": self.y,
            "floor": np.asarray(self.floor),
            "tau_lo": np.asarray(self.tau_lo),
            "tau_hi": np.asarray(self.tau_hi),
            "x_ref": np.asarray(self.x_ref),
            "log_w": np.asarray(log_weights, float),
        }
        names = [
            n
            for n in DATA_NAMES[self.likelihood]
            if not (n == "log_w" and fit != "mixture")
            and not ((n.startswith("tau_") or n == "x_ref") and fit in ("absent", "smooth"))
        ]
        return {name: every[name] for name in names}


def curve_inputs(curve: Curve, spec: ModelSpec) -> CurveInputs:
    """Centre x on the curve's range and place the break's range so the rise shows in the data."""
    bp = spec.hypothesis("breakpoint")
    x = curve.x
    center = 0.5 * (x.min() + x.max())
    xs = np.sort(x - center)
    m = len(xs)
    lo = xs[min(bp.min_points_before, m) - 1]
    hi = xs[max(m - bp.min_points_after, 0)]
    if hi <= lo:  # too few points for both constraints: the whole range
        lo, hi = xs[0], xs[-1]
    zeros = np.zeros(m)
    if curve.likelihood == "beta_binomial":
        return CurveInputs(
            likelihood="beta_binomial",
            x=x - center,
            center=center,
            k=curve.k.astype(np.int64),
            n=curve.n.astype(np.int64),
            y=zeros,
            y_loc=0.0,
            y_scale=1.0,
            floor=curve.floor,
            tau_lo=lo,
            tau_hi=hi,
            x_ref=xs[-1],
        )
    if curve.likelihood == "beta":
        y = np.clip(curve.y, BETA_EPS, 1 - BETA_EPS)
        return CurveInputs(
            likelihood="beta",
            x=x - center,
            center=center,
            k=zeros.astype(np.int64),
            n=zeros.astype(np.int64),
            y=y,
            y_loc=0.0,
            y_scale=1.0,
            floor=min(curve.floor, 1 - 10 * BETA_EPS),
            tau_lo=lo,
            tau_hi=hi,
            x_ref=xs[-1],
        )
    loc, scale = float(np.mean(curve.y)), float(np.std(curve.y))
    scale = scale if scale > 0 else 1.0
    return CurveInputs(
        likelihood="student_t",
        x=x - center,
        center=center,
        k=zeros.astype(np.int64),
        n=zeros.astype(np.int64),
        y=(curve.y - loc) / scale,
        y_loc=loc,
        y_scale=scale,
        floor=0.0,
        tau_lo=lo,
        tau_hi=hi,
        x_ref=xs[-1],
    )


# ------------------------------------------------------------------------------ mean functions


def eta_smooth(x, intercept, slope):
    return intercept + slope * x


def eta_breakpoint(x, level, slope_before, rise, tau, width, *, softplus):
    """Slope `slope_before` left of `tau`, `slope_before + rise` right of it, softplus-joined."""
    return level + slope_before * (x - tau) + rise * width * softplus((x - tau) / width)


def _np_softplus(z):
    return np.logaddexp(0.0, z)


def rise_from_gain(gain, tau, x_ref, width, *, softplus=_np_softplus):
    """The slope change that adds `gain` log-odds at `x_ref`, the largest model (the prior is on gain).

    Putting the prior on what the rise achieves inside the data, not on its slope, is what makes
    the breakpoint hypothesis "a rise that shows": a curve flat to its last model cannot be fitted
    by a break with a negligible rise past the data, so flat curves go to `absent`.
    """
    return gain / (width * softplus((x_ref - tau) / width))


def mean_curves(
    draws: dict[str, np.ndarray],
    x: np.ndarray,
    *,
    likelihood: Likelihood,
    floor: float,
    width: float,
    hypotheses: tuple[str, ...] = HYPOTHESES,
) -> dict[str, np.ndarray]:
    """Expected response per hypothesis for every draw: arrays of shape draws.shape + x.shape."""
    d = {k: np.asarray(v)[..., None] for k, v in draws.items()}
    out = {}
    for h in hypotheses:
        if h == "absent":
            eta = d["absent_level"] + 0 * x
        elif h == "smooth":
            eta = eta_smooth(x, d["smooth_intercept"], d["smooth_slope"])
        else:
            eta = eta_breakpoint(
                x, d["bp_level"], d["bp_slope_before"], d["bp_rise"], d["bp_tau"], width, softplus=_np_softplus
            )
        if likelihood == "student_t":
            out[h] = eta
        elif h == "absent":  # no ceiling: a constant level near the floor
            out[h] = floor + (1 - floor) * special.expit(eta)
        else:
            out[h] = floor + (1 - floor) * d["ceiling_fraction"] * special.expit(eta)
    return out


def pointwise_loglik(
    draws: dict[str, np.ndarray],
    inputs: CurveInputs,
    *,
    width: float,
    t_nu: float,
    hypotheses: tuple[str, ...] = HYPOTHESES,
) -> dict[str, np.ndarray]:
    """Log likelihood of every point under each hypothesis, shape draws.shape + (n_points,)."""
    mu = mean_curves(
        draws, inputs.x, likelihood=inputs.likelihood, floor=inputs.floor, width=width, hypotheses=hypotheses
    )
    out = {}
    for h, m in mu.items():
        if inputs.likelihood == "beta_binomial":
            p = np.clip(m, 1e-9, 1 - 1e-9)
            c = np.asarray(draws["concentration"])[..., None]
            out[h] = stats.betabinom.logpmf(inputs.k, inputs.n, p * c, (1 - p) * c)
        elif inputs.likelihood == "beta":
            p = np.clip(m, 1e-9, 1 - 1e-9)
            c = np.asarray(draws["precision"])[..., None]
            out[h] = stats.beta.logpdf(inputs.y, p * c, (1 - p) * c)
        else:
            s = np.asarray(draws["sigma"])[..., None]
            out[h] = stats.t.logpdf(inputs.y, t_nu, loc=m, scale=s)
    return out


# ----------------------------------------------------------------------------------- the model


def _rv(name: str, prior: Prior):
    p = dict(prior.params)
    match prior.dist:
        case "normal":
            return pm.Normal(name, mu=p["mu"], sigma=p["sigma"])
        case "lognormal":
            return pm.LogNormal(name, mu=p["mu"], sigma=p["sigma"])
        case "beta":
            return pm.Beta(name, alpha=p["alpha"], beta=p["beta"])
        case "halfnormal":
            return pm.HalfNormal(name, sigma=p["sigma"])
    raise ValueError(prior.dist)


def build_model(
    likelihood: Likelihood, spec: ModelSpec, *, fit: Fit = "mixture", template: CurveInputs | None = None
) -> pm.Model:
    """One hypothesis' model for one curve (or the marginalised mixture of all three), data as `pm.Data`.

    A single-hypothesis model has only that hypothesis' parameters (and its nuisance parameters),
    so sampling it costs a fraction of the mixture; the mixture keeps the weights as data.
    """
    t = template if template is not None else _template(likelihood)
    is_t = likelihood == "student_t"
    names = HYPOTHESES if fit == "mixture" else (fit,)
    with pm.Model() as model:
        data = {name: pm.Data(name, value) for name, value in t.data(spec.log_weights(), fit=fit).items()}
        x = data["x"]
        etas = {}
        if "absent" in names:
            absent = spec.hypothesis("absent")
            etas["absent"] = _rv("absent_level", absent.prior("level", student_t=is_t)) + 0 * x
        if "smooth" in names:
            smooth = spec.hypothesis("smooth")
            etas["smooth"] = eta_smooth(
                x,
                _rv("smooth_intercept", smooth.prior("intercept", student_t=is_t)),
                _rv("smooth_slope", smooth.prior("slope", student_t=is_t)),
            )
        if "breakpoint" in names:
            bp = spec.hypothesis("breakpoint")
            b_lvl = _rv("bp_level", bp.prior("level", student_t=is_t))
            b_s1 = _rv("bp_slope_before", bp.prior("slope_before", student_t=is_t))
            b_gain = _rv("bp_gain", bp.prior("gain", student_t=is_t))
            b_frac = _rv("bp_tau_fraction", bp.prior("tau_fraction", student_t=is_t))
            tau = pm.Deterministic("bp_tau", data["tau_lo"] + (data["tau_hi"] - data["tau_lo"]) * b_frac)
            b_rise = pm.Deterministic(
                "bp_rise", rise_from_gain(b_gain, tau, data["x_ref"], bp.width, softplus=pt.softplus)
            )
            etas["breakpoint"] = eta_breakpoint(x, b_lvl, b_s1, b_rise, tau, bp.width, softplus=pt.softplus)
        if is_t:
            sigma = _rv("sigma", spec.shared_prior("t_sigma"))
            lls = [pm.logp(pm.StudentT.dist(nu=spec.t_nu, mu=e, sigma=sigma), data["y"]).sum() for e in etas.values()]
        else:
            floor = data["floor"]
            needs_ceiling = any(h != "absent" for h in etas)
            cf = _rv("ceiling_fraction", spec.shared_prior("ceiling_fraction")) if needs_ceiling else None
            ps = [
                pt.clip(floor + (1 - floor) * (1.0 if h == "absent" else cf) * pt.sigmoid(e), 1e-9, 1 - 1e-9)
                for h, e in etas.items()
            ]
            if likelihood == "beta_binomial":
                c = _rv("concentration", spec.shared_prior("concentration"))
                lls = [
                    pm.logp(pm.BetaBinomial.dist(n=data["n"], alpha=p * c, beta=(1 - p) * c), data["k"]).sum()
                    for p in ps
                ]
            else:
                c = _rv("precision", spec.shared_prior("beta_precision"))
                lls = [pm.logp(pm.Beta.dist(alpha=p * c, beta=(1 - p) * c), data["y"]).sum() for p in ps]
        if len(lls) == 1:
            pm.Potential("likelihood", lls[0])
        else:
            pm.Potential("hypotheses", pt.logsumexp(data["log_w"] + pt.stack(lls)))
    return model


def _template(likelihood: Likelihood) -> CurveInputs:
    x = np.linspace(-1.5, 1.5, 6)
    n = np.full(6, 100, np.int64)
    return CurveInputs(
        likelihood=likelihood,
        x=x,
        center=0.0,
        k=np.array([1, 2, 2, 10, 40, 70], np.int64),
        n=n,
        y=np.array([0.02, 0.03, 0.02, 0.1, 0.4, 0.7]),
        y_loc=0.0,
        y_scale=1.0,
        floor=0.0,
        tau_lo=x[1],
        tau_hi=x[4],
        x_ref=x[-1],
    )


def weights_for(fit: Fit, spec: ModelSpec) -> np.ndarray:
    """Log prior weights for a fit: the spec's for the mixture, one hypothesis switched on otherwise."""
    if fit == "mixture":
        return np.asarray(spec.log_weights())
    return np.array([0.0 if h == fit else EXCLUDED for h in HYPOTHESES])


def free_params(likelihood: Likelihood, fit: Fit = "mixture") -> tuple[str, ...]:
    """Parameters stored per draw (bp_tau and bp_rise are Deterministics; bp_tau_fraction is kept for evidence)."""
    names = HYPOTHESES if fit == "mixture" else (fit,)
    nuisance = NUISANCE[likelihood]
    if names == ("absent",):  # absent has no ceiling
        nuisance = tuple(n for n in nuisance if n != "ceiling_fraction")
    own = tuple(p for h in names for p in PARAMS[h])
    return (*own, *(("bp_tau_fraction",) if "breakpoint" in names else ()), *nuisance)
