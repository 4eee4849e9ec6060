"""Compile once, sample many: phasefit's `Sampler` against the loop a PyMC user writes today.

For the same real curves and the same two hypotheses ("smooth" and "breakpoint", each fitted on its
own: log weight 0 on it and `EXCLUDED` on the others), this runs

* naive:    for each curve and hypothesis, build a fresh PyMC model with the curve's data baked in
            and call `pm.sample(..., nuts_sampler="nutpie")`, which compiles the model on every call;
* phasefit: one `phasefit.inference.Sampler(spec)`: the model is compiled once per likelihood family,
            then every fit only swaps data (`CompiledModel.with_data`) and samples
            (`Sampler.sample`, i.e. exactly one sampling run per fit, no retries).

Both sides use the spec's sampler settings (4 chains, 1000 draws after 500 tuning steps,
target_accept 0.95 unless overridden) and run in separate subprocesses (this script re-invokes
itself with `--side naive` / `--side phasefit`) so each side's peak RSS is its own.

Inside each side `nutpie.compile_pymc_model` and `nutpie.sample` are wrapped with timers, so each
fit's wall time splits into compile, sampling, and the rest (model building / data swap / result
conversion).

    .venv/bin/python benchmarks/compile_once.py            # 50 curves, the full benchmark
    .venv/bin/python benchmarks/compile_once.py --quick    # 6 curves, 200 + 200 draws: smoke check

Writes `benchmarks/results/compile_once.json` and the "compile_once" section of
`benchmarks/RESULTS.md` (with `--quick`: `compile_once_quick.json`, and RESULTS.md is left alone
unless `--write-results` is given).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from _common import (
    RESULTS_DIR,
    RESULTS_MD,
    loadavg,
    machine,
    markers,
    naive_fit,
    now,
    rss_mib,
    versions,
    write_json,
    write_results_md,
)

FITS = ("smooth", "breakpoint")
START, END = markers("compile_once")


# --------------------------------------------------------------------------- curve selection


def select_curves(n: int):
    """Deterministic, real curves, all beta_binomial (one compiled model on the phasefit side).

    Pool A: every beta_binomial curve with >= 5 points of `obsscaling_emergent`, in curve order.
    Pool B: the beta_binomial curves of `pythia_suite` for family "Pythia", condition "0-shot",
    in curve order (8 points each, one per task). With n > len(A): all of A, then the first
    n - len(A) of B; otherwise ceil(n/2) of A and floor(n/2) of B.
    """
    import phasefit.data.datasets as ds
    from phasefit.data.curves import load_curves

    obs = [
        c for c in load_curves(ds.load("obsscaling_emergent")) if c.likelihood == "beta_binomial" and c.n_points >= 5
    ]
    py = [
        c
        for c in load_curves(ds.load("pythia_suite"))
        if c.likelihood == "beta_binomial" and c.family == "Pythia" and c.condition == "0-shot" and c.n_points >= 5
    ]
    n_obs = len(obs) if n > len(obs) else math.ceil(n / 2)
    n_py = n - n_obs
    if n_py > len(py):
        raise SystemExit(f"only {len(obs) + len(py)} curves available, asked for {n}")
    return [("obsscaling_emergent", c) for c in obs[:n_obs]] + [("pythia_suite", c) for c in py[:n_py]]


def curve_id(dataset: str, c) -> str:
    cond = f" [{c.condition}]" if c.condition else ""
    return f"{dataset}: {c.task} / {c.metric} / {c.family}{cond} ({c.n_points} pts)"


# ------------------------------------------------------------------------------- timing hooks


class Timers:
    """Wraps nutpie.compile_pymc_model and nutpie.sample; records the duration of each call."""

    def __init__(self):
        import nutpie

        self.compile: list[float] = []
        self.sample: list[float] = []
        self._orig_compile, self._orig_sample = nutpie.compile_pymc_model, nutpie.sample

        def compile_pymc_model(*a, **k):
            t0 = time.perf_counter()
            try:
                return self._orig_compile(*a, **k)
            finally:
                self.compile.append(time.perf_counter() - t0)

        def sample(*a, **k):
            t0 = time.perf_counter()
            try:
                return self._orig_sample(*a, **k)
            finally:
                self.sample.append(time.perf_counter() - t0)

        nutpie.compile_pymc_model = compile_pymc_model
        nutpie.sample = sample

    def take(self) -> tuple[float, float]:
        """Compile and sampling seconds since the last call."""
        c, s = sum(self.compile), sum(self.sample)
        self.compile.clear()
        self.sample.clear()
        return c, s


def summarise_fit(fit, draws, stats, spec) -> dict:
    from phasefit.inference.diagnostics import diagnose
    from phasefit.inference.sampler import _checked

    checked = _checked(draws)
    d = diagnose(checked, stats, spec, attempts=1)
    return {
        "rhat_max": d.rhat_max,
        "ess_bulk_min": d.ess_bulk_min,
        "ess_tail_min": d.ess_tail_min,
        "divergences": d.divergences,
        "treedepth_share": d.treedepth_share,
        "ok": d.ok,
        "reason": d.reason,
        "mean": {k: float(v.mean()) for k, v in checked.items()},
        "sd": {k: float(v.std()) for k, v in checked.items()},
    }


# ------------------------------------------------------------------------------------ the sides


def run_side(side: str, args) -> dict:
    warnings.filterwarnings("ignore")
    import logging

    import pymc as pm  # noqa: F401  (configures its logger on import; quieten it afterwards)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from phasefit.models.curve_model import curve_inputs
    from phasefit.models.spec import load_spec

    logging.getLogger("pymc").setLevel(logging.ERROR)
    t_start = time.perf_counter()
    spec = load_spec()
    s = spec.sampler
    chains, draws, tune, target_accept = s.chains, args.draws or s.draws, args.tune or s.tune, s.target_accept
    curves = select_curves(args.curves)
    timers = Timers()
    rss_after_import = rss_mib()
    console = Console(stderr=True)
    calls: list[dict] = []
    setup: dict = {}

    if side == "phasefit":
        from phasefit.inference.sampler import Sampler

        t0 = time.perf_counter()
        sampler = Sampler(spec)
        for fit in FITS:  # one compiled model per hypothesis, once
            sampler.compiled("beta_binomial", fit)
        setup = {
            "compile_seconds": sum(sampler.compile_seconds.values()),
            "setup_seconds": time.perf_counter() - t0,
            "nutpie_compile_seconds": timers.take()[0],
        }

    with Progress(
        TextColumn(f"[bold]{side:8s}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=len(curves) * len(FITS))
        for i, (_dataset, curve) in enumerate(curves):
            for j, fit in enumerate(FITS):
                seed = s.seed + 1000 * i + j
                progress.update(task, description=f"curve {i + 1}: {curve.task[:30]} / {fit}")
                t0 = time.perf_counter()
                if side == "naive":
                    # what a user writes today: a fresh model with this curve's data, then pm.sample
                    out, stats, sampled = naive_fit(
                        fit, curve, spec, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept
                    )
                    wall = sampled - t0
                else:
                    out, stats = sampler.sample(
                        curve_inputs(curve, spec), fit, seed=seed, target_accept=target_accept, tune=tune, draws=draws
                    )
                    wall = time.perf_counter() - t0
                comp, samp = timers.take()
                rec = {
                    "curve": i,
                    "fit": fit,
                    "wall": wall,
                    "compile": comp,
                    "sample": samp,
                    "other": wall - comp - samp,
                    **summarise_fit(fit, out, stats, spec),
                }
                calls.append(rec)
                progress.advance(task)
            c = [r for r in calls if r["curve"] == i]
            comp, samp = sum(r["compile"] for r in c), sum(r["sample"] for r in c)
            progress.console.log(
                f"{side} curve {i + 1}/{len(curves)}: {sum(r['wall'] for r in c):.2f} s "
                f"(compile {comp:.2f}, sample {samp:.2f}) rss {rss_mib():.0f} MiB"
            )
    return {
        "side": side,
        "calls": calls,
        "setup": setup,
        "pid": os.getpid(),
        "total_seconds": time.perf_counter() - t_start,
        "loop_seconds": sum(r["wall"] for r in calls),
        "peak_rss_mib": rss_mib(),
        "rss_after_import_mib": rss_after_import,
        "settings": {
            "chains": chains,
            "draws": draws,
            "tune": tune,
            "target_accept": target_accept,
            "cores": chains,
            "backend": "nutpie/numba",
        },
        "curves": [curve_id(d, c) for d, c in curves],
        "loadavg_end": loadavg(),
    }


# ------------------------------------------------------------------------------------- reporting


def side_summary(res: dict, n_curves: int) -> dict:
    calls = res["calls"]
    per_curve = [sum(r["wall"] for r in calls if r["curve"] == i) for i in range(n_curves)]
    compile_once = res["setup"].get("compile_seconds", 0.0)
    by_fit = {}
    for fit in FITS:
        fc = [r for r in calls if r["fit"] == fit]
        by_fit[fit] = {
            "rhat_max": max(r["rhat_max"] for r in fc),
            "rhat_median": float(np.median([r["rhat_max"] for r in fc])),
            "divergences_total": sum(r["divergences"] for r in fc),
            "fits_with_divergences": sum(r["divergences"] > 0 for r in fc),
            "ess_bulk_min": min(r["ess_bulk_min"] for r in fc),
            "failing_checks": sum(not r["ok"] for r in fc),
        }
    return {
        "n_calls": len(calls),
        "per_call_wall_mean": float(np.mean([r["wall"] for r in calls])),
        "per_call_compile_mean": float(np.mean([r["compile"] for r in calls])),
        "per_call_sample_mean": float(np.mean([r["sample"] for r in calls])),
        "per_call_other_mean": float(np.mean([r["other"] for r in calls])),
        "per_curve_loop_mean": float(np.mean(per_curve)),
        "per_curve_loop_median": float(np.median(per_curve)),
        "compile_once_seconds": compile_once,
        "per_curve_amortised": (sum(per_curve) + compile_once) / n_curves,
        "loop_seconds": sum(per_curve),
        "peak_rss_mib": res["peak_rss_mib"],
        "by_fit": by_fit,
    }


def agreement(naive: dict, fast: dict) -> dict:
    """|posterior mean difference| / posterior sd (naive), over the checked parameters of every fit."""
    z = []
    for a, b in zip(naive["calls"], fast["calls"], strict=True):
        for k in a["mean"]:
            sd = max(a["sd"][k], 1e-12)
            z.append(abs(a["mean"][k] - b["mean"][k]) / sd)
    z = np.asarray(z)
    return {"n": int(z.size), "median": float(np.median(z)), "p95": float(np.quantile(z, 0.95)), "max": float(z.max())}


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    n, f = report["summary"]["naive"], report["summary"]["phasefit"]
    t = Table(title=f"compile once vs. compile per fit: {report['n_curves']} curves x {len(FITS)} hypotheses")
    t.add_column("")
    t.add_column("naive pm.sample", justify="right")
    t.add_column("phasefit Sampler", justify="right")
    rows = [
        ("compile, once (s)", "-", f"{f['compile_once_seconds']:.2f}"),
        ("per fit: wall (s)", f"{n['per_call_wall_mean']:.2f}", f"{f['per_call_wall_mean']:.3f}"),
        ("per fit: compile (s)", f"{n['per_call_compile_mean']:.2f}", f"{f['per_call_compile_mean']:.3f}"),
        ("per fit: sampling (s)", f"{n['per_call_sample_mean']:.2f}", f"{f['per_call_sample_mean']:.3f}"),
        ("per fit: other (s)", f"{n['per_call_other_mean']:.2f}", f"{f['per_call_other_mean']:.3f}"),
        ("per curve, loop only (s)", f"{n['per_curve_loop_mean']:.2f}", f"{f['per_curve_loop_mean']:.3f}"),
        ("per curve, compile amortised (s)", f"{n['per_curve_amortised']:.2f}", f"{f['per_curve_amortised']:.3f}"),
        ("total loop (s)", f"{n['loop_seconds']:.1f}", f"{f['loop_seconds']:.1f}"),
        ("peak RSS (MiB)", f"{n['peak_rss_mib']:.0f}", f"{f['peak_rss_mib']:.0f}"),
    ]
    for fit in FITS:
        a, b = n["by_fit"][fit], f["by_fit"][fit]
        rows += [
            (
                f"{fit}: R-hat max / median",
                f"{a['rhat_max']:.3f} / {a['rhat_median']:.3f}",
                f"{b['rhat_max']:.3f} / {b['rhat_median']:.3f}",
            ),
            (
                f"{fit}: divergences (fits with any)",
                f"{a['divergences_total']} ({a['fits_with_divergences']})",
                f"{b['divergences_total']} ({b['fits_with_divergences']})",
            ),
            (f"{fit}: fits failing checks", str(a["failing_checks"]), str(b["failing_checks"])),
        ]
    for r in rows:
        t.add_row(*r)
    c = Console()
    c.print(t)
    s = report["speedup"]
    c.print(
        f"speed-up per curve (compile amortised over {report['n_curves']} curves): "
        f"[bold]{s['amortised']:.1f}x[/bold]; steady state (loop only): {s['steady_state']:.1f}x"
    )


def markdown(report: dict) -> str:
    m, v, st = report["machine"], report["versions"], report["settings"]
    n, f, s = report["summary"]["naive"], report["summary"]["phasefit"], report["speedup"]
    ag = report["agreement"]
    lines = [
        START,
        "## compile_once: compile once vs. compile per fit",
        "",
        f"Run {report['date']} with `{report['command']}`.",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['affinity']} usable), {m['cpu']}, {m['ram']} RAM; "
        f"Python {m['python']}. Load average before / after: "
        f"{' '.join(f'{x:.2f}' for x in report['loadavg_start'])} / "
        f"{' '.join(f'{x:.2f}' for x in report['loadavg_end'])}.",
        "  The machine is shared: other work ran concurrently, so absolute times are noisy; both "
        "sides ran one after the other in the same run (naive first).",
        f"- Versions: pymc {v['pymc']}, nutpie {v['nutpie']}, pytensor {v['pytensor']}, numpy {v['numpy']}, "
        f"numba {v['numba']}.",
        f"- Settings (both sides): nutpie numba backend, {st['chains']} chains (cores={st['cores']}), "
        f"{st['draws']} draws after {st['tune']} tuning steps, target_accept {st['target_accept']}; "
        f"one sampling run per (curve, hypothesis), no retries.",
        f"- Curves: {report['n_curves']} real beta-binomial curves (see `benchmarks/results/"
        f"{report['json_name']}` for the list) x hypotheses {', '.join(FITS)} = {n['n_calls']} fits per side.",
        "",
        "| | naive `pm.sample` per fit | phasefit `Sampler` |",
        "|---|---:|---:|",
        f"| compile, once (s) | - | {f['compile_once_seconds']:.2f} |",
        f"| per fit: wall (s) | {n['per_call_wall_mean']:.2f} | {f['per_call_wall_mean']:.3f} |",
        f"| per fit: compile (s) | {n['per_call_compile_mean']:.2f} | {f['per_call_compile_mean']:.3f} |",
        f"| per fit: sampling (s) | {n['per_call_sample_mean']:.2f} | {f['per_call_sample_mean']:.3f} |",
        f"| per fit: other: model build / data swap / conversion (s) | {n['per_call_other_mean']:.2f} | "
        f"{f['per_call_other_mean']:.3f} |",
        f"| per curve (2 fits), loop only (s) | {n['per_curve_loop_mean']:.2f} | {f['per_curve_loop_mean']:.3f} |",
        f"| per curve, compile amortised (s) | {n['per_curve_amortised']:.2f} | {f['per_curve_amortised']:.3f} |",
        f"| total (s) | {n['loop_seconds']:.1f} | {f['loop_seconds'] + f['compile_once_seconds']:.1f} |",
        f"| peak RSS (MiB) | {n['peak_rss_mib']:.0f} | {f['peak_rss_mib']:.0f} |",
    ]
    for fit in FITS:
        a, b = n["by_fit"][fit], f["by_fit"][fit]
        lines += [
            f"| {fit}: R-hat max / median | {a['rhat_max']:.3f} / {a['rhat_median']:.3f} | "
            f"{b['rhat_max']:.3f} / {b['rhat_median']:.3f} |",
            f"| {fit}: divergences (fits with any) | {a['divergences_total']} ({a['fits_with_divergences']}) | "
            f"{b['divergences_total']} ({b['fits_with_divergences']}) |",
            f"| {fit}: fits failing phasefit's checks | {a['failing_checks']} | {b['failing_checks']} |",
        ]
    lines += [
        "",
        f"**Speed-up per curve: {s['amortised']:.1f}x** (naive per-curve time / phasefit per-curve time with "
        f"its one compile amortised over the {report['n_curves']} curves); steady state, compile excluded: "
        f"{s['steady_state']:.1f}x. Naive compile alone (`nutpie.compile_pymc_model`, timed inside "
        f"`pm.sample`) is {n['per_call_compile_mean']:.2f} s of each {n['per_call_wall_mean']:.2f} s fit.",
        "",
        f"Equivalence: |posterior mean difference| / posterior sd over the {ag['n']} checked "
        f"(fit, parameter) pairs: median {ag['median']:.3f}, 95th percentile {ag['p95']:.3f}, max {ag['max']:.3f} "
        "(both sides sample the same model with different seeds, so differences are Monte Carlo noise).",
    ]
    lines += [
        "",
        "<details><summary>Per-curve wall time (s), smooth + breakpoint fit</summary>",
        "",
        "| # | curve | naive | of which compile | phasefit | of which sampling |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for k, row in enumerate(report["per_curve"]):
        a, b = row["naive"], row["phasefit"]
        lines.append(
            f"| {k + 1} | {row['curve']} | {sum(a[x]['wall'] for x in FITS):.2f} | "
            f"{sum(a[x]['compile'] for x in FITS):.2f} | {sum(b[x]['wall'] for x in FITS):.3f} | "
            f"{sum(b[x]['sample'] for x in FITS):.3f} |"
        )
    lines += ["", "</details>"]
    if report.get("notes"):
        lines += ["", *report["notes"]]
    lines += [END, ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--curves", type=int, default=None, help="number of curves (default 50; --quick: 6)")
    p.add_argument("--draws", type=int, default=None, help="draws per chain (default: the spec's, 1000)")
    p.add_argument("--tune", type=int, default=None, help="tuning steps per chain (default: the spec's, 500)")
    p.add_argument("--quick", action="store_true", help="smoke check: 6 curves, 200 draws, 200 tuning steps")
    p.add_argument("--write-results", action="store_true", help="with --quick: still update RESULTS.md")
    p.add_argument("--side", choices=("naive", "phasefit"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.curves = args.curves or 6
        args.draws = args.draws or 200
        args.tune = args.tune or 200
    args.curves = args.curves or 50

    if args.side:  # child process: one side, JSON to --out
        res = run_side(args.side, args)
        Path(args.out).write_text(json.dumps(res))
        return 0

    curves = select_curves(args.curves)
    print(f"{len(curves)} curves:")
    for k, (d, c) in enumerate(curves):
        print(f"  {k + 1:3d}. {curve_id(d, c)}")
    sys.stdout.flush()
    loadavg_start = loadavg()
    results = {}
    passthrough = ["--curves", str(args.curves)]
    for opt in ("draws", "tune"):
        if getattr(args, opt):
            passthrough += [f"--{opt}", str(getattr(args, opt))]
    with tempfile.TemporaryDirectory() as tmp:
        for side in ("naive", "phasefit"):
            out = Path(tmp) / f"{side}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--side", side, "--out", str(out), *passthrough]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True)
            results[side] = json.loads(out.read_text())
            results[side]["process_seconds"] = time.perf_counter() - t0

    n_curves = len(curves)
    summary = {side: side_summary(results[side], n_curves) for side in results}
    n, f = summary["naive"], summary["phasefit"]
    json_name = "compile_once_quick.json" if args.quick else "compile_once.json"
    command = "benchmarks/compile_once.py " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
    report = {
        "date": now(),
        "command": command.strip(),
        "machine": machine(),
        "versions": versions(),
        "settings": results["phasefit"]["settings"],
        "n_curves": n_curves,
        "curves": results["phasefit"]["curves"],
        "json_name": json_name,
        "loadavg_start": loadavg_start,
        "loadavg_end": loadavg(),
        "summary": summary,
        "speedup": {
            "amortised": n["per_curve_amortised"] / f["per_curve_amortised"],
            "steady_state": n["per_curve_loop_mean"] / f["per_curve_loop_mean"],
        },
        "agreement": agreement(results["naive"], results["phasefit"]),
        "per_curve": [
            {
                "curve": results["phasefit"]["curves"][i],
                **{
                    side: {
                        fit: {
                            k: r[k]
                            for k in (
                                "wall",
                                "compile",
                                "sample",
                                "other",
                                "rhat_max",
                                "divergences",
                                "ess_bulk_min",
                                "ok",
                            )
                        }
                        for fit in FITS
                        for r in results[side]["calls"]
                        if r["curve"] == i and r["fit"] == fit
                    }
                    for side in results
                },
            }
            for i in range(n_curves)
        ],
        "raw": {side: {k: v for k, v in results[side].items() if k != "calls"} for side in results},
    }
    write_json(RESULTS_DIR / json_name, report, indent=1)
    print_table(report)
    if not args.quick or args.write_results:
        write_results_md(markdown(report), START, END)
        print(f"wrote {RESULTS_DIR / json_name} and {RESULTS_MD}")
    else:
        print(f"wrote {RESULTS_DIR / json_name} (RESULTS.md untouched: --quick)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
