"""Shared helpers for model tests: a tiny-draw spec and one compiled Sampler per test session."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import special

from phasefit.data.curves import load_curves
from phasefit.inference.sampler import Sampler
from phasefit.models.simulate import simulate_curve
from phasefit.models.spec import DiagnosticsSpec, load_spec


@lru_cache(maxsize=1)
def tiny_spec():
    """Default priors; 2 chains x 150 draws (importance sampling from a 100-draw pilot, as by default);
    lenient checks and no retries (plumbing, not accuracy)."""
    spec = load_spec()
    spec = spec.with_sampler(chains=2, draws=150, tune=150, pilot_tune=100, pilot_draws=100, proposal_draws=1000)
    return replace(
        spec,
        diagnostics=DiagnosticsSpec(
            rhat_max=1.1, pilot_rhat_max=1.1, ess_bulk_min=20, ess_tail_min=20, max_divergences=10, retries=()
        ),
    )


@lru_cache(maxsize=1)
def sampler() -> Sampler:
    """Compiled once for the whole test session (each likelihood on first use)."""
    return Sampler(tiny_spec())


# typical, clearly shaped curves of each kind (a visible plateau and break; a steady rise; at the floor)
TYPICAL = {
    "breakpoint": {"level": -3.0, "slope_before": 0.0, "gain": 6.0, "tau_fraction": 0.5},
    "smooth": {"intercept": -0.5, "slope": 1.5},
    "flat": {"level": -4.5},
}


def sim_frame(kinds=("breakpoint", "smooth"), *, seed=3, n_points=6, n_items=500, floor=0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = [
        simulate_curve(
            k,
            rng=rng,
            n_points=n_points,
            n_items=n_items,
            floor=floor,
            name=f"t{i}_{k}",
            params=TYPICAL[k] | {"ceiling_fraction": 0.9},
        )[0]
        for i, k in enumerate(kinds)
    ]
    return pd.concat(frames, ignore_index=True)


def sim_curves(kinds=("breakpoint", "smooth"), **kw):
    return load_curves(sim_frame(kinds, **kw))


def paired_frame(*, families=("A", "B"), seed=0, n=800, tokens=None, shape="smooth") -> pd.DataFrame:
    """Exact match = q ** 6 and token accuracy = q of the same outputs, q smooth or breaking."""
    rng = np.random.default_rng(seed)
    x = np.linspace(20.0, 23.5, 7)
    rows = []
    for fam in families:
        lq = -0.5 + 1.6 * (x - 21.75) if shape == "smooth" else -0.5 + 5.0 * np.maximum(x - 22.6, 0)
        q = special.expit(lq)
        em = rng.binomial(n, q**6) / n
        tok = np.clip(rng.beta(q * 300, (1 - q) * 300), 1e-3, 1 - 1e-3)
        for i in range(len(x)):
            base = {"task": f"copy_{shape}", "family": fam, "model": f"{fam}{i}", "train_flops": 10 ** x[i]}
            em_row = base | {"metric": "exact_match", "score": em[i], "n_items": n, "metric_kind": "discrete"}
            if tokens is not None:
                em_row["answer_tokens"] = tokens
            rows.append(em_row)
            rows.append(base | {"metric": "token_accuracy", "score": tok[i], "metric_kind": "continuous"})
    return pd.DataFrame(rows)
