"""Generators ("worlds") of the accuracy benchmark: simulated scaling curves that are *not* phasefit's model.

Every world has three kinds of curves, 1/3 each: `break` (flat near the floor, then a rise past a break
inside the data), `smooth` (one trend in log-compute) and `flat` (a constant level near the floor). Each
kind's curves are a deterministic function of independent uniforms u in (0, 1)^d (`Kind.shape(u, design, x)`),
so the generator and its Bayes-optimal reference (`accuracy_reference`) share one prior: the generator
draws one u, the reference integrates over u. The model grid (x, n_items, floor) is data, not a
parameter: both condition on it.

Expected score of a curve: p(x) = floor + (1 - floor) * f * q(x) with q in [0, 1] the curve's shape on
the "range" scale and f its ceiling fraction (flat curves: p = floor + (1 - floor) * q, no ceiling).
Counts: each model's success probability ~ Beta(p kappa, (1 - p) kappa) (over-dispersion; kappa = inf is
binomial), then k ~ Binomial(n_items, that probability); marginally k ~ BetaBinomial(n, p kappa, (1 - p)
kappa), the likelihood the reference uses.

Worlds (priors in `WORLDS`, documented in benchmarks/README.md):

- `hinge`: a smoothed hinge on the logit scale, eta = logit(q0) + s w softplus((x - tau) / w), widths w
  0.02-0.3 decades; smooth = logit-linear from the smallest model.
- `logistic`: a logistic rise in log-compute from a plateau, q = q0 + (1 - q0) logistic(k (x - m));
  smooth = logit-linear around the middle of the curve (steep sigmoids in p included).
- `powerlaw`: a power law in the error rate that starts at the break, 1 - q = (1 - q0) 10^(-alpha (x -
  tau)) after tau; smooth = a power law in the error from the smallest model on (concave in log-odds).
- `prior_predictive`: phasefit 0.1's own `simulation_suite` (sharp hinges with drift, parameters from
  its bundled priors), frozen here (`frozen_simulation_suite`, `FROZEN_PRIORS`) so that the suite stays
  the same when the package's priors change; its reference integrates those priors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

KINDS = ("break", "smooth", "flat")
KIND_WEIGHTS = {"break": 1 / 3, "smooth": 1 / 3, "flat": 1 / 3}  # the kinds are drawn in rotation
MARGIN = 0.05  # onset: the smallest x where the expected score exceeds floor + MARGIN * (1 - floor)
ONSET_PAD = 1.0  # onsets are looked for in [x_min - ONSET_PAD, x_max + ONSET_PAD] decades
ONSET_STEP = 0.005  # decades, grid of the onset search (linear interpolation between grid points)
RISE_SD = 3.0  # a visible break: >= 2 models before it and >= 2 after it that rise RISE_SD sds
P_EPS = 1e-10

# shared priors of the three new worlds
GRID_POINTS = (4, 12)  # models per curve, uniform integer
GRID_START = (19.0, 21.0)  # log10 FLOPs of the smallest model, uniform
GRID_SPAN = (2.5, 4.5)  # decades from the smallest to the largest model, uniform
GRID_EVENNESS = (0.7, 5.0)  # Dirichlet concentration of the gaps (log-uniform): low = clustered models
GRID_MIN_GAP = 0.05  # decades between neighbouring models
N_ITEMS = (100, 5000)  # log-uniform, the same for every model of a curve
FLOORS = (0.0, 0.25, 0.5)
KAPPA = (20.0, 2000.0)  # beta-binomial concentration, log-uniform over the first KAPPA_SHARE of u
KAPPA_SHARE = 0.75  # the remaining 25%: no over-dispersion (binomial)
CEILING = (0.5, 1.0)  # ceiling fraction f, uniform
PLATEAU = (1e-4, 0.2)  # pre-break level q0 on the range scale, log-uniform
GAIN = (2.0, 15.0)  # log-odds the rise adds at the largest model, log-uniform (before the slope cap)
MAX_SLOPE = 8.0  # post-break slope cap, log-odds per decade
TAU_INSET = 0.1  # the break is uniform in [x_min + 0.1 span, x_max - 0.1 span]
HINGE_WIDTH = (0.02, 0.3)  # decades, log-uniform
SMOOTH_SLOPE = (0.2, 3.0)  # log-odds per decade, uniform
SMOOTH_LOW = (1e-3, 0.5)  # hinge world: smooth curve's level at the smallest model (range scale)
SMOOTH_MID = (0.005, 0.8)  # logistic world: smooth curve's level at the middle of the curve
POWER_SMOOTH_ALPHA = (0.03, 0.6)  # powerlaw world: decades of error decay per decade of compute
POWER_SMOOTH_LOW = (0.01, 0.5)  # powerlaw world: smooth curve's level at the smallest model
FLAT_LEVEL = (1e-4, 0.1)  # flat curves: level above the floor, share of (1 - floor), log-uniform


@dataclass(frozen=True)
class Design:
    """What both the generator and the reference condition on: the models' log10 FLOPs, n_items, floor."""

    x: np.ndarray
    n: np.ndarray
    floor: float

    @property
    def x_lo(self) -> float:
        return float(self.x[0])

    @property
    def x_hi(self) -> float:
        return float(self.x[-1])

    @property
    def span(self) -> float:
        return self.x_hi - self.x_lo

    @property
    def mid(self) -> float:
        return 0.5 * (self.x_lo + self.x_hi)

    def onset_grid(self) -> np.ndarray:
        lo, hi = self.x_lo - ONSET_PAD, self.x_hi + ONSET_PAD
        return np.linspace(lo, hi, int(round((hi - lo) / ONSET_STEP)) + 1)


