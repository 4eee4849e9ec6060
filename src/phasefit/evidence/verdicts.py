"""From evidence to a verdict per curve (docs/verdicts.md) and the prose that goes with it."""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd

from phasefit.data.curves import curve_label
from phasefit.models.spec import VerdictSpec

Verdict = Literal["failed", "absent", "emergent", "smooth", "inconclusive"]

# the columns documented in docs/verdicts.md, in that spelling and order, then extras
VERDICT_COLUMNS = (
    "task",
    "metric",
    "family",
    "condition",
    "n_points",
    "x_axis",
    "p_emergent",
    "elpd_diff",
    "elpd_diff_se",
    "stacking_weight_breakpoint",
    "lfo_elpd_diff",
    "verdict",
    "break_flops_median",
    "break_flops_q05",
    "break_flops_q95",
    "break_params_median",
    "break_params_q05",
    "break_params_q95",
    "onset_flops_median",
    "onset_flops_q05",
    "onset_flops_q95",
    "onset_params_median",
    "onset_params_q05",
    "onset_params_q95",
    "rhat_max",
    "ess_bulk_min",
    "divergences",
    "breakthroughness",
    "linearity",
    # extras
    "p_absent",
    "p_smooth",
    "pooled",
    "p_emergent_unpooled",
    "p_emergent_pooled",
    "importance_ess",
    "p_emergent_prior_min",
    "p_emergent_prior_max",
    "prior_sensitive",
    "likelihood",
    "lfo_largest_in_pi90",
    "lfo_cutoff",
    "lfo_converged",
    "lfo_refits_sampled",
    "loo_refits",
    "loo_refits_sampled",
    "loo_refits_unconverged",
    "pareto_k_max",
    "ess_tail_min",
    "treedepth_share",
    "attempts",
    "nuts_fits",
    "failure_reason",
    "notes",
    "onset_beyond_data",
    "onset_below_resolution",
    "p_above_floor",
    "p_emergent_above_floor",
    "evidence_agreement",
)


#: below this P(above floor) a curve is `absent` whatever its other probabilities
ABOVE_FLOOR_MIN = 0.5


def decide(
    *, ok: bool, p_absent: float, p_emergent: float, thresholds: VerdictSpec, p_above_floor: float = float("nan")
) -> Verdict:
    """failed > absent > emergent > smooth > inconclusive, with the spec's thresholds.

    `absent` also when the curve never credibly leaves its floor: P(expected score at the largest
    model above floor + onset_margin * (1 - floor)) < 0.5, averaged over the hypotheses. Such a
    curve is never `smooth` (which a paper reads as "improves predictably").
    """
    if not ok or math.isnan(p_emergent):
        return "failed"
    if p_absent >= thresholds.absent or p_above_floor < ABOVE_FLOOR_MIN:
        return "absent"
    if p_emergent >= thresholds.emergent:
        return "emergent"
    if p_emergent <= thresholds.smooth:
        return "smooth"
    return "inconclusive"


