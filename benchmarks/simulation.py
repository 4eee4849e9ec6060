"""Simulation benchmark: verdict accuracy and calibration of phasefit against known truth.

Runs `phasefit.runner.local.fit` on `simulation_suite(N, seed)` (breakpoint, smooth and flat curves in
rotation; see `phasefit.models.simulate`) and scores the verdict table against the truth:

- AUC (rank-based, Mann-Whitney) of p_emergent and of BIG-bench breakthroughness for separating
  breakpoint curves from smooth + flat ones (also elpd_diff, stacking weight, lfo_elpd_diff);
- precision of `emergent` verdicts, their false-positive rate on smooth + flat, flat curves called
  emergent;
- calibration of p_emergent (bins [0,.1) [.1,.3) [.3,.5) [.5,.7) [.7,.9) [.9,1]): mean p, observed
  share of true breakpoints, count, |difference| <= 0.1;
- 90% interval coverage of the break (break_flops_q05..q95 vs 10**tau) on breakpoint curves called
  emergent; verdict counts per true kind; share failed.

Writes benchmarks/results/simulation.json, simulation_curves.csv and the section
"## Simulation: verdict accuracy and calibration" of benchmarks/RESULTS.md (--quick writes
simulation_quick.* and leaves RESULTS.md alone). Finished curves are checkpointed under
benchmarks/results/.work-simulation/, so an interrupted run resumes.

    .venv/bin/python benchmarks/simulation.py                # 300 curves, spec defaults
    .venv/bin/python benchmarks/simulation.py --quick        # 12 curves, 300 draws / 300 tune
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from phasefit.data.curves import load_curves
from phasefit.evidence.verdicts import decide
from phasefit.models.simulate import simulation_suite
from phasefit.models.spec import load_spec
from phasefit.runner import local as pipeline

from _common import RESULTS_DIR, ROOT, auc, loadavg, markers, wilson, write_json, write_results_md
from _common import machine as machine_info

RESULTS = RESULTS_DIR
SECTION = "## Simulation: verdict accuracy and calibration"
START, END = markers("simulation")
BINS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
TARGETS = {
    "auc": 0.95,
    "precision": 0.90,
    "fpr": 0.05,
    "flat_emergent": 0,
    "calibration_tol": 0.10,
    "coverage": 0.85,
}


# ---------------------------------------------------------------------------------- statistics


def calibration(p: np.ndarray, positive: np.ndarray, tol: float) -> list[dict]:
    rows = []
    for i, (lo, hi) in enumerate(zip(BINS[:-1], BINS[1:], strict=True)):
        last = i == len(BINS) - 2
        m = (p >= lo) & ((p <= hi) if last else (p < hi))
        n = int(m.sum())
        k = int(positive[m].sum())
        mean_p = float(p[m].mean()) if n else float("nan")
        obs = k / n if n else float("nan")
        ci = wilson(k, n)
        rows.append(
            {
                "bin": f"[{lo:.1f}, {hi:.1f}{']' if last else ')'}",
                "count": n,
                "mean_p": mean_p,
                "observed_share": obs,
                "n_breakpoint": k,
                "abs_diff": abs(mean_p - obs) if n else float("nan"),
                "within_tol": bool(abs(mean_p - obs) <= tol) if n else None,
                "obs_ci90_lo": ci[0],
                "obs_ci90_hi": ci[1],
                "mean_p_in_ci90": bool(ci[0] <= mean_p <= ci[1]) if n else None,
            }
        )
    return rows


def score(
    table: pd.DataFrame,
    *,
    p_col: str = "p_emergent",
    verdict_col: str = "verdict",
    break_cols: tuple[str, str, str] = ("log10_break_q05", "log10_break_median", "log10_break_q95"),
) -> dict:
    """Every metric of the benchmark from the merged per-curve table (break columns in log10 FLOPs)."""
    bp = (table["kind"] == "breakpoint").to_numpy()
    neg = ~bp
    verdict = table[verdict_col]
    emergent = (verdict == "emergent").to_numpy()
    failed = (verdict == "failed").to_numpy()
    p = table[p_col].to_numpy(float)
    out: dict = {
        "n_curves": len(table),
        "n_breakpoint": int(bp.sum()),
        "n_smooth": int((table["kind"] == "smooth").sum()),
        "n_flat": int((table["kind"] == "flat").sum()),
        "p_column": p_col,
        "verdict_column": verdict_col,
    }
    bt = table["breakthroughness"].to_numpy(float)
    out["auc"] = {
        "p_emergent": auc(p, bp),
        "breakthroughness": auc(bt, bp),
        "p_emergent_converged_only": auc(p[~failed], bp[~failed]),
        "breakthroughness_converged_only": auc(bt[~failed], bp[~failed]),
        "elpd_diff": auc(table["elpd_diff"].to_numpy(float), bp),
        "stacking_weight_breakpoint": auc(table["stacking_weight_breakpoint"].to_numpy(float), bp),
        "lfo_elpd_diff": auc(table["lfo_elpd_diff"].to_numpy(float), bp),  # breakpoint - smooth
        "linearity": auc(table["linearity"].to_numpy(float), bp),
    }
    n_em = int(emergent.sum())
    out["n_emergent"] = n_em
    out["precision"] = float((emergent & bp).sum() / n_em) if n_em else float("nan")
    out["recall"] = float((emergent & bp).sum() / bp.sum()) if bp.sum() else float("nan")
    out["fpr"] = float((emergent & neg).sum() / neg.sum()) if neg.sum() else float("nan")
    out["n_false_emergent"] = int((emergent & neg).sum())
    out["false_emergent_by_kind"] = {k: int(v) for k, v in table[emergent & neg].groupby("kind").size().items()}
    out["flat_called_emergent"] = int((emergent & (table["kind"] == "flat").to_numpy()).sum())
    ok = ~failed & np.isfinite(p)
    out["calibration"] = calibration(p[ok], bp[ok], TARGETS["calibration_tol"])
    # break coverage on breakpoint curves called emergent
    sel = table[(table["kind"] == "breakpoint") & (verdict == "emergent")]
    lo, med, hi = (sel[c].to_numpy(float) for c in break_cols)
    tau = sel["tau"].to_numpy(float)
    covered = (lo <= tau) & (tau <= hi)
    n = len(sel)
    out["coverage"] = {
        "n": n,
        "covered": int(covered.sum()),
        "share": float(covered.mean()) if n else float("nan"),
        "below_interval": int((tau < lo).sum()),
        "above_interval": int((tau > hi).sum()),
        "median_width_decades": float(np.median(hi - lo)) if n else float("nan"),
        "median_abs_error_decades": float(np.median(np.abs(med - tau))) if n else float("nan"),
    }
    counts = pd.crosstab(table["kind"], verdict)
    out["verdict_counts"] = {k: {v: int(c) for v, c in row.items() if c} for k, row in counts.iterrows()}
    out["share_failed"] = float(failed.mean())
    out["failed_by_kind"] = {k: int(v) for k, v in table[failed].groupby("kind").size().items()}
    out["mean_p_emergent_by_kind"] = {k: float(v) for k, v in table.groupby("kind")[p_col].mean().items()}
    return out


def targets(m: dict) -> list[dict]:
    cal = [r for r in m["calibration"] if r["count"]]
    worst = max((r["abs_diff"] for r in cal), default=float("nan"))
    rows = [
        ("AUC(p_emergent) >= 0.95", m["auc"]["p_emergent"], m["auc"]["p_emergent"] >= TARGETS["auc"]),
        (
            "AUC(p_emergent) > AUC(breakthroughness)",
            f"{m['auc']['p_emergent']:.3f} vs {m['auc']['breakthroughness']:.3f}",
            m["auc"]["p_emergent"] > m["auc"]["breakthroughness"],
        ),
        ("precision of emergent >= 0.9", m["precision"], m["precision"] >= TARGETS["precision"]),
        ("FPR of emergent on smooth+flat <= 5%", m["fpr"], m["fpr"] <= TARGETS["fpr"]),
        (
            "flat curves called emergent == 0",
            m["flat_called_emergent"],
            m["flat_called_emergent"] == TARGETS["flat_emergent"],
        ),
        ("calibration: every non-empty bin within 0.1", f"worst |diff| {worst:.3f}", all(r["within_tol"] for r in cal)),
        (
            "break 90% interval coverage >= 85% (bp called emergent)",
            m["coverage"]["share"],
            m["coverage"]["share"] >= TARGETS["coverage"],
        ),
    ]
    return [{"target": t, "value": v if isinstance(v, str | int) else float(v), "pass": bool(ok)} for t, v, ok in rows]


# ----------------------------------------------------------------------------------- machine


def machine() -> dict:
    """The machine (benchmarks/_common.py) and the code: git commit, uncommitted files under src/."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    try:
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.split("\n")
        dirty = sorted(line[3:] for line in dirty if line.strip())
    except OSError:
        dirty = []
    import phasefit

    code = str(Path(phasefit.__file__).resolve().parent)
    if not code.startswith(str(ROOT / "src")):  # a snapshot (e.g. `git archive HEAD src`) on PYTHONPATH
        commit = os.environ.get("PHASEFIT_CODE_COMMIT", f"? (phasefit imported from {code})")
        dirty = []
    return {
        **machine_info(),
        "git_commit": commit,
        "src_uncommitted": dirty,
        "phasefit_path": code,
        "loadavg_at_end": loadavg(),
    }


