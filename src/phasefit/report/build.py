"""`write_report`: a finished fit directory -> `DIR/report/` (figures, tables, index.html).

Reads the run (`load_run`) and never refits or samples. The report is written into a temporary
directory beside its destination and moved into place when complete, so an interrupted report
leaves the previous one (or none), never half of one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from phasefit.errors import PhasefitError
from phasefit.evidence.verdicts import describe
from phasefit.report import figures, tables
from phasefit.report.data import curve_labels, curve_plot, run_spec
from phasefit.results.files import read_table
from phasefit.results.run import Analysis, load_run

FORMATS = ("png", "pdf")
Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass(frozen=True)
class Report:
    """Where a report was written, and what it holds (paths relative to `directory`)."""

    directory: Path
    index: Path
    figures: tuple[str, ...]
    tables: tuple[str, ...]
    curves: int


def _slug(i: int, text: str) -> str:
    """A file or anchor name that no user string can break out of: an index and [a-z0-9-]."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower())[:40].strip("-")
    return f"{i:03d}-{s}" if s else f"{i:03d}"


def _k_hat(analysis: Analysis, labels: Sequence[str]) -> pd.Series:
    """The largest importance k-hat of each curve's marginal likelihoods (NaN where absent)."""
    ev = analysis.posterior["evidence"].dataset
    k = ev["importance_k_hat"].max("hypothesis", skipna=True).to_series()
    return pd.Series([float(k.get(lab, np.nan)) for lab in labels])