def agreement(*, verdict: str, elpd_diff: float, elpd_diff_se: float, lfo_elpd_diff: float) -> str:
    """Whether LOO and leave-future-out point the way the marginal likelihoods decided.

    Only for `emergent` (direction +1) and `smooth` (-1): LOO disagrees when `elpd_diff` points the
    other way by more than its SE; leave-future-out when `lfo_elpd_diff` does by more than 1 nat.
    """
    direction = {"emergent": 1.0, "smooth": -1.0}.get(verdict)
    if direction is None:
        return ""
    against = []
    if not math.isnan(elpd_diff) and direction * elpd_diff < -max(elpd_diff_se, 0.0):
        against.append("LOO")
    if not math.isnan(lfo_elpd_diff) and direction * lfo_elpd_diff < -1.0:
        against.append("leave-future-out")
    return "agree" if not against else " and ".join(against) + " disagree" + ("s" if len(against) == 1 else "")


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
    """One sentence per curve, e.g. 'arithmetic_3ds, Pythia, acc: emergent (P(emergent) = 0.98); ...'.

    The probability printed is named. For an `absent` curve it is the one behind the verdict:
    P(above floor) when the curve never credibly leaves its floor (with P(absent) beside it when that
    is at least 1/2 too), else P(absent); a P(absent) of 0.03 beside the word `absent` would read as a
    contradiction. A break is printed only for an emergent curve (where the break is favoured), with
    the onset; disagreeing evidence is said.
    """
    head = f"{curve_label(row['task'], row['family'], row['metric'], row.get('condition'))}: {row['verdict']}"
    if row["verdict"] == "failed":
        return f"{head} ({row.get('failure_reason') or 'did not converge'})"
    if row["verdict"] == "absent":  # say which rule made it absent, with its own probability
        above = row.get("p_above_floor", float("nan"))
        floor = f"never credibly above its floor: P(above floor) = {above:.2f}"
        if pd.isna(above) or above >= ABOVE_FLOOR_MIN:
            return f"{head} (P(absent) = {row['p_absent']:.2f})"
        if row["p_absent"] >= 0.5:
            return f"{head} (P(absent) = {row['p_absent']:.2f}; {floor})"
        return f"{head} ({floor})"
    text = f"{head} (P(emergent) = {row['p_emergent']:.2f})"
    if row["verdict"] == "emergent":
        for what in ("break", "onset"):
            flops, params = row.get(f"{what}_flops_median"), row.get(f"{what}_params_median")
            parts = []
            if not pd.isna(flops):
                parts.append(
                    f"{format_sci(flops)} FLOPs [{format_sci(row[f'{what}_flops_q05'])}, "
                    f"{format_sci(row[f'{what}_flops_q95'])}]"
                )
            if not pd.isna(params):
                parts.append(
                    f"{format_params(params)} params [{format_params(row[f'{what}_params_q05'])}, "
                    f"{format_params(row[f'{what}_params_q95'])}]"
                )
            if parts:
                text += f"; {what} at {', '.join(parts)}"
    if not pd.isna(row.get("lfo_largest_in_pi90")) and row["verdict"] != "smooth":
        predicted = "inside" if bool(row["lfo_largest_in_pi90"]) else "outside"
        text += f"; largest model {predicted} the smooth extrapolation's 90% interval"
    agree = row.get("evidence_agreement")
    if isinstance(agree, str) and agree and agree != "agree":
        text += f"; {agree}"
    return text


def describe_task(row: pd.Series) -> str:
    """One sentence per task x metric x condition of the task table, e.g. 'arithmetic_2da, acc
    [2-shot]: 4 families, P(emergent in any) = 1.00, expected emergent families 2.62, 2 called
    emergent; onset at 3.0e21 FLOPs [7.8e20, 7.3e21]'. The onset only where a family is emergent."""
    cond = row.get("condition")
    label = f"{row['task']}, {row['metric']}" + (f" [{cond}]" if isinstance(cond, str) and cond else "")
    n = int(row["n_curves"])
    text = f"{label}: {n} {'family' if n == 1 else 'families'}"
    if int(row.get("n_failed", 0)):
        text += f" ({int(row['n_failed'])} failed, left out)"
    if n:
        text += (
            f", P(emergent in any) = {row['p_any_emergent']:.2f}, expected emergent families "
            f"{row['expected_emergent_families']:.2f}, {int(row['n_emergent'])} called emergent"
        )
    for axis, fmt, unit in (("flops", format_sci, " FLOPs"), ("params", format_params, " params")):
        med = row.get(f"onset_{axis}_median")
        if med is not None and not pd.isna(med):
            lo, hi = row[f"onset_{axis}_q05"], row[f"onset_{axis}_q95"]
            text += f"; onset at {fmt(med)}{unit} [{fmt(lo)}, {fmt(hi)}]"
    return text


def summary_text(verdicts: pd.DataFrame, tasks: pd.DataFrame | None = None) -> str:
    """Counts by verdict, then one sentence per curve, then (with `tasks`) one per task."""
    counts = verdicts["verdict"].value_counts()
    order = ["emergent", "inconclusive", "smooth", "absent", "failed"]
    head = ", ".join(f"{counts.get(v, 0)} {v}" for v in order)
    lines = [f"{len(verdicts)} curves: {head}."]
    lines += [describe(r) for _, r in verdicts.iterrows()]
    if tasks is not None and len(tasks):
        lines += [
            "",
            "per task (families pooled; a family counts by P(breakpoint and a rise above its floor); "
            "onset from the families called emergent):",
        ]
        lines += [describe_task(r) for _, r in tasks.iterrows()]
    return "\n".join(lines)
