"""The report's tables as DataFrames, and their LaTeX (booktabs) and Markdown renderings.

`emergence_table` is in the style of Wei et al. (2022), Table 1: per curve, the verdict, its
probability, and for an emergent curve the onset and break with their 90% credible intervals, plus
whether LOO and leave-future-out agree. Every cell is text already formatted for a paper; names from
users' files are escaped for each format (`to_latex`, `to_markdown`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from phasefit.evidence.verdicts import format_params, format_sci

DASH = "–"


def _interval(row: pd.Series, what: str, axis: str) -> str:
    med, lo, hi = (row.get(f"{what}_{axis}_{q}") for q in ("median", "q05", "q95"))
    if med is None or pd.isna(med):
        return DASH
    fmt = format_sci if axis == "flops" else format_params
    bounds = ", ".join(fmt(v) if pd.notna(v) and math.isfinite(v) else "beyond data" for v in (lo, hi))
    return f"{fmt(med)} [{bounds}]"


def _evidence(row: pd.Series) -> str:
    parts = []
    if pd.notna(row.get("elpd_diff")):
        parts.append(f"LOO {row['elpd_diff']:+.1f} ± {row['elpd_diff_se']:.1f}")
    if pd.notna(row.get("lfo_elpd_diff")):
        parts.append(f"LFO {row['lfo_elpd_diff']:+.1f}")
    agree = row.get("evidence_agreement")
    if isinstance(agree, str) and agree:
        parts.append(agree)
    return "; ".join(parts) or DASH


def _p(v) -> str:
    return f"{v:.2f}" if pd.notna(v) else DASH


def emergence_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per curve: verdict, P(emergent), onset and break (emergent curves only), evidence."""
    rows = []
    for _, r in verdicts.sort_values(["task", "metric", "condition", "family"], na_position="first").iterrows():
        scale = r["verdict"] == "emergent"  # no emergence scale where the break is not favoured
        rows.append(
            {
                "task": r["task"],
                "metric": r["metric"],
                "family": r["family"],
                "condition": r["condition"] if isinstance(r["condition"], str) else "",
                "verdict": r["verdict"],
                "P(emergent)": _p(r["p_emergent"]),
                "P(absent)": _p(r.get("p_absent")),
                "onset (FLOPs)": _interval(r, "onset", "flops") if scale else DASH,
                "onset (params)": _interval(r, "onset", "params") if scale else DASH,
                "break (FLOPs)": _interval(r, "break", "flops") if scale else DASH,
                "evidence": _evidence(r),
            }
        )
    return pd.DataFrame(rows)


def task_level_table(tasks: pd.DataFrame, *, x_axis: str) -> pd.DataFrame:
    """Per task x metric x condition: how many families, P(any emergent), expected emergent
    families, and the pooled onset of the families that rise."""
    rows = []
    for _, r in tasks.iterrows():
        rows.append(
            {
                "task": r["task"],
                "metric": r["metric"],
                "condition": r["condition"] if isinstance(r["condition"], str) else "",
                "families": int(r["n_curves"]),
                "P(any emergent)": _p(r["p_any_emergent"]),
                "E[emergent families]": f"{r['expected_emergent_families']:.1f}"
                if pd.notna(r["expected_emergent_families"])
                else DASH,
                f"onset ({'FLOPs' if x_axis == 'flops' else 'params'})": _interval(r, "onset", x_axis),
            }
        )
    return pd.DataFrame(rows)


def diagnostics_table(verdicts: pd.DataFrame, k_hat: pd.Series) -> pd.DataFrame:
    """Per curve: the worst convergence numbers over its fits and its evidence's largest k-hat."""
    out = pd.DataFrame(
        {
            "task": verdicts["task"],
            "family": verdicts["family"],
            "metric": verdicts["metric"],
            "condition": verdicts["condition"].fillna(""),
            "verdict": verdicts["verdict"],
            "R-hat": verdicts["rhat_max"].map(lambda v: f"{v:.3f}" if pd.notna(v) else DASH),
            "ESS bulk": verdicts["ess_bulk_min"].map(lambda v: f"{v:.0f}" if pd.notna(v) else DASH),
            "ESS tail": verdicts["ess_tail_min"].map(lambda v: f"{v:.0f}" if pd.notna(v) else DASH),
            "divergences": verdicts["divergences"].map(lambda v: f"{v:.0f}" if pd.notna(v) else DASH),
            "evidence k-hat": np.asarray(k_hat, float),
            "LOO k-hat": verdicts["pareto_k_max"],
            "attempts": verdicts["attempts"].map(lambda v: f"{v:.0f}" if pd.notna(v) else DASH),
        }
    )
    for c in ("evidence k-hat", "LOO k-hat"):
        out[c] = out[c].map(lambda v: f"{v:.2f}" if pd.notna(v) else DASH)
    return out.reset_index(drop=True)


def pair_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of an intervention (intervention.csv, in its order): the arms, the verdict
    on the gain, its probabilities and the onset in FLOPs (median [90% interval], where there is one)."""
    table = table.reset_index(drop=True)
    return pd.DataFrame(
        {
            "task": table["task"],
            "family": table["family"],
            "metric": table["metric"],
            "treatment vs baseline": table["treatment"].astype(str) + " vs " + table["baseline"].astype(str),
            "verdict": table["verdict"],
            "P(emergent gain)": table["p_emergent"].map(_p),
            "P(no effect)": table["p_absent"].map(_p),
            "P(harm at smallest)": table["p_harm_smallest"].map(_p),
            "onset (FLOPs)": [_interval(r, "onset", "flops") for _, r in table.iterrows()],
        }
    )


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "–": "--",
    "±": r"$\pm$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def to_latex(table: pd.DataFrame, *, caption: str, label: str) -> str:
    """A booktabs `table` environment (needs `\\usepackage{booktabs}`), every cell escaped."""
    spec = "l" * len(table.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in table.astype(str).itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


_MARKDOWN = {ch: f"\\{ch}" for ch in "\\|*_`[]#"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def markdown_escape(text: str) -> str:
    return "".join(_MARKDOWN.get(ch, ch) for ch in str(text))


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table, every cell escaped (no HTML or emphasis from a name)."""
    head = "| " + " | ".join(markdown_escape(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = [
        "| " + " | ".join(markdown_escape(v) for v in row) + " |" for row in table.astype(str).itertuples(index=False)
    ]
    return "\n".join([head, rule, *body, ""])
