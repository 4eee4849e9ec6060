"""Two versions of phasefit on the same real curves, side by side in one sitting.

The shared machine's speed moves by up to ~30% between sittings, so a change's effect on time is
measured here, not by comparing two corpus runs: for each table, every `stride`-th curve of a bundled
table is fitted end to end by `phasefit.fit` (default spec, the table's default axis; models compiled
or loaded, population stage and tables included) once with each version's source, in a fresh process
each, the versions interleaved for `--reps` rounds. A version is a git revision, checked out in a
temporary worktree (its `src` put first on PYTHONPATH). Reports the time per curve, the ratio, the
NUTS fits and `failed` verdicts, and how many verdicts differ between the versions.

    .venv/bin/python benchmarks/code_ab.py --old d5171b4 --new HEAD      # ~15 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS_DIR,
    git,
    git_state,
    loadavg,
    machine,
    markers,
    now,
    run_line,
    versions,
    write_json,
    write_results_md,
)

START, END = markers("code_ab")
REPO = Path(__file__).resolve().parent.parent
TABLES = ("pythia_checkpoints:32", "obsscaling_bbh:8")
KEY = ["task", "metric", "family", "condition"]


def child(table: str, stride: int, out: str) -> None:
    """Fit every `stride`-th curve of `table` with the phasefit found first on the path."""
    import numpy as np

    import phasefit
    from phasefit import datasets

    curves = phasefit.load_curves(datasets.load(table), x_axis=datasets.DATASETS[table].default_x)
    subset = curves.subset(np.arange(len(curves)) % stride == 0)
    t0 = time.perf_counter()
    analysis = phasefit.fit(subset, progress=False)
    seconds = time.perf_counter() - t0
    v = analysis.verdicts
    Path(out).write_text(
        json.dumps(
            {
                "phasefit": phasefit.__file__,
                "curves": len(v),
                "seconds": seconds,
                "nuts_fits": int(v["nuts_fits"].sum()),
                "failed": int((v["verdict"] == "failed").sum()),
                "verdicts": v["verdict"].value_counts().to_dict(),
                "rows": v[[*KEY, "verdict", "p_emergent"]].astype({"p_emergent": float}).to_dict("records"),
            }
        )
    )


def _worktree(rev: str, where: Path) -> tuple[Path, str]:
    commit = git("rev-parse", rev)
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), commit], check=True)
    return where / "src", commit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True, help="git revision of the old version")
    ap.add_argument("--new", default="HEAD", help="git revision of the new version")
    ap.add_argument("--tables", nargs="+", default=list(TABLES), help="TABLE:STRIDE (every STRIDE-th curve)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--child", nargs=3, metavar=("TABLE", "STRIDE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return 0
    start_load, date = loadavg(), now()
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        srcs = {}
        try:
            for name, rev in (("old", args.old), ("new", args.new)):
                srcs[name] = _worktree(rev, Path(tmp) / name)
            for rep in range(1, args.reps + 1):
                for spec in args.tables:
                    table, stride = spec.split(":")
                    for name in ("old", "new"):
                        src, commit = srcs[name]
                        out = Path(tmp) / f"{name}-{table}-{rep}.json"
                        env = {**os.environ, "PYTHONPATH": str(src)}
                        cmd = [sys.executable, __file__, "--old", "x", "--child", table, stride, str(out)]
                        subprocess.run(cmd, check=True, env=env)
                        r = json.loads(out.read_text())
                        assert r["phasefit"].startswith(str(src)), r["phasefit"]  # the version asked for
                        runs.append(
                            {"version": name, "commit": commit, "table": table, "stride": int(stride), "rep": rep, **r}
                        )
                        print(f"rep {rep} {table} {name}: {r['curves']} curves, {r['seconds']:.1f} s", flush=True)
        finally:
            for name in srcs:
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(Path(tmp) / name)], check=False
                )
    commit, dirty = git_state()
    report = {
        "benchmark": "code_ab",
        "date": date,
        "command": "benchmarks/code_ab.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "git": commit,
        "uncommitted_src": dirty,
        "machine": machine(),
        "versions": versions(),
        "old": {"rev": args.old, "commit": srcs["old"][1]},
        "new": {"rev": args.new, "commit": srcs["new"][1]},
        "loadavg_start": start_load,
        "loadavg_end": loadavg(),
        "summary": summary(runs),
        "runs": [{k: v for k, v in r.items() if k != "rows"} for r in runs],
    }
    write_json(RESULTS_DIR / "code_ab.json", report)
    write_results_md(markdown(report), START, END)
    print(markdown(report))
    return 0


def summary(runs: list[dict]) -> list[dict]:
    """Per table: each version's median seconds over the reps, the ratio, NUTS fits, failed curves,
    and the verdicts that differ between the versions (first rep)."""
    out = []
    for table in dict.fromkeys(r["table"] for r in runs):
        by = {v: [r for r in runs if r["table"] == table and r["version"] == v] for v in ("old", "new")}
        med = {v: statistics.median(r["seconds"] for r in rs) for v, rs in by.items()}
        old = {tuple(x[k] for k in KEY): x for x in by["old"][0]["rows"]}
        new = {tuple(x[k] for k in KEY): x for x in by["new"][0]["rows"]}
        changed = [
            (old[k]["verdict"], new[k]["verdict"]) for k in old if k in new and old[k]["verdict"] != new[k]["verdict"]
        ]
        dp = [abs(old[k]["p_emergent"] - new[k]["p_emergent"]) for k in old if k in new]
        out.append(
            {
                "table": table,
                "curves": by["new"][0]["curves"],
                "stride": by["new"][0]["stride"],
                "seconds": {v: [round(r["seconds"], 2) for r in rs] for v, rs in by.items()},
                "median_seconds": med,
                "ratio_old_over_new": med["old"] / med["new"],
                "nuts_fits": {v: rs[0]["nuts_fits"] for v, rs in by.items()},
                "failed": {v: rs[0]["failed"] for v, rs in by.items()},
                "verdicts_changed": len(changed),
                "changes": sorted({f"{a} -> {b}": changed.count((a, b)) for a, b in changed}.items()),
                "max_abs_p_emergent_change": max([d for d in dp if d == d], default=0.0),
            }
        )
    return out


def markdown(r: dict) -> str:
    rows = []
    for s in r["summary"]:
        changes = ", ".join(f"{n} {c}" for c, n in s["changes"]) or "none"
        old, new = (" / ".join(f"{x:.1f}" for x in s["seconds"][v]) for v in ("old", "new"))
        rows.append(
            f"| `{s['table']}` (every {s['stride']}th) | {s['curves']} | {old} | {new} | "
            f"**{s['ratio_old_over_new']:.2f}x** | {s['nuts_fits']['old']} -> {s['nuts_fits']['new']} | "
            f"{s['failed']['old']} -> {s['failed']['new']} | {s['verdicts_changed']} ({changes}) | "
            f"{s['max_abs_p_emergent_change']:.3f} |"
        )
    return "\n".join(
        [
            START,
            f"## code_ab: git {r['old']['commit'][:7]} against {r['new']['commit'][:7]} on real curves, one sitting",
            "",
            f"{run_line(r)}. Each table's every k-th curve fitted end to end by `phasefit.fit` (default spec, "
            "compiled models loaded from the disk cache, population stage included) once per version and round, "
            "each in a fresh process, the versions interleaved; seconds per round (old / new), the ratio of the "
            "medians, and between the versions' first rounds: NUTS fits, `failed` verdicts, verdicts that differ "
            "and the largest change in P(emergent).",
            "",
            "| table | curves | old s | new s | old / new | NUTS fits | failed | verdicts changed | max dP |",
            "|---|---:|---:|---:|---:|---:|---:|---|---:|",
            *rows,
            END,
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
