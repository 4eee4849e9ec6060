"""Memory and time of a fit as the number of curves grows: 10, 100, 1,000, 10,000 curves.

What grows with the number of curves is the client's side of a run: every curve's result read
from its checkpoint, its prior sensitivity, its draws into the posterior, the population stage, the
tables and `posterior.nc`. The fits themselves cost the same per curve however many there are (each
on a worker, compiled once: `end_to_end.py`, `compile_once.py`). Fitting 10,000 curves takes ~6 h
on 2 cores, so this benchmark measures the client's side on the real thing with the fits made once:

1. `--base` curves of the simulated suite (`simulation_suite(base, seed=20221)`) are fitted for
   real with the default spec (`analyse_curve`, the same call `phasefit fit` makes per curve);
2. for each size N, a table of N curves is made of copies of those base curves, each copy with its
   own family and metric name (50 metrics x as many families as needed: 20 tasks, up to 10 families
   at 10,000 curves, like a BIG-bench table), and `phasefit.fit_to_directory` is run on it in a
   fresh subprocess, with its checkpoint store answering every curve with its base curve's result
   (relabelled). So the run is a resumed run whose every curve is already fitted: everything after
   the fits is real, and identical to what a 10,000-curve run does after its last fit.

Each size runs for the code of this checkout (*after*) and, with `--before-src DIR` (a copy of an
older `src/`, e.g. from `git archive`), for that code (*before*) in the same run, one after the
other; *before* is skipped above `--before-max` curves (it kept every curve's draws in memory: 8.1
GiB for 2,016 real curves, so 10,000 do not fit in this machine's RAM).

    .venv/bin/python benchmarks/scale.py                          # 10, 100, 1,000, 10,000 curves
    .venv/bin/python benchmarks/scale.py --before-src /tmp/phasefit-before/src
    .venv/bin/python benchmarks/scale.py --sizes 10 100 --base 6  # quick

Writes `benchmarks/results/scale.json` and the "scale" section of `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from _common import (
    RESULTS_DIR,
    git_state,
    loadavg,
    machine,
    markers,
    now,
    rss_mib,
    versions,
    write_json,
    write_results_md,
)

SEED = 20221
METRICS_PER_FAMILY = 50
POOLED_COLUMNS = ("p_emergent_pooled", "importance_ess")


# ------------------------------------------------------------------------------------------ base


def fit_base(n: int, folder: Path) -> dict:
    """Fit `n` simulated curves for real; write their table and results (safe_store) to `folder`."""
    from phasefit.analyses.curve import analyse_curve
    from phasefit.data.curves import load_curves
    from phasefit.inference.sampler import Sampler
    from phasefit.models.simulate import simulation_suite
    from phasefit.models.spec import load_spec
    from phasefit.results import safe_store

    folder.mkdir(parents=True, exist_ok=True)
    df, _ = simulation_suite(n, seed=SEED)
    df.to_csv(folder / "table.csv", index=False)
    curves = load_curves(df, name="scale-base")
    sampler = Sampler(load_spec())
    t0 = time.perf_counter()
    for curve in curves:
        result = analyse_curve(curve, sampler, x_axis=curves.x_axis)
        (folder / f"{curve.task}.npz").write_bytes(safe_store.dumps(result))
    seconds = time.perf_counter() - t0
    return {"curves": n, "seconds": seconds, "compile_seconds": dict(sampler.compile_seconds)}


def replicated_table(base: pd.DataFrame, n: int) -> pd.DataFrame:
    """`n` curves: copies of the base curves (in turn), copy k with family f{k // 50}, metric m{k % 50}."""
    tasks = list(dict.fromkeys(base["task"]))
    by_task = {t: g for t, g in base.groupby("task", sort=False)}
    frames = []
    for i in range(n):
        k, j = divmod(i, len(tasks))
        part = by_task[tasks[j]].copy()
        part["family"] = f"f{k // METRICS_PER_FAMILY:03d}"
        part["metric"] = f"m{k % METRICS_PER_FAMILY:02d}"
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


class ReplicaStore:
    """A checkpoint store that holds every curve: the base curve's result, relabelled as the copy.
    Each load decodes the base curve's checkpoint bytes afresh (new arrays, as reading a checkpoint
    file does), so that the run holds what a real one holds; only the disk read is skipped."""

    def __init__(self, folder: Path):
        self.base = {p.stem: p.read_bytes() for p in sorted(folder.glob("sim_*.npz"))}

    def has(self, curve) -> bool:
        return curve.task in self.base

    def load(self, curve):
        from phasefit.results import safe_store

        r = safe_store.loads(self.base[curve.task])
        keys = {"curve": curve.index, "label": curve.label, "family": curve.family, "metric": curve.metric}
        return replace(r, index=curve.index, label=curve.label, row={**r.row, **keys})

    def save(self, result):  # pragma: no cover - every curve is held
        raise RuntimeError(f"{result.label}: the replica store holds every curve; nothing is fitted here")


# ------------------------------------------------------------------------------------------ child


def child(args) -> None:
    """One size, one side: `fit_to_directory` on the replicated table; prints a JSON line."""
    from rich.console import Console

    import phasefit
    import phasefit.runner.local as local

    base = pd.read_csv(Path(args.base_dir) / "table.csv")
    table = replicated_table(base, args.n)
    t0 = time.perf_counter()
    curves = phasefit.load_curves(table, name=f"scale-{args.n}")
    load_seconds = time.perf_counter() - t0
    store = ReplicaStore(Path(args.base_dir))
    local.DiskCheckpoints = lambda folder: store  # every curve "resumed" from its base result
    out = Path(args.out)
    with open(os.devnull, "w") as sink:
        t1 = time.perf_counter()
        analysis = phasefit.fit_to_directory(curves, out=out, progress=False, console=Console(file=sink))
        seconds = time.perf_counter() - t1
    verdicts = (out / "verdicts.csv").read_bytes()
    # the columns that do not depend on the population stage's draws (it reads each curve's draws
    # thinned evenly now, a random subset before): compared between *before* and *after*
    own = pd.read_csv(out / "verdicts.csv", keep_default_na=False).drop(columns=list(POOLED_COLUMNS))
    pop = analysis.run.get("population") or {}
    print(
        json.dumps(
            {
                "n": args.n,
                "side": args.side,
                "load_seconds": load_seconds,
                "seconds": seconds,
                "peak_rss_mib": rss_mib(),
                "posterior_mib": (out / "posterior.nc").stat().st_size / 2**20,
                "verdicts_sha": hashlib.sha256(verdicts).hexdigest()[:16],
                "own_columns_sha": hashlib.sha256(own.to_csv(index=False).encode()).hexdigest()[:16],
                "verdict_counts": analysis.verdicts["verdict"].value_counts().to_dict(),
                "population_ok": pop.get("ok", pop.get("converged")),
                "population_method": pop.get("method"),
                "population_seconds": pop.get("seconds"),
                "phasefit_file": phasefit.__file__,
            }
        )
    )


# ------------------------------------------------------------------------------------------ parent


def run_side(n: int, side: str, base_dir: Path, src: str | None, work: Path) -> dict:
    out = work / f"{side}-{n}"
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parent)
    env["PYTHONPATH"] = os.pathsep.join([p for p in (src, here) if p])
    cmd = [sys.executable, __file__, "--child", "--n", str(n), "--side", side]
    cmd += ["--base-dir", str(base_dir), "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        return {"n": n, "side": side, "failed": True, "returncode": proc.returncode, "error": " | ".join(tail)}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["process_seconds"] = wall
    return row


def report(result: dict) -> str:
    start, end = markers("scale")
    rows = result["runs"]
    lines = [
        start,
        "## scale: memory and time from 10 to 10,000 curves",
        "",
        f"Run {result['date']} by `benchmarks/scale.py {' '.join(result['argv'])}` (git {result['git']}); "
        f"{result['machine']['nproc']} cores ({result['machine']['cpu']}), {result['machine']['ram']} RAM; "
        f"load average at the end {', '.join(f'{v:.1f}' for v in result['loadavg_end'])}.",
        "",
        f"Base: {result['base']['curves']} curves of `simulation_suite(seed={SEED})` fitted for real with the "
        f"default spec in {result['base']['seconds']:.0f} s "
        f"({result['base']['seconds'] / result['base']['curves']:.2f} s "
        "per curve in one process, compilation excluded). Each size is a table of copies of those curves "
        "(own family and metric names) run by `phasefit.fit_to_directory` in a fresh process whose checkpoint "
        "store answers every curve with its base curve's result: the client's side of a run after its last fit "
        "(reading the results, prior sensitivity, posterior, population stage, tables, files), measured; the "
        "fits are not repeated. *before*: "
        + (f"the code of {result['before']}" if result.get("before") else "not run")
        + "; *after*: this checkout.",
        "",
        "| curves | side | time (s) | s per 1,000 curves | peak RSS (MiB) | posterior.nc (MiB) "
        "| population stage (s) | verdicts.csv, per-curve columns |",
        "|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        if r.get("failed"):
            lines.append(f"| {r['n']:,} | {r['side']} | failed (exit {r['returncode']}) | | | | | {r['error'][:80]} |")
            continue
        if r.get("skipped"):
            lines.append(f"| {r['n']:,} | {r['side']} | not run ({r['skipped']}) | | | | | |")
            continue
        pop = "ok" if r.get("population_ok") else "failed openly" if r.get("population_ok") is False else "-"
        if r.get("population_seconds") is not None:
            pop += f" ({r['population_seconds']:.0f})"
        lines.append(
            f"| {r['n']:,} | {r['side']} | {r['seconds']:.1f} | {1000 * r['seconds'] / r['n']:.0f} | "
            f"{r['peak_rss_mib']:.0f} | {r['posterior_mib']:.1f} | {pop} | sha {r.get('own_columns_sha', '-')} |"
        )
    lines += ["", result["reading"], end, ""]
    return "\n".join(lines)


def reading(runs: list[dict]) -> str:
    ok = {(r["n"], r["side"]): r for r in runs if "seconds" in r}
    after = sorted((n, r) for (n, s), r in ok.items() if s == "after")
    if len(after) < 2:
        return ""
    (n0, r0), (n1, r1) = after[0], after[-1]
    growth = (r1["peak_rss_mib"] - r0["peak_rss_mib"]) / (n1 - n0)
    text = (
        f"Reading: *after*, peak RSS grows by {growth * 1000:.0f} MiB per 1,000 curves "
        f"({r0['peak_rss_mib']:.0f} MiB at {n0:,} curves, {r1['peak_rss_mib']:.0f} MiB at {n1:,}); "
        f"time per 1,000 curves {1000 * r0['seconds'] / n0:.0f} s at {n0:,} "
        f"and {1000 * r1['seconds'] / n1:.0f} s at {n1:,}."
    )
    same = [n for (n, s) in ok if s == "before" and (n, "after") in ok]
    if same:
        eq = [n for n in same if ok[n, "before"].get("own_columns_sha") == ok[n, "after"].get("own_columns_sha")]
        ratios = ", ".join(
            f"{n:,}: {ok[n, 'before']['peak_rss_mib'] / ok[n, 'after']['peak_rss_mib']:.1f}x" for n in sorted(same)
        )
        text += (
            f" Peak RSS before / after: {ratios}. verdicts.csv without the pooled columns "
            f"({', '.join(POOLED_COLUMNS)}) byte-identical before and after at {len(eq)} of {len(same)} sizes."
        )
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    p.add_argument("--base", type=int, default=20, help="curves fitted for real (default 20)")
    p.add_argument("--before-src", help="a copy of an older src/ to run as *before*")
    p.add_argument("--before-max", type=int, default=1000, help="largest size run as *before* (default 1000)")
    p.add_argument("--work-dir", default=None, help="keep the base fits here (reused when present)")
    p.add_argument("--no-results-md", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--side", help=argparse.SUPPRESS)
    p.add_argument("--base-dir", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="phasefit-scale-"))
    base_dir = work / "base"
    info_path = base_dir / "base.json"
    if info_path.exists() and json.loads(info_path.read_text())["curves"] == args.base:
        base = json.loads(info_path.read_text())
    else:
        shutil.rmtree(base_dir, ignore_errors=True)
        base = fit_base(args.base, base_dir)
        info_path.write_text(json.dumps(base))
    print(f"base: {args.base} curves fitted in {base['seconds']:.0f} s", flush=True)
    runs = []
    for n in args.sizes:
        sides = [("before", args.before_src), ("after", None)] if args.before_src else [("after", None)]
        for side, src in sides:
            if side == "before" and n > args.before_max:
                runs.append({"n": n, "side": side, "skipped": f"above --before-max {args.before_max}"})
                continue
            row = run_side(n, side, base_dir, src, work)
            print(json.dumps(row), flush=True)
            runs.append(row)
    sha, dirty = git_state()
    result = {
        "date": now(),
        "argv": sys.argv[1:],
        "git": sha + (" (uncommitted changes)" if dirty else ""),
        "machine": machine(),
        "versions": versions(),
        "loadavg_end": loadavg(),
        "base": base,
        "before": args.before_src,
        "runs": runs,
        "client_rss_mib": rss_mib(),
    }
    result["reading"] = reading(runs)
    write_json(RESULTS_DIR / "scale.json", result)
    if not args.no_results_md:
        section = report(result)
        write_results_md(section, *markers("scale"))
        print(section)
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