@dataclass
class Shape:
    """A kind's curves for M parameter draws at K x values."""

    p: np.ndarray  # (M, K) expected score
    kappa: np.ndarray  # (M,) beta-binomial concentration, inf = binomial
    tau: np.ndarray | None = None  # (M,) break in log10 FLOPs (break kinds)
    base: np.ndarray | None = None  # (M, K) the pre-break line continued (break kinds)
    info: dict[str, np.ndarray] = field(default_factory=dict)  # (M,) extra truth


@dataclass(frozen=True)
class Kind:
    dim: int
    names: tuple[str, ...]  # what each uniform encodes (documentation)
    shape: Callable[[np.ndarray, Design, np.ndarray], Shape]  # (u (M, dim), design, x (K,)) -> Shape


@dataclass(frozen=True)
class World:
    name: str
    description: str
    kinds: dict[str, Kind]


# ------------------------------------------------------------------------------------- priors


def uni(u, lo: float, hi: float):
    return lo + (hi - lo) * u


def logu(u, lo: float, hi: float):
    return lo * (hi / lo) ** u


def kappa_of(u):
    """Over-dispersion: log-uniform 20-2000 on u < 0.75 (20 = strong), binomial (inf) above."""
    with np.errstate(over="ignore"):
        return np.where(u < KAPPA_SHARE, logu(np.minimum(u / KAPPA_SHARE, 1.0), *KAPPA), np.inf)


def softplus(z):
    return np.logaddexp(0.0, z)


def _scale(q, design: Design, f):
    return design.floor + (1.0 - design.floor) * f[:, None] * q


def _tau(u, design: Design):
    return uni(u, design.x_lo + TAU_INSET * design.span, design.x_hi - TAU_INSET * design.span)


# -------------------------------------------------------------------------------------- hinge


def hinge_break(u, design: Design, x) -> Shape:
    tau, q0, gain = _tau(u[:, 0], design), logu(u[:, 1], *PLATEAU), logu(u[:, 2], *GAIN)
    w, f, kappa = logu(u[:, 3], *HINGE_WIDTH), uni(u[:, 4], *CEILING), kappa_of(u[:, 5])
    s = np.minimum(gain / (w * softplus((design.x_hi - tau) / w)), MAX_SLOPE)
    eta0 = special.logit(q0)[:, None]
    eta = eta0 + (s * w)[:, None] * softplus((x[None, :] - tau[:, None]) / w[:, None])
    gain_real = s * w * softplus((design.x_hi - tau) / w)
    return Shape(
        p=_scale(special.expit(eta), design, f),
        kappa=kappa,
        tau=tau,
        base=np.broadcast_to(_scale(q0[:, None], design, f), (len(u), len(x))),
        info={"plateau": q0, "gain": gain_real, "slope_after": s, "width": w, "ceiling_fraction": f},
    )


def loglinear_smooth_low(u, design: Design, x) -> Shape:
    b, q_lo, f, kappa = (
        uni(u[:, 0], *SMOOTH_SLOPE),
        logu(u[:, 1], *SMOOTH_LOW),
        uni(u[:, 2], *CEILING),
        kappa_of(u[:, 3]),
    )
    eta = special.logit(q_lo)[:, None] + b[:, None] * (x[None, :] - design.x_lo)
    return Shape(
        p=_scale(special.expit(eta), design, f),
        kappa=kappa,
        info={"slope": b, "level_low": q_lo, "ceiling_fraction": f},
    )


def flat(u, design: Design, x) -> Shape:
    q, kappa = logu(u[:, 0], *FLAT_LEVEL), kappa_of(u[:, 1])
    p = design.floor + (1.0 - design.floor) * np.broadcast_to(q[:, None], (len(u), len(x)))
    return Shape(p=p, kappa=kappa, info={"level": q})


# ----------------------------------------------------------------------------------- logistic