def write_report(
    directory: str | Path,
    *,
    out: str | Path | None = None,
    formats: Sequence[str] = FORMATS,
    progress: Progress | None = None,
) -> Report:
    """Write the report of the fit directory `directory` to `out` (default `directory/report`)."""
    directory = Path(directory)
    formats = tuple(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats or "png" not in formats:
        raise PhasefitError(f"--formats must include png and may add pdf (got {', '.join(formats) or 'none'})")
    analysis = load_run(directory)
    out = Path(out) if out is not None else directory / "report"
    if out.exists() and not out.is_dir():
        raise PhasefitError(f"{out}: exists and is not a directory")
    if not out.parent.is_dir():
        raise PhasefitError(f"{out.parent}: output directory does not exist")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        report = _write(analysis, directory, tmp, formats, progress)
        os.chmod(tmp, 0o755)
        old = out.with_name(f".{out.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Report(directory=out, index=out / "index.html", figures=report[0], tables=report[1], curves=report[2])


def _write(
    analysis: Analysis, source: Path, out: Path, formats: tuple[str, ...], progress: Progress | None
) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    run = analysis.run
    spec = run_spec(run)
    v = analysis.verdicts
    x_axis = str(run["x_axis"])
    labels = curve_labels(v)
    k_hat = _k_hat(analysis, labels)
    (out / "figures" / "curves").mkdir(parents=True)
    (out / "tables").mkdir()
    written_figs: list[str] = []
    written_tables: list[str] = []

    def save(fig, stem: str) -> dict[str, str]:
        paths = figures.save(fig, out / "figures" / stem, formats)
        rel = {p.suffix[1:]: str(p.relative_to(out)) for p in paths}
        written_figs.extend(rel.values())
        return rel

    def table(df: pd.DataFrame, stem: str, *, caption: str) -> list[dict[str, str]]:
        base = out / "tables" / stem
        df.to_csv(base.with_suffix(".csv"), index=False)
        base.with_suffix(".tex").write_text(tables.to_latex(df, caption=caption, label=f"tab:{stem}"), encoding="utf-8")
        base.with_suffix(".md").write_text(tables.to_markdown(df), encoding="utf-8")
        rel = [
            {"kind": k.upper() if k != "tex" else "LaTeX", "path": f"tables/{stem}.{k}"} for k in ("csv", "tex", "md")
        ]
        written_tables.extend(r["path"] for r in rel)
        return rel

    # per-curve figures
    total = len(v)
    in_posterior = set(analysis.posterior["evidence"].dataset["curve"].values.tolist())
    curves = []
    for i, (label, (_, row)) in enumerate(zip(labels, v.iterrows(), strict=True)):
        entry = {
            "label": label,
            "verdict": str(row["verdict"]),
            "prose": describe(row),
            "anchor": f"curve-{_slug(i, label)}",
            "task": str(row["task"]),
            "png": None,
            "pdf": None,
            "no_figure": "",
        }
        if label in in_posterior:
            fig = figures.curve_figure(curve_plot(analysis.posterior, v, label, spec=spec))
            entry |= save(fig, f"curves/{_slug(i, label)}")
        else:
            entry["no_figure"] = "the curve has no posterior in this run"
        curves.append(entry)
        if progress:
            progress("curves", i + 1, total)

    # overview figures
    overview = []
    fig = figures.forest_figure(v, emergent=spec.verdict.emergent, smooth=spec.verdict.smooth)
    overview.append(
        {
            "title": "P(emergent) by task",
            "caption": "Each curve's posterior probability of a break (marker: verdict); the line spans its value "
            "with every hypothesis' prior power-scaled by 0.5 and 2. Dotted: the verdict thresholds.",
            **save(fig, "p_emergent_by_task"),
        }
    )
    fig = figures.scale_figure(v, x_axis=x_axis)
    overview.append(
        {
            "title": "Emergence scales",
            "caption": f"The onset (the scale where the expected score first exceeds floor + "
            f"{spec.verdict.onset_margin:g} x (1 - floor)): median and 90% interval per emergent (filled) or "
            "inconclusive (open) curve, grouped by task.",
            **save(fig, "emergence_scales"),
        }
    )
    rising = [lab for lab, verdict in zip(labels, v["verdict"], strict=True) if verdict in ("emergent", "inconclusive")]
    forest = figures.break_forest(analysis.posterior, rising)
    if forest is not None:
        overview.append(
            {
                "title": "Break posteriors",
                "caption": "ArviZ forest plot of the break tau (log10 of the x axis) of every emergent or "
                "inconclusive curve, under the breakpoint hypothesis.",
                **save(forest, "break_forest"),
            }
        )
    d = spec.diagnostics
    fig = figures.diagnostics_figure(v, k_hat, rhat_max=d.rhat_max, ess_min=d.ess_bulk_min)
    overview.append(
        {
            "title": "Diagnostics",
            "caption": "Per curve, the worst R-hat and bulk ESS over its fits and the largest Pareto k-hat of its "
            "marginal likelihoods; dashed: the thresholds a fit must pass.",
            **save(fig, "diagnostics"),
        }
    )

    # tables
    emergence = tables.emergence_table(v)
    t_emergence = table(
        emergence,
        "emergence",
        caption="Emergence per curve: verdict, posterior probability, onset and break (90% credible "
        "intervals) and whether LOO and leave-future-out agree.",
    )
    task_tab = tables.task_level_table(analysis.tasks, x_axis=x_axis)
    t_tasks = table(task_tab, "tasks", caption="Emergence per task, pooling its families.")
    diag = tables.diagnostics_table(v, k_hat)
    t_diag = table(diag, "diagnostics", caption="Convergence and evidence diagnostics per curve.")

    sensitivity = None
    t_sens: list[dict[str, str]] = []
    if (source / "sensitivity.csv").is_file():
        sens = read_table(source / "sensitivity.csv")
        overview.append(
            {
                "title": "Metric sensitivity",
                "caption": "P(emergent) of each task and family under each metric that scores it (the verdict's "
                "initial in the cell); * marks a verdict that changes with the metric.",
                **save(figures.sensitivity_figure(sens), "metric_sensitivity"),
            }
        )
        sens_tasks = (
            read_table(source / "sensitivity_tasks.csv") if (source / "sensitivity_tasks.csv").is_file() else sens
        )
        t_sens = table(sens_tasks.astype(str), "sensitivity_tasks", caption="Metric sensitivity per task.")
        flips = int(sens["flip"].fillna(False).astype(bool).sum()) if "flip" in sens else 0
        sensitivity = {
            "sentence": f"{len(sens)} curve rows; {flips} whose verdict changes with the metric.",
            "table": {"columns": list(sens_tasks.columns), "rows": sens_tasks.astype(str).values.tolist()},
        }

    failed = int((v["verdict"] == "failed").sum())
    counts = v["verdict"].value_counts()
    order = ["emergent", "inconclusive", "smooth", "absent", "failed"]
    by_task: dict[str, list[dict]] = {}
    for c in curves:
        by_task.setdefault(str(c["task"]), []).append(c)
    task_entries = [
        {"name": t, "anchor": f"task-{_slug(i, t)}", "curves": cs} for i, (t, cs) in enumerate(sorted(by_task.items()))
    ]
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("phasefit.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        keep_trailing_newline=True,
    )
    html = env.get_template("index.html.j2").render(
        title=str(run.get("source", source.name)),
        n_curves=len(v),
        counts=", ".join(f"{counts.get(k, 0)} {k}" for k in order),
        x_axis_name=figures.axis_name(x_axis),
        seed=run.get("seed"),
        data_hash=run.get("data_hash"),
        version=(run.get("versions") or {}).get("phasefit"),
        overview=overview,
        tables={"emergence": t_emergence, "tasks": t_tasks, "diagnostics": t_diag, "sensitivity": t_sens},
        emergence_table={"columns": list(emergence.columns), "rows": emergence.values.tolist()},
        task_table={"columns": list(task_tab.columns), "rows": task_tab.values.tolist()},
        diagnostics_table={"columns": list(diag.columns), "rows": diag.values.tolist()},
        diagnostics_sentence=f"{failed} of {len(v)} curves failed their checks."
        if failed
        else f"All {len(v)} curves passed their convergence checks.",
        sensitivity=sensitivity,
        tasks=task_entries,
        source_dir=source.name,
        command=f"phasefit report {source.name}",
    )
    (out / "index.html").write_text(html, encoding="utf-8")
    manifest = {"figures": sorted(written_figs), "tables": sorted(written_tables), "curves": len(v)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return tuple(sorted(written_figs)), tuple(sorted(written_tables)), len(v)
