"""Where phasefit's per-fit time goes once the model is compiled: data swap vs. sampling.

For the first `--curves` curves of `compile_once.py`'s selection and both hypotheses, on one
compiled model (`Sampler.compiled("beta_binomial")`), this times

* `CompiledModel.with_data(...)` (the data swap),
* `nutpie.sample` with the spec's settings (warm-up kept, to count every leapfrog step), and its
  leapfrog steps: wall time per step (all chains) and per step and chain,
* `nutpie.sample` with 10 tuning steps + 10 draws (the fixed cost of starting a run: threads,
  initial points, trace conversion),
* the same full run with `cores=2` instead of `cores=chains`,
* `Sampler.sample` end to end (what compile_once.py times).

    .venv/bin/python benchmarks/profile_sampling.py [--curves 4]

Prints a table, writes `benchmarks/results/profile_sampling.json` and the "profile_sampling"
section of `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np

from _common import RESULTS_DIR, Stopwatch, loadavg, machine, markers, now, versions, write_json, write_results_md
from compile_once import FITS, curve_id, select_curves

START, END = markers("profile_sampling")


def n_steps(tree) -> int:
    total = 0
    for group in ("warmup_sample_stats", "sample_stats"):
        if group in tree.children:
            total += int(tree[group]["n_steps"].values.sum())
    return total


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--curves", type=int, default=4)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    import nutpie

    from phasefit.inference.sampler import Sampler, nutpie_data
    from phasefit.models.curve_model import curve_inputs
    from phasefit.models.spec import load_spec

    spec = load_spec()
    s = spec.sampler
    sampler = Sampler(spec)
    compiled = {fit: sampler.compiled("beta_binomial", fit) for fit in FITS}
    loadavg_start = loadavg()
    rows = []
    for i, (dataset, curve) in enumerate(select_curves(50)[: args.curves]):
        inputs = curve_inputs(curve, spec)
        for j, fit in enumerate(FITS):
            seed = s.seed + 1000 * i + j
            data = nutpie_data(compiled[fit], inputs.data())  # as Sampler.sample swaps data
            with Stopwatch() as t:
                for _ in range(100):
                    m = compiled[fit].with_data(**data)
            swap = t.seconds / 100
            common = {"chains": s.chains, "seed": seed, "target_accept": s.target_accept, "progress_bar": False}
            with Stopwatch() as t:
                tr = nutpie.sample(m, draws=s.draws, tune=s.tune, cores=s.chains, save_warmup=True, **common)
            full = t.seconds
            steps = n_steps(tr)
            with Stopwatch() as t:
                nutpie.sample(m, draws=10, tune=10, cores=s.chains, save_warmup=False, **common)
            tiny = t.seconds
            with Stopwatch() as t:
                nutpie.sample(m, draws=s.draws, tune=s.tune, cores=2, save_warmup=True, **common)
            full_2 = t.seconds
            with Stopwatch() as t:
                sampler.sample(inputs, fit, seed=seed, target_accept=s.target_accept, tune=s.tune, draws=s.draws)
            end_to_end = t.seconds
            row = {
                "curve": curve_id(dataset, curve),
                "fit": fit,
                "with_data_s": swap,
                "sample_s": full,
                "leapfrog_steps": steps,
                "us_per_step": 1e6 * full / steps,
                "tiny_run_s": tiny,
                "sample_cores2_s": full_2,
                "_sample_s": end_to_end,
            }
            rows.append(row)
            print(
                f"{i + 1} {fit:10s} with_data {1e3 * swap:.2f} ms | sample {full:.2f} s, {steps} steps, "
                f"{row['us_per_step']:.1f} us/step | 10+10 run {tiny:.3f} s | cores=2 {full_2:.2f} s | "
                f"_sample {end_to_end:.2f} s",
                flush=True,
            )

    def mean(k):
        return float(np.mean([r[k] for r in rows]))

    summary = {
        k: mean(k)
        for k in (
            "with_data_s",
            "sample_s",
            "leapfrog_steps",
            "us_per_step",
            "tiny_run_s",
            "sample_cores2_s",
            "_sample_s",
        )
    }
    report = {
        "date": now(),
        "machine": machine(),
        "versions": versions(),
        "settings": {"chains": s.chains, "draws": s.draws, "tune": s.tune, "target_accept": s.target_accept},
        "compile_seconds": sum(sampler.compile_seconds.values()),
        "loadavg_start": loadavg_start,
        "loadavg_end": loadavg(),
        "summary": summary,
        "rows": rows,
    }
    write_json(RESULTS_DIR / "profile_sampling.json", report, indent=1)
    m_ = report["machine"]
    section = "\n".join(
        [
            START,
            "## profile_sampling: where phasefit's per-fit time goes",
            "",
            f"Run {report['date']} with `benchmarks/profile_sampling.py --curves {args.curves}` "
            f"({len(rows)} fits); {m_['nproc']} CPUs, {m_['cpu']}; load average before / after "
            f"{' '.join(f'{x:.2f}' for x in loadavg_start)} / {' '.join(f'{x:.2f}' for x in report['loadavg_end'])} "
            "(shared machine). Settings: "
            f"{s.chains} chains, {s.draws} draws after {s.tune} tuning steps, target_accept {s.target_accept}.",
            "",
            "| per fit (mean) | |",
            "|---|---:|",
            f"| `with_data` (data swap) | {1e3 * summary['with_data_s']:.2f} ms |",
            f"| `nutpie.sample`, cores = chains | {summary['sample_s']:.2f} s |",
            f"| leapfrog steps, all chains, warm-up + draws | {summary['leapfrog_steps']:.0f} |",
            f"| wall time per leapfrog step (all chains) | {summary['us_per_step']:.1f} us |",
            f"| `nutpie.sample` with 10 + 10 draws (fixed cost of a run) | {summary['tiny_run_s']:.3f} s |",
            f"| `nutpie.sample`, cores = 2 | {summary['sample_cores2_s']:.2f} s |",
            f"| `Sampler.sample` end to end | {summary['_sample_s']:.2f} s |",
            f"| compile, once | {report['compile_seconds']:.2f} s |",
            END,
            "",
        ]
    )
    write_results_md(section, START, END)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