def logistic_break(u, design: Design, x) -> Shape:
    tau, q0, gain = _tau(u[:, 0], design), logu(u[:, 1], *PLATEAU), logu(u[:, 2], *GAIN)
    f, kappa = uni(u[:, 3], *CEILING), kappa_of(u[:, 4])
    k = np.minimum(gain / (design.x_hi - tau), MAX_SLOPE)
    # tau is the elbow: the rising part equals the plateau there (where the two asymptotes of logit q meet)
    m = tau - special.logit(q0 / (1.0 - q0)) / k
    q = q0[:, None] + (1.0 - q0[:, None]) * special.expit(k[:, None] * (x[None, :] - m[:, None]))
    q_hi = q0 + (1.0 - q0) * special.expit(k * (design.x_hi - m))
    return Shape(
        p=_scale(q, design, f),
        kappa=kappa,
        tau=tau,
        base=np.broadcast_to(_scale(q0[:, None], design, f), (len(u), len(x))),
        info={"plateau": q0, "gain": special.logit(q_hi) - special.logit(q0), "slope_after": k, "ceiling_fraction": f},
    )


def loglinear_smooth_mid(u, design: Design, x) -> Shape:
    b, q_mid, f, kappa = (
        uni(u[:, 0], *SMOOTH_SLOPE),
        logu(u[:, 1], *SMOOTH_MID),
        uni(u[:, 2], *CEILING),
        kappa_of(u[:, 3]),
    )
    eta = special.logit(q_mid)[:, None] + b[:, None] * (x[None, :] - design.mid)
    return Shape(
        p=_scale(special.expit(eta), design, f),
        kappa=kappa,
        info={"slope": b, "level_mid": q_mid, "ceiling_fraction": f},
    )


# ----------------------------------------------------------------------------------- powerlaw


def powerlaw_break(u, design: Design, x) -> Shape:
    tau, q0, gain = _tau(u[:, 0], design), logu(u[:, 1], *PLATEAU), logu(u[:, 2], *GAIN)
    f, kappa = uni(u[:, 3], *CEILING), kappa_of(u[:, 4])
    q_target = special.expit(special.logit(q0) + gain)
    alpha = np.log10((1.0 - q0) / (1.0 - q_target)) / (design.x_hi - tau)
    alpha = np.minimum(alpha, MAX_SLOPE / math.log(10.0))  # asymptotic log-odds slope alpha ln 10 <= 8
    dx = np.maximum(x[None, :] - tau[:, None], 0.0)
    q = 1.0 - (1.0 - q0[:, None]) * 10.0 ** (-alpha[:, None] * dx)
    q_hi = 1.0 - (1.0 - q0) * 10.0 ** (-alpha * (design.x_hi - tau))
    return Shape(
        p=_scale(q, design, f),
        kappa=kappa,
        tau=tau,
        base=np.broadcast_to(_scale(q0[:, None], design, f), (len(u), len(x))),
        info={
            "plateau": q0,
            "gain": special.logit(np.minimum(q_hi, 1 - 1e-15)) - special.logit(q0),
            "slope_after": alpha * math.log(10.0),
            "alpha": alpha,
            "ceiling_fraction": f,
        },
    )


def powerlaw_smooth(u, design: Design, x) -> Shape:
    alpha, q_lo = logu(u[:, 0], *POWER_SMOOTH_ALPHA), logu(u[:, 1], *POWER_SMOOTH_LOW)
    f, kappa = uni(u[:, 2], *CEILING), kappa_of(u[:, 3])
    q = 1.0 - (1.0 - q_lo[:, None]) * 10.0 ** (-alpha[:, None] * (x[None, :] - design.x_lo))
    return Shape(
        p=_scale(np.clip(q, 0.0, 1.0), design, f),
        kappa=kappa,
        info={"alpha": alpha, "level_low": q_lo, "ceiling_fraction": f},
    )


# ---------------------------------------------------------------------------- prior predictive


def _ppf(prior, u):
    """Inverse CDF of a phasefit `Prior` (dist + params) at u."""
    par = dict(prior.params)
    match prior.dist:
        case "normal":
            return par["mu"] + par["sigma"] * special.ndtri(u)
        case "lognormal":
            return np.exp(par["mu"] + par["sigma"] * special.ndtri(u))
        case "halfnormal":
            return par["sigma"] * special.ndtri(0.5 + 0.5 * u)
        case "beta":
            a, b = par["alpha"], par["beta"]
            if b == 1.0:
                return u ** (1.0 / a)
            if a == 1.0:
                return 1.0 - (1.0 - u) ** (1.0 / b)
            return special.betaincinv(a, b, u)
    raise ValueError(f"prior {prior.dist} not supported")


