"""From evidence to a verdict per curve (DESIGN §3) and the prose that goes with it."""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd

from phasefit.models.spec import VerdictSpec

Verdict = Literal["failed", "absent", "emergent", "smooth", "inconclusive"]

# DESIGN §4 columns, in that spelling, then extras
VERDICT_COLUMNS = (
    "task", "metric", "family", "condition", "n_points", "x_axis", "p_emergent", "elpd_diff", "elpd_diff_se",
    "stacking_weight_breakpoint", "lfo_elpd_diff", "verdict", "break_flops_median", "break_flops_q05",
    "break_flops_q95", "break_params_median", "break_params_q05", "break_params_q95", "rhat_max",
    "ess_bulk_min", "divergences", "breakthroughness", "linearity",
    # extras
    "p_absent", "p_smooth", "p_emergent_pooled", "likelihood", "lfo_largest_in_pi90", "lfo_cutoff",
    "lfo_converged", "loo_refits", "loo_refits_unconverged", "pareto_k_max", "ess_tail_min", "treedepth_share",
    "attempts", "failure_reason", "notes",
)


def decide(*, ok: bool, p_absent: float, p_emergent: float, thresholds: VerdictSpec) -> Verdict:
    """failed > absent > emergent > smooth > inconclusive, with the spec's thresholds."""
    if not ok or math.isnan(p_emergent):
        return "failed"
    if p_absent >= thresholds.absent:
        return "absent"
    if p_emergent >= thresholds.emergent:
        return "emergent"
    if p_emergent <= thresholds.smooth:
        return "smooth"
    return "inconclusive"


def format_sci(v: float) -> str:
    """2.1e21-style scientific notation for FLOPs."""
    return f"{v:.1e}".replace("e+", "e")


def format_params(v: float) -> str:
    """Parameter counts as 125M, 1.3B, 70B."""
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if v >= div:
            r = v / div
            return f"{r:.0f}{unit}" if r >= 10 else f"{r:.1f}{unit}"
    return f"{v:.3g}"


def describe(row: pd.Series) -> str:
    """One sentence per curve, e.g. 'arithmetic_3ds, Pythia, acc: emergent (P = 0.98); break at ...'."""
    cond = f" [{row['condition']}]" if row.get("condition") else ""
    head = f"{row['task']}, {row['family']}, {row['metric']}{cond}: {row['verdict']}"
    if row["verdict"] == "failed":
        return f"{head} ({row.get('failure_reason') or 'did not converge'})"
    if row["verdict"] == "absent":
        return f"{head} (P(absent) = {row['p_absent']:.2f}; stays at its floor)"
    text = f"{head} (P = {row['p_emergent']:.2f})"
    if row["verdict"] in ("emergent", "inconclusive") and not pd.isna(row.get("break_flops_median")):
        text += (f"; break at {format_sci(row['break_flops_median'])} FLOPs "
                 f"[{format_sci(row['break_flops_q05'])}, {format_sci(row['break_flops_q95'])}]")
        if not pd.isna(row.get("break_params_median")):
            text += (f", {format_params(row['break_params_median'])} params "
                     f"[{format_params(row['break_params_q05'])}, {format_params(row['break_params_q95'])}]")
    elif row["verdict"] in ("emergent", "inconclusive") and not pd.isna(row.get("break_params_median")):
        text += (f"; break at {format_params(row['break_params_median'])} params "
                 f"[{format_params(row['break_params_q05'])}, {format_params(row['break_params_q95'])}]")
    if not pd.isna(row.get("lfo_largest_in_pi90")) and row["verdict"] != "smooth":
        predicted = "inside" if bool(row["lfo_largest_in_pi90"]) else "outside"
        text += f"; largest model {predicted} the smooth extrapolation's 90% interval"
    return text


def summary_text(verdicts: pd.DataFrame) -> str:
    """Counts by verdict, then one sentence per curve."""
    counts = verdicts["verdict"].value_counts()
    order = ["emergent", "inconclusive", "smooth", "absent", "failed"]
    head = ", ".join(f"{counts.get(v, 0)} {v}" for v in order)
    lines = [f"{len(verdicts)} curves: {head}."]
    lines += [describe(r) for _, r in verdicts.iterrows()]
    return "\n".join(lines)
