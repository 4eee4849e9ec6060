"""Run phasefit on bundled real data and write the Wei-et-al.-Table-1-style case study.

    .venv/bin/python scripts/emergence_table.py [--datasets obsscaling_emergent ...] [--out DIR]

Writes DIR (default case-study-run/) with the usual outputs of `phasefit fit` per dataset, and
docs/case-studies/emergence-table.md. Resumable (per-curve checkpoints in each output folder).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from phasefit.data import datasets
from phasefit.data.curves import load_curves
from phasefit.evidence.verdicts import format_params, format_sci
from phasefit.runner.local import fit_to_directory

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "case-studies" / "emergence-table.md"
# BIG-bench breakthroughness above this counts as a "breakthrough" curve for the comparison
B_HIGH = 10.0
P_SHOW = 0.7  # inconclusive curves listed in the table from this P(breakpoint) on
N_DISAGREE = 30  # high-breakthroughness curves listed where the verdict is not emergent
P_TASK = 0.5  # tasks listed in the task table from this P(emergent in any family) on


def _condition(c) -> str:
    return "" if pd.isna(c) or c in ("", "default") else f" ({c})"


def _sci(v: float) -> str:
    return "" if pd.isna(v) else format_sci(v)


def _interval(median: float, lo: float, hi: float) -> str:
    """'m [lo, hi]' in FLOPs; empty for a task with no emergent family (an open end stays empty)."""
    return "" if pd.isna(median) else f"{_sci(median)} [{_sci(lo)}, {_sci(hi)}]"


def _params(v: float) -> str:
    return "" if pd.isna(v) else format_params(v)


# one metric (and prompting) per task where a dataset has several; the rest of the rows is left out
SUBSETS = {
    "pythia_suite": {"condition": ["0-shot"], "metric": ["acc"]},  # every family is evaluated 0-shot
    # lm-eval's flexible-extract exact match (the answer found anywhere in the output), direct and CoT
    "obsscaling_bbh": {"metric": ["exact_match_flexible_extract"]},
}


def _select(df: pd.DataFrame, rule: dict[str, list[str]]) -> pd.Series:
    keep = pd.Series(True, index=df.index)
    for column, values in rule.items():
        keep &= df[column].isin(values)
    return keep


def run(names: list[str], out: Path, min_points: int, *, reuse: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every dataset's verdicts and task table (reusing finished runs with `reuse`)."""
    frames, tasks = [], []
    for name in names:
        done = out / name / "verdicts.csv"
        if reuse and done.exists():  # a finished run of this dataset: its tables, no refit
            read = dict(keep_default_na=False, na_values=[""])
            frames.append(pd.read_csv(done, **read).assign(dataset=name))
            tasks.append(pd.read_csv(out / name / "tasks.csv", **read).assign(dataset=name))
            continue
        df = datasets.load(name)
        if name in SUBSETS:
            df = df[_select(df, SUBSETS[name])]
        curves = load_curves(df, min_points=min_points, name=f"dataset:{name}")
        analysis = fit_to_directory(curves, out=out / name)
        frames.append(analysis.verdicts.assign(dataset=name))
        tasks.append(analysis.tasks.assign(dataset=name))
    return pd.concat(frames, ignore_index=True), pd.concat(tasks, ignore_index=True)