@dataclass(frozen=True)
class FrozenPrior:
    """A univariate prior like phasefit's spec `Prior` (dist + params), frozen in this benchmark."""

    dist: str
    params: tuple[tuple[str, float], ...]

    def __getitem__(self, name: str) -> float:
        return dict(self.params)[name]

    def describe(self) -> str:
        return f"{self.dist.capitalize()}(" + ", ".join(f"{k}={v:g}" for k, v in self.params) + ")"


def _normal(mu, sigma):
    return FrozenPrior("normal", (("mu", mu), ("sigma", sigma)))


# phasefit 0.1's bundled priors (models/default.toml at git 5371fbc), which its simulation_suite draws
# from. Frozen here so that the prior-predictive world stays the same suite when the package's priors
# change (the yardstick must not move between a "before" and an "after" run).
FROZEN_PRIORS = {
    "tau_fraction": FrozenPrior("beta", (("alpha", 1.2), ("beta", 1.2))),
    "bp_level": _normal(-3.0, 1.5),
    "slope_before": _normal(0.0, 0.25),
    "gain": FrozenPrior("lognormal", (("mu", 1.6), ("sigma", 0.4))),
    "intercept": _normal(-1.0, 2.5),
    "slope": _normal(0.5, 2.0),
    "flat_level": _normal(-3.0, 1.5),
    "ceiling_fraction": FrozenPrior("beta", (("alpha", 3.0), ("beta", 1.0))),
    "concentration": FrozenPrior("lognormal", (("mu", 5.3), ("sigma", 1.2))),
}
FLAT_MAX_LEVEL = -2.0  # phasefit.models.simulate: flat curves keep the absent prior's draws below this
PP_POINTS = (5, 10)
PP_N_ITEMS = (100, 250, 500, 1000, 2000)


class PriorPredictive:
    """The prior-predictive world: phasefit 0.1's `simulation_suite` (`frozen_simulation_suite`) and its
    priors as functions of uniforms, the way it draws its curves: sharp hinges (slope gain / (x_max -
    tau) after tau) with drift, the break in [x_(2), x_(m-1)]; smooth = logit-linear around the curve's
    middle; flat = the absent prior's level truncated below FLAT_MAX_LEVEL; ceiling fraction and
    beta-binomial concentration from the shared priors, for every kind.
    """

    def __init__(self):
        self.priors = dict(FROZEN_PRIORS)
        lvl = self.priors["flat_level"]
        self.flat_cut = float(special.ndtr((FLAT_MAX_LEVEL - lvl["mu"]) / lvl["sigma"]))
        self.flat_max_level = FLAT_MAX_LEVEL

    def describe(self) -> dict[str, str]:
        return {k: v.describe() for k, v in self.priors.items()}

    # parameters from u, then curves from parameters (the truth table gives the parameters directly)
    def break_params(self, u, design: Design) -> dict:
        x2, xm = design.x[1], design.x[-2]
        pr = self.priors
        return {
            "tau": x2 + (xm - x2) * _ppf(pr["tau_fraction"], u[:, 0]),
            "level": _ppf(pr["bp_level"], u[:, 1]),
            "slope_before": _ppf(pr["slope_before"], u[:, 2]),
            "gain": _ppf(pr["gain"], u[:, 3]),
            "ceiling_fraction": _ppf(pr["ceiling_fraction"], u[:, 4]),
            "concentration": _ppf(pr["concentration"], u[:, 5]),
        }

    @staticmethod
    def break_curve(par: dict, design: Design, x) -> Shape:
        tau, f = par["tau"], par["ceiling_fraction"]
        slope = par["gain"] / (design.x_hi - tau)
        dx = x[None, :] - tau[:, None]
        before = par["level"][:, None] + par["slope_before"][:, None] * dx
        eta = before + slope[:, None] * np.maximum(dx, 0.0)
        return Shape(
            p=_scale(special.expit(eta), design, f),
            kappa=par["concentration"],
            tau=tau,
            base=_scale(special.expit(before), design, f),
            info={
                "plateau": special.expit(par["level"]),
                "gain": par["gain"],
                "slope_after": par["slope_before"] + slope,
                "ceiling_fraction": f,
            },
        )

    def smooth_params(self, u, design: Design) -> dict:
        pr = self.priors
        return {
            "intercept": _ppf(pr["intercept"], u[:, 0]),
            "slope": _ppf(pr["slope"], u[:, 1]),
            "ceiling_fraction": _ppf(pr["ceiling_fraction"], u[:, 2]),
            "concentration": _ppf(pr["concentration"], u[:, 3]),
        }

    @staticmethod
    def smooth_curve(par: dict, design: Design, x) -> Shape:
        eta = par["intercept"][:, None] + par["slope"][:, None] * (x[None, :] - design.mid)
        return Shape(
            p=_scale(special.expit(eta), design, par["ceiling_fraction"]),
            kappa=par["concentration"],
            info={"slope": par["slope"], "ceiling_fraction": par["ceiling_fraction"]},
        )

    def flat_params(self, u, design: Design) -> dict:
        pr = self.priors
        return {
            "level": _ppf(pr["flat_level"], u[:, 0] * self.flat_cut),
            "ceiling_fraction": _ppf(pr["ceiling_fraction"], u[:, 1]),
            "concentration": _ppf(pr["concentration"], u[:, 2]),
        }

    @staticmethod
    def flat_curve(par: dict, design: Design, x) -> Shape:
        q = np.broadcast_to(special.expit(par["level"])[:, None], (len(par["level"]), len(x)))
        return Shape(
            p=_scale(q, design, par["ceiling_fraction"]),
            kappa=par["concentration"],
            info={"level": par["level"], "ceiling_fraction": par["ceiling_fraction"]},
        )

    def world(self) -> World:
        return World(
            "prior_predictive",
            "phasefit 0.1's simulation_suite (its priors, sharp hinges), frozen",
            {
                "break": Kind(
                    6,
                    ("tau_fraction", "level", "slope_before", "gain", "ceiling_fraction", "concentration"),
                    lambda u, d, x: self.break_curve(self.break_params(u, d), d, x),
                ),
                "smooth": Kind(
                    4,
                    ("intercept", "slope", "ceiling_fraction", "concentration"),
                    lambda u, d, x: self.smooth_curve(self.smooth_params(u, d), d, x),
                ),
                "flat": Kind(
                    3,
                    ("level", "ceiling_fraction", "concentration"),
                    lambda u, d, x: self.flat_curve(self.flat_params(u, d), d, x),
                ),
            },
        )


