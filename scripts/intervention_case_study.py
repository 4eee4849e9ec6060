"""The intervention case study (docs/case-studies/intervention.md): chain-of-thought vs answer-only.

1. BIG-Bench-Hard (bundled `obsscaling_bbh`, both arms 3-shot): `direct` vs `cot`, metric
   `exact_match_flexible_extract`, 27 tasks + `overall` x 9 families:

       phasefit intervention dataset:obsscaling_bbh --baseline direct --treatment cot \\
           --metric exact_match_flexible_extract --out case-study-run/intervention-bbh

2. GSM8K (bundled `obsscaling_standard`): answer-only (task `gsm8k`, 5-shot) and chain-of-thought
   (task `gsm8k_cot`, 8-shot) are two tasks there; this script makes them the arms `direct` / `cot`
   of one task `gsm8k` (`OUT/gsm8k-arms.csv`) and runs the same command on it.

Each run is skipped when its directory already holds a finished `intervention.csv`. Then the
Markdown tables of the case study are printed:

    .venv/bin/python scripts/intervention_case_study.py [--bbh DIR] [--gsm8k DIR] > tables.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import phasefit as pf
from phasefit.cli import main
from phasefit.evidence.verdicts import format_params, format_sci
from phasefit.report.tables import to_markdown

GSM8K_ARMS = {"gsm8k": "direct", "gsm8k_cot": "cot"}
METRIC = "exact_match_flexible_extract"
VERDICTS = ("emergent", "inconclusive", "smooth", "absent", "failed")


def gsm8k_arms() -> pd.DataFrame:
    df = pf.datasets.load("obsscaling_standard")
    df = df[df["task"].isin(list(GSM8K_ARMS)) & (df["metric"] == METRIC)].copy()
    df["condition"] = df["task"].map(GSM8K_ARMS)
    df["task"] = "gsm8k"
    return df


def run(data: str, out: Path) -> pd.DataFrame:
    if not (out / "intervention.csv").is_file():
        args = ["intervention", data, "--baseline", "direct", "--treatment", "cot", "--out", str(out)]
        if data.startswith("dataset:"):
            args += ["--metric", METRIC]
        if main(args) != 0:
            raise SystemExit(f"phasefit intervention failed on {data}")
    return pd.read_csv(out / "intervention.csv")


def _interval(r: pd.Series) -> str:
    if pd.isna(r["onset_flops_median"]):
        return "—"
    hi = format_sci(r["onset_flops_q95"]) if pd.notna(r["onset_flops_q95"]) else "beyond the data"
    lo = format_sci(r["onset_flops_q05"]) if pd.notna(r["onset_flops_q05"]) else "?"
    at_smallest = r.get("onset_at_smallest", 0.0)
    if at_smallest >= 0.05:  # the lower quantile is the smallest model: a bound ("at or before")
        lo = f"≤ {lo}"
    med = format_sci(r["onset_flops_median"])
    if at_smallest >= 0.5:
        med = f"≤ {med}"
    params = f" ({format_params(r['onset_params_median'])} params)" if pd.notna(r["onset_params_median"]) else ""
    return f"{med} [{lo}, {hi}]{params}"


def task_table(t: pd.DataFrame) -> str:
    rows = []
    for task, g in t.groupby("task", sort=True):
        counts = g["verdict"].value_counts()
        emergent = g[g["verdict"] == "emergent"]
        rows.append(
            {
                "task": task,
                "families": len(g),
                **{v: int(counts.get(v, 0)) for v in VERDICTS},
                "CoT hurts smallest (P ≥ 0.9)": int((g["p_harm_smallest"] >= 0.9).sum()),
                "CoT helps largest (P ≥ 0.9)": int((g["p_benefit_largest"] >= 0.9).sum()),
                "emergent in": ", ".join(emergent["family"]) or "—",
            }
        )
    return to_markdown(pd.DataFrame(rows).astype(str))


def pair_table(t: pd.DataFrame, verdicts=("emergent",)) -> str:
    sub = t[t["verdict"].isin(verdicts)].sort_values(["task", "family"])
    cols = {
        "task": sub["task"],
        "family": sub["family"],
        "verdict": sub["verdict"],
        "P(emergent gain)": sub["p_emergent"].map("{:.2f}".format),
        "P(no effect)": sub["p_absent"].map("{:.2f}".format),
        "P(hurts smallest)": sub["p_harm_smallest"].map("{:.2f}".format),
        "gain at smallest / largest (log-odds)": [
            f"{a:+.1f} / {b:+.1f}" for a, b in zip(sub["gain_smallest_median"], sub["gain_largest_median"], strict=True)
        ],
        "onset, FLOPs (median [90%])": [_interval(r) for _, r in sub.iterrows()],
    }
    return to_markdown(pd.DataFrame(cols).astype(str))


def overview(t: pd.DataFrame, name: str) -> str:
    counts = t["verdict"].value_counts()
    ok = t[t["verdict"] != "failed"]
    return (
        f"{name}: {len(t)} pairs — "
        + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
        + f"; CoT hurts the smallest model with P ≥ 0.9 in {int((ok['p_harm_smallest'] >= 0.9).sum())}, "
        f"helps the largest with P ≥ 0.9 in {int((ok['p_benefit_largest'] >= 0.9).sum())}; "
        f"median k̂ {np.nanmedian(t['k_hat_max']):.2f}, max R-hat {np.nanmax(t['rhat_max']):.3f}."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bbh", type=Path, default=Path("case-study-run/intervention-bbh"))
    parser.add_argument("--gsm8k", type=Path, default=Path("case-study-run/intervention-gsm8k"))
    args = parser.parse_args()
    bbh = run("dataset:obsscaling_bbh", args.bbh)
    args.gsm8k.mkdir(parents=True, exist_ok=True)
    gsm8k_arms().to_csv(args.gsm8k / "gsm8k-arms.csv", index=False)
    gsm = run(str(args.gsm8k / "gsm8k-arms.csv"), args.gsm8k)
    print("## BIG-Bench-Hard\n\n" + overview(bbh, "BBH") + "\n\n" + task_table(bbh))
    print("\n### Pairs called emergent\n\n" + pair_table(bbh))
    print(
        "\n### Inconclusive pairs with P(emergent gain) ≥ 0.5\n\n"
        + pair_table(bbh[bbh["p_emergent"] >= 0.5], ("inconclusive",))
    )
    print("\n## GSM8K\n\n" + overview(gsm, "GSM8K") + "\n\n" + pair_table(gsm, VERDICTS))