def write(v: pd.DataFrame, tasks: pd.DataFrame, *, names: list[str], seconds: float) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    counts = v.groupby("dataset")["verdict"].value_counts().unstack(fill_value=0)
    order = [c for c in ("emergent", "inconclusive", "smooth", "absent", "failed") if c in counts.columns]
    lines = [
        "# Case study: which real scaling curves are emergent?",
        "",
        f"phasefit {time.strftime('%Y-%m-%d')}, default spec (models/default.toml), bundled datasets "
        f"{', '.join(f'`{n}`' for n in names)}; every curve with at least the minimum number of models. "
        f"Produced by `scripts/emergence_table.py`; fitting took {seconds / 60:.0f} minutes on a 2-core machine "
        "(sum of `seconds` in each run's run.json).",
        "",
        "Verdicts: `emergent` if P(breakpoint | data) >= 0.9, `smooth` if <= 0.1, `absent` if P(absent) >= 0.5,"
        " `failed` if the fits did not converge, else `inconclusive` (docs/verdicts.md).",
        "",
        "## Verdict counts",
        "",
        "| dataset | " + " | ".join(order) + " | curves |",
        "|---|" + "---:|" * (len(order) + 1),
    ]
    for ds, row in counts.iterrows():
        lines.append(f"| {ds} | " + " | ".join(str(row.get(c, 0)) for c in order) + f" | {row.sum()} |")
    show = v[(v["verdict"] == "emergent") | ((v["verdict"] == "inconclusive") & (v["p_emergent"] >= P_SHOW))]
    lines += [
        "",
        "## Emergent curves, and inconclusive ones leaning breakpoint (Wei et al. Table 1 style)",
        "",
        f"Every `emergent` curve and every `inconclusive` one with P(breakpoint) >= {P_SHOW:g} "
        f"({len(show)} of {len(v)} curves; all verdicts are in `all_verdicts.csv` of the run). "
        "Break: the breakpoint hypothesis' break as training FLOPs and parameters, median [5%, 95%].",
        "",
        "| dataset | task | metric | family | verdict | P(breakpoint) | break FLOPs | break params | LFO: largest "
        "model predicted? | breakthroughness |",
        "|---|---|---|---|---|---:|---|---|---|---:|",
    ]
    show = show.sort_values(["verdict", "p_emergent"], ascending=[True, False])
    for r in show.itertuples():
        lfo = "" if pd.isna(r.lfo_largest_in_pi90) else ("yes" if r.lfo_largest_in_pi90 else "**no**")
        lines.append(
            f"| {r.dataset} | {r.task} | {r.metric}{_condition(r.condition)} | {r.family} | {r.verdict} | "
            f"{r.p_emergent:.2f} | "
            f"{_sci(r.break_flops_median)} [{_sci(r.break_flops_q05)}, {_sci(r.break_flops_q95)}] | "
            f"{_params(r.break_params_median)} [{_params(r.break_params_q05)}, {_params(r.break_params_q95)}] | "
            f"{lfo} | {r.breakthroughness:.1f} |"
        )
    t = tasks[tasks["p_any_emergent"] >= P_TASK].sort_values("p_any_emergent", ascending=False)
    never = int((tasks["p_any_emergent"] < 0.1).sum())
    lines += [
        "",
        "## How emergent is each task (tasks.csv)",
        "",
        "Per task × metric × condition, pooling its families: P(emergent in at least one family) = "
        "1 − Π(1 − p), with p = P(breakpoint and a rise above the floor margin by the largest model) "
        "(`p_emergent_above_floor`: a family whose curve never leaves its floor does not count through "
        "a break the data do not show), the expected number of emergent families, and the task's onset "
        "(the scale where the expected score first exceeds floor + 5% of the range) and break, mixed "
        "from the families called `emergent` only, so a task that never rises has none "
        f"(docs/verdicts.md, tasks.csv). Listed: the {len(t)} of {len(tasks)} tasks with P(any) >= "
        f"{P_TASK:g}; {never} tasks have P(any) < 0.1.",
        "",
        "| dataset | task | metric | families | P(any emergent) | E[emergent families] | emergent | "
        "onset FLOPs | break FLOPs |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
    ]
    for r in t.itertuples():
        lines.append(
            f"| {r.dataset} | {r.task} | {r.metric}{_condition(r.condition)} | {r.n_curves} | {r.p_any_emergent:.2f} | "
            f"{r.expected_emergent_families:.2f} | {r.n_emergent} | "
            f"{_interval(r.onset_flops_median, r.onset_flops_q05, r.onset_flops_q95)} | "
            f"{_interval(r.break_flops_median, r.break_flops_q05, r.break_flops_q95)} |"
        )
    high_b = v["breakthroughness"] >= B_HIGH
    a = v[high_b & ~v["verdict"].isin(["emergent"])]
    b = v[~high_b & (v["verdict"] == "emergent")]
    by_verdict = a["verdict"].value_counts().to_dict()
    lines += [
        "",
        "## Where phasefit and breakthroughness disagree",
        "",
        f"Breakthroughness B >= {B_HIGH:g} (most of the improvement in a few steps) but not `emergent`: "
        f"{len(a)} curves ({', '.join(f'{n} {k}' for k, n in by_verdict.items())}); `emergent` with "
        f"B < {B_HIGH:g}: {len(b)} curves. Listed: the latter, and the {min(len(a), N_DISAGREE)} of the former "
        "with the highest B.",
        "",
        "| dataset | task | metric | family | B | verdict | P(breakpoint) | P(absent) |",
        "|---|---|---|---|---:|---|---:|---:|",
    ]
    listed = pd.concat([b, a.sort_values("breakthroughness", ascending=False).head(N_DISAGREE)])
    for r in listed.itertuples():
        lines.append(
            f"| {r.dataset} | {r.task} | {r.metric}{_condition(r.condition)} | {r.family} | "
            f"{r.breakthroughness:.1f} | {r.verdict} | {r.p_emergent:.2f} | {r.p_absent:.2f} |"
        )
    lines += ["", "## Discussion", "", DISCUSSION]
    DOC.write_text("\n".join(lines) + "\n")