# ------------------------------------------------------------------------------------- worlds

_FLAT = Kind(2, ("level", "kappa"), flat)
WORLDS: dict[str, World] = {
    "hinge": World(
        "hinge",
        "smoothed hinge on the logit scale (width 0.02-0.3 decades)",
        {
            "break": Kind(6, ("tau", "plateau", "gain", "width", "ceiling", "kappa"), hinge_break),
            "smooth": Kind(4, ("slope", "level_low", "ceiling", "kappa"), loglinear_smooth_low),
            "flat": _FLAT,
        },
    ),
    "logistic": World(
        "logistic",
        "logistic rise in log-compute from a plateau",
        {
            "break": Kind(5, ("tau", "plateau", "gain", "ceiling", "kappa"), logistic_break),
            "smooth": Kind(4, ("slope", "level_mid", "ceiling", "kappa"), loglinear_smooth_mid),
            "flat": _FLAT,
        },
    ),
    "powerlaw": World(
        "powerlaw",
        "power law in the error rate from the break",
        {
            "break": Kind(5, ("tau", "plateau", "gain", "ceiling", "kappa"), powerlaw_break),
            "smooth": Kind(4, ("alpha", "level_low", "ceiling", "kappa"), powerlaw_smooth),
            "flat": _FLAT,
        },
    ),
}
WORLD_ORDER = ("hinge", "logistic", "powerlaw", "prior_predictive")


def get_world(name: str) -> World:
    if name == "prior_predictive":
        return PriorPredictive().world()
    return WORLDS[name]


# ---------------------------------------------------------------------------------- simulation


def draw_design(rng: np.random.Generator) -> Design:
    m = int(rng.integers(GRID_POINTS[0], GRID_POINTS[1] + 1))
    x_lo, span = rng.uniform(*GRID_START), rng.uniform(*GRID_SPAN)
    conc = logu(rng.uniform(), *GRID_EVENNESS)
    gaps = GRID_MIN_GAP + (span - GRID_MIN_GAP * (m - 1)) * rng.dirichlet(np.full(m - 1, conc))
    x = x_lo + np.concatenate([[0.0], np.cumsum(gaps)])
    x = np.log10(10.0**x)  # what load_curves will see
    n = int(round(logu(rng.uniform(), *N_ITEMS)))
    return Design(x=x, n=np.full(m, n), floor=float(rng.choice(FLOORS)))


def draw_counts(shape: Shape, design: Design, rng: np.random.Generator) -> np.ndarray:
    """One curve's counts (shape with M = 1): beta-distributed success probabilities, then binomial."""
    p = np.clip(shape.p[0], P_EPS, 1 - P_EPS)
    kappa = float(shape.kappa[0])
    if np.isfinite(kappa):
        p = np.clip(rng.beta(p * kappa, (1.0 - p) * kappa), 0.0, 1.0)
    return rng.binomial(design.n, p)


def curve_table(name: str, design: Design, k: np.ndarray) -> pd.DataFrame:
    """One curve in phasefit's input format (one task per curve, family "sim")."""
    return pd.DataFrame(
        {
            "task": name,
            "metric": "acc",
            "family": "sim",
            "model": [f"m{i:02d}" for i in range(len(design.x))],
            "score": k / design.n,
            "train_flops": 10.0**design.x,
            "params": 10.0 ** (design.x - math.log10(6 * 3e11)),
            "n_items": design.n,
            "chance": design.floor,
            "metric_kind": "discrete",
        }
    )


