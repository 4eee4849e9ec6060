"""Simulated scaling curves with known truth, for recovery and calibration checks.

Parameters are drawn from uniform ranges inside the bulk of the documented priors (so calibration
of P(breakpoint) can be checked), but the generator is not the fitted model: breaks are sharp
hinges (not softplus), model grids are irregular, and between-model noise is added on the logit
scale (prompt/run noise) before binomial sampling of items, where the model assumes beta-binomial.
Kinds: `breakpoint` (a plateau 0.7-18% of the way above the floor with a small drift, then a rise
that adds 2-8 log-odds by the largest model), `smooth` (one log-odds slope 0.3-4.5 per decade,
including steep sigmoids in p), `flat` (0.2-3% above the floor throughout).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import special

Kind = Literal["breakpoint", "smooth", "flat"]
KINDS: tuple[Kind, ...] = ("breakpoint", "smooth", "flat")


def simulate_curve(kind: Kind, *, rng: np.random.Generator, n_points: int, n_items: int, floor: float,
                   noise: float = 0.0, name: str = "sim") -> tuple[pd.DataFrame, dict]:
    """One curve in the input contract, and its truth (break in log10 FLOPs for breakpoint curves)."""
    lo = rng.uniform(19.0, 21.0)
    span = rng.uniform(2.5, 4.0)
    x = np.sort(lo + span * np.concatenate([[0.0, 1.0], rng.uniform(0.05, 0.95, n_points - 2)]))
    while np.min(np.diff(x)) < 0.1:  # distinct model sizes
        x = np.sort(lo + span * np.concatenate([[0.0, 1.0], rng.uniform(0.05, 0.95, n_points - 2)]))
    ceiling = rng.uniform(0.7, 1.0)
    truth: dict = {"kind": kind, "floor": floor, "ceiling": ceiling, "noise": noise, "tau": np.nan}
    if kind == "breakpoint":
        # at least 2 models before and after the break; a plateau between barely and clearly above
        # the floor with a small drift (slope_before); the largest model gains 2-8 log-odds over it
        tau = rng.uniform(x[1], x[-3] if n_points >= 5 else x[-2])
        level, drift, gain = rng.uniform(-5.0, -1.5), rng.uniform(-0.25, 0.25), rng.uniform(2.0, 8.0)
        slope = gain / (x[-1] - tau)
        eta = level + drift * (x - tau) + slope * np.maximum(x - tau, 0.0)
        truth |= {"tau": tau, "level": level, "slope_before": drift, "gain": gain, "slope_after": drift + slope}
    elif kind == "smooth":
        slope = rng.uniform(0.3, 4.5)  # up to steep sigmoids in p (smooth in log-odds)
        mid = rng.uniform(x[0] + 0.3 * span, x[-1] + 0.3 * span)
        eta = slope * (x - mid)
        truth |= {"slope": slope, "mid": mid}
    else:
        eta = np.full_like(x, rng.uniform(-6.0, -3.5))
    eta = eta + rng.normal(0.0, noise, len(x))
    p = floor + (ceiling - floor) * special.expit(eta)
    k = rng.binomial(n_items, p)
    params = 10 ** (x - np.log10(6 * 3e11))  # 300B tokens: FLOPs = 6 N D
    df = pd.DataFrame({
        "task": name, "metric": "acc", "family": "sim", "model": [f"m{i}" for i in range(len(x))],
        "score": k / n_items, "train_flops": 10**x, "params": params, "n_items": n_items, "chance": floor,
        "metric_kind": "discrete",
    })
    return df, truth


def simulation_suite(n_curves: int, *, seed: int, kinds: tuple[Kind, ...] = KINDS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A mixed suite: kinds in rotation; 5-10 points, n_items 100-2000, floors 0/0.25/0.5, some noise.

    Returns the data table (one task per curve, named sim_0000, ...) and the truth table.
    """
    rng = np.random.default_rng(seed)
    frames, truths = [], []
    for i in range(n_curves):
        kind = kinds[i % len(kinds)]
        name = f"sim_{i:04d}"
        df, truth = simulate_curve(
            kind, rng=rng, n_points=int(rng.integers(5, 11)), n_items=int(rng.choice([100, 250, 500, 1000, 2000])),
            floor=float(rng.choice([0.0, 0.25, 0.5])), noise=float(rng.choice([0.0, 0.0, 0.15, 0.3])), name=name)
        frames.append(df)
        truths.append({"task": name, **truth})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(truths)
