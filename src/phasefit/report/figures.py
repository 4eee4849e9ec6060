"""The report's figures: one style, colour-blind-safe, legible at a paper's single-column width.

Every function takes plain inputs (a `CurvePlot`, a table) and returns a matplotlib `Figure`; the
caller saves it (`save`). Colours are the Okabe-Ito palette; sizes are for a 3.3 in column at 7 pt.
The break forest is ArviZ's (`arviz_plots.plot_forest` on the run's posterior); the rest is
matplotlib, for what arviz-plots does not draw (data with hypothesis bands, probabilities by task).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # no display: reports are files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from phasefit.evidence.verdicts import format_params, format_sci  # noqa: E402
from phasefit.report.data import CurvePlot  # noqa: E402

COLUMN = 3.3  # inches: one column of a two-column paper
# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}
HYPOTHESIS_COLOURS = {"absent": OKABE_ITO["grey"], "smooth": OKABE_ITO["blue"], "breakpoint": OKABE_ITO["vermillion"]}
VERDICT_COLOURS = {
    "emergent": OKABE_ITO["vermillion"],
    "inconclusive": OKABE_ITO["orange"],
    "smooth": OKABE_ITO["blue"],
    "absent": OKABE_ITO["grey"],
    "failed": OKABE_ITO["black"],
}
VERDICT_MARKERS = {"emergent": "o", "inconclusive": "D", "smooth": "s", "absent": "v", "failed": "x"}
STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs on every machine
    "font.size": 7,
    "axes.titlesize": 7,
    "axes.labelsize": 7,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "legend.fontsize": 5.5,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,  # TrueType in the PDF: text stays text for journals
    "svg.hashsalt": "phasefit",
    "path.simplify": False,
}


@contextmanager
def style():
    """The report's matplotlib style (restored afterwards)."""
    with mpl.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def hypothesis_colour(h: str, i: int) -> str:
    extra = (OKABE_ITO["green"], OKABE_ITO["purple"], OKABE_ITO["sky"], OKABE_ITO["yellow"])
    return HYPOTHESIS_COLOURS.get(h, extra[i % len(extra)])


def axis_name(x_axis: str) -> str:
    return "training FLOPs" if x_axis == "flops" else "parameters"


def _log_ticks(ax, lo: float, hi: float) -> None:
    """Ticks at powers of ten on a log10 axis, written 10^k."""
    step = max(1, math.ceil((hi - lo) / 5))
    ticks = np.arange(math.floor(lo), math.ceil(hi) + 1, step)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"$10^{{{int(t)}}}$" for t in ticks])
    ax.set_xlim(lo, hi)