def onset(shape: Shape, design: Design, grid: np.ndarray) -> np.ndarray:
    """Smallest x of `grid` where the expected score exceeds floor + MARGIN (1 - floor), linearly
    interpolated between grid points; -inf when it is above already at the grid's start, +inf when it
    never gets there (shape evaluated at `grid`)."""
    target = design.floor + MARGIN * (1.0 - design.floor)
    above = shape.p > target
    first = np.argmax(above, axis=1)
    out = np.full(len(first), np.inf)
    hit = above.any(axis=1)
    out[hit & (first == 0)] = -np.inf
    inner = hit & (first > 0)
    i = first[inner]
    rows = np.flatnonzero(inner)
    p0, p1 = shape.p[rows, i - 1], shape.p[rows, i]
    frac = np.clip((target - p0) / np.where(p1 > p0, p1 - p0, 1.0), 0.0, 1.0)
    out[inner] = grid[i - 1] + frac * (grid[i] - grid[i - 1])
    return out


def visible_rise(shape: Shape, design: Design) -> tuple[bool, int, int]:
    """A break's rise is visible when >= 2 models lie before it and >= 2 after it rise above the pre-break
    line by RISE_SD standard deviations of the difference (binomial with the curve's over-dispersion,
    at both levels). `shape` is the true curve at the models (M = 1). Returns (identifiable, models
    before, models after that show the rise)."""
    x, n, kappa = design.x, design.n, float(shape.kappa[0])
    infl = 1.0 if not np.isfinite(kappa) else (n + kappa) / (1.0 + kappa)
    p, b = shape.p[0], shape.base[0]
    sd = np.sqrt((p * (1 - p) + b * (1 - b)) / n * infl)
    before = int((x < shape.tau[0]).sum())
    after = int(((x > shape.tau[0]) & (p - b >= RISE_SD * sd)).sum())
    return before >= 2 and after >= 2, before, after


def truth_row(world: str, kind: str, shape_models: Shape, shape_grid: Shape, design: Design) -> dict:
    """The truth of one curve: kind, break, onset (NaN outside the search window), extras."""
    on = float(onset(shape_grid, design, design.onset_grid())[0])
    row = {
        "world": world,
        "kind": kind,
        "n_points": len(design.x),
        "n_items": int(design.n[0]),
        "floor": design.floor,
        "x_min": design.x_lo,
        "x_max": design.x_hi,
        "kappa": float(shape_models.kappa[0]),
        "tau": np.nan,
        "onset": on if np.isfinite(on) else np.nan,
        "onset_status": "inside" if np.isfinite(on) else ("above_at_start" if on < 0 else "never"),
        "rising": False,
        "models_before": np.nan,
        "models_after_rising": np.nan,
    }
    for k, v in shape_models.info.items():
        row[k] = float(v[0])
    if kind == "break":
        ok, before, after = visible_rise(shape_models, design)
        row |= {"tau": float(shape_models.tau[0]), "rising": ok, "models_before": before, "models_after_rising": after}
        p0 = shape_models.base[0, 0]
        kap = row["kappa"]
        infl = 1.0 if not np.isfinite(kap) else (design.n[0] + kap) / (1.0 + kap)
        row["plateau_z"] = float((p0 - design.floor) / math.sqrt(max(p0 * (1 - p0), 1e-12) / design.n[0] * infl))
    return row


def simulate_world_curve(
    world: World, kind: str, name: str, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict, Design]:
    design = draw_design(rng)
    spec = world.kinds[kind]
    u = rng.uniform(size=(1, spec.dim))
    at_models = spec.shape(u, design, design.x)
    k = draw_counts(at_models, design, rng)
    truth = {"task": name, **truth_row(world.name, kind, at_models, spec.shape(u, design, design.onset_grid()), design)}
    truth["u"] = " ".join(f"{v:.6f}" for v in u[0])
    return curve_table(name, design, k), truth, design


def design_of(df: pd.DataFrame) -> Design:
    """The design of one curve's table (sorted by FLOPs)."""
    df = df.sort_values("train_flops")
    return Design(
        x=np.log10(df["train_flops"].to_numpy(float)), n=df["n_items"].to_numpy(int), floor=float(df["chance"].iloc[0])
    )


def counts_of(df: pd.DataFrame) -> np.ndarray:
    df = df.sort_values("train_flops")
    return np.round(df["score"].to_numpy(float) * df["n_items"].to_numpy(float)).astype(int)


