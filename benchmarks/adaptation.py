"""nutpie's mass-matrix adaptation and the step-size target, measured on phasefit's own fits.

About 60% of `phasefit fit`'s time per curve is NUTS sampling (`end_to_end`), and a breakpoint fit
takes ~60 leapfrog steps per draw at target_accept 0.95. Two settings could cut that without changing
the model: nutpie's **low-rank mass matrix** (`adaptation="low_rank"`, experimental in nutpie 0.16),
which can adapt to the correlations of the break, its gain and the level, and a **lower
target_accept** (larger steps, at the risk of divergences). For the first `--curves` curves of the
accuracy suite's development seed this fits smooth and breakpoint once per setting, from the same
compiled model, data and seed, and records the leapfrog steps of the kept draws, the bulk and tail
ESS, the divergences, whether the spec's checks pass (a fit that fails them is retried, which costs
more than the steps saved) and the wall time. A setting pays only if it saves steps *and* fails no
more fits than the default.

    .venv/bin/python benchmarks/adaptation.py              # 24 curves, 5 settings (~6 min on 2 cores)
    .venv/bin/python benchmarks/adaptation.py --quick      # 2 curves, 2 settings: smoke (no files)

Writes `benchmarks/results/adaptation.json` and the "adaptation" section of `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEV_SEED,
    RESULTS_DIR,
    dev_suite_curves,
    git_state,
    loadavg,
    machine,
    markers,
    now,
    versions,
    write_json,
    write_results_md,
)

SETTINGS = ("diag@0.95", "low_rank@0.95", "draw_diag@0.95", "diag@0.9", "low_rank@0.9")
FITS = ("smooth", "breakpoint")
SEED = 7


def parse_setting(setting: str) -> tuple[str, float]:
    """'low_rank@0.9' -> ('low_rank', 0.9): nutpie's `adaptation` and the target acceptance."""
    adaptation, _, target = setting.partition("@")
    if adaptation not in ("diag", "low_rank", "draw_diag", "flow"):
        raise SystemExit(f"unknown adaptation {adaptation!r} in {setting!r}")
    return adaptation, float(target) if target else 0.95


def measure(curves, settings: tuple[str, ...]) -> list[dict]:
    """One row per curve, fit and setting."""
    import nutpie

    from phasefit.inference.diagnostics import diagnose
    from phasefit.inference.sampler import Sampler, _checked, _from_arrow, nutpie_data
    from phasefit.models.curve_model import curve_inputs, stored_names
    from phasefit.models.spec import load_spec

    spec = load_spec()
    sampler = Sampler(spec)
    s = spec.sampler
    rows = []
    for curve in curves:
        inputs = curve_inputs(curve, spec)
        for fit in FITS:
            compiled = sampler.compiled(inputs.likelihood, fit)
            model = compiled.with_data(**nutpie_data(compiled, inputs.data()))
            names = stored_names(fit, inputs.likelihood, spec)
            for setting in settings:
                adaptation, target = parse_setting(setting)
                t0 = time.perf_counter()
                raw = nutpie.sample(
                    model,
                    draws=s.draws,
                    tune=s.tune,
                    chains=s.chains,
                    cores=s.chains,
                    seed=SEED,
                    target_accept=target,
                    adaptation=adaptation,
                    progress_bar=False,
                    save_warmup=False,
                    return_raw_trace=True,
                )
                seconds = time.perf_counter() - t0
                draws, stats = _from_arrow(raw, names)
                d = diagnose(_checked(draws), stats, spec, attempts=1)  # what Sampler.fit checks
                rows.append(
                    {
                        "curve": curve.label,
                        "fit": fit,
                        "setting": setting,
                        "steps": int(np.sum(stats["n_steps"])),
                        "ess_bulk": float(d.ess_bulk_min),
                        "ess_tail": float(d.ess_tail_min),
                        "divergences": int(d.divergences),
                        "ok": bool(d.ok),
                        "seconds": seconds,
                    }
                )
        print(f"  {curve.label}", flush=True)
    return rows


def summarise(rows: list[dict], settings: tuple[str, ...]) -> list[dict]:
    """Per setting and fit: steps, time and ESS against the first setting (the default), failures."""
    out = []
    for fit in FITS:
        base = [r for r in rows if r["fit"] == fit and r["setting"] == settings[0]]
        for setting in settings:
            rs = [r for r in rows if r["fit"] == fit and r["setting"] == setting]
            ess = np.array([min(r["ess_bulk"], r["ess_tail"]) for r in rs])
            steps = np.array([r["steps"] for r in rs], float)
            out.append(
                {
                    "fit": fit,
                    "setting": setting,
                    "fits": len(rs),
                    "steps_ratio": float(steps.sum() / sum(r["steps"] for r in base)),
                    "seconds_ratio": float(sum(r["seconds"] for r in rs) / sum(r["seconds"] for r in base)),
                    "ess_min_median": float(np.median(ess)),
                    "ess_min_min": float(ess.min()),
                    "ess_per_1000_steps_median": float(np.median(ess / steps * 1000)),
                    "divergences": int(sum(r["divergences"] for r in rs)),
                    "failed_checks": int(sum(not r["ok"] for r in rs)),
                }
            )
    return out


