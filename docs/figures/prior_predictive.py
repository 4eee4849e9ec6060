"""Prior predictive mean curves of the three hypotheses (docs/models.md).

For a beta-binomial curve template -- 8 models spread over 3 decades of training FLOPs, 1000 items
each, with a floor (chance) of 0 and of 0.25 -- draw every parameter from the priors of the bundled
model spec and plot 50 prior mean curves per hypothesis on the proportion scale.

    .venv/bin/python docs/figures/prior_predictive.py     # writes prior_predictive.png and .pdf here
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import phasefit  # noqa: E402
from phasefit.models.curve_model import curve_inputs, mean_curve  # noqa: E402
from phasefit.models.predictive import prior_draws  # noqa: E402
from phasefit.models.spec import HYPOTHESES, load_spec  # noqa: E402

HERE = Path(__file__).resolve().parent
N_CURVES = 50
SEED = 20221
COLOURS = {"absent": "#7f7f7f", "smooth": "#1f77b4", "breakpoint": "#d62728"}


def template(floor: float) -> pd.DataFrame:
    """8 models from 1e20 to 1e23 FLOPs, 1000 items, scores at chance (the scores do not enter the prior)."""
    log_flops = np.linspace(20.0, 23.0, 8)
    return pd.DataFrame({
        "task": "template", "metric": "acc", "family": "demo", "model": [f"m{i}" for i in range(8)],
        "score": floor, "train_flops": 10**log_flops, "n_items": 1000, "chance": floor,
        "metric_kind": "discrete",
    })


def main() -> None:
    spec = load_spec()
    floors = (0.0, 0.25)
    fig, axes = plt.subplots(len(floors), len(HYPOTHESES), figsize=(10.5, 5.8), sharex=True, sharey=True,
                             constrained_layout=True)
    for row, floor in enumerate(floors):
        curve = next(iter(phasefit.load_curves(template(floor))))
        inputs = curve_inputs(curve, spec)
        rng = np.random.default_rng(SEED + row)
        grid = np.linspace(inputs.x.min() - 0.25, inputs.x.max() + 0.25, 200)
        for col, h in enumerate(HYPOTHESES):
            ax = axes[row, col]
            draws = prior_draws(h, inputs, spec, draws=N_CURVES, rng=rng)
            lines = mean_curve(h, draws, inputs, grid, spec).reshape(-1, grid.size)
            ax.plot(grid + inputs.center, lines.T, color=COLOURS[h], alpha=0.35, lw=0.9)
            ax.plot(grid + inputs.center, np.median(lines, axis=0), color="black", lw=1.6, label="median")
            ax.axhline(floor, color="black", ls=":", lw=0.8)
            if h == "breakpoint":  # the break's admissible range
                ax.axvspan(inputs.range_lo + inputs.center, inputs.range_hi + inputs.center, color=COLOURS[h],
                           alpha=0.07, lw=0, label="range of the break")
            ax.plot(inputs.x + inputs.center, np.full(inputs.x.size, -0.03), "|", color="black", ms=7,
                    label="models")
            ax.set_ylim(-0.06, 1.02)
            if row == 0:
                ax.set_title(h)
            if col == 0:
                ax.set_ylabel(f"floor (chance) = {floor:g}\nproportion correct")
            if row == len(floors) - 1:
                ax.set_xlabel("log10 training FLOPs")
            if row == 0 and col == len(HYPOTHESES) - 1:
                ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.suptitle(f"Prior mean curves, {N_CURVES} draws per hypothesis (beta-binomial, bundled models/default.toml)",
                 fontsize=11)
    for ext in ("png", "pdf"):
        fig.savefig(HERE / f"prior_predictive.{ext}", dpi=150)
    plt.close(fig)
    print(f"wrote {HERE / 'prior_predictive.png'} and .pdf")


if __name__ == "__main__":
    main()
