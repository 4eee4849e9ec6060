"""The whole bundled corpus end to end: every bundled table, all its metrics, at its default axis.

Each table is fitted as a user fits it, `phasefit fit dataset:NAME --out DIR --x AXIS` in a fresh
process, into `WORK/NAME`. The corpus (7,312 curves) takes hours on 2 cores, more than one sitting,
so the run is resumable and measured in segments:

- `--budget-min M` kills the running fit with SIGKILL when the budget is spent (a real interruption:
  the checkpoints keep every finished curve), and the next invocation with the same `--work-dir`
  resumes it: finished tables are skipped, an interrupted one continues from its checkpoints;
- every segment (table, seconds, curves checkpointed before and after, whether it finished, machine,
  load, git commit, the code stamp) is appended to `results/corpus.json`, so the corpus' time is the
  sum of its segments, including what interruptions cost (the curve in flight, compiling again);
- `--src DIR` runs the fits with the phasefit source in DIR (e.g. a `git worktree` of one commit),
  so a corpus measured over several sittings is fitted by one version of the code while the
  checkout moves on; checkpoints of other code are never reused (`code_stamp`), so a segment with
  other code would start its table over.

    .venv/bin/python benchmarks/corpus.py --budget-min 120                   # fit, resume, record
    .venv/bin/python benchmarks/corpus.py --src /work/corpus-src/src --budget-min 120
    .venv/bin/python benchmarks/corpus.py --workers 2 --budget-min 120       # curves on 2 local workers
    .venv/bin/python benchmarks/corpus.py --render                           # RESULTS.md from the JSON

Writes `benchmarks/results/corpus.json` and the "corpus" section of `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, git_state, machine, markers, now, write_json, write_results_md  # noqa: E402

# smallest first: a sitting finishes whole tables before it starts the long ones
ORDER = (
    "obsscaling_emergent",
    "bloom_xglm",
    "obsscaling_standard",
    "pythia_suite",
    "obsscaling_bbh",
    "pythia_checkpoints",
    "ukp_emergence",
)
LEDGER = RESULTS_DIR / "corpus.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work-dir", type=Path, default=RESULTS_DIR / ".work-corpus")
    ap.add_argument("--budget-min", type=float, default=600.0, help="stop (SIGKILL) after this many minutes")
    ap.add_argument("--src", type=Path, default=None, help="phasefit source to fit with (default: this checkout's)")
    ap.add_argument("--tables", nargs="*", default=list(ORDER))
    ap.add_argument("--workers", type=int, default=1, help="`phasefit fit --workers N` (1: one process, no Dask)")
    ap.add_argument("--render", action="store_true", help="only rewrite RESULTS.md from the JSON")
    args = ap.parse_args(argv)
    ledger = json.loads(LEDGER.read_text()) if LEDGER.exists() else {"segments": [], "tables": {}}
    if not args.render:
        run(args, ledger)
    start, end = markers("corpus")
    write_results_md(f"{start}\n{markdown(ledger)}\n{end}\n", start, end)
    return 0


def curve_counts(names: list[str]) -> dict[str, dict]:
    """Curves of each table at its default axis, as `phasefit fit` loads them (min_points 4)."""
    import phasefit
    from phasefit import datasets as ds

    out = {}
    for name in names:
        axis = ds.DATASETS[name].default_x  # "flops" or "params", as `load_curves` takes it
        out[name] = {"axis": axis, "curves": len(phasefit.load_curves(ds.load(name), x_axis=axis))}
    return out


def checkpointed(out: Path) -> int:
    """Curves finished so far in an unfinished run's work folder (or in a finished run's table)."""
    if (out / "verdicts.csv").exists() and not (out / ".phasefit-work").exists():
        return len(pd.read_csv(out / "verdicts.csv"))
    return len(list((out / ".phasefit-work").glob("*/curve-*.npz")))


def code_stamp(src: Path | None) -> str:
    code = "import phasefit._version as v; print(v.code_stamp())"
    return subprocess.run([sys.executable, "-c", code], env=_env(src), capture_output=True, text=True).stdout.strip()


def source_commit(src: Path | None) -> str:
    """The commit of the source that fits (with "+dirty" when src/ has uncommitted changes)."""
    if src is None:
        commit, dirty = git_state()
        return commit + ("+dirty" if dirty else "")
    where = ["git", "-C", str(src.resolve())]
    commit = subprocess.run([*where, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*where, "status", "--porcelain", "--", "."], capture_output=True, text=True).stdout.strip()
    return commit + ("+dirty" if dirty else "")


def _env(src: Path | None) -> dict:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve()) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(args, ledger: dict) -> None:
    deadline = time.monotonic() + 60 * args.budget_min
    counts = curve_counts(args.tables)
    for name in args.tables:  # every table is listed from the start, done or not
        ledger["tables"][name] = ledger["tables"].get(name, {}) | counts[name]
    write_json(LEDGER, ledger)
    stamp = code_stamp(args.src)
    src_state = source_commit(args.src)
    for name in args.tables:
        info = ledger["tables"][name]
        if info.get("finished"):
            continue
        if info["curves"] == 0:
            info |= {"finished": True, "seconds": 0.0, "note": f"no curve with >= 4 models on the {info['axis']} axis"}
            continue
        left = deadline - time.monotonic()
        if left < 120:
            print(f"budget spent: {name} and later tables left for the next sitting", flush=True)
            break
        out = args.work_dir / name
        out.mkdir(parents=True, exist_ok=True)
        before = checkpointed(out)
        cmd = [sys.executable, "-m", "phasefit.cli", "fit", f"dataset:{name}", "--out", str(out), "--x", info["axis"]]
        cmd += ["--workers", str(args.workers)] if args.workers > 1 else []
        segment = {"table": name, "started": now(), "curves_before": before, "code_stamp": stamp, "git": src_state}
        segment["workers"] = args.workers
        segment["machine_start"] = machine()
        print(
            f"{name}: {info['curves']} curves, {before} already checkpointed; {left / 60:.0f} min of budget", flush=True
        )
        t0 = time.perf_counter()
        with open(out / "fit.log", "a") as log:
            # its own process group: a budget's SIGKILL reaches local Dask workers too
            proc = subprocess.Popen(
                cmd, env=_env(args.src), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                rc = proc.wait(timeout=left)
                killed = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
                killed = True
        segment |= {
            "seconds": round(time.perf_counter() - t0, 1),
            "returncode": rc,
            "killed": killed,
            "curves_after": checkpointed(out),
            "load_end": os.getloadavg(),
        }
        ledger["segments"].append(segment)
        if rc == 0:
            verdicts = pd.read_csv(out / "verdicts.csv")
            run_json = json.loads((out / "run.json").read_text())
            info |= {
                "finished": True,
                "verdicts": {str(k): int(v) for k, v in verdicts["verdict"].value_counts().sort_index().items()},
                "population": run_json.get("population", {}).get("method"),
            }
        elif not killed:
            info["error"] = (out / "fit.log").read_text()[-2000:]
        info["seconds"] = round(sum(s["seconds"] for s in ledger["segments"] if s["table"] == name), 1)
        info["segments"] = sum(1 for s in ledger["segments"] if s["table"] == name)
        write_json(LEDGER, ledger)
        print(
            f"{name}: rc {rc}{' (killed: budget spent)' if killed else ''}, "
            f"{segment['curves_after']} curves done, {segment['seconds']:.0f} s",
            flush=True,
        )
        if killed:
            break
    write_json(LEDGER, ledger)


def markdown(ledger: dict) -> str:
    tables, segments = ledger["tables"], ledger["segments"]
    rows = []
    total_curves = total_done = 0
    total_s = 0.0
    for name in ORDER:
        if name not in tables:
            continue
        t = tables[name]
        done = (
            t["curves"]
            if t.get("finished")
            else max((s["curves_after"] for s in segments if s["table"] == name), default=0)
        )
        total_curves += t["curves"]
        total_done += done
        total_s += t.get("seconds", 0.0)
        rate = f"{t['seconds'] / done:.2f}" if done else "n/a"
        status = (
            "finished"
            if t.get("finished")
            else ("failed" if t.get("error") else ("in progress" if t.get("segments") else "not started"))
        )
        verdicts = ", ".join(f"{k} {v}" for k, v in t.get("verdicts", {}).items()) or t.get("note", "")
        rows.append(
            f"| `{name}` | {t['axis']} | {t['curves']} | {done} | {status} | {t.get('segments', 0)} | "
            f"{t.get('seconds', 0.0):.0f} | {rate} | {verdicts} |"
        )
    # the rest: a table in progress at its own rate so far (once it has 50 curves), the others at the
    # corpus' rate so far (tables differ: pythia_checkpoints' long curves take ~1.5x the average)
    overall = total_s / max(total_done, 1)
    rest_s = 0.0
    for name in ORDER:
        t = tables.get(name)
        if t is None or t.get("finished"):
            continue
        done = max((s["curves_after"] for s in segments if s["table"] == name), default=0)
        own = t.get("seconds", 0.0) / done if done >= 50 else overall
        rest_s += (t["curves"] - done) * own
    rest_h = rest_s / 3600
    stamps = sorted({s["code_stamp"] for s in segments})
    cpus = sorted(
        {
            f"{s['machine_start']['nproc']} CPUs, {s['machine_start']['cpu']}"
            + (f" ({s['machine_start']['cpu_detail']})" if s["machine_start"].get("cpu_detail") else "")
            for s in segments
        }
    )
    workers = sorted({s.get("workers", 1) for s in segments})
    lines = [
        "## The whole bundled corpus, end to end",
        "",
        "`benchmarks/corpus.py`: every bundled table at its default axis, fitted by `phasefit fit dataset:NAME` in a "
        "fresh process per table and sitting (default spec), resumed from its checkpoints after each interruption "
        "(`--budget-min`: SIGKILL when a sitting's budget is spent). Time = the sum of the segments' wall times, "
        "interruptions included (the curve in flight is lost, the models compile again).",
        "",
        f"Segments: {len(segments)}, from {segments[0]['started'] if segments else '-'} to "
        f"{segments[-1]['started'] if segments else '-'}; code stamp(s): {', '.join(stamps) or '-'}; "
        f"machine(s): {'; '.join(cpus) or '-'}; `--workers`: {', '.join(map(str, workers)) or '-'} "
        "(1: one process).",
        "",
        "| table | axis | curves | done | status | segments | seconds | s per curve | verdicts |",
        "|---|---|---:|---:|---|---:|---:|---:|---|",
        *rows,
        "",
        f"Done: {total_done} of {total_curves} curves in {total_s / 3600:.2f} h"
        + (f" ({total_s / total_done:.2f} s per curve)" if total_done else "")
        + (
            "."
            if total_done == total_curves
            else f"; the rest takes about {rest_h:.1f} h more (a table in progress at its own rate so far, "
            "the others at the corpus' rate)."
        ),
        "",
        "Per segment (table: seconds, curves checkpointed before -> after, load average at the end):",
        "",
        *(
            f"- {s['started']} `{s['table']}`: {s['seconds']:.0f} s, {s['curves_before']} -> {s['curves_after']}"
            f"{', killed (budget)' if s['killed'] else ''}, rc {s['returncode']}, "
            f"load {', '.join(f'{v:.1f}' for v in s['load_end'])}"
            for s in segments
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
