"""Figures and report of a finished intervention analysis (`phasefit intervention`).

Reads `intervention.csv`, `intervention_curves.csv` and `intervention.json` and never samples. Each
pair's figure shows both arms (data with 90% Clopper-Pearson intervals from n_items, and the
posterior 90% interval of each arm's expected score at every model) above the gain, treatment minus
baseline in log-odds (averaged over the hypotheses, with the band of the emergent family: step or
ramp), its zero line and the onset. `write_intervention_figures` writes them into `DIR/figures/`
through a temporary folder, so a failed run leaves the previous figures; `write_report_files` is the
report of the directory (`phasefit report DIR`, through `build.write_report`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from phasefit.errors import PhasefitError
from phasefit.report import tables
from phasefit.report.data import binomial_interval
from phasefit.report.figures import COLUMN, OKABE_ITO, _log_ticks, axis_name, save, scale_figure, style
from phasefit.report.output import Outputs, Progress, slug
from phasefit.results.files import read_table

FILES = ("intervention.csv", "intervention_curves.csv", "intervention.json")
VERDICTS = ("emergent", "inconclusive", "smooth", "absent", "failed")
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


@dataclass(frozen=True)
class InterventionRun:
    """A finished intervention directory read back: the pairs' table, what their figures draw
    (`intervention_curves.csv`) and the run record."""

    table: pd.DataFrame
    curves: pd.DataFrame
    run: dict


def read_intervention(directory: str | Path) -> InterventionRun:
    """The files of a finished intervention directory; a missing or broken one is a one-line error."""
    directory = Path(directory)
    for name in FILES:
        if not (directory / name).is_file():
            raise PhasefitError(f"{directory}: not a finished intervention directory: {name} is missing")
    try:
        run = json.loads((directory / "intervention.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PhasefitError(f"{directory / 'intervention.json'}: not valid JSON ({exc})") from None
    return InterventionRun(
        table=read_table(directory / "intervention.csv"),
        curves=read_table(directory / "intervention_curves.csv"),
        run=run,
    )


def pair_figures(run: InterventionRun) -> Iterator[tuple[int | None, str, Figure]]:
    """The figures of an intervention one at a time, each with its file stem: one per pair that did
    not fail (its row in the table, `NNN-task-family-metric`), then the onset of every pair whose
    gain is emergent or inconclusive (None, `onsets`). The caller saves (and so closes) each."""
    table, curves = run.table, run.curves
    x_axis = str(table["x_axis"].iloc[0]) if len(table) else "flops"
    for i, (_, row) in enumerate(table.iterrows()):
        if row["verdict"] == "failed":
            continue
        mask = np.logical_and.reduce([curves[k].astype(str) == str(row[k]) for k in KEY])
        yield (
            i,
            slug(i, f"{row['task']} {row['family']} {row['metric']}"),
            pair_figure(row, curves[mask], x_axis=x_axis),
        )
    onset = table.assign(condition=table["treatment"] + " vs " + table["baseline"])
    yield (
        None,
        "onsets",
        scale_figure(onset, x_axis=x_axis, xlabel=f"onset: {axis_name(x_axis)} from which the gain stays positive"),
    )


def write_intervention_figures(directory: str | Path, *, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """`DIR/figures/`: a figure per pair (`NNN-task-family-metric.<fmt>`) and `onsets.<fmt>` (the
    onset of every pair whose gain is emergent or inconclusive). Returns the files written."""
    directory = Path(directory)
    run = read_intervention(directory)
    final = directory / "figures"
    tmp = Path(tempfile.mkdtemp(prefix=".figures-", dir=directory))
    written: list[str] = []
    try:
        for _, stem, fig in pair_figures(run):
            written += [p.name for p in save(fig, tmp / stem, formats)]
        if final.exists():
            old = directory / ".figures-old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [final / name for name in written]


def write_report_files(run: InterventionRun, source: Path, out: Outputs, progress: Progress | None) -> int:
    """The report of an intervention directory into `out`: its figures, the pair table, index.html
    and the manifest. Returns the number of pairs."""
    table = run.table
    shown = tables.pair_table(table)
    pairs: list[dict] = []
    for i, ((_, row), (_, cells)) in enumerate(zip(table.iterrows(), shown.iterrows(), strict=True)):
        label = f"{row['task']}, {row['family']}, {row['metric']}"
        pairs.append(
            {
                "label": label,
                "task": str(row["task"]),
                "verdict": str(row["verdict"]),
                "line": _line(row, cells),
                "anchor": f"pair-{slug(i, label)}",
                "png": None,
                "pdf": None,
            }
        )
    total = int((table["verdict"] != "failed").sum()) + 1
    onsets: dict[str, str] = {}
    for done, (row_number, stem, fig) in enumerate(pair_figures(run), start=1):
        if row_number is None:
            onsets = out.figure(fig, stem)
        else:
            pairs[row_number] |= out.figure(fig, stem)
        if progress:
            progress("figures", done, total)
    t_pairs = out.table(
        shown,
        "intervention",
        caption="Intervention per pair: the verdict on the gain (treatment minus baseline, log-odds), "
        "P(emergent gain), P(no effect), P(harm at the smallest model) and the onset (median, 90% credible interval).",
    )
    by_task: dict[str, list[dict]] = {}
    for p in pairs:
        by_task.setdefault(p["task"], []).append(p)
    margin = run.run.get("onset_margin")
    out.page(
        "intervention.html.j2",
        title=str(run.run.get("source", source.name)),
        summary=_summary(table, run.run),
        onsets=onsets
        | {
            "caption": "The onset (where the gain reaches the margin"
            + (f" of {margin:g} log-odds" if margin is not None else "")
            + " and stays above it up to the largest model): median and 90% interval of every pair whose gain "
            "is emergent (filled) or inconclusive (open), grouped by task."
        },
        tables={"pairs": t_pairs},
        pair_table={"columns": list(shown.columns), "rows": shown.values.tolist()},
        tasks=[
            {"name": t, "anchor": f"task-{slug(i, t)}", "pairs": ps}
            for i, (t, ps) in enumerate(sorted(by_task.items()))
        ],
        source_dir=source.name,
        command=f"phasefit report {source.name}",
        data_hash=run.run.get("data_hash"),
        seed=run.run.get("seed"),
        version=(run.run.get("versions") or {}).get("phasefit"),
    )
    out.manifest(pairs=len(table))
    return len(table)


def _summary(table: pd.DataFrame, run: dict) -> str:
    """The page's summary: verdict counts, the arms, the hypotheses' prior weights and the margin."""
    counts = table["verdict"].value_counts()
    parts = [
        f"{len(table)} pairs ({', '.join(f'{counts.get(v, 0)} {v}' for v in VERDICTS)}): "
        f"{run.get('treatment')} vs {run.get('baseline')}"
    ]
    weights = run.get("hypothesis_weights") or {}
    if weights.get("prior"):
        method = f" ({weights['method']})" if weights.get("method") else ""
        prior = ", ".join(f"{h} {float(w):.2f}" for h, w in weights["prior"].items())
        parts.append(f"the hypotheses' prior weights{method}: {prior}")
    if run.get("onset_margin") is not None:
        parts.append(f"onset margin {run['onset_margin']:g} log-odds")
    return "; ".join(parts) + "."


def _line(row: pd.Series, cells: pd.Series) -> str:
    """What the page says of one pair: the verdict, P(emergent gain), P(no effect), the onset where
    there is one, and the notes where there are any (`cells`: its row of `tables.pair_table`)."""
    if row["verdict"] == "failed":
        parts = [f"failed ({row['failure_reason']})" if row["failure_reason"] else "failed"]
    else:
        verdict = "absent (no effect)" if row["verdict"] == "absent" else str(row["verdict"])
        parts = [f"{verdict}: P(emergent gain) = {cells['P(emergent gain)']}, P(no effect) = {cells['P(no effect)']}"]
        if cells["onset (FLOPs)"] != tables.DASH:
            parts.append(f"onset at {cells['onset (FLOPs)']} training FLOPs (median [90% interval])")
    if row["notes"]:
        parts.append(f"note: {row['notes']}")
    return "; ".join(parts) + "."