def markdown(out: dict) -> str:
    start, end = markers("adaptation")
    m = out["machine"]
    lines = [
        start,
        "## adaptation: nutpie's mass matrix and target_accept on phasefit's fits (measured, not adopted)",
        "",
        f"Run {out['date']} by `{out['command']}` (git {out['git']}); {m['nproc']} cores ({m['cpu']}); "
        f"{out['curves']} curves of the accuracy suite's development seed {out['seed']}, smooth and breakpoint "
        f"fits from the same compiled model, data and seed ({out['draws']} draws after {out['tune']} tuning "
        f"steps, {out['chains']} chains) under each setting; {out['seconds']:.0f} s; load average at the end "
        f"{', '.join(f'{v:.1f}' for v in out['loadavg_end'])}. Ratios are against the default "
        f"(`{out['settings'][0]}`, nutpie's diagonal adaptation at phasefit's target_accept).",
        "",
        "| fit | setting | leapfrog steps (ratio) | wall time (ratio) | min ESS per fit: median / lowest "
        "| ESS per 1,000 steps (median) | divergences | fits failing the checks |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in out["summary"]:
        lines.append(
            f"| {r['fit']} | `{r['setting']}` | {r['steps_ratio']:.2f} | {r['seconds_ratio']:.2f} | "
            f"{r['ess_min_median']:.0f} / {r['ess_min_min']:.0f} | {r['ess_per_1000_steps_median']:.1f} | "
            f"{r['divergences']} | {r['failed_checks']} of {r['fits']} |"
        )
    lines += ["", out["reading"], end]
    return "\n".join(lines)


def reading(summary: list[dict], settings: tuple[str, ...]) -> str:
    """The verdict on each setting, from the numbers: it pays only with fewer steps and no more failures."""
    parts = []
    for setting in settings[1:]:
        rs = [r for r in summary if r["setting"] == setting]
        base = {r["fit"]: r for r in summary if r["setting"] == settings[0]}
        fewer = all(r["steps_ratio"] < 1 for r in rs)
        more_failed = sum(r["failed_checks"] for r in rs) - sum(base[r["fit"]]["failed_checks"] for r in rs)
        pays = fewer and more_failed <= 0
        steps = ", ".join(f"{r['fit']} {r['steps_ratio']:.2f}" for r in rs)
        parts.append(
            f"`{setting}`: steps {steps} of the default's; {more_failed:+d} fits failing the checks "
            f"(each one a retry with more draws or a stricter step size) -> {'pays' if pays else 'does not pay'}."
        )
    return (
        " ".join(parts)
        + " The default stays: a setting that saves steps but fails more fits, or has a lower worst-case ESS, "
        "moves cost into retries and makes the diagnostics the bottleneck."
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--curves", type=int, default=24)
    ap.add_argument("--settings", default=",".join(SETTINGS), help="adaptation@target_accept, comma-separated")
    ap.add_argument("--quick", action="store_true", help="2 curves, 2 settings; prints, writes nothing")
    ap.add_argument("--render", action="store_true", help="rewrite the RESULTS.md section from the saved JSON")
    args = ap.parse_args(argv)
    if args.render:
        write_results_md(markdown(json.loads((RESULTS_DIR / "adaptation.json").read_text())), *markers("adaptation"))
        return 0
    warnings.filterwarnings("ignore")
    settings = ("diag@0.95", "low_rank@0.95") if args.quick else tuple(args.settings.split(","))
    for s in settings:
        parse_setting(s)
    n = 2 if args.quick else args.curves
    curves = dev_suite_curves(n)
    t0 = time.perf_counter()
    rows = measure(curves, settings)
    summary = summarise(rows, settings)
    from phasefit.models.spec import load_spec

    sp = load_spec().sampler
    commit, _ = git_state()
    out = {
        "benchmark": "adaptation",
        "date": now(),
        "command": "benchmarks/adaptation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "git": commit[:7],
        "machine": machine(),
        "versions": versions(("nutpie", "pymc", "numpy")),
        "curves": len(curves),
        "seed": DEV_SEED,
        "draws": sp.draws,
        "tune": sp.tune,
        "chains": sp.chains,
        "settings": list(settings),
        "seconds": time.perf_counter() - t0,
        "loadavg_end": loadavg(),
        "summary": summary,
        "reading": reading(summary, settings),
        "rows": rows,
    }
    print(markdown(out))
    if not args.quick:
        write_json(RESULTS_DIR / "adaptation.json", out)
        write_results_md(markdown(out), *markers("adaptation"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
