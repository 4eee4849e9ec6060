"""Figures of a finished intervention analysis (`phasefit intervention`): one per pair, and the onsets.

Reads `intervention.csv` and `intervention_curves.csv` and never samples. Each pair's figure shows
both arms (data with 90% Clopper-Pearson intervals from n_items, and the posterior 90% interval of
each arm's expected score at every model) above the gain, treatment minus baseline in log-odds
(averaged over the hypotheses, with the band of the emergent family: step or ramp), its zero line and the onset.
Written into `DIR/figures/` through a temporary folder, so a failed run leaves the previous figures.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from phasefit.errors import PhasefitError
from phasefit.report.build import _slug
from phasefit.report.data import binomial_interval
from phasefit.report.figures import COLUMN, OKABE_ITO, _log_ticks, axis_name, save, scale_figure, style
from phasefit.results.files import read_table

KEY = ["task", "metric", "family", "baseline", "treatment"]
ARM_COLOURS = {"baseline": OKABE_ITO["blue"], "treatment": OKABE_ITO["vermillion"]}


def pair_figure(row: pd.Series, curves: pd.DataFrame, *, x_axis: str) -> Figure:
    """Both arms (top) and the gain in log-odds (bottom) of one pair, with the onset marked."""
    with style():
        fig, (ax, low) = plt.subplots(
            2, 1, figsize=(COLUMN, 3.0), sharex=True, gridspec_kw={"height_ratios": (3, 2), "hspace": 0.1}
        )
        xs = []
        for arm in ("baseline", "treatment"):
            d = curves[curves["series"] == arm].sort_values("log10_x")
            x, c = d["log10_x"].to_numpy(float), ARM_COLOURS[arm]
            xs.append(x)
            ax.fill_between(x, d["q05"], d["q95"], color=c, alpha=0.18, linewidth=0)
            ax.plot(x, d["median"], color=c, linewidth=0.8, label=f"{arm}: {row[arm]}")
            share, n = d["observed"].to_numpy(float), d["n_items"].to_numpy(float)
            lo, hi = binomial_interval(np.round(share * n), n)
            yerr = np.vstack([share - lo, hi - share]) if np.isfinite(lo).any() else None
            ax.errorbar(x, share, yerr=yerr, fmt="o", color=c, markersize=2.3, elinewidth=0.6, capsize=1.0)
        floor = float(curves.loc[curves["series"] == "baseline", "floor"].iloc[0])
        ax.axhline(floor, color=OKABE_ITO["grey"], linestyle=":", linewidth=0.7, label="floor (chance)")
        ax.set_ylabel(str(row["metric"]))
        ax.set_title(
            f"{row['task']}, {row['family']}: {row['verdict']} (P(emergent gain) = {row['p_emergent']:.2f})",
            loc="left",
        )
        ax.legend(loc="upper left")
        for series, colour, label in (
            ("gain_breakpoint", OKABE_ITO["orange"], "emergent gain (step or ramp)"),
            ("gain", OKABE_ITO["black"], "gain, averaged over the hypotheses"),
        ):
            g = curves[curves["series"] == series].sort_values("log10_x")
            gx = g["log10_x"].to_numpy(float)
            low.fill_between(gx, g["q05"], g["q95"], color=colour, alpha=0.15, linewidth=0)
            low.plot(gx, g["median"], color=colour, linewidth=0.9, label=label)
        low.axhline(0.0, color=OKABE_ITO["grey"], linewidth=0.6)
        low.axhline(float(row["onset_margin"]), color=OKABE_ITO["grey"], linestyle=":", linewidth=0.6)
        col = f"onset_{x_axis}"
        if pd.notna(row.get(f"{col}_median")):
            med, lo, hi = (np.log10(row[f"{col}_{q}"]) for q in ("median", "q05", "q95"))
            low.axvspan(lo, hi, color=OKABE_ITO["green"], alpha=0.12, linewidth=0)
            low.axvline(med, color=OKABE_ITO["green"], linewidth=0.8, label="onset (median, 90%)")
        low.set_ylabel("gain (log-odds)")
        low.set_xlabel(axis_name(x_axis))
        low.legend(loc="upper left", fontsize=5)
        allx = np.concatenate(xs)
        _log_ticks(low, float(allx.min()) - 0.15, float(allx.max()) + 0.15)
        return fig


def write_intervention_figures(directory: str | Path, *, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """`DIR/figures/`: a figure per pair (`NNN-task-family-metric.<fmt>`) and `onsets.<fmt>` (the
    onset of every pair whose gain is emergent or inconclusive). Returns the files written."""
    directory = Path(directory)
    table_path, curves_path = directory / "intervention.csv", directory / "intervention_curves.csv"
    if not table_path.is_file() or not curves_path.is_file():
        raise PhasefitError(f"{directory}: not a finished intervention directory (no intervention.csv)")
    table, curves = read_table(table_path), read_table(curves_path)
    x_axis = str(table["x_axis"].iloc[0]) if len(table) else "flops"
    final = directory / "figures"
    tmp = Path(tempfile.mkdtemp(prefix=".figures-", dir=directory))
    written: list[str] = []
    try:
        for i, (_, row) in enumerate(table.iterrows()):
            if row["verdict"] == "failed":
                continue
            mask = np.logical_and.reduce([curves[k].astype(str) == str(row[k]) for k in KEY])
            stem = _slug(i, f"{row['task']} {row['family']} {row['metric']}")
            paths = save(pair_figure(row, curves[mask], x_axis=x_axis), tmp / stem, formats)
            written += [p.name for p in paths]
        onset = table.assign(condition=table["treatment"] + " vs " + table["baseline"])
        fig = scale_figure(
            onset, x_axis=x_axis, xlabel=f"onset: {axis_name(x_axis)} from which the gain stays positive"
        )
        written += [p.name for p in save(fig, tmp / "onsets", formats)]
        if final.exists():
            old = directory / ".figures-old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [final / name for name in written]