def curve_figure(cp: CurvePlot) -> Figure:
    """The data with 90% binomial intervals, each hypothesis' posterior mean and 90% band, and below
    them the posteriors of the break and of the onset; the top axis names each model's parameters."""
    with style():
        fig, (ax, low) = plt.subplots(
            2, 1, figsize=(COLUMN, 2.5), sharex=True, gridspec_kw={"height_ratios": (4, 1), "hspace": 0.08}
        )
        for i, b in enumerate(cp.bands):
            c = hypothesis_colour(b.hypothesis, i)
            ax.fill_between(cp.grid, b.lo, b.hi, color=c, alpha=0.18, linewidth=0)
            ax.plot(cp.grid, b.mean, color=c, label=f"{b.hypothesis} (P = {b.probability:.2f})")
        if cp.proportion:
            ax.axhline(cp.floor, color=OKABE_ITO["grey"], linestyle=":", linewidth=0.7, label="floor (chance)")
        has_err = np.isfinite(cp.y_lo).any()
        yerr = np.vstack([cp.y - cp.y_lo, cp.y_hi - cp.y]) if has_err else None
        ax.errorbar(
            cp.x, cp.y, yerr=yerr, fmt="o", color="black", markersize=2.5, elinewidth=0.7, capsize=1.2, label="data"
        )
        ax.set_ylabel(f"{cp.metric}" if cp.proportion else f"{cp.metric} (standardised)")
        cond = f" [{cp.condition}]" if cp.condition else ""
        ax.set_title(f"{cp.task}, {cp.family}{cond}: {cp.verdict} (P(emergent) = {cp.p_emergent:.2f})", loc="left")
        ax.legend(loc="upper left", handlelength=1.2)
        lo, hi = float(cp.x.min()), float(cp.x.max())
        pad = 0.04 * (hi - lo or 1.0)
        bins = np.linspace(lo - pad, hi + pad, 50)
        drawn = False
        for draws, colour, name in (
            (cp.tau, OKABE_ITO["purple"], "break"),
            (cp.onset, OKABE_ITO["green"], f"onset (+{cp.onset_margin:g})"),
        ):
            if len(draws):
                low.hist(draws, bins=bins, color=colour, alpha=0.6, density=True, label=name)
                drawn = True
        if drawn:
            low.legend(loc="upper left", handlelength=1.0)
        else:
            low.text(
                0.5,
                0.5,
                "no break: the breakpoint is not favoured",
                ha="center",
                va="center",
                fontsize=5.5,
                transform=low.transAxes,
                color=OKABE_ITO["grey"],
            )
        low.set_yticks([])
        low.spines["left"].set_visible(False)
        low.set_xlabel(axis_name(cp.x_axis))
        _log_ticks(low, lo - pad, hi + pad)
        ok = np.isfinite(cp.top_ticks)
        if ok.any():
            top = ax.secondary_xaxis("top")
            top.set_xticks(cp.x[ok])
            fmt = format_params if cp.x_axis == "flops" else format_sci
            top.set_xticklabels([fmt(10**v) for v in cp.top_ticks[ok]], rotation=90, fontsize=5)
            top.tick_params(length=2, pad=1)
        return fig


def _rows_by_task(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [(str(t), g) for t, g in table.groupby("task", sort=True)]


def _row_label(r: pd.Series) -> str:
    cond = f" [{r['condition']}]" if isinstance(r.get("condition"), str) and r["condition"] else ""
    return f"{r['family']}, {r['metric']}{cond}"


def forest_figure(verdicts: pd.DataFrame, *, emergent: float = 0.9, smooth: float = 0.1) -> Figure:
    """P(emergent) of every curve grouped by task: marker = verdict; the line spans P(emergent)
    under the priors scaled by 0.5 and 2 (power-scaling), so a verdict that rests on the prior shows."""
    groups = _rows_by_task(verdicts)
    n_rows = len(verdicts) + len(groups)
    with style():
        fig, ax = plt.subplots(figsize=(COLUMN, 0.4 + 0.11 * n_rows))
        y = 0
        yticks, ylabels = [], []
        for task, g in groups:
            ax.text(
                -0.02,
                y,
                task,
                ha="right",
                va="center",
                fontsize=6,
                fontweight="bold",
                transform=ax.get_yaxis_transform(),
            )
            y += 1
            for _, r in g.sort_values(["family", "metric"]).iterrows():
                v = str(r["verdict"])
                lo, hi = r.get("p_emergent_prior_min"), r.get("p_emergent_prior_max")
                if pd.notna(lo) and pd.notna(hi):
                    ax.plot([lo, hi], [y, y], color=VERDICT_COLOURS[v], linewidth=0.8, alpha=0.7)
                p = r["p_emergent"] if pd.notna(r["p_emergent"]) else np.nan
                ax.plot(p, y, VERDICT_MARKERS[v], color=VERDICT_COLOURS[v], markersize=3)
                yticks.append(y)
                ylabels.append(_row_label(r))
                y += 1
        for t in (smooth, emergent):
            ax.axvline(t, color=OKABE_ITO["grey"], linestyle=":", linewidth=0.6)
        ax.set_yticks(yticks)
        ax.set_yticklabels(ylabels, fontsize=5)
        ax.set_ylim(y - 0.5, -1.0)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("P(emergent)")
        ax.tick_params(axis="y", length=0)
        _verdict_legend(ax, sorted(set(verdicts["verdict"].astype(str)), key=list(VERDICT_COLOURS).index))
        return fig


def _verdict_legend(ax, verdicts: Sequence[str]) -> None:
    handles = [
        plt.Line2D([], [], marker=VERDICT_MARKERS[v], color=VERDICT_COLOURS[v], linestyle="", markersize=3, label=v)
        for v in verdicts
    ]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles), handletextpad=0.2)