# ----------------------------------------------------------------------------------- writing


def _fmt(v, nd=3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    return "n/a" if not np.isfinite(v) else f"{v:.{nd}f}"


def timing_md(res: dict) -> str:
    hist = res.get("timing_history") or []
    fitted = sum(h["fitted"] for h in hist)
    secs = sum(h["pipeline_seconds"] for h in hist if h["fitted"])
    text = (
        f"Timing: this run fitted {res['fitted_this_run']} curves and resumed the rest from checkpoints "
        f"(wall {res['seconds']:.0f} s, pipeline {res['pipeline_seconds']:.0f} s, "
        f"compile {res['compile_seconds']})."
    )
    if fitted:
        text += (
            f" Fitting runs of this spec and suite: {fitted} curves in {secs:.0f} s of pipeline time "
            f"({secs / fitted:.1f} s per curve incl. LOO refits, leave-future-out and the population stage; "
            + "; ".join(
                f"{h['date']}: {h['fitted']} curves, {h['pipeline_seconds']:.0f} s, load {h['loadavg'][0]:.1f}"
                for h in hist
                if h["fitted"]
            )
            + ")."
        )
    return text


def record_timing(work: Path, run: dict, *, fitted: int, seconds: float) -> list[dict]:
    """Append this run to the timing history of (spec, suite): resumed runs do not hide the fitting time."""
    path = work / f"timing-{run['spec_hash']}-{run['data_hash'].split(':')[-1][:16]}.json"
    hist = json.loads(path.read_text()) if path.exists() else []
    hist.append(
        {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "fitted": fitted,
            "pipeline_seconds": round(seconds, 1),
            "loadavg": loadavg(),
        }
    )
    path.write_text(json.dumps(hist, indent=1) + "\n")
    return hist


def diagnostics_md(d: dict, population: dict | None, heading: str = "Diagnostics") -> list[str]:
    return [
        "",
        f"{heading}: {d['bp_share_plateau_visible']:.0%} of breakpoint curves have their pre-break plateau "
        "more than 2 binomial SDs above the floor (otherwise the hinge is, within binomial noise, one "
        "logit-linear line through the post-break points); mean p_emergent "
        f"{_fmt(d['bp_mean_p_plateau_visible'])} where it is visible, {_fmt(d['bp_mean_p_plateau_hidden'])} where "
        f"not; AUC {_fmt(d['auc_plateau_visible'])} with only those breakpoint curves as positives. "
        f"Spearman of p_emergent with the plateau's z {_fmt(d['spearman_p_vs_plateau_z_bp'], 2)}, with the "
        f"true post-break slope {_fmt(d['spearman_p_vs_slope_bp'], 2)} (breakpoint curves), with the true slope "
        f"{_fmt(d['spearman_p_vs_slope_smooth'], 2)} (smooth curves); true slopes: breakpoint "
        f"{d['true_slope_range_bp'][0]:.1f}-{d['true_slope_range_bp'][1]:.1f}, smooth "
        f"{d['true_slope_range_smooth'][0]:.1f}-{d['true_slope_range_smooth'][1]:.1f} log-odds per decade. "
        f"Break location over all breakpoint curves: median (posterior median - truth) "
        f"{_fmt(d['tau_bias_median_decades'], 2)} decades; 90% interval coverage "
        f"{_fmt(d['tau_ci90_coverage_all_bp'])} (truth below {d['tau_truth_below_ci_all_bp']}, above "
        f"{d['tau_truth_above_ci_all_bp']}).",
    ]


def markdown(res: dict) -> str:
    m, s, mach = res["metrics"], res["settings"], res["machine"]
    lines = [
        SECTION,
        "",
        f"Run {res['date']} by `benchmarks/simulation.py` (git {mach['git_commit']}"
        + (
            f" with uncommitted changes to {len(mach['src_uncommitted'])} files under src/"
            if mach["src_uncommitted"]
            else ""
        )
        + "); "
        f"{mach['nproc']} cores ({mach['cpu']}), {mach['ram_gib']} GiB RAM, {mach['platform']}. "
        f"Load average at the end {', '.join(f'{x:.1f}' for x in mach['loadavg_at_end'])} "
        "(other benchmarks may share the machine; timings are indicative).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()) + ".",
        "",
        f"Settings: `simulation_suite({s['curves']}, seed={s['suite_seed']})` (kinds in rotation: breakpoint, "
        "smooth, flat, parameters and beta-binomial over-dispersion drawn from the spec's priors, sharp "
        "hinges; 5-10 points, n_items 100-2000, floors 0/0.25/0.5; `phasefit.models.simulate`); default "
        f"spec ({s['spec_source']}) with backend {s['backend']}, {s['chains']} chains x {s['draws']} draws, "
        f"tune {s['tune']}, target_accept {s['target_accept']}, sampler seed {s['sampler_seed']}; verdict "
        f"thresholds emergent >= {s['verdict']['emergent']}, smooth <= {s['verdict']['smooth']}, "
        f"absent >= {s['verdict']['absent']}; verdicts from {res['verdicts_use']} evidence.",
        "",
        timing_md(res),
        "",
        "Positives are the breakpoint curves, negatives smooth + flat. Per-curve table: "
        f"`benchmarks/results/{res['stem']}_curves.csv`; all numbers: "
        f"`benchmarks/results/{res['stem']}.json`.",
        "",
        "| target | value | result |",
        "|---|---|---|",
    ]
    for t in res["targets"]:
        lines.append(f"| {t['target']} | {_fmt(t['value'])} | {'PASS' if t['pass'] else 'FAIL'} |")
    a = m["auc"]
    lines += [
        "",
        f"Curves: {m['n_curves']} ({m['n_breakpoint']} breakpoint, {m['n_smooth']} smooth, "
        f"{m['n_flat']} flat); "
        f"failed {m['share_failed']:.1%} ({m['failed_by_kind'] or 'none'}).",
        "",
        "| score | AUC (all curves) | AUC (converged only) |",
        "|---|---|---|",
        f"| p_emergent | {_fmt(a['p_emergent'])} | {_fmt(a['p_emergent_converged_only'])} |",
        f"| breakthroughness (BIG-bench) | {_fmt(a['breakthroughness'])} | "
        f"{_fmt(a['breakthroughness_converged_only'])} |",
        f"| elpd_diff (LOO, breakpoint - smooth) | {_fmt(a['elpd_diff'])} | |",
        f"| stacking weight of breakpoint | {_fmt(a['stacking_weight_breakpoint'])} | |",
        f"| lfo_elpd_diff (leave-future-out, breakpoint - smooth) | {_fmt(a['lfo_elpd_diff'])} | |",
        f"| linearity (BIG-bench) | {_fmt(a['linearity'])} | |",
        "",
        f"`emergent` verdicts: {m['n_emergent']}; precision {_fmt(m['precision'])}, recall {_fmt(m['recall'])}, "
        f"false positives {m['n_false_emergent']} (FPR {_fmt(m['fpr'])}), flat called emergent "
        f"{m['flat_called_emergent']}.",
        "",
        "Calibration of p_emergent (converged curves; observed = share of true breakpoints; 90% Wilson "
        "interval of the observed share):",
        "",
        "| bin | count | mean p | observed | abs diff | within 0.1 | observed 90% CI | mean p in CI |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in m["calibration"]:
        lines.append(
            f"| {r['bin']} | {r['count']} | {_fmt(r['mean_p'])} | {_fmt(r['observed_share'])} | "
            f"{_fmt(r['abs_diff'])} | {_fmt(r['within_tol'])} | "
            f"[{_fmt(r['obs_ci90_lo'], 2)}, {_fmt(r['obs_ci90_hi'], 2)}] | {_fmt(r['mean_p_in_ci90'])} |"
        )
    c = m["coverage"]
    lines += [
        "",
        f"Break location (breakpoint curves called emergent, n = {c['n']}): 90% interval covers the true "
        f"break in {c['covered']}/{c['n']} ({_fmt(c['share'])}); truth below the interval {c['below_interval']}, "
        f"above {c['above_interval']}; median interval width {_fmt(c['median_width_decades'], 2)} decades, "
        f"median |median - truth| {_fmt(c['median_abs_error_decades'], 2)} decades.",
        "",
        "Verdicts by true kind:",
        "",
    ]
    verdicts = ["emergent", "inconclusive", "smooth", "absent", "failed"]
    lines += ["| true kind | " + " | ".join(verdicts) + " |", "|---|" + "---|" * len(verdicts)]
    for kind in ("breakpoint", "smooth", "flat"):
        row = m["verdict_counts"].get(kind, {})
        lines.append(f"| {kind} | " + " | ".join(str(row.get(v, 0)) for v in verdicts) + " |")
    lines += [
        "",
        "Mean p_emergent by true kind: "
        + ", ".join(f"{k} {v:.3f}" for k, v in m["mean_p_emergent_by_kind"].items())
        + ".",
    ]
    lines += diagnostics_md(m["diagnostics"], res.get("population"))
    if res.get("metrics_alternative"):
        mu, alt = res["metrics_alternative"], res["alternative"]
        pop = res.get("population") or {}
        what = (
            "the population stage's pooled p_emergent and break quantiles, reported beside the per-curve "
            "verdicts (pooled verdicts here: pooled p_emergent with the per-curve P(absent))"
        )
        lines += [
            "",
            f"### The same targets on {alt} evidence",
            "",
            f"Scored on {what}. Population stage: converged {pop.get('ok')}, learned rates "
            f"{pop.get('rates_mean')} (true shares {m['n_flat'] / m['n_curves']:.3f} absent/flat, "
            f"{m['n_smooth'] / m['n_curves']:.3f} smooth, "
            f"{m['n_breakpoint'] / m['n_curves']:.3f} breakpoint).",
            "",
            "| target | value | result |",
            "|---|---|---|",
        ]
        for t in res["targets_alternative"]:
            lines.append(f"| {t['target']} | {_fmt(t['value'])} | {'PASS' if t['pass'] else 'FAIL'} |")
        lines += [
            "",
            f"{alt.capitalize()}: AUC {_fmt(mu['auc']['p_emergent'])}; `emergent` {mu['n_emergent']}, "
            f"precision {_fmt(mu['precision'])}, recall {_fmt(mu['recall'])}, FPR {_fmt(mu['fpr'])}; break "
            f"coverage {mu['coverage']['covered']}/{mu['coverage']['n']}; mean p_emergent by kind "
            + ", ".join(f"{k} {v:.3f}" for k, v in mu["mean_p_emergent_by_kind"].items())
            + ".",
            "",
            "| bin | count | mean p | observed | abs diff | within 0.1 |",
            "|---|---|---|---|---|---|",
        ]
        for r in mu["calibration"]:
            lines.append(
                f"| {r['bin']} | {r['count']} | {_fmt(r['mean_p'])} | {_fmt(r['observed_share'])} | "
                f"{_fmt(r['abs_diff'])} | {_fmt(r['within_tol'])} |"
            )
        lines += ["", "| true kind | " + " | ".join(verdicts) + " |", "|---|" + "---|" * len(verdicts)]
        for kind in ("breakpoint", "smooth", "flat"):
            row = mu["verdict_counts"].get(kind, {})
            lines.append(f"| {kind} | " + " | ".join(str(row.get(v, 0)) for v in verdicts) + " |")
        lines += diagnostics_md(mu["diagnostics"], None, heading=f"Diagnostics ({alt})")
    if res.get("notes"):
        lines += ["", *res["notes"]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------- main


def _alternative(table: pd.DataFrame, spec) -> str | None:
    """Add *_alt columns: the population stage's pooled evidence beside the per-curve one the verdicts
    use (`p_emergent_pooled`, `tau_*_pooled`), and the verdicts it would give. Returns "pooled", or None
    when no population stage ran.
    """
    if "p_emergent_pooled" not in table or not np.isfinite(table["p_emergent_pooled"].to_numpy(float)).any():
        return None
    label = "pooled"
    table["p_emergent_alt"] = table["p_emergent_pooled"]
    # P(absent) pooled is not exported: the absent decision of the pooled verdict uses the per-curve one
    table["p_absent_alt"] = table["p_absent_pooled"] if "p_absent_pooled" in table else table["p_absent"]
    for q in ("q05", "median", "q95"):
        col = f"tau_{q}_{label}"
        table[f"tau_{q}_alt"] = table[col] if col in table else table[f"tau_{q}"]
    table["verdict_alt"] = [
        "failed"
        if v == "failed" or not np.isfinite(pe)
        else decide(ok=True, p_absent=pa, p_emergent=pe, thresholds=spec.verdict)
        for v, pa, pe in zip(table["verdict"], table["p_absent_alt"], table["p_emergent_alt"], strict=True)
    ]
    tau = table["tau"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        table["tau_in_tau_ci90_alt"] = np.where(
            np.isfinite(tau), (table["tau_q05_alt"] <= tau) & (tau <= table["tau_q95_alt"]), np.nan
        )
    return label


def per_curve_table(analysis, truth: pd.DataFrame, design: pd.DataFrame, spec) -> tuple[pd.DataFrame, str | None]:
    """Verdicts + truth + design per curve, and the pooled evidence beside the verdicts' (if any)."""
    params = analysis.parameters
    keep = ["task"] + [c for c in params.columns if c.startswith("tau_") and c not in analysis.verdicts.columns]
    table = (
        analysis.verdicts.merge(params[keep], on="task", how="left", validate="one_to_one")
        .merge(truth, on="task", how="left", validate="one_to_one")
        .merge(design, left_on="task", right_index=True, how="left")
    )
    alt = _alternative(table, spec)
    for q in ("q05", "median", "q95"):
        table[f"log10_break_{q}"] = np.log10(table[f"break_flops_{q}"].to_numpy(float))
    tau = table["tau"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        bp = np.isfinite(tau)
        in_break = (table["log10_break_q05"] <= tau) & (tau <= table["log10_break_q95"])
        table["tau_in_break_ci90"] = np.where(bp & np.isfinite(table["log10_break_q05"]), in_break, np.nan)
        table["tau_in_tau_ci90"] = np.where(bp, (table["tau_q05"] <= tau) & (tau <= table["tau_q95"]), np.nan)
    expected = {"breakpoint": "emergent", "smooth": "smooth", "flat": "absent"}
    table["expected_verdict"] = table["kind"].map(expected)
    table["verdict_matches_kind"] = table["verdict"] == table["expected_verdict"]
    # how visible the pre-break plateau is: the true level's height above the floor, in binomial SDs at
    # n_items (without the between-model noise, so optimistic). Below ~2 a sharp hinge from that level is,
    # within binomial noise, the same curve as one logit-linear (smooth) line through the post-break points.
    span = (table["ceiling"] - table["floor"]) / (1 + np.exp(-table["level"]))
    p0 = table["floor"] + span
    table["plateau_height"] = span
    table["plateau_z"] = span / np.sqrt(p0 * (1 - p0) / table["n_items"])
    return table, alt


def diagnostics(table: pd.DataFrame, *, p_col: str, tau_cols: tuple[str, str, str]) -> dict:
    """Why verdicts go wrong: identifiability of the breaks, what p_emergent tracks, break-location bias."""
    bp = table[table["kind"] == "breakpoint"]
    sm = table[table["kind"] == "smooth"]
    vis = bp["plateau_z"] > 2
    lo, med, hi = (bp[c].to_numpy(float) for c in tau_cols)
    tau = bp["tau"].to_numpy(float)

    def rho(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        ok = np.isfinite(a) & np.isfinite(b)
        return float(stats.spearmanr(a[ok], b[ok]).statistic) if ok.sum() > 2 else float("nan")

    negatives = table[table["kind"] != "breakpoint"]
    visible = pd.concat([bp[vis], negatives])
    return {
        "auc_plateau_visible": auc(visible[p_col].to_numpy(float), (visible["kind"] == "breakpoint").to_numpy()),
        "bp_share_plateau_visible": float(vis.mean()),
        "bp_mean_p_plateau_visible": float(bp.loc[vis, p_col].mean()) if vis.any() else float("nan"),
        "bp_mean_p_plateau_hidden": float(bp.loc[~vis, p_col].mean()) if (~vis).any() else float("nan"),
        "spearman_p_vs_plateau_z_bp": rho(bp[p_col], bp["plateau_z"]),
        "spearman_p_vs_slope_bp": rho(bp[p_col], bp["slope_after"]),
        "spearman_p_vs_slope_smooth": rho(sm[p_col], sm["slope"]),
        "true_slope_range_bp": [float(bp["slope_after"].min()), float(bp["slope_after"].max())],
        "true_slope_range_smooth": [float(sm["slope"].min()), float(sm["slope"].max())],
        "tau_bias_median_decades": float(np.median(med - tau)) if len(bp) else float("nan"),
        "tau_ci90_coverage_all_bp": float(np.mean((lo <= tau) & (tau <= hi))) if len(bp) else float("nan"),
        "tau_truth_below_ci_all_bp": int((tau < lo).sum()),
        "tau_truth_above_ci_all_bp": int((tau > hi).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--curves", type=int, default=None, help="number of simulated curves (default 300; 12 with --quick)"
    )
    ap.add_argument("--seed", type=int, default=2024, help="simulation_suite seed")
    ap.add_argument("--draws", type=int, default=None, help="draws per chain (default: the spec's)")
    ap.add_argument("--tune", type=int, default=None, help="tuning steps per chain (default: the spec's)")
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="12 curves, 300 draws, 300 tune; writes simulation_quick.*")
    ap.add_argument("--no-results-md", action="store_true", help="do not touch benchmarks/RESULTS.md")
    ap.add_argument(
        "--no-population",
        action="store_true",
        help="skip the population stage (its pooled values are scored beside the per-curve ones)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.curves = args.curves or 12
        args.draws = args.draws or 300
        args.tune = args.tune or 300
    n = args.curves or 300
    stem = "simulation_quick" if args.quick else "simulation"

    t0 = time.perf_counter()
    data, truth = simulation_suite(n, seed=args.seed)
    design = data.groupby("task").agg(n_items=("n_items", "first"))
    curves = load_curves(data)
    spec = load_spec().with_sampler(draws=args.draws, tune=args.tune, chains=args.chains)
    if args.no_population:
        spec = dataclasses.replace(spec, population=dataclasses.replace(spec.population, enabled=False))
    print(
        f"simulation benchmark: {len(curves)} curves, {spec.sampler.chains} chains x {spec.sampler.draws} draws, "
        f"tune {spec.sampler.tune}",
        file=sys.stderr,
        flush=True,
    )
    work = RESULTS / ".work-simulation"
    before = {p: p.stat().st_mtime for p in work.glob("*/curve-*.pkl")}
    t1 = time.perf_counter()
    analysis = pipeline.fit(curves, models=spec, progress=True, work_dir=work)
    pipeline_seconds = time.perf_counter() - t1
    fresh = sum(1 for p in work.glob("*/curve-*.pkl") if before.get(p) != p.stat().st_mtime)
    timing = record_timing(work, analysis.run, fitted=fresh, seconds=pipeline_seconds)
    table, alt = per_curve_table(analysis, truth, design, spec)
    metrics = score(table)
    metrics["diagnostics"] = diagnostics(table, p_col="p_emergent", tau_cols=("tau_q05", "tau_median", "tau_q95"))
    metrics_alt = None
    if alt is not None:
        metrics_alt = score(
            table,
            p_col="p_emergent_alt",
            verdict_col="verdict_alt",
            break_cols=("tau_q05_alt", "tau_median_alt", "tau_q95_alt"),
        )
        metrics_alt["diagnostics"] = diagnostics(
            table, p_col="p_emergent_alt", tau_cols=("tau_q05_alt", "tau_median_alt", "tau_q95_alt")
        )
    res = {
        "benchmark": "simulation",
        "stem": stem,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": analysis.run["versions"],
        "settings": {
            "curves": n,
            "suite_seed": args.seed,
            "quick": args.quick,
            "backend": spec.sampler.backend,
            "chains": spec.sampler.chains,
            "draws": spec.sampler.draws,
            "tune": spec.sampler.tune,
            "target_accept": spec.sampler.target_accept,
            "sampler_seed": spec.sampler.seed,
            "verdict": {
                "emergent": spec.verdict.emergent,
                "smooth": spec.verdict.smooth,
                "absent": spec.verdict.absent,
            },
            "spec_source": "models/default.toml" if spec.source.endswith("default.toml") else spec.source,
            "spec_hash": analysis.run["spec_hash"],
            "retries": [vars(r) for r in spec.diagnostics.retries],
        },
        "seconds": time.perf_counter() - t0,
        "pipeline_seconds": pipeline_seconds,
        "fitted_this_run": fresh,
        "timing_history": timing,
        "compile_seconds": {k: round(v, 1) for k, v in analysis.run["compile_seconds"].items()},
        "population": analysis.run.get("population"),
        "verdicts_use": "per-curve",
        "alternative": alt,
        "metrics": metrics,
        "metrics_alternative": metrics_alt,
    }
    res["targets"] = targets(metrics)
    res["targets_alternative"] = targets(metrics_alt) if metrics_alt else None
    write_json(RESULTS / f"{stem}.json", res)
    table.to_csv(RESULTS / f"{stem}_curves.csv", index=False)
    section = markdown(res)
    if not args.quick and not args.no_results_md:
        write_results_md(f"{START}\n{section.rstrip()}\n{END}\n", START, END)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
