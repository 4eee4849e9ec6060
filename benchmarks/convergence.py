"""Convergence of phasefit's fits on bundled real data (issue: share of curves that converge).

For every curve with >= 5 models in the chosen datasets, fit the three hypotheses through one
compiled model (with the spec's automatic retries) and estimate their marginal likelihoods; a curve
passes when every fit has R-hat <= 1.01, bulk and tail ESS >= 400, no divergences, tree depth
saturation <= 5%, and every importance k-hat <= 0.7. Results go to benchmarks/results/ and
RESULTS.md. Resumable: finished curves are kept in benchmarks/results/.work-convergence/.

    .venv/bin/python benchmarks/convergence.py [--datasets obsscaling_emergent pythia_suite] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from phasefit.analyses.curve import convergence_problems, curve_seed, fit_hypotheses
from phasefit.data import datasets
from phasefit.data.curves import load_curves
from phasefit.evidence.marginal import K_HAT_MAX
from phasefit.inference.sampler import Sampler
from phasefit.models.curve_model import curve_inputs
from phasefit.models.spec import HYPOTHESES, load_spec

from _common import RESULTS_DIR, machine, markers, write_json, write_results_md

START, END = markers("convergence")
RESULTS = RESULTS_DIR


def select(names: list[str], *, shots: str | None) -> list:
    out = []
    for name in names:
        df = datasets.load(name)
        if name == "pythia_suite" and shots:
            df = df[df["condition"] == shots]
        cs = load_curves(df, min_points=5, name=f"dataset:{name}")
        out.append((name, cs))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["obsscaling_emergent", "pythia_suite"])
    ap.add_argument(
        "--pythia-condition",
        default="0-shot",
        help="pythia_suite condition to include (0-shot: every family; '' for all)",
    )
    ap.add_argument("--metric", default="acc", help="pythia_suite metric to include ('' for all)")
    ap.add_argument("--limit", type=int, default=None, help="at most N curves (smoke runs)")
    args = ap.parse_args()
    spec = load_spec()
    sampler = Sampler(spec)
    work = RESULTS / ".work-convergence"
    work.mkdir(parents=True, exist_ok=True)
    todo = []
    for name, cs in select(args.datasets, shots=args.pythia_condition or None):
        for c in cs:
            if name == "pythia_suite" and args.metric and c.metric != args.metric:
                continue
            todo.append((name, c))
    if args.limit:
        todo = todo[: args.limit]
    rows = []
    t0 = time.perf_counter()
    cols = (
        TextColumn("convergence"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*cols) as bar:
        task = bar.add_task("", total=len(todo))
        for name, c in todo:
            key = work / f"{name}-{c.index:05d}.json"
            if key.exists():
                rows.append(json.loads(key.read_text()))
                bar.advance(task)
                continue
            bar.update(task, description=c.label)
            seed = curve_seed(c, spec.sampler.seed)
            inputs = curve_inputs(c, spec)
            start = time.perf_counter()
            row = {
                "dataset": name,
                "task": c.task,
                "metric": c.metric,
                "family": c.family,
                "condition": c.condition,
                "n_points": c.n_points,
                "likelihood": c.likelihood,
            }
            fits, evidence, probability = fit_hypotheses(inputs, sampler, seed=seed)  # as the pipeline does
            reasons = []
            for h in HYPOTHESES:
                d, ev = fits[h].diagnostics, evidence[h]
                row |= {
                    f"{h}_rhat": d.rhat_max,
                    f"{h}_ess_bulk": d.ess_bulk_min,
                    f"{h}_ess_tail": d.ess_tail_min,
                    f"{h}_divergences": d.divergences,
                    f"{h}_attempts": d.attempts,
                    f"{h}_k_hat": ev.k_hat,
                }
                if not d.ok:
                    reasons.append(f"{h}: {d.reason}")
                if not ev.ok:
                    reasons.append(f"{h} evidence k-hat {ev.k_hat:.2f} > {K_HAT_MAX}")
            problems, _ = convergence_problems(fits, evidence, probability)  # what the pipeline marks `failed`
            row |= {
                "ok": not reasons,
                "reason": "; ".join(reasons),
                "verdict_ok": not problems,
                "verdict_reason": "; ".join(problems),
                "seconds": time.perf_counter() - start,
            }
            key.write_text(json.dumps(row))
            rows.append(row)
            bar.advance(task)
    df = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    df.to_csv(RESULTS / "convergence_curves.csv", index=False)
    if "verdict_ok" not in df:  # rows checkpointed before the column existed
        df["verdict_ok"] = df["ok"]
    share = float(df["ok"].mean())
    verdict_share = float(df["verdict_ok"].mean())
    attempts = df[[f"{h}_attempts" for h in HYPOTHESES]].max(axis=1)
    mach = machine()
    summary = {
        "curves": len(df),
        "converged": int(df["ok"].sum()),
        "share": share,
        "target": 0.98,
        "not_failed": int(df["verdict_ok"].sum()),
        "not_failed_share": verdict_share,
        "retried_curves": int((attempts > 1).sum()),
        "seconds_total": round(time.perf_counter() - t0, 1),
        "median_seconds_per_curve": float(df["seconds"].median()),
        "datasets": args.datasets,
        "pythia_condition": args.pythia_condition,
        "metric": args.metric,
        "machine": {**mach, "cpus": mach["nproc"] or 0},
        "date": time.strftime("%Y-%m-%d"),
        "by_dataset": df.groupby("dataset")["ok"].agg(["size", "mean"]).to_dict(),
    }
    write_json(RESULTS / "convergence.json", summary)
    failed = df[~df["ok"]]
    lines = [
        "## Convergence on bundled real data",
        "",
        f"Measured {summary['date']} on {summary['machine']['cpu']} ({summary['machine']['cpus']} CPUs); "
        f"`.venv/bin/python benchmarks/convergence.py --datasets {' '.join(args.datasets)}` "
        f"(pythia_suite: condition {args.pythia_condition or 'all'}, metric {args.metric or 'all'}).",
        "",
        f"- curves: **{len(df)}** (every curve with >= 5 models in the selection)",
        f"- converged (every fit R-hat <= 1.01, ESS bulk/tail >= 400, 0 divergences, evidence k-hat <= 0.7): "
        f"**{summary['converged']} = {share:.1%}** (target >= 98%: {'PASS' if share >= 0.98 else 'FAIL'})",
        f"- not `failed` by the pipeline's rule (a fit that did not converge counts only when its hypothesis has "
        f"P >= 0.01 or its evidence is unreliable): **{summary['not_failed']} = {verdict_share:.1%}**",
        f"- curves that needed an automatic retry: {summary['retried_curves']}",
        f"- median seconds per curve (three fits + evidence): {summary['median_seconds_per_curve']:.1f}",
        "",
    ]
    if len(failed):
        lines += [
            "Curves with a fit that did not pass, and whether the pipeline marks them `failed`:",
            "",
            "| dataset | task | metric | family | condition | reason | `failed` |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.dataset} | {r.task} | {r.metric} | {r.family} | {r.condition} | {r.reason} | "
            f"{'no' if r.verdict_ok else 'yes'} |"
            for r in failed.itertuples()
        ]
    write_results_md("\n".join([START, *lines, END]) + "\n", START, END)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