DISCUSSION = """\
What the 2026-12-01 run shows (read the tables above for the numbers). The model is the one in
docs/models.md, with the priors revised on the independent accuracy suite and the bundled real
tables (pre-break and absent level Normal(-4.5, 2), gain LogNormal(1.8, 0.6), smooth slope
Normal(1, 1.25)), where P(breakpoint) ranks curves with AUC 0.87 (0.97 on identifiable breaks)
against a Bayes-optimal 0.90 (0.99), makes 2 false `emergent` calls in 600 curves (the optimum
gives both P > 0.8) and calls about four fifths as many breaks as the optimum
(benchmarks/RESULTS.md). Most real curves here have 5-8 models, so `inconclusive` is common and
honest. A curve that never credibly leaves its floor is `absent` whatever its P(breakpoint) (a
break too late to show). The population stage (learned rates and break population) is reported
beside the verdicts and decides none of them. It ran on three datasets (obsscaling_emergent by
NUTS after its importance check failed, pythia_suite and bloom_xglm by importance sampling); on
obsscaling_bbh its importance check failed (k-hat 3.1-3.9) and 218 curves are more than the NUTS
fallback takes (200), so that dataset's pooled columns are empty.

**obsscaling_emergent** (the tasks Wei et al. and the ObsScaling authors list as emergent).
* GPT-Neo/J arithmetic is `emergent` on all four tasks (2- and 3-digit addition, 2-digit
  multiplication, 3-digit subtraction: P(breakpoint) 0.96-1.00), and Pythia 2-digit addition
  (0.96). The other Pythia and OPT arithmetic curves lean breakpoint (0.52-0.74) but stay
  `inconclusive`, except Pythia 2-digit multiplication (0.34); OPT 3-digit addition is `absent`:
  its expected score at the largest model is not credibly 5% above the floor (P 0.39).
* Qwen1.5 arithmetic is `smooth` or nearly (P(breakpoint) <= 0.13) although its breakthroughness is
  high: its models start well above the floor and saturate.
* IPA transliteration and word unscrambling are `absent` for GPT-Neo/J, OPT and Pythia, whatever the
  metric: most models score ~0 and none credibly leaves the floor, so no verdict about a break is
  possible (IPA BLEU for OPT has P(breakpoint) 0.91 but is `absent` for that reason). Qwen1.5 is
  `smooth` on both.
* ParsiNLU QA (Persian) is never emergent: `absent` in GPT-Neo/J, OPT and Pythia, `inconclusive`
  (0.21) in Qwen1.5.

**obsscaling_bbh** (BIG-Bench-Hard, flexible-extract exact match, direct answers and
chain-of-thought; families with at least 5 models: GPT-Neo/J, OPT, Pythia, Qwen1.5).
* Three curves are `emergent`, all chain-of-thought in Qwen1.5 (web of lies, tracking shuffled
  objects with seven objects, temporal sequences), with breaks near 5-7B parameters; none with direct
  answers. That is Wei et al.'s observation that chain-of-thought helps only past a scale, here
  inside one family. Five more Qwen1.5 CoT curves lean breakpoint (0.78-0.89), with breaks at 4-7B,
  and so does Qwen1.5's direct temporal sequences (0.90, just under the threshold).
* GPT-Neo/J, OPT and Pythia are `absent` on most BBH tasks (41-47 of their 56 curves each).
* The `overall` BBH score fails for the three small families (as before): it pools 6,511 items, so the smooth
  fit's posterior is too narrow and skewed for the importance sampler (k-hat 0.9-2.2) or for R-hat.
  These are reported as `failed`, not guessed; so is Qwen1.5's CoT Dyck languages (R-hat 1.017).

**pythia_suite** (0-shot accuracy; Pythia, Pythia-deduped, OPT, BLOOM; 65 tasks). No curve is
emergent and none exceeds P(breakpoint) 0.51. 207 of the 228 MMLU subject curves are `absent`, 17
`inconclusive` and 4 `smooth`: 0-shot MMLU sits at chance for these models, so the negative controls
behave. The task table shows the limit of independence: ARC-Challenge gets P(emergent in some family)
0.86 from four families at P 0.37-0.42 each, none called emergent; the learned rates would shrink
that, and are why the population stage exists.

**bloom_xglm** (BLOOM and XGLM on the tasks of their papers' evaluations, mostly 0-shot).
No curve is emergent and none exceeds P(breakpoint) 0.49 (PAWS-X English, BLOOM). The `absent`
curves are mostly multilingual classification (XNLI, XCOPA, PAWS-X, XStoryCloze) and maths (MATH),
where these models stay at chance or zero; the `smooth` ones are XStoryCloze, XNLI and XCOPA in
the high-resource languages, XWinograd, ARC, HeadQA, HellaSwag and PIQA. One benchmark can be
`absent` in some languages and `smooth` in others (XNLI: 11 `absent`, 18 `smooth`). No curve
`failed` (10 in the 2026-11-30 run, most by R-hat or ESS just past the threshold: a fit that fails
on those alone is now rerun with twice the draws).

General remarks:

* Breakthroughness has no noise model: with 4-8 models a single noisy jump makes it large, and a
  flat curve with one lucky model can score as high as a real break (its median step is ~0). The
  Bayesian verdict asks whether a break *explains the counts* better than one log-odds trend and
  than a flat floor, given the binomial noise of the items and the between-model over-dispersion.
* The LFO column is the measured form of "not predictable from smaller models": when the largest
  model falls outside the 90% predictive interval of the smooth trend fitted below the break, the
  smaller models did not predict it.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--datasets", nargs="+", default=["obsscaling_emergent", "obsscaling_bbh", "pythia_suite", "bloom_xglm"]
    )
    ap.add_argument("--out", type=Path, default=ROOT / "case-study-run")
    ap.add_argument("--min-points", type=int, default=5)
    ap.add_argument("--reuse", action="store_true", help="use finished runs in --out instead of refitting")
    args = ap.parse_args()
    v, tasks = run(args.datasets, args.out, args.min_points, reuse=args.reuse)
    v.to_csv(args.out / "all_verdicts.csv", index=False)
    tasks.to_csv(args.out / "all_tasks.csv", index=False)
    seconds = sum(json.loads((args.out / n / "run.json").read_text())["seconds"] for n in args.datasets)
    write(v, tasks, names=args.datasets, seconds=seconds)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
