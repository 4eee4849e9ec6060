"""GSM8K direct vs chain-of-thought (the intervention case study's second part).

The bundled `obsscaling_standard` table holds GSM8K answer-only (task `gsm8k`, 5-shot) and
chain-of-thought (task `gsm8k_cot`, 8-shot) as two tasks. This script makes them two arms of one task,
`condition` = `direct` / `cot` (keeping the shots in the arm's name is left to the prose: the arms
differ in shots as well as in prompting), and runs `phasefit intervention` on them:

    .venv/bin/python scripts/intervention_gsm8k.py --out case-study-run/intervention-gsm8k

Writes `OUT/gsm8k-arms.csv` (the relabelled table) and the intervention directory in `OUT`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import phasefit as pf
from phasefit.cli import main

ARMS = {"gsm8k": "direct", "gsm8k_cot": "cot"}
METRIC = "exact_match_flexible_extract"


def arms_table():
    df = pf.datasets.load("obsscaling_standard")
    df = df[df["task"].isin(list(ARMS)) & (df["metric"] == METRIC)].copy()
    df["condition"] = df["task"].map(ARMS)
    df["task"] = "gsm8k"
    return df


def run(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    data = out / "gsm8k-arms.csv"
    arms_table().to_csv(data, index=False)
    return main(["intervention", str(data), "--baseline", "direct", "--treatment", "cot", "--out", str(out)])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("case-study-run/intervention-gsm8k"))
    raise SystemExit(run(parser.parse_args().out))
