"""`write_report`: a finished fit or intervention directory -> `DIR/report/` (figures, tables, index.html).

Reads the run (`load_run`, or the intervention's files) and never refits or samples. The report is
written into a temporary folder beside its destination and moved into place when complete
(`output.write_atomically`), so an interrupted report leaves the previous one (or none), never half
of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from phasefit.errors import PhasefitError
from phasefit.evidence.verdicts import describe
from phasefit.report import figures, intervention, tables
from phasefit.report.data import curve_labels, curve_plot, run_spec
from phasefit.report.output import FORMATS, Outputs, Progress, Report, check_formats, slug, write_atomically
from phasefit.results.files import read_table
from phasefit.results.run import Analysis, load_run


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
    """Write the report of the fit or intervention directory `directory` to `out` (default
    `directory/report`). An intervention directory has intervention.csv and no verdicts.csv."""
    directory = Path(directory)
    formats = check_formats(formats)
    out = Path(out) if out is not None else directory / "report"
    if directory.is_dir() and not (directory / "verdicts.csv").exists():
        if (directory / "intervention.csv").exists():
            run = intervention.read_intervention(directory)
            return write_atomically(
                out,
                formats,
                lambda o: intervention.write_report_files(run, directory, o, progress),
                kind="intervention",
            )
        hint = " (the run is unfinished: rerun it to resume)" if (directory / ".phasefit-work").exists() else ""
        raise PhasefitError(
            f"{directory}: not a finished fit or intervention directory (no verdicts.csv or intervention.csv){hint}"
        )
    analysis = load_run(directory)
    return write_atomically(out, formats, lambda o: _write(analysis, directory, o, progress))


def _write(analysis: Analysis, source: Path, out: Outputs, progress: Progress | None) -> int:
    """The fit report's figures, tables, page and manifest into `out`; returns the number of curves."""
    run = analysis.run
    spec = run_spec(run)
    v = analysis.verdicts
    x_axis = str(run["x_axis"])
    labels = curve_labels(v)
    k_hat = _k_hat(analysis, labels)

    # per-curve figures
    total = len(v)
    in_posterior = set(analysis.posterior["evidence"].dataset["curve"].values.tolist())
    curves = []
    for i, (label, (_, row)) in enumerate(zip(labels, v.iterrows(), strict=True)):
        entry = {
            "label": label,
            "verdict": str(row["verdict"]),
            "prose": describe(row),
            "anchor": f"curve-{slug(i, label)}",
            "task": str(row["task"]),
            "png": None,
            "pdf": None,
            "no_figure": "",
        }
        if label in in_posterior:
            fig = figures.curve_figure(curve_plot(analysis.posterior, v, label, spec=spec))
            entry |= out.figure(fig, f"curves/{slug(i, label)}")
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
            **out.figure(fig, "p_emergent_by_task"),
        }
    )
    fig = figures.scale_figure(v, x_axis=x_axis)
    overview.append(
        {
            "title": "Emergence scales",
            "caption": f"The onset (the scale where the expected score first exceeds floor + "
            f"{spec.verdict.onset_margin:g} x (1 - floor)): median and 90% interval per emergent (filled) or "
            "inconclusive (open) curve, grouped by task.",
            **out.figure(fig, "emergence_scales"),
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
                **out.figure(forest, "break_forest"),
            }
        )
    d = spec.diagnostics
    fig = figures.diagnostics_figure(v, k_hat, rhat_max=d.rhat_max, ess_min=d.ess_bulk_min)
    overview.append(
        {
            "title": "Diagnostics",
            "caption": "Per curve, the worst R-hat and bulk ESS over its fits and the largest Pareto k-hat of its "
            "marginal likelihoods; dashed: the thresholds a fit must pass.",
            **out.figure(fig, "diagnostics"),
        }
    )

    # tables
    emergence = tables.emergence_table(v)
    t_emergence = out.table(
        emergence,
        "emergence",
        caption="Emergence per curve: verdict, posterior probability, onset and break (90% credible "
        "intervals) and whether LOO and leave-future-out agree.",
    )
    task_tab = tables.task_level_table(analysis.tasks, x_axis=x_axis)
    t_tasks = out.table(task_tab, "tasks", caption="Emergence per task, pooling its families.")
    diag = tables.diagnostics_table(v, k_hat)
    t_diag = out.table(diag, "diagnostics", caption="Convergence and evidence diagnostics per curve.")

    sensitivity = None
    t_sens: list[dict[str, str]] = []
    if (source / "sensitivity.csv").is_file():
        sens = read_table(source / "sensitivity.csv")
        overview.append(
            {
                "title": "Metric sensitivity",
                "caption": "P(emergent) of each task and family under each metric that scores it (the verdict's "
                "initial in the cell); * marks a verdict that changes with the metric.",
                **out.figure(figures.sensitivity_figure(sens), "metric_sensitivity"),
            }
        )
        sens_tasks = (
            read_table(source / "sensitivity_tasks.csv") if (source / "sensitivity_tasks.csv").is_file() else sens
        )
        t_sens = out.table(sens_tasks.astype(str), "sensitivity_tasks", caption="Metric sensitivity per task.")
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
        {"name": t, "anchor": f"task-{slug(i, t)}", "curves": cs} for i, (t, cs) in enumerate(sorted(by_task.items()))
    ]
    out.page(
        "index.html.j2",
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
    out.manifest(curves=len(v))
    return len(v)
