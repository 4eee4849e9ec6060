"""Simulated scaling curves with known truth, for recovery and calibration checks.

Each kind's parameters are drawn from the priors of the spec (the bundled models/default.toml
unless given), so that P(breakpoint | data) can be checked for calibration: a posterior probability
is calibrated with respect to the distribution the data come from, and the one it is built for is
its prior. `simulation_suite` also draws the over-dispersion of the counts (beta-binomial
concentration) from its prior: a model that allows for over-dispersion the data do not have is
under-confident (with binomial counts, curves at P(breakpoint) 0.3-0.5 were breakpoints 56% of the
time). What still differs from the fitted model: breaks are sharp hinges (not softplus joints) and
model grids are irregular; `simulate_curve` can add between-model noise on the logit scale instead
(the recovery tests do). Kinds: `breakpoint` (a plateau with a small drift, then a rise that adds `gain`
log-odds by the largest model), `smooth` (one log-odds trend; steep sigmoids in p included),
`flat` (a constant level at most 12% of the way above the floor: the prior of `absent` below -2).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import special

from phasefit.models.priors import sample as sample_prior
from phasefit.models.spec import ModelSpec, load_spec

Kind = Literal["breakpoint", "smooth", "flat"]
KINDS: tuple[Kind, ...] = ("breakpoint", "smooth", "flat")
FLAT_MAX_LEVEL = -2.0  # log-odds: "flat at the floor" keeps the absent prior's draws below this


def simulate_curve(
    kind: Kind,
    *,
    rng: np.random.Generator,
    n_points: int,
    n_items: int,
    floor: float,
    noise: float = 0.0,
    concentration: float | None = None,
    name: str = "sim",
    spec: ModelSpec | None = None,
    params: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """One curve in the input contract, and its truth (break in log10 FLOPs for breakpoint curves).

    `noise` is a between-model sd on the logit scale; `concentration` makes the counts
    beta-binomial (each model's success probability drawn from Beta(p c, (1 - p) c)), None binomial.
    `params` fixes parameters instead of drawing them from the priors: `level`, `slope_before`,
    `gain`, `tau_fraction` (breakpoint), `intercept`, `slope` (smooth), `level` (flat),
    `ceiling_fraction`.
    """
    spec = spec if spec is not None else load_spec()
    fixed = params or {}

    def draw(hypothesis: str, parameter: str) -> float:
        if parameter in fixed:
            return float(fixed[parameter])
        return float(sample_prior(spec.hypothesis(hypothesis).prior(parameter), 1, rng)[0])

    lo = rng.uniform(19.0, 21.0)
    span = rng.uniform(2.5, 4.0)
    x = np.sort(lo + span * np.concatenate([[0.0, 1.0], rng.uniform(0.05, 0.95, n_points - 2)]))
    while np.min(np.diff(x)) < 0.1:  # distinct model sizes
        x = np.sort(lo + span * np.concatenate([[0.0, 1.0], rng.uniform(0.05, 0.95, n_points - 2)]))
    fraction = fixed.get("ceiling_fraction", float(sample_prior(spec.shared_prior("ceiling_fraction"), 1, rng)[0]))
    ceiling = floor + (1 - floor) * fraction
    truth: dict = {
        "kind": kind,
        "floor": floor,
        "ceiling": ceiling,
        "noise": noise,
        "concentration": np.nan if concentration is None else concentration,
        "tau": np.nan,
    }
    if kind == "breakpoint":
        # the break between the second-smallest and second-largest model (the model's admissible range)
        tau = x[1] + (x[-2] - x[1]) * draw("breakpoint", "tau_fraction")
        level, drift, gain = draw("breakpoint", "level"), draw("breakpoint", "slope_before"), draw("breakpoint", "gain")
        slope = gain / (x[-1] - tau)
        eta = level + drift * (x - tau) + slope * np.maximum(x - tau, 0.0)
        truth |= {"tau": tau, "level": level, "slope_before": drift, "gain": gain, "slope_after": drift + slope}
    elif kind == "smooth":
        center = 0.5 * (x[0] + x[-1])
        intercept, slope = draw("smooth", "intercept"), draw("smooth", "slope")
        eta = intercept + slope * (x - center)
        truth |= {"slope": slope, "intercept": intercept, "center": center}
    else:
        level = draw("absent", "level")
        while level > FLAT_MAX_LEVEL:
            level = draw("absent", "level")
        eta = np.full_like(x, level)
        truth |= {"level": level}
    eta = eta + rng.normal(0.0, noise, len(x))
    p = floor + (ceiling - floor) * special.expit(eta)
    if concentration is not None:
        p = rng.beta(p * concentration, (1 - p) * concentration)
    k = rng.binomial(n_items, p)
    params = 10 ** (x - np.log10(6 * 3e11))  # 300B tokens: FLOPs = 6 N D
    df = pd.DataFrame(
        {
            "task": name,
            "metric": "acc",
            "family": "sim",
            "model": [f"m{i}" for i in range(len(x))],
            "score": k / n_items,
            "train_flops": 10**x,
            "params": params,
            "n_items": n_items,
            "chance": floor,
            "metric_kind": "discrete",
        }
    )
    return df, truth


def simulation_suite(
    n_curves: int, *, seed: int, kinds: tuple[Kind, ...] = KINDS, spec: ModelSpec | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A mixed suite: kinds in rotation (the default prior weights, 1/3 each); 5-10 points, n_items
    100-2000, floors 0/0.25/0.5, over-dispersed (beta-binomial) counts with the concentration drawn
    from its prior: the spec's prior predictive, but for sharp hinges and irregular grids.

    Returns the data table (one task per curve, named sim_0000, ...) and the truth table.
    """
    rng = np.random.default_rng(seed)
    spec = spec if spec is not None else load_spec()
    frames, truths = [], []
    for i in range(n_curves):
        kind = kinds[i % len(kinds)]
        name = f"sim_{i:04d}"
        df, truth = simulate_curve(
            kind,
            rng=rng,
            n_points=int(rng.integers(5, 11)),
            n_items=int(rng.choice([100, 250, 500, 1000, 2000])),
            floor=float(rng.choice([0.0, 0.25, 0.5])),
            concentration=float(sample_prior(spec.shared_prior("concentration"), 1, rng)[0]),
            name=name,
            spec=spec,
        )
        frames.append(df)
        truths.append({"task": name, **truth})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(truths)