def scale_figure(verdicts: pd.DataFrame, *, x_axis: str, xlabel: str | None = None) -> Figure:
    """Where abilities emerge: the onset's median and 90% interval of every emergent (filled) or
    inconclusive (open) curve with an onset in the data, grouped by task, on one log axis."""
    cols = [f"onset_{x_axis}_{q}" for q in ("median", "q05", "q95")]
    rows = verdicts[verdicts["verdict"].isin(["emergent", "inconclusive"]) & verdicts[cols[0]].notna()]
    groups = _rows_by_task(rows)
    n_rows = max(1, len(rows) + len(groups))
    with style():
        fig, ax = plt.subplots(figsize=(COLUMN, 0.55 + 0.13 * n_rows))
        if rows.empty:
            ax.text(
                0.5,
                0.5,
                "no curve rises above its floor within the data",
                ha="center",
                va="center",
                transform=ax.transAxes,
                fontsize=6,
            )
            ax.set_yticks([])
            ax.set_xlabel(f"onset ({axis_name(x_axis)})")
            return fig
        y = 0
        yticks, ylabels = [], []
        for task, g in groups:
            ax.text(
                0.0, y, task, ha="left", va="center", fontsize=6, fontweight="bold", transform=ax.get_yaxis_transform()
            )
            y += 1
            for _, r in g.sort_values(cols[0]).iterrows():
                med, lo, hi = (math.log10(r[c]) if pd.notna(r[c]) else np.nan for c in cols)
                v = str(r["verdict"])
                colour = VERDICT_COLOURS[v]
                if np.isfinite(lo) and np.isfinite(hi):
                    ax.plot([lo, hi], [y, y], color=colour, linewidth=1.0)
                ax.plot(med, y, "o", color=colour, markersize=3, markerfacecolor=colour if v == "emergent" else "white")
                yticks.append(y)
                ylabels.append(_row_label(r))
                y += 1
        finite = np.log10(rows[cols].to_numpy(float).ravel())
        finite = finite[np.isfinite(finite)]
        _log_ticks(ax, float(finite.min()) - 0.3, float(finite.max()) + 0.3)
        ax.set_yticks(yticks)
        ax.set_yticklabels(ylabels, fontsize=5)
        ax.set_ylim(y - 0.5, -1.0)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(xlabel or f"onset: {axis_name(x_axis)} where the expected score first leaves its floor")
        return fig


def diagnostics_figure(verdicts: pd.DataFrame, k_hat: pd.Series, *, rhat_max: float, ess_min: float) -> Figure:
    """Convergence of every curve: the largest R-hat and smallest bulk ESS over its fits, and the
    largest Pareto k-hat (marginal-likelihood importance sampling and LOO), each with its threshold."""
    panels = (
        ("R-hat (max)", verdicts["rhat_max"].to_numpy(float), rhat_max, "above"),
        ("ESS bulk (min)", verdicts["ess_bulk_min"].to_numpy(float), ess_min, "below"),
        ("Pareto k-hat (max)", k_hat.to_numpy(float), 0.7, "above"),
    )
    with style():
        fig, axes = plt.subplots(1, 3, figsize=(COLUMN * 2, 1.5))
        colours = [VERDICT_COLOURS.get(str(v), "black") for v in verdicts["verdict"]]
        idx = np.arange(len(verdicts))
        for ax, (name, values, limit, bad) in zip(axes, panels, strict=True):
            ax.scatter(idx, values, s=6, c=colours, linewidths=0)
            ax.axhline(limit, color=OKABE_ITO["vermillion"], linestyle="--", linewidth=0.7)
            out = np.sum(values > limit) if bad == "above" else np.sum(values < limit)
            ax.set_title(f"{name}: {int(out)} of {len(values)} {bad} {limit:g}", loc="left")
            ax.set_xlabel("curve")
        return fig


