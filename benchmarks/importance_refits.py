"""Exact LOO points and leave-future-out by importance sampling instead of NUTS refits, measured.

`phasefit fit` scores every LOO point whose Pareto k-hat is above ArviZ's `good_k` exactly, by the
posterior without that point, and leave-future-out by the posteriors given the smaller models only.
Until this benchmark each of those was a NUTS refit (about half of a curve's sampling runs).
`phasefit.evidence.loo.ImportanceRefit` estimates the same posteriors by importance sampling from a
Student-t proposal around the whole curve's posterior (adapted to the weighted draws when its k-hat
is high), with a NUTS refit only where the k-hat stays above 0.7.

For each curve of the accuracy suite's development seed (independent simulators; not the reporting
seed) this fits smooth and breakpoint as `phasefit fit` does, then for every high-k LOO point and
for leave-future-out (at the cutoff `analyse_curve` uses) computes:

- the importance-sampling estimate of each variant in `--variants` ("draws:pool": proposal draws
  per round, and 1 to pool the rounds as draws of their mixture where a round alone is not
  reliable, 0 for each round alone; default: the spec's draws, without and with pooling), from the
  same seed, so the rows differ only by the variant,
- two NUTS refits with different seeds (what phasefit reported before, twice).

An importance estimate is as good as a refit when it differs from refit A no more than refit B does
(two refits of the same posterior differ only by Monte Carlo error).

    .venv/bin/python benchmarks/importance_refits.py                        # 60 curves, development seed
    .venv/bin/python benchmarks/importance_refits.py --variants 16000:1,8000:1,4000:1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DEV_SEED,
    RESULTS_DIR,
    dev_suite_curves,
    git_state,
    machine,
    markers,
    now,
    versions,
    write_json,
    write_results_md,
)  # noqa: E402

HYPS = ("smooth", "breakpoint")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--curves", type=int, default=60)
    ap.add_argument(
        "--variants", default=None, help="draws:pool pairs, comma-separated (default: the spec's draws, 0 and 1)"
    )
    ap.add_argument("--render", action="store_true", help="rewrite the RESULTS.md section from the saved JSON")
    args = ap.parse_args(argv)
    if args.render:
        saved = json.loads((RESULTS_DIR / "importance_refits.json").read_text())
        write_results_md(markdown(saved), *markers("importance_refits"))
        return 0

    from phasefit.analyses.curve import curve_seed, default_lfo_cutoff
    from phasefit.evidence import loo as loo_mod
    from phasefit.inference.sampler import Sampler
    from phasefit.models.curve_model import curve_inputs
    from phasefit.models.spec import load_spec

    curves = dev_suite_curves(args.curves)
    spec = load_spec()
    n0 = spec.evidence.importance_draws
    variants = args.variants or f"{n0}:0,{n0}:1"
    settings = [(int(n), bool(int(d))) for n, d in (v.split(":") for v in variants.split(","))]
    labels = {v: f"{v[0]}:{int(v[1])}" for v in settings}
    sampler = Sampler(spec)
    rows: list[dict] = []
    is_seconds = dict.fromkeys(labels.values(), 0.0)
    refit_seconds = 0.0
    n_refits = 0
    t_start = time.perf_counter()

    def refit(sub, h, seed):
        nonlocal refit_seconds, n_refits
        t0 = time.perf_counter()
        r = sampler.fit(sub, h, seed=seed)
        refit_seconds += time.perf_counter() - t0
        n_refits += 1
        return r

    def predictive_elpd(fit, inputs, points):
        ll = loo_mod._loglik(fit, inputs, spec)[..., points]
        return float(loo_mod.logmeanexp(ll.reshape(-1, ll.shape[-1]), axis=0).sum())

    for c in curves:
        inputs = curve_inputs(c, spec)
        seed = curve_seed(c, spec.sampler.seed)
        fits = {h: sampler.fit(inputs, h, seed=seed + j) for j, h in enumerate(HYPS)}
        for j, (h, f) in enumerate(fits.items()):
            imps = {
                labels[(n, d)]: loo_mod.ImportanceRefit(f, inputs, spec, draws=n, seed=seed + 60 + j, pool=d)
                for n, d in settings
            }
            plain, _ = loo_mod.loo(f, inputs, spec, refit=None, seed=seed)
            k = np.asarray(plain.elpd.pareto_k.values, float)
            targets = [
                ("loo", np.arange(len(inputs.x)) != i, np.array([i]), inputs)
                for i in np.flatnonzero(~(k <= plain.elpd.good_k))
            ]
            cutoff = default_lfo_cutoff(inputs, float(np.median(fits["breakpoint"].draws["tau"])))
            train = inputs.x <= cutoff + 1e-12
            if train.sum() >= 3 and (~train).sum() >= 1:
                rng = (float(np.sort(inputs.x)[1]), float(inputs.range_hi))
                targets.append(
                    ("lfo", train, np.flatnonzero(~train), inputs.subset(np.ones(len(inputs.x), bool), range_=rng))
                )
            for kind, keep, points, target_inputs in targets:
                row = {"curve": c.task, "hypothesis": h, "kind": kind, "n_points": int(len(inputs.x))}
                for n, imp in imps.items():
                    t0 = time.perf_counter()
                    w = imp.on(target_inputs).condition(keep, seed=seed + 7, points=points)  # as loo / lfo
                    is_seconds[n] += time.perf_counter() - t0
                    row |= {
                        f"reliable_{n}": w is not None,
                        f"k_hat_{n}": w.k_hat if w is not None else np.nan,
                        f"importance_{n}": float(sum(w.elpd(i) for i in points)) if w is not None else np.nan,
                    }
                sub = inputs.subset(keep, range_=(target_inputs.range_lo, target_inputs.range_hi))
                a, b = refit(sub, h, seed + 1000), refit(sub, h, seed + 2000)
                row |= {
                    "refit_a": predictive_elpd(a, inputs, points),
                    "refit_b": predictive_elpd(b, inputs, points),
                    "refits_converged": bool(a.diagnostics.ok and b.diagnostics.ok),
                }
                rows.append(row)
        print(f"{c.label}: {len(rows)} estimates", flush=True)
    seconds = time.perf_counter() - t_start

    def q(d):
        return {"median": float(np.median(d)), "p90": float(np.quantile(d, 0.9)), "max": float(np.max(d))}

    summary = {}
    for kind in ("loo", "lfo"):
        for h in HYPS:
            for n in labels.values():
                sel = [r for r in rows if r["kind"] == kind and r["hypothesis"] == h]
                ok = [r for r in sel if r[f"reliable_{n}"]]
                d_is = np.abs([r[f"importance_{n}"] - r["refit_a"] for r in ok]) if ok else np.array([np.nan])
                d_rr = np.abs([r["refit_b"] - r["refit_a"] for r in ok]) if ok else np.array([np.nan])
                summary[f"{kind}/{h}/{n}"] = {
                    "estimate": f"{kind}/{h}",
                    "variant": n,
                    "estimates": len(sel),
                    "reliable": len(ok),
                    "importance_vs_refit": q(d_is),
                    "refit_vs_refit": q(d_rr),
                    "importance_closer_share": float(np.mean(d_is <= d_rr)) if ok else np.nan,
                }
    commit, dirty = git_state()
    out = {
        "benchmark": "importance_refits",
        "date": now(),
        "command": "benchmarks/importance_refits.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "git": commit,
        "uncommitted": dirty,
        "machine": machine(),
        "versions": versions(("pymc", "nutpie", "arviz_stats", "numpy")),
        "curves": len(curves),
        "seed": DEV_SEED,
        "importance_draws": spec.evidence.importance_draws,
        "variants": list(labels.values()),
        "seconds": seconds,
        "importance_seconds_per_estimate": {str(n): t / max(len(rows), 1) for n, t in is_seconds.items()},
        "refit_seconds_per_refit": refit_seconds / max(n_refits, 1),
        "summary": summary,
        "rows": rows,
    }
    write_json(RESULTS_DIR / "importance_refits.json", out)
    write_results_md(markdown(out), *markers("importance_refits"))
    print(markdown(out))
    return 0


def markdown(out: dict) -> str:
    m = out["machine"]
    start, end = markers("importance_refits")
    lines = [
        start,
        "## Exact LOO and leave-future-out by importance sampling (adopted)",
        "",
        f"Run {out['date']} by `{out['command'].strip()}` (git {out['git'][:7]}); {m.get('nproc')} cores "
        f"({m.get('cpu')}); {out['curves']} curves of the accuracy suite's development seed {out['seed']}, smooth and "
        f"breakpoint fits as `phasefit fit` makes them; {out['seconds']:.0f} s. Importance sampling in the "
        f"variants {', '.join(out['variants'])} (proposal draws per round : 1 where the rounds are pooled as "
        "draws of their mixture when a round alone is not reliable, 0 where each round stands alone) from the "
        "same seeds (the default spec's "
        f"`[evidence] importance_draws`: {out['importance_draws']}).",
        "",
        "Each row: the estimates of one kind (an exact LOO point's elpd_i, or leave-future-out's summed elpd of "
        "the larger models) for one hypothesis. *reliable*: importance k-hat <= 0.7 within three rounds, for "
        "the weights and for weight x each scored point's likelihood (else phasefit refits with NUTS). "
        "Differences in elpd units, over the reliable estimates: importance sampling against NUTS "
        "refit A, beside NUTS refit B against refit A (the Monte Carlo error of a refit).",
        "",
        "| estimate | variant | n | reliable | |importance - refit A|: median / p90 / max "
        "| |refit B - refit A|: median / p90 / max | importance at least as close as refit B |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for s in out["summary"].values():
        a, b = s["importance_vs_refit"], s["refit_vs_refit"]
        lines.append(
            f"| {s['estimate']} | {s['variant']} | {s['estimates']} | {s['reliable']} | "
            f"{a['median']:.3f} / {a['p90']:.3f} / {a['max']:.3f} | "
            f"{b['median']:.3f} / {b['p90']:.3f} / {b['max']:.3f} | {s['importance_closer_share']:.2f} |"
        )
    per = ", ".join(f"{float(t) * 1000:.0f} ms with {n}" for n, t in out["importance_seconds_per_estimate"].items())
    lines += [
        "",
        f"Time per importance estimate (all rounds): {per}; {out['refit_seconds_per_refit'] * 1000:.0f} ms per NUTS "
        "refit (retries included); one process, 2 cores shared by nutpie's 4 chains.",
        end,
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
