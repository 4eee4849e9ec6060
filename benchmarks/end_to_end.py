"""End to end: `phasefit.fit` on simulated curves against the loop a PyMC user writes instead.

For the same simulated curves (`phasefit.models.simulate.simulation_suite(n, seed)`), in one run and
one after the other (phasefit with cold caches, phasefit with warm caches, then naive), each side in a
fresh subprocess of its own (this script re-invokes itself with `--side ...`, so each side's peak RSS
is its own and neither reuses the other's compiled code in memory). phasefit runs twice in one new,
empty PyTensor compile directory: first cold (the first run after installing: PyTensor's numba code
and phasefit's stored nutpie callbacks are compiled and written), then warm (every later run on the
machine); the warm run is the headline, the cold one is reported beside it:

* phasefit: `phasefit.fit(curves, seed=seed, progress=False)` with the defaults a user gets (the
            default spec: three hypotheses with retries, marginal likelihoods, LOO, leave-future-out,
            the population stage, the verdict tables), timed end to end including compilation;
* naive:    for each curve and each of the hypotheses "smooth" and "breakpoint", a fresh PyMC model
            with the curve's data (`build_model(..., template=curve_inputs(curve, spec))`) and
            `pm.sample(..., nuts_sampler="nutpie")`, which compiles the model on every call (the loop
            of benchmarks/compile_once.py): two posterior samples per curve, no evidence, no verdict.

The ratio is naive seconds per curve / phasefit seconds per curve. The naive side does much less
work per curve, so the ratio understates phasefit's advantage per unit of work. The issue's targets
are checked: ratio >= 20 at 100 curves, and 1,000 curves in <= 10 minutes (extrapolated linearly from
the measured run unless 1,000 curves were run, and labelled so).

    .venv/bin/python benchmarks/end_to_end.py                     # 100 curves, ~30 min on 2 cores
    .venv/bin/python benchmarks/end_to_end.py --naive-curves 30   # naive loop timed on the first 30
    .venv/bin/python benchmarks/end_to_end.py --quick             # 6 curves, 200 + 200 draws: smoke

Writes `benchmarks/results/end_to_end.json` and the "end_to_end" section of `benchmarks/RESULTS.md`
(with `--quick`: `end_to_end_quick.json`, and RESULTS.md is left alone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from _common import (
    RESULTS_DIR,
    RESULTS_MD,
    fmt_value,
    git_state,
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
START, END = markers("end_to_end")
DEFAULT_CURVES = 100
DEFAULT_SEED = 20221  # the default spec's sampler seed: `fit(seed=DEFAULT_SEED)` is what a user gets
QUICK = {"curves": 6, "draws": 200, "tune": 200}

#: the issue's targets
TARGET_RATIO = 20.0
TARGET_CURVES = 1000
TARGET_SECONDS = 600.0


# ------------------------------------------------------------------------------------ the curves


def make_curves(n: int, seed: int):
    """The simulated curves (and the truth table): the same for both sides."""
    import phasefit
    from phasefit.models.simulate import simulation_suite

    table, truth = simulation_suite(n, seed=seed)
    return phasefit.load_curves(table, name="end-to-end"), truth


# ------------------------------------------------------------------------------------ timing hooks


class NutpieTimers:
    """Wraps nutpie.compile_pymc_model and nutpie.sample: the number and duration of each call, and
    the draws each sampling run asked for (both sides reach nutpie through these module attributes)."""

    def __init__(self):
        import nutpie

        self.compile: list[float] = []
        self.sample: list[float] = []
        self.draws: list[int] = []
        orig_compile, orig_sample = nutpie.compile_pymc_model, nutpie.sample

        def compile_pymc_model(*a, **k):
            t0 = time.perf_counter()
            try:
                return orig_compile(*a, **k)
            finally:
                self.compile.append(time.perf_counter() - t0)

        def sample(*a, **k):
            t0 = time.perf_counter()
            try:
                return orig_sample(*a, **k)
            finally:
                self.sample.append(time.perf_counter() - t0)
                self.draws.append(int(k.get("draws", 0)) * int(k.get("chains", 1)))

        nutpie.compile_pymc_model = compile_pymc_model
        nutpie.sample = sample

    def totals(self) -> dict:
        return {
            "compile_calls": len(self.compile),
            "compile_seconds": sum(self.compile),
            "sample_calls": len(self.sample),
            "sample_seconds": sum(self.sample),
            "draws_total": sum(self.draws),
        }


class StageTimers:
    """Wraps `analyse_curve` and `fit_population` where `phasefit.analyses.fit.analyse_curves` looks
    them up, so the end-to-end time of `phasefit.fit` splits into the curve stage, the population
    stage and the rest (prior sensitivity, tables, DataTree). Timing only: arguments and results are
    passed through unchanged."""

    def __init__(self, log_every: int = 10):
        import phasefit.analyses.fit as fit_module

        self.curves: list[float] = []
        self.rows: list[dict] = []  # per curve: its sampling attempts and LOO refits
        self.population: list[float] = []
        orig_curve, orig_population = fit_module.analyse_curve, fit_module.fit_population
        t_start = time.perf_counter()

        def analyse_curve(*a, **k):
            t0 = time.perf_counter()
            result = orig_curve(*a, **k)
            self.curves.append(time.perf_counter() - t0)
            self.rows.append({key: result.row.get(key) for key in ("verdict", "attempts", "loo_refits")})
            if len(self.curves) % log_every == 0:
                elapsed = time.perf_counter() - t_start
                log(f"phasefit: {len(self.curves)} curves, {elapsed:.0f} s, rss {rss_mib():.0f} MiB")
            return result

        def fit_population(*a, **k):
            t0 = time.perf_counter()
            try:
                return orig_population(*a, **k)
            finally:
                self.population.append(time.perf_counter() - t0)

        fit_module.analyse_curve = analyse_curve
        fit_module.fit_population = fit_population


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------ the sides


def run_phasefit(args) -> dict:
    t_start = time.perf_counter()
    import phasefit

    import_seconds = time.perf_counter() - t_start
    t0 = time.perf_counter()
    curves, _truth = make_curves(args.curves, args.seed)
    data_seconds = time.perf_counter() - t0
    nut, stages = NutpieTimers(), StageTimers()
    options = {k: getattr(args, k) for k in ("draws", "tune") if getattr(args, k)}
    t0 = time.perf_counter()
    analysis = phasefit.fit(curves, seed=args.seed, progress=False, **options)
    total = time.perf_counter() - t0
    run = analysis.run
    compile_seconds = float(sum(run.get("compile_seconds", {}).values()))
    from phasefit.inference.sampler import _COMPILED

    callbacks = [f for m in _COMPILED.values() for f in (m.compiled_logp_func, m.compiled_expand_func)]
    loaded = sum(getattr(f, "_cache_hits", 0) > 0 for f in callbacks)
    curve_stage = float(sum(stages.curves))
    population = float(sum(stages.population)) if stages.population else None
    verdicts = analysis.verdicts
    spec = run["spec"]["sampler"]
    return {
        "side": "phasefit",
        "n_curves": len(curves),
        "total_seconds": total,
        "import_seconds": import_seconds,
        "data_seconds": data_seconds,
        "compile_seconds": compile_seconds,
        "compile_seconds_by_model": run.get("compile_seconds", {}),
        "callbacks_loaded_from_disk": loaded,
        "callbacks": len(callbacks),
        "curve_fits_seconds": curve_stage - compile_seconds,
        "curve_seconds": stages.curves,
        "population_seconds": population,
        "population_run": run.get("population"),
        "rest_seconds": total - curve_stage - (population or 0.0),
        "run_seconds": run.get("seconds"),
        "nutpie": nut.totals(),
        "verdicts": dict(Counter(verdicts["verdict"])),
        "curves_with_retries": sum((r["attempts"] or 1) > 1 for r in stages.rows),
        "loo_refits": sum(r["loo_refits"] or 0 for r in stages.rows),
        "peak_rss_mib": rss_mib(),
        "pid": os.getpid(),
        "settings": {k: spec[k] for k in ("backend", "chains", "draws", "tune", "target_accept", "seed")},
        "hypotheses": [h["name"] for h in run["spec"]["hypotheses"]],
        "loadavg_end": loadavg(),
    }


def run_naive(args) -> dict:
    warnings.filterwarnings("ignore")
    t_start = time.perf_counter()
    import logging

    import pymc  # noqa: F401  (imported here, so that its import time is not counted in the first fit)

    from phasefit.models.curve_model import curve_inputs  # noqa: F401  (likewise: naive_fit imports it)
    from phasefit.models.spec import load_spec

    from compile_once import summarise_fit

    logging.getLogger("pymc").setLevel(logging.ERROR)
    import_seconds = time.perf_counter() - t_start
    spec = load_spec()
    s = spec.sampler
    chains, draws, tune, target_accept = s.chains, args.draws or s.draws, args.tune or s.tune, s.target_accept
    t0 = time.perf_counter()
    curves, _truth = make_curves(args.curves, args.seed)
    data_seconds = time.perf_counter() - t0
    todo = list(curves)[: args.naive_curves] if args.naive_curves else list(curves)
    nut = NutpieTimers()
    calls: list[dict] = []
    t_loop = time.perf_counter()
    for i, curve in enumerate(todo):
        t_curve = time.perf_counter()
        for j, fit in enumerate(FITS):
            t0 = time.perf_counter()
            c0, s0 = sum(nut.compile), sum(nut.sample)
            # what a user writes today: a fresh model with this curve's data, then pm.sample
            out, stats, sampled = naive_fit(
                fit,
                curve,
                spec,
                draws=draws,
                tune=tune,
                chains=chains,
                seed=args.seed + 1000 * i + j,
                target_accept=target_accept,
            )
            wall = sampled - t0
            d = summarise_fit(fit, out, stats, spec)
            calls.append(
                {
                    "curve": i,
                    "fit": fit,
                    "likelihood": curve.likelihood,
                    "wall": wall,
                    "compile": sum(nut.compile) - c0,
                    "sample": sum(nut.sample) - s0,
                    **{k: d[k] for k in ("rhat_max", "divergences", "ok")},
                }
            )
        log(
            f"naive curve {i + 1}/{len(todo)}: {time.perf_counter() - t_curve:.2f} s, "
            f"{time.perf_counter() - t_loop:.0f} s so far, rss {rss_mib():.0f} MiB"
        )
    total = time.perf_counter() - t_loop
    return {
        "side": "naive",
        "n_curves": len(todo),
        "n_curves_suite": len(curves),
        "prefix": len(todo) < len(curves),
        "total_seconds": total,
        "import_seconds": import_seconds,
        "data_seconds": data_seconds,
        "compile_seconds": sum(c["compile"] for c in calls),
        "sample_seconds": sum(c["sample"] for c in calls),
        "per_fit_wall_mean": float(np.mean([c["wall"] for c in calls])) if calls else None,
        "per_fit_compile_mean": float(np.mean([c["compile"] for c in calls])) if calls else None,
        "fits_failing_checks": sum(not c["ok"] for c in calls),
        "fits_with_divergences": sum(c["divergences"] > 0 for c in calls),
        "nutpie": nut.totals(),
        "calls": calls,
        "peak_rss_mib": rss_mib(),
        "pid": os.getpid(),
        "settings": {
            "backend": "nutpie/numba via pm.sample",
            "chains": chains,
            "cores": chains,
            "draws": draws,
            "tune": tune,
            "target_accept": target_accept,
            "seed": args.seed,
        },
        "loadavg_end": loadavg(),
    }


# ------------------------------------------------------------------------------------- the numbers


def per_curve(seconds: float, n_curves: int) -> float:
    """Seconds per curve (NaN for no curves)."""
    return seconds / n_curves if n_curves else float("nan")


def extrapolate(total: float, n_curves: int, to: int, *, fixed: float = 0.0) -> float:
    """Seconds for `to` curves from a run of `n_curves` that took `total`: the `fixed` part (paid once,
    e.g. phasefit's compile) plus the rest scaled linearly with the number of curves."""
    return fixed + (total - fixed) * to / n_curves


def compare(
    phasefit: dict,
    naive: dict,
    *,
    target_ratio: float = TARGET_RATIO,
    target_curves: int = TARGET_CURVES,
    target_seconds: float = TARGET_SECONDS,
) -> dict:
    """Per-curve seconds, the ratio naive / phasefit, and the issue's two targets.

    `phasefit` and `naive` need `total_seconds` and `n_curves` (phasefit also `compile_seconds`, its
    one-off cost). 1,000 curves: phasefit's compile once plus the rest linear in the curves (the curve
    stage is per curve; the population stage grew ~linearly, 16 s at 300 curves, 34 s at 600), the
    naive loop linear (it compiles on every fit); measured, not extrapolated, when `target_curves`
    curves were run.
    """
    pf = per_curve(phasefit["total_seconds"], phasefit["n_curves"])
    nv = per_curve(naive["total_seconds"], naive["n_curves"])
    ratio = nv / pf
    pf_k = extrapolate(
        phasefit["total_seconds"], phasefit["n_curves"], target_curves, fixed=phasefit.get("compile_seconds") or 0.0
    )
    nv_k = extrapolate(naive["total_seconds"], naive["n_curves"], target_curves)
    return {
        "phasefit_seconds_per_curve": pf,
        "naive_seconds_per_curve": nv,
        "ratio_per_curve": ratio,
        "naive_is_prefix": naive["n_curves"] < phasefit["n_curves"],
        "targets": {
            "ratio": {"target": f">= {target_ratio:g}", "measured": ratio, "met": bool(ratio >= target_ratio)},
            "curves_1000": {
                "target": f"{target_curves} curves in <= {target_seconds:g} s",
                "extrapolated": phasefit["n_curves"] != target_curves,
                "method": (
                    f"linear from {phasefit['n_curves']} curves: compile once + (end-to-end time - compile) "
                    f"x {target_curves} / {phasefit['n_curves']}"
                    if phasefit["n_curves"] != target_curves
                    else "measured"
                ),
                "phasefit_seconds": pf_k,
                "naive_seconds": nv_k,
                "naive_method": f"linear from {naive['n_curves']} curves (naive seconds per curve x {target_curves})",
                "met": bool(pf_k <= target_seconds),
            },
        },
    }


# ------------------------------------------------------------------------------------- reporting


def _s(v, fmt: str = "{:.1f}") -> str:
    return fmt_value(v, fmt)


def markdown(report: dict) -> str:
    """The RESULTS.md section (markers included) of a finished report."""
    m, v, st = report["machine"], report["versions"], report["settings"]
    pf, nv, c = report["phasefit"], report["naive"], report["comparison"]
    cold, cc = report.get("phasefit_cold"), report.get("comparison_cold")
    t1k = c["targets"]["curves_1000"]
    n = pf["n_curves"]
    naive_curves = f"{nv['n_curves']} (first {nv['n_curves']} of {n})" if c["naive_is_prefix"] else str(nv["n_curves"])
    runs_pf = pf["nutpie"]["sample_calls"] / n
    runs_nv = nv["nutpie"]["sample_calls"] / nv["n_curves"]
    draws_pf = pf["nutpie"]["draws_total"] / n
    draws_nv = nv["nutpie"]["draws_total"] / nv["n_curves"]
    verdicts = ", ".join(f"{k} {v_}" for k, v_ in sorted(pf["verdicts"].items()))
    label_1k = "extrapolated" if t1k["extrapolated"] else "measured"
    lines = [
        START,
        "## end_to_end: `phasefit fit` vs the naive loop, end to end",
        "",
        f"Run {report['date']} with `{report['command']}` (commit {report['git']['commit'][:10]}"
        + (f", uncommitted: {', '.join(report['git']['uncommitted_src'])}" if report["git"]["uncommitted_src"] else "")
        + ").",
        "",
        "| | naive loop | phasefit fit |",
        "|---|---:|---:|",
        f"| curves timed | {naive_curves} | {n} |",
        f"| end-to-end time (s) | {_s(nv['total_seconds'])} | {_s(pf['total_seconds'])} |",
        f"| **seconds per curve** | **{_s(c['naive_seconds_per_curve'], '{:.2f}')}** | "
        f"**{_s(c['phasefit_seconds_per_curve'], '{:.2f}')}** |",
        f"| compile (s) | {_s(nv['compile_seconds'])} (every fit, {_s(nv['per_fit_compile_mean'], '{:.2f}')} each) | "
        f"{_s(pf['compile_seconds'])} (once per model) |",
        f"| curve fits, compile excluded (s) | {_s(nv['total_seconds'] - nv['compile_seconds'])} | "
        f"{_s(pf['curve_fits_seconds'])} |",
        f"| of which sampling, `nutpie.sample` (s) | {_s(nv['nutpie']['sample_seconds'])} | "
        f"{_s(pf['nutpie']['sample_seconds'])} |",
        f"| population stage (s) | - | {_s(pf['population_seconds'])} |",
        f"| prior sensitivity, tables, DataTree (s) | - | {_s(pf['rest_seconds'])} |",
        f"| sampling runs per curve | {runs_nv:.1f} | {runs_pf:.1f} |",
        f"| posterior draws sampled per curve | {draws_nv:.0f} | {draws_pf:.0f} |",
        f"| peak RSS (MiB) | {_s(nv['peak_rss_mib'], '{:.0f}')} | {_s(pf['peak_rss_mib'], '{:.0f}')} |",
        f"| {TARGET_CURVES:,} curves, {label_1k} (min) | {_s(t1k['naive_seconds'] / 60)} | "
        f"{_s(t1k['phasefit_seconds'] / 60)} |",
        *(
            [
                f"| compiled code loaded from disk | - | {pf.get('callbacks_loaded_from_disk', '-')} of "
                f"{pf.get('callbacks', '-')} nutpie callbacks |",
                f"| *cold caches (first run on a machine):* end-to-end (s) | - | {_s(cold['total_seconds'])} |",
                f"| *cold caches:* compile / population stage (s) | - | {_s(cold['compile_seconds'])} / "
                f"{_s(cold['population_seconds'])} |",
            ]
            if cold
            else []
        ),
        "",
        f"**Ratio naive / phasefit per curve: {c['ratio_per_curve']:.1f}x** (the issue's target: >= "
        f"{TARGET_RATIO:g}x, {'met' if c['targets']['ratio']['met'] else 'not met'}). "
        f"**{TARGET_CURVES:,} curves with phasefit: {t1k['phasefit_seconds'] / 60:.1f} min, {label_1k}** "
        f"(target <= {TARGET_SECONDS / 60:g} min, {'met' if t1k['met'] else 'not met'}"
        + (f"; {t1k['method']}" if t1k["extrapolated"] else "")
        + ")."
        + (
            f" With cold caches (the first run after installing, everything compiled and stored): "
            f"{cold['total_seconds']:.1f} s for {n} curves, {cc['ratio_per_curve']:.1f}x (compile "
            f"{cold['compile_seconds']:.1f} s; population stage {_s(cold['population_seconds'])} s against "
            f"{_s(pf['population_seconds'])} s warm, the difference PyTensor compiling its C code once): "
            "one-off costs, so no 1,000-curve figure is extrapolated from it."
            if cold
            else ""
        ),
        "",
        f"Measured: {n} simulated curves (`simulation_suite({n}, seed={st['seed']})`: absent, smooth and "
        f"breakpoint truths in rotation, 5-10 points, beta-binomial counts), each side in a fresh "
        f"subprocess one after the other in the same run (phasefit with cold caches: an empty PyTensor "
        f"`base_compiledir`, so PyTensor's numba code and phasefit's stored nutpie callbacks are compiled "
        f"and stored; phasefit again in the same directory, now warm, as every later run on a machine: "
        f"the headline column; then naive, with the user's caches), timed from the first "
        f"model build to the last result with imports and data loading left out "
        f"({_s(pf['import_seconds'])} s and {_s(nv['import_seconds'])} s of imports), peak RSS per "
        f"process. Machine: {m['nproc']} CPUs ({m['affinity']} usable), {m['cpu']}, {m['ram']} RAM, "
        f"Python {m['python']}; pymc {v['pymc']}, nutpie {v['nutpie']}, pytensor {v['pytensor']}, numba "
        f"{v['numba']}. Load average (1, 5, 15 min) at the start "
        f"{' '.join(f'{x:.2f}' for x in report['loadavg_start'])}, at the end "
        f"{' '.join(f'{x:.2f}' for x in report['loadavg_end'])}: the machine is shared, so absolute "
        f"times are noisy; compare only within this run. Both sides sample with nutpie's numba backend, "
        f"{st['chains']} chains on {st['chains']} threads, {st['draws']} draws after {st['tune']} tuning "
        f"steps, target_accept {st['target_accept']} (phasefit: where a fit needs NUTS; by default each "
        f"posterior is drawn by importance sampling from a shorter NUTS pilot, `[sampler] method = "
        f'"importance"`). *phasefit* is `phasefit.fit(curves, '
        f"seed={st['seed']}, progress=False)` with the default spec, i.e. what a user gets: per curve all "
        f"three hypotheses (absent, smooth, breakpoint; retries where a fit fails its checks), their "
        f"marginal likelihoods, LOO (points with a high Pareto k scored exactly: by importance sampling, "
        f"by a NUTS refit where that is unreliable), leave-future-out (the same), then the "
        f"population stage and the verdict tables (verdicts: {verdicts}); each hypothesis model is "
        f"compiled once and the curves' data swapped in. *naive* is one `pm.sample(..., "
        f'nuts_sampler="nutpie")` per curve and hypothesis for smooth and breakpoint only, on a fresh '
        f"PyMC model with the curve's data, as in `compile_once.py`: only two posterior samples per "
        f"curve, no evidence, no retries, no verdicts ({nv['fits_failing_checks']} of "
        f"{len(nv['calls'])} fits would fail phasefit's checks). The naive loop does far less work per "
        f"curve ({runs_nv:.1f} vs {runs_pf:.1f} sampling runs), so the ratio understates phasefit's "
        f"advantage per unit of work."
        + (
            f" The naive loop was timed on the first {nv['n_curves']} of the {n} curves and is reported "
            f"per curve (`--naive-curves {nv['n_curves']}`)."
            if c["naive_is_prefix"]
            else ""
        ),
        END,
        "",
    ]
    return "\n".join(lines)


def print_summary(report: dict) -> None:
    pf, nv, c = report["phasefit"], report["naive"], report["comparison"]
    t1k = c["targets"]["curves_1000"]
    prefix = f" (first {nv['n_curves']} of {pf['n_curves']} curves)" if c["naive_is_prefix"] else ""
    print(
        f"phasefit: {pf['total_seconds']:.1f} s for {pf['n_curves']} curves = "
        f"{c['phasefit_seconds_per_curve']:.2f} s/curve (compile {pf['compile_seconds']:.1f} s, curve fits "
        f"{pf['curve_fits_seconds']:.1f} s, population {_s(pf['population_seconds'])} s, rest "
        f"{pf['rest_seconds']:.1f} s), peak RSS {pf['peak_rss_mib']:.0f} MiB"
    )
    if report.get("phasefit_cold"):
        cold = report["phasefit_cold"]
        print(
            f"phasefit, cold caches: {cold['total_seconds']:.1f} s (compile {cold['compile_seconds']:.1f} s); "
            f"warm: {pf.get('callbacks_loaded_from_disk')} of {pf.get('callbacks')} callbacks loaded from disk"
        )
    print(
        f"naive:    {nv['total_seconds']:.1f} s for {nv['n_curves']} curves{prefix} = "
        f"{c['naive_seconds_per_curve']:.2f} s/curve (compile {nv['compile_seconds']:.1f} s), "
        f"peak RSS {nv['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"ratio naive/phasefit per curve: {c['ratio_per_curve']:.1f}x (target >= {TARGET_RATIO:g}: "
        f"{'met' if c['targets']['ratio']['met'] else 'not met'}); {TARGET_CURVES} curves "
        f"{'extrapolated' if t1k['extrapolated'] else 'measured'}: phasefit {t1k['phasefit_seconds'] / 60:.1f} min "
        f"(target <= {TARGET_SECONDS / 60:g} min: {'met' if t1k['met'] else 'not met'}), naive "
        f"{t1k['naive_seconds'] / 60:.1f} min; load average {' '.join(f'{x:.2f}' for x in report['loadavg_end'])}"
    )


# ------------------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--curves", type=int, default=None, help=f"simulated curves (default {DEFAULT_CURVES}; --quick: 6)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the curves and of both samplers")
    p.add_argument(
        "--naive-curves", type=int, default=None, help="time the naive loop on the first K curves only (default: all)"
    )
    p.add_argument("--draws", type=int, default=None, help="draws per chain, both sides (default: the spec's, 1000)")
    p.add_argument("--tune", type=int, default=None, help="tuning steps per chain, both sides (default: the spec's)")
    p.add_argument("--quick", action="store_true", help="smoke check: 6 curves, 200 draws, 200 tuning steps")
    p.add_argument(
        "--from-json",
        metavar="FILE",
        help="rewrite the RESULTS.md section from a saved result (e.g. results/end_to_end.json) without running",
    )
    p.add_argument("--side", choices=("phasefit", "phasefit_cold", "naive"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.curves = args.curves or QUICK["curves"]
        args.draws = args.draws or QUICK["draws"]
        args.tune = args.tune or QUICK["tune"]
    args.curves = args.curves or DEFAULT_CURVES
    if args.naive_curves is not None and not 1 <= args.naive_curves <= args.curves:
        p.error(f"--naive-curves must be between 1 and --curves ({args.curves})")

    if args.from_json:
        write_results_md(markdown(json.loads(Path(args.from_json).read_text())), START, END)
        print(f"wrote the end_to_end section of {RESULTS_MD} from {args.from_json}")
        return 0

    if args.side:  # child process: one side, JSON to --out
        res = run_phasefit(args) if args.side.startswith("phasefit") else run_naive(args)
        Path(args.out).write_text(json.dumps(res))
        return 0

    loadavg_start = loadavg()
    date = now()
    passthrough = ["--curves", str(args.curves), "--seed", str(args.seed)]
    for opt in ("draws", "tune", "naive_curves"):
        if getattr(args, opt):
            passthrough += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        # phasefit twice in one fresh, empty compile directory: cold (the first run on a machine compiles
        # everything and stores it), then warm (every later run); the naive loop with the user's caches
        env_pf = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={Path(tmp) / 'pytensor'}"}
        for side in ("phasefit_cold", "phasefit", "naive"):
            out = Path(tmp) / f"{side}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--side", side, "--out", str(out), *passthrough]
            log(f"{side}: {' '.join(cmd[1:])}")
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env_pf if side.startswith("phasefit") else None)
            results[side] = json.loads(out.read_text())
            results[side]["process_seconds"] = time.perf_counter() - t0
            log(f"{side}: done in {results[side]['process_seconds']:.0f} s")

    commit, dirty = git_state()
    json_name = "end_to_end_quick.json" if args.quick else "end_to_end.json"
    command = "benchmarks/end_to_end.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = {
        "date": date,
        "command": command.strip(),
        "machine": machine(),
        "versions": versions(),
        "git": {"commit": commit, "uncommitted_src": dirty},
        "settings": {
            "curves": args.curves,
            "naive_curves": results["naive"]["n_curves"],
            "seed": args.seed,
            "quick": args.quick,
            **{k: results["phasefit"]["settings"][k] for k in ("chains", "draws", "tune", "target_accept")},
        },
        "loadavg_start": loadavg_start,
        "loadavg_end": loadavg(),
        "comparison": compare(results["phasefit"], results["naive"]),
        "comparison_cold": compare(results["phasefit_cold"], results["naive"]),
        "phasefit": results["phasefit"],
        "phasefit_cold": results["phasefit_cold"],
        "naive": results["naive"],
    }
    write_json(RESULTS_DIR / json_name, report, indent=1)
    print_summary(report)
    if args.quick:
        print(f"wrote {RESULTS_DIR / json_name} (RESULTS.md untouched: --quick)")
    else:
        write_results_md(markdown(report), START, END)
        print(f"wrote {RESULTS_DIR / json_name} and {RESULTS_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