def sensitivity_figure(sens: pd.DataFrame) -> Figure:
    """The metric-sensitivity matrix: P(emergent) of each task x family (x condition) scored under two
    or more metrics, under each of them (cividis; the verdict's initial in the cell); rows whose
    verdict flips are marked."""
    keys = ["task", "family", "condition"]
    s = sens.copy()
    s["condition"] = s["condition"].fillna("")
    n_metrics = s.groupby(keys)["metric"].transform("nunique")
    if (n_metrics > 1).any():  # the comparisons; curves with a sharp metric alone are in the table
        s = s[n_metrics > 1]
    metrics = sorted(s["metric"].astype(str).unique())
    rows = s.groupby(keys, sort=True)
    labels, mat, text, flips = [], [], [], []
    for key, g in rows:
        by = g.set_index(g["metric"].astype(str))
        labels.append(", ".join(str(k) for k in key if k))
        mat.append([float(by.at[m, "p_emergent"]) if m in by.index else np.nan for m in metrics])
        text.append([str(by.at[m, "verdict"])[:1] if m in by.index else "" for m in metrics])
        flips.append(bool(g["flip"].fillna(False).astype(bool).any()) if "flip" in g else False)
    mat_arr = np.array(mat, float)
    with style():
        fig, ax = plt.subplots(figsize=(min(COLUMN * 2, 1.2 + 0.45 * len(metrics)), 0.6 + 0.14 * len(labels)))
        im = ax.imshow(np.ma.masked_invalid(mat_arr), cmap="cividis", vmin=0, vmax=1, aspect="auto")
        for i, row in enumerate(text):
            for j, t in enumerate(row):
                if t:
                    ax.text(
                        j, i, t, ha="center", va="center", fontsize=5, color="black" if mat_arr[i, j] > 0.6 else "white"
                    )
        ax.set_xticks(range(len(metrics)))
        ax.set_xticklabels(metrics, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels([("* " if f else "") + lab for lab, f in zip(labels, flips, strict=True)], fontsize=5)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
        cb.set_label("P(emergent)")
        ax.set_title("verdict by metric (e/i/s/a/f; * = the verdict flips)", loc="left")
        return fig


def break_forest(tree, labels: Sequence[str]) -> Figure | None:
    """ArviZ's forest plot of the break's posterior (median and intervals) for the curves `labels`."""
    import arviz_plots as azp

    if not labels:
        return None
    node = tree["breakpoint"]
    with style():
        pc = azp.plot_forest(
            node,
            var_names=["tau"],
            coords={"curve": list(labels)},
            combined=True,
            ci_probs=(0.5, 0.9),
            labels=["curve"],
            backend="matplotlib",
            figure_kwargs={"figsize": (COLUMN * 1.6, 0.5 + 0.16 * len(labels))},
        )
        fig = pc.viz["chart"].item() if "chart" in pc.viz else plt.gcf()
        return fig


def save(fig: Figure, path_stem: Path, formats: Sequence[str]) -> list[Path]:
    """Write `fig` as `path_stem.<fmt>` for each format (PNG raster, PDF vector), deterministic bytes."""
    written = []
    with style():
        for fmt in formats:
            path = path_stem.with_suffix(f".{fmt}")
            meta = {"Software": None} if fmt == "png" else {"Creator": None, "Producer": None, "CreationDate": None}
            fig.savefig(path, format=fmt, metadata=meta)
            written.append(path)
    plt.close(fig)
    return written