def _frozen_curve(
    kind: str, rng: np.random.Generator, *, n_points: int, n_items: int, floor: float, concentration: float, name: str
) -> tuple[pd.DataFrame, dict]:
    """phasefit 0.1's `simulate_curve` (git 5371fbc) with its default priors, draw for draw."""
    pr = FROZEN_PRIORS

    def draw(key):
        p = pr[key]
        match p.dist:
            case "normal":
                return float(rng.normal(p["mu"], p["sigma"], 1)[0])
            case "lognormal":
                return float(rng.lognormal(p["mu"], p["sigma"], 1)[0])
            case "beta":
                return float(rng.beta(p["alpha"], p["beta"], 1)[0])
        raise ValueError(p.dist)

    def grid():
        return np.sort(lo + span * np.concatenate([[0.0, 1.0], rng.uniform(0.05, 0.95, n_points - 2)]))

    lo = rng.uniform(19.0, 21.0)
    span = rng.uniform(2.5, 4.0)
    x = grid()
    while np.min(np.diff(x)) < 0.1:
        x = grid()
    ceiling = floor + (1 - floor) * draw("ceiling_fraction")
    truth: dict = {
        "kind": kind,
        "floor": floor,
        "ceiling": ceiling,
        "noise": 0.0,
        "concentration": concentration,
        "tau": np.nan,
    }
    if kind == "breakpoint":
        tau = x[1] + (x[-2] - x[1]) * draw("tau_fraction")
        level, drift, gain = draw("bp_level"), draw("slope_before"), draw("gain")
        slope = gain / (x[-1] - tau)
        eta = level + drift * (x - tau) + slope * np.maximum(x - tau, 0.0)
        truth |= {"tau": tau, "level": level, "slope_before": drift, "gain": gain, "slope_after": drift + slope}
    elif kind == "smooth":
        center = 0.5 * (x[0] + x[-1])
        intercept, slope = draw("intercept"), draw("slope")
        eta = intercept + slope * (x - center)
        truth |= {"slope": slope, "intercept": intercept, "center": center}
    else:
        level = draw("flat_level")
        while level > FLAT_MAX_LEVEL:
            level = draw("flat_level")
        eta = np.full_like(x, level)
        truth |= {"level": level}
    eta = eta + rng.normal(0.0, 0.0, len(x))
    p = floor + (ceiling - floor) * special.expit(eta)
    p = rng.beta(p * concentration, (1 - p) * concentration)
    k = rng.binomial(n_items, p)
    df = pd.DataFrame(
        {
            "task": name,
            "metric": "acc",
            "family": "sim",
            "model": [f"m{i}" for i in range(len(x))],
            "score": k / n_items,
            "train_flops": 10**x,
            "params": 10 ** (x - np.log10(6 * 3e11)),
            "n_items": n_items,
            "chance": floor,
            "metric_kind": "discrete",
        }
    )
    return df, truth


