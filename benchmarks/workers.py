"""One process with nutpie's chain threads, or curves spread over local worker processes?

`phasefit fit` samples each fit's 4 chains on 4 threads; between fits a curve's Python work (the
evidence, importance sampling, tables) runs on one core while the other idles. `--workers N` sends
shards of curves to N local Dask worker processes instead, each with its own compiled models. This
times `phasefit.fit` on the same simulated curves (`simulation_suite(n, seed)`, as `end_to_end.py`)
with each setting in a fresh process, one after the other, end to end (compilation included), and
checks that the verdict tables are byte-identical.

    .venv/bin/python benchmarks/workers.py                 # 100 curves: 1 process, then --workers 2
    .venv/bin/python benchmarks/workers.py --curves 300 --workers 1 2 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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

START, END = markers("workers")


def child(curves: int, seed: int, workers: int, out: str) -> None:
    t0 = time.perf_counter()
    import phasefit
    from phasefit.models.simulate import simulation_suite

    table, _ = simulation_suite(curves, seed=seed)
    data = phasefit.load_curves(table, name="workers-benchmark")
    t1 = time.perf_counter()
    analysis = phasefit.fit(data, seed=seed, progress=False, workers=workers if workers > 1 else None)
    seconds = time.perf_counter() - t1
    csv = analysis.verdicts.drop(columns=["p_emergent_pooled", "importance_ess"], errors="ignore").to_csv(index=False)
    Path(out).write_text(
        json.dumps(
            {
                "workers": workers,
                "seconds": seconds,
                "import_and_data_seconds": t1 - t0,
                "verdicts_sha256": hashlib.sha256(csv.encode()).hexdigest(),
                "verdicts": analysis.verdicts["verdict"].value_counts().to_dict(),
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--curves", type=int, default=100)
    ap.add_argument("--seed", type=int, default=20221)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="1 = one process (no Dask)")
    ap.add_argument("--child", nargs=2, metavar=("WORKERS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.curves, args.seed, int(args.child[0]), args.child[1])
        return 0
    start_load, date = loadavg(), now()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            out = Path(tmp) / f"{w}.json"
            cmd = [sys.executable, __file__, "--curves", str(args.curves), "--seed", str(args.seed)]
            subprocess.run([*cmd, "--child", str(w), str(out)], check=True)
            runs.append(json.loads(out.read_text()))
            print(f"workers {w}: {runs[-1]['seconds']:.1f} s", flush=True)
    commit, dirty = git_state()
    report = {
        "benchmark": "workers",
        "date": date,
        "command": "benchmarks/workers.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "git": commit,
        "uncommitted_src": dirty,
        "machine": machine(),
        "versions": versions(("pymc", "nutpie", "dask", "distributed", "numpy")),
        "curves": args.curves,
        "seed": args.seed,
        "loadavg_start": start_load,
        "loadavg_end": loadavg(),
        "runs": runs,
    }
    write_json(RESULTS_DIR / "workers.json", report)
    write_results_md(markdown(report), START, END)
    print(markdown(report))
    return 0


def markdown(r: dict) -> str:
    base = r["runs"][0]
    rows = [
        f"| {'one process (nutpie threads)' if x['workers'] == 1 else f'--workers {x["workers"]}'} | "
        f"{x['seconds']:.1f} | {x['seconds'] / r['curves']:.2f} | {base['seconds'] / x['seconds']:.2f}x | "
        f"{'same' if x['verdicts_sha256'] == base['verdicts_sha256'] else 'DIFFERENT'} |"
        for x in r["runs"]
    ]
    return "\n".join(
        [
            START,
            f"## workers: one process or local worker processes ({r['curves']} curves)",
            "",
            f"{run_line(r)}. `phasefit.fit` on `simulation_suite({r['curves']}, "
            f"seed={r['seed']})` with the default spec, each setting in a fresh process, end to end (compilation "
            "and the population stage included; imports and data loading left out).",
            "",
            "| setting | seconds | s per curve | speed-up | verdicts.csv (less pooled columns) |",
            "|---|---:|---:|---:|---|",
            *rows,
            END,
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
