"""1,000 curves with `phasefit fit`, measured as a user runs it: the command line, start to finish.

`end_to_end.py` extrapolates 1,000 curves from 100; this runs them. The simulated curves of
`simulation_suite(N, seed)` (the same generator as `end_to_end.py`) are written to a CSV, and
`phasefit fit curves.csv --out DIR --no-progress` runs in a fresh process with the machine's warm
caches (compiled models stored by an earlier run, as for every run after the first): the wall time
includes starting Python, the imports, reading and checking the data, compiling or loading the
models, every curve's fits and evidence, the population stage and writing every output file. Peak
RSS is the child process's. The progress log (`fit.log` in the output directory) gives the rate.

    .venv/bin/python benchmarks/thousand.py                 # 1,000 curves (~12 min on 2 cores)
    .venv/bin/python benchmarks/thousand.py --curves 50     # a quick check (RESULTS.md untouched)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    RESULTS_DIR,
    git_state,
    loadavg,
    machine,
    markers,
    now,
    run_line,
    versions,
    write_json,
    write_results_md,
)  # noqa: E402

START, END = markers("thousand")
TARGET_MINUTES = 10.0
DEFAULT_CURVES = 1000
SEED = 20221
PHASEFIT = Path(sys.executable).with_name("phasefit")


def run(curves: int, seed: int) -> dict:
    from phasefit.models.simulate import simulation_suite

    table, _ = simulation_suite(curves, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "curves.csv", Path(tmp) / "out"
        table.to_csv(data, index=False)
        cmd = [str(PHASEFIT), "fit", str(data), "--out", str(out), "--no-progress", "--seed", str(seed)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - t0
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        verdicts = pd.read_csv(out / "verdicts.csv")
        run_json = json.loads((out / "run.json").read_text())
        sizes = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
    population = run_json.get("population") or {}
    compiled = run_json.get("compile_seconds") or {}
    return {
        "curves": int(len(verdicts)),
        "seconds": seconds,
        "peak_rss_mib": peak_mib,
        "verdicts": verdicts["verdict"].value_counts().sort_index().to_dict(),
        "nuts_fits": int(verdicts["nuts_fits"].sum()),
        "population_seconds": population.get("seconds"),
        "compile_seconds": sum(compiled.values()) if isinstance(compiled, dict) else compiled,
        "analysis_seconds": run_json.get("seconds"),
        "output_mib": sum(sizes.values()) / 2**20,
        "command": " ".join(["phasefit", *cmd[1:2], "curves.csv", *cmd[3:4], "OUT", *cmd[5:]]),
    }


def _f(v) -> str:
    return "-" if v is None else f"{float(v):.1f}"


def markdown(r: dict) -> str:
    x = r["result"]
    minutes = x["seconds"] / 60
    met = "met" if minutes <= TARGET_MINUTES else "not met"
    verdicts = ", ".join(f"{k} {v}" for k, v in x["verdicts"].items())
    return "\n".join(
        [
            START,
            f"## thousand: {x['curves']:,} curves with `phasefit fit`, start to finish",
            "",
            f"{run_line(r)} (shared machine); Python {r['machine']['python']}; "
            + ", ".join(f"{k} {v}" for k, v in r["versions"].items() if v)
            + ".",
            "",
            f"`simulation_suite({x['curves']}, seed={r['seed']})` written to a CSV, then `{x['command']}` in a "
            "fresh process with the machine's warm caches (compiled models stored by an earlier run): "
            "imports, data checks, model loading, every curve's three fits and their evidence, the population "
            "stage and every output file, timed from the command's start to its exit.",
            "",
            "| curves | wall time | s per curve | of which compile / population stage (s) | peak RSS (MiB) | "
            "outputs (MiB) | NUTS fits | verdicts |",
            "|---:|---:|---:|---|---:|---:|---:|---|",
            f"| {x['curves']:,} | {minutes:.1f} min ({x['seconds']:.0f} s) | {x['seconds'] / x['curves']:.2f} | "
            f"{_f(x['compile_seconds'])} / {_f(x['population_seconds'])} | {x['peak_rss_mib']:.0f} | "
            f"{x['output_mib']:.0f} | {x['nuts_fits']} | {verdicts} |",
            "",
            f"**{x['curves']:,} curves in {minutes:.1f} minutes** "
            f"(target <= {TARGET_MINUTES:.0f} min on 2 cores: {met}).",
            END,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--curves", type=int, default=DEFAULT_CURVES)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    start_load, date = loadavg(), now()
    result = run(args.curves, args.seed)
    commit, dirty = git_state()
    report = {
        "benchmark": "thousand",
        "date": date,
        "command": ("benchmarks/thousand.py " + " ".join(sys.argv[1:] if argv is None else argv)).strip(),
        "git": commit,
        "uncommitted_src": dirty,
        "machine": machine(),
        "versions": versions(),
        "seed": args.seed,
        "loadavg_start": start_load,
        "loadavg_end": loadavg(),
        "result": result,
    }
    text = markdown(report)
    print(text)
    if args.curves == DEFAULT_CURVES:
        write_json(RESULTS_DIR / "thousand.json", report)
        write_results_md(text, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
