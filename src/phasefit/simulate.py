"""Simulated scaling curves with known truth, for recovery and calibration checks.

The generator is deliberately not the fitted model: breaks are sharp hinges (not softplus), slopes,
floors, ceilings and model grids are drawn from ranges wider than the priors' bulk, and between-model
noise is added on the logit scale (prompt/run noise) before binomial sampling of items.
Kinds: `breakpoint` (flat, then a rise inside the data), `smooth` (one log-odds slope, including
steep sigmoids), `flat` (at the floor throughout).
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
        # at least 2 models before and after the break; the rise must reach well above the floor
        # and the largest model must be at least halfway up (eta >= 0): the rise shows in the data
        last_before = x[-3] if n_points >= 5 else x[-2]
        while True:
            level, slope = rng.uniform(-6.0, -3.5), rng.uniform(2.5, 6.0)
            tau_max = min(last_before, x[-1] + level / slope)
            if tau_max > x[1]:
                break
        tau = rng.uniform(x[1], tau_max)
        eta = level + slope * np.maximum(x - tau, 0.0)
        truth |= {"tau": tau, "level": level, "slope_after": slope}
    elif kind == "smooth":
        slope = rng.uniform(0.6, 3.0)  # up to steep sigmoids in p (smooth in log-odds)
        mid = rng.uniform(x[0] + 0.3 * span, x[-1] + 0.3 * span)
        eta = slope * (x - mid)
        truth |= {"slope": slope, "mid": mid}
    else:
        eta = np.full_like(x, rng.uniform(-7.0, -5.0))
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