def frozen_simulation_suite(n_curves: int, *, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """phasefit 0.1's `simulation_suite(n_curves, seed=seed)` with its default priors, frozen: kinds
    breakpoint / smooth / flat in rotation, 5-10 points, n_items from (100, 250, 500, 1000, 2000), floors
    0 / 0.25 / 0.5, concentration from its prior. Identical to the package's while its priors and
    simulate.py are those of git 5371fbc (tests/test_accuracy_suite.py checks it)."""
    rng = np.random.default_rng(seed)
    frames, truths = [], []
    for i in range(n_curves):
        kind = ("breakpoint", "smooth", "flat")[i % 3]
        name = f"sim_{i:04d}"
        n_points = int(rng.integers(PP_POINTS[0], PP_POINTS[1] + 1))
        n_items = int(rng.choice(list(PP_N_ITEMS)))
        floor = float(rng.choice([0.0, 0.25, 0.5]))
        p = FROZEN_PRIORS["concentration"]
        concentration = float(rng.lognormal(p["mu"], p["sigma"], 1)[0])
        df, truth = _frozen_curve(
            kind, rng, n_points=n_points, n_items=n_items, floor=floor, concentration=concentration, name=name
        )
        frames.append(df)
        truths.append({"task": name, **truth})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(truths)


def prior_predictive_curves(n: int, seed: int) -> tuple[pd.DataFrame, list[dict]]:
    """`frozen_simulation_suite(n, seed)` with the truth in this benchmark's terms (break / smooth / flat)."""
    data, truth = frozen_simulation_suite(n, seed=seed)
    pp = PriorPredictive()
    kind_of = {"breakpoint": "break", "smooth": "smooth", "flat": "flat"}
    rows = []
    for t in truth.to_dict("records"):
        df = data[data["task"] == t["task"]]
        design = design_of(df)
        kind = kind_of[t["kind"]]
        f = (t["ceiling"] - t["floor"]) / (1.0 - t["floor"])
        one = lambda v: np.array([float(v)])  # noqa: E731
        common = {"ceiling_fraction": one(f), "concentration": one(t["concentration"])}
        if kind == "break":
            par = {
                "tau": one(t["tau"]),
                "level": one(t["level"]),
                "slope_before": one(t["slope_before"]),
                "gain": one(t["gain"]),
            } | common
            curve = pp.break_curve
        elif kind == "smooth":
            par = {"intercept": one(t["intercept"]), "slope": one(t["slope"])} | common
            curve = pp.smooth_curve
        else:
            par = {"level": one(t["level"])} | common
            curve = pp.flat_curve
        rows.append(
            {
                "task": t["task"],
                **truth_row(
                    "prior_predictive",
                    kind,
                    curve(par, design, design.x),
                    curve(par, design, design.onset_grid()),
                    design,
                ),
                "u": "",
            }
        )
    return data, rows


def simulate_suite(
    n_curves: int, seed: int, worlds: tuple[str, ...] = WORLD_ORDER
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The suite: worlds in rotation (curve i is world i % len(worlds)), and within each world the kinds
    in rotation (break, smooth, flat). Curve j of a new world depends only on (seed, world, j), so a
    smaller suite is a prefix of a larger one. Returns the data table and the truth table (one row per
    curve, in suite order; task names <world>_<j>).
    """
    counts = {w: len(range(i, n_curves, len(worlds))) for i, w in enumerate(worlds)}
    frames, truths = {}, {}
    for wi, w in enumerate(worlds):
        if counts[w] == 0:
            continue
        if w == "prior_predictive":
            data, rows = prior_predictive_curves(counts[w], seed)
            ren = {f"sim_{j:04d}": f"prior_predictive_{j:04d}" for j in range(counts[w])}
            data = data.assign(task=data["task"].map(ren))
            for r in rows:
                r["task"] = ren[r["task"]]
            frames[w] = [g for _, g in data.groupby("task", sort=True)]
            truths[w] = rows
            continue
        world = WORLDS[w]
        frames[w], truths[w] = [], []
        for j in range(counts[w]):
            rng = np.random.default_rng([seed, wi, j])
            df, truth, _ = simulate_world_curve(world, KINDS[j % 3], f"{w}_{j:04d}", rng)
            frames[w].append(df)
            truths[w].append(truth)
    order_frames, order_truth = [], []
    for i in range(n_curves):
        w, j = worlds[i % len(worlds)], i // len(worlds)
        order_frames.append(frames[w][j])
        order_truth.append(truths[w][j])
    truth = pd.DataFrame(order_truth)
    truth.insert(0, "curve", np.arange(len(truth)))
    return pd.concat(order_frames, ignore_index=True), truth


def prior_summary() -> list[tuple[str, str]]:
    """The new worlds' priors, for the README and the JSON."""
    return [
        (
            "grid",
            f"{GRID_POINTS[0]}-{GRID_POINTS[1]} models; smallest at 10^U{GRID_START} FLOPs; span U{GRID_SPAN} "
            f"decades; gaps {GRID_MIN_GAP} + Dirichlet(c), c log-uniform {GRID_EVENNESS}",
        ),
        ("n_items", f"log-uniform {N_ITEMS}, the same for every model of a curve"),
        ("floor", f"one of {FLOORS}"),
        ("over-dispersion", f"beta-binomial kappa log-uniform {KAPPA} with prob {KAPPA_SHARE}, else binomial"),
        ("ceiling fraction f", f"uniform {CEILING}"),
        ("break tau", f"uniform in [x_min + {TAU_INSET} span, x_max - {TAU_INSET} span]"),
        ("plateau q0 (range scale)", f"log-uniform {PLATEAU}"),
        (
            "gain at the largest model",
            f"log-uniform {GAIN} log-odds, slope after the break capped at {MAX_SLOPE}/decade",
        ),
        ("hinge width", f"log-uniform {HINGE_WIDTH} decades"),
        ("smooth slope (hinge, logistic)", f"uniform {SMOOTH_SLOPE} log-odds/decade"),
        ("smooth level (hinge: at x_min; logistic: at the middle)", f"log-uniform {SMOOTH_LOW}; {SMOOTH_MID}"),
        (
            "smooth power law (powerlaw world)",
            f"alpha log-uniform {POWER_SMOOTH_ALPHA}, level at x_min log-uniform {POWER_SMOOTH_LOW}",
        ),
        ("flat level (share of 1 - floor)", f"log-uniform {FLAT_LEVEL}"),
    ]


__all__ = [
    "KINDS",
    "WORLDS",
    "WORLD_ORDER",
    "Design",
    "Kind",
    "PriorPredictive",
    "Shape",
    "World",
    "counts_of",
    "curve_table",
    "design_of",
    "get_world",
    "onset",
    "simulate_suite",
    "visible_rise",
]
