"""How long the population stage takes, on the fitted curves of the accuracy suite.

Loads the per-curve checkpoints the accuracy benchmark leaves in benchmarks/results/.work-accuracy
(run `benchmarks/accuracy.py` first) and times `fit_population` on the first 300 and on all 600
curves, each in a fresh process, first with an empty PyTensor compile directory (cold: the log
density is compiled) and then again with that directory (warm), as a user's first and later runs.
Writes benchmarks/results/population_speed.json and the section "Population stage: time" of
benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/population_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import write_results_md  # noqa: E402

RESULTS = HERE / "results"
WORK = RESULTS / ".work-accuracy"
SECTION = "## Population stage: time"

CHILD = r"""
import glob, json, sys, time
from pathlib import Path
from phasefit.models.spec import load_spec
from phasefit.analyses.population import fit_population
from phasefit.results.checkpoints import _read
folder, n = sys.argv[1], int(sys.argv[2])
files = sorted(glob.glob(f"{folder}/curve-*.npz"))[:n]
results = [_read(Path(f)) for f in files]  # phasefit's own checkpoints: no pickle
spec = load_spec()
t0 = time.perf_counter()
pop = fit_population(None, results, spec, seed=spec.sampler.seed)
seconds = time.perf_counter() - t0
d = pop.diagnostics
print(json.dumps({"curves": len(results), "pooled": d.n_curves, "seconds": seconds, "ok": d.ok,
                  "reason": d.reason, "iterations": d.iterations, "laplace_k_hat": d.laplace_k_hat,
                  "rates": pop.rates.mean(0).round(4).tolist()}))
"""


def _folder() -> Path:
    folders = [p for p in WORK.iterdir() if p.is_dir() and len(list(p.glob("curve-*.npz"))) >= 600]
    if not folders:
        raise SystemExit(f"no folder of 600 fitted curves in {WORK}: run benchmarks/accuracy.py first")
    return max(folders, key=lambda p: p.stat().st_mtime)


def _time(folder: Path, n: int, compiledir: Path) -> dict:
    env = {**os.environ, "PYTENSOR_FLAGS": f"compiledir={compiledir}"}
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(n)], env=env, capture_output=True, text=True, check=True
    )
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["process_seconds"] = time.perf_counter() - t0  # with imports and loading the checkpoints
    return row


def main() -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    folder = _folder()
    rows = []
    for n in (300, 600):
        with tempfile.TemporaryDirectory(prefix="pf-compiledir-") as tmp:
            for cache in ("cold", "warm"):
                row = {"cache": cache, **_time(folder, n, Path(tmp))}
                rows.append(row)
                print(json.dumps(row), flush=True)
    res = {
        "benchmark": "population_speed",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "loadavg_at_end": list(os.getloadavg()),
        "folder": str(folder.relative_to(HERE.parent)),
        "rows": rows,
    }
    (RESULTS / "population_speed.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    lines = [
        SECTION,
        "",
        f"Run {res['date']} by `benchmarks/population_speed.py` on {res['nproc']} cores (load average at the end "
        f"{', '.join(f'{x:.1f}' for x in res['loadavg_at_end'])}): `fit_population` with the default spec on the "
        "fitted curves of the accuracy suite (reporting seed), each in a fresh process; *cold* with an empty "
        "PyTensor compile directory, *warm* with the one the cold run filled. The NUTS-sampled stage it replaced "
        "took over 10 minutes on 300 curves.",
        "",
        "| curves | cache | stage (s) | process (s) | ok | Laplace k-hat | iterations | "
        "rates (absent, smooth, breakpoint) |",
        "|---:|---|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['curves']} | {r['cache']} | {r['seconds']:.1f} | {r['process_seconds']:.1f} | {r['ok']} | "
            f"{r['laplace_k_hat']:.2f} | {r['iterations']} | {', '.join(f'{x:.3f}' for x in r['rates'])} |"
        )
    start, end = "<!-- population-speed:start -->", "<!-- population-speed:end -->"
    write_results_md(start + "\n" + "\n".join(lines) + "\n" + end + "\n", start, end)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
