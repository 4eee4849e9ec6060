"""Screen candidate priors on the accuracy suite's development seed without refitting.

Each candidate replaces some of the bundled spec's priors. Every curve's marginal likelihood under
hypothesis h is re-weighted from the draws an accuracy run already made (importance sampling from
the posterior under the bundled prior p0):

    Z_h(new) = Z_h(p0) * E_{theta ~ p(theta | y, h, p0)} [ p_new(theta) / p0(theta) ]

and P(breakpoint) is recomputed (the run's P_h already hold the spec's hypothesis weights). A
curve is counted as called at P >= 0.9 (the verdict's other conditions are not re-evaluated), and
the scores are those of `accuracy_scoring`, so they match `benchmarks/accuracy.py` on the same run
(the identity candidate reproduces its numbers). The estimate is good where the candidate is not
much wider than p0 where the likelihood is flat: a refit confirms a candidate before it is adopted
(docs/models.md, "Revised defaults and why").

The screen refuses a run on the reporting seed: candidates are chosen on the development seed and
scored once on the reporting seed by a refit (`accuracy.py`), never tuned to it.

    python benchmarks/accuracy.py --seed 1 --label devbase --work-dir DIR \\
        --reference-from benchmarks/results/accuracy_dev_reference_curves.csv --no-results-md
    python benchmarks/prior_screen.py --run devbase --work-dir DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import accuracy_scoring as scoring
import numpy as np
import pandas as pd
from scipy import special

from _common import RESULTS_DIR, fmt_value, git_state, machine, markers, now, versions, write_json, write_results_md

HYPOTHESES = ("absent", "smooth", "breakpoint")


@dataclass(frozen=True)
class Candidate:
    """Priors to replace: ("hypothesis", "parameter") -> Prior ("*" for a shared parameter), and
    optionally the smooth trend's prior put on its level at the smallest model, `level_low` =
    intercept - slope * x_ref (a reparametrisation: a Normal(mu, sigma) there replaces the intercept's)."""

    name: str
    priors: tuple[tuple[tuple[str, str], object], ...] = ()
    smooth_level_low: tuple[float, float] | None = None
    why: str = ""


def candidates():
    from phasefit.models.priors import Prior

    def normal(mu, sigma):
        return Prior("normal", (("mu", mu), ("sigma", sigma)))

    def lognormal(mu, sigma):
        return Prior("lognormal", (("mu", mu), ("sigma", sigma)))

    def beta(a, b):
        return Prior("beta", (("alpha", a), ("beta", b)))

    out = [Candidate("bundled priors (identity)", why="reproduces the run's own scores")]
    for mu, sigma in ((5.8, 1.2), (6.0, 1.2), (6.2, 1.2), (6.0, 1.0), (6.0, 1.5)):
        out.append(
            Candidate(
                f"concentration LogNormal({mu}, {sigma})",
                ((("*", "concentration"), lognormal(mu, sigma)),),
                why="real curves' concentration posteriors centre near e^6",
            )
        )
    for mu, sigma in ((1.0, 1.0), (1.2, 1.0), (1.0, 0.8)):
        out.append(Candidate(f"smooth slope Normal({mu}, {sigma})", ((("smooth", "slope"), normal(mu, sigma)),)))
    out.append(Candidate("smooth intercept Normal(-1, 2)", ((("smooth", "intercept"), normal(-1.0, 2.0)),)))
    for mu, sigma in ((-4.5, 2.0), (-3.5, 2.5), (-3.0, 2.0), (-3.0, 2.5), (-3.0, 3.0), (-2.5, 2.5), (-2.0, 2.5)):
        out.append(
            Candidate(
                f"smooth level at the smallest model Normal({mu}, {sigma})",
                smooth_level_low=(mu, sigma),
                why="a smooth trend that starts below the test's resolution is a break in disguise",
            )
        )
    out.append(Candidate("breakpoint gain LogNormal(1.9, 0.7)", ((("breakpoint", "gain"), lognormal(1.9, 0.7)),)))
    out.append(Candidate("breakpoint gain LogNormal(2.0, 0.6)", ((("breakpoint", "gain"), lognormal(2.0, 0.6)),)))
    for a, b in ((2.0, 2.0), (2.0, 1.2), (3.0, 1.5)):
        out.append(
            Candidate(f"breakpoint tau_fraction Beta({a}, {b})", ((("breakpoint", "tau_fraction"), beta(a, b)),))
        )
    out.append(Candidate("breakpoint level Normal(-5, 2)", ((("breakpoint", "level"), normal(-5.0, 2.0)),)))
    out.append(
        Candidate(
            "both levels Normal(-5, 2.5)",
            ((("breakpoint", "level"), normal(-5.0, 2.5)), (("absent", "level"), normal(-5.0, 2.5))),
        )
    )
    out.append(
        Candidate("slope before the break Normal(0, 0.15)", ((("breakpoint", "slope_before"), normal(0.0, 0.15)),))
    )
    return out


def load_fits(work_dir: Path):
    """(task, x_ref, {hypothesis: (log P under the bundled priors, {parameter: draws})}) per checkpoint."""
    from phasefit.results import safe_store

    files = sorted(work_dir.glob("*/curve-*.npz")) or sorted(work_dir.glob("curve-*.npz"))
    if not files:
        raise SystemExit(f"prior_screen: no checkpoints (curve-*.npz) under {work_dir}")
    key = {"absent": "p_absent", "smooth": "p_smooth", "breakpoint": "p_emergent"}
    out = []
    for f in files:
        r = safe_store.loads(f.read_bytes())
        fits = {}
        for h in HYPOTHESES:
            fit = r.fits.get(h)
            draws = {k: np.asarray(v, float).ravel() for k, v in (fit.draws.items() if fit is not None else ())}
            fits[h] = (float(np.log(max(r.row[key[h]], 1e-300))), draws)
        out.append((r.row["task"], float(np.max(r.inputs.x)), fits))
    return out


def bundled_priors():
    from phasefit.models.spec import load_spec

    spec = load_spec()
    pri = {("*", n): p for n, p in spec.shared}
    for h in spec.hypotheses:
        pri |= {(h.name, n): p for n, p in h.priors}
    return pri


def p_breakpoint(fits, cand: Candidate, base) -> np.ndarray:
    from phasefit.models.priors import Prior, log_prior

    new = dict(cand.priors)
    level_low = None
    if cand.smooth_level_low is not None:
        mu, sigma = cand.smooth_level_low
        level_low = Prior("normal", (("mu", mu), ("sigma", sigma)))
    ps = []
    for _task, x_ref, by_h in fits:
        lz = []
        for h in HYPOTHESES:
            lp, draws = by_h[h]
            if not draws:  # nothing to re-weight: the hypothesis keeps its evidence
                lz.append(lp)
                continue
            adj = np.zeros(len(next(iter(draws.values()))))
            for (hh, par), prior in new.items():
                if hh in (h, "*") and par in draws:
                    adj += log_prior(draws[par], prior) - log_prior(draws[par], base[(hh, par)])
            if h == "smooth" and level_low is not None:
                level = draws["intercept"] - draws["slope"] * x_ref
                adj += log_prior(level, level_low) - log_prior(draws["intercept"], base[("smooth", "intercept")])
            lz.append(lp + special.logsumexp(adj) - np.log(len(adj)))
        lz = np.asarray(lz)  # log P_h under the bundled priors already holds the hypothesis weights
        ps.append(float(np.exp(lz[2] - special.logsumexp(lz))))
    return np.asarray(ps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="label of a development-seed accuracy run (accuracy_LABEL_curves.csv)")
    ap.add_argument("--work-dir", type=Path, required=True, help="that run's checkpoints (accuracy.py --work-dir)")
    ap.add_argument("--no-results-md", action="store_true", help="leave benchmarks/RESULTS.md alone")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    run = json.loads((RESULTS_DIR / f"accuracy_{args.run}.json").read_text())
    if run["settings"]["seed"] == run["settings"]["report_seed"]:
        print("prior_screen: refusing the reporting seed: screen on the development seed (--seed 1)", file=sys.stderr)
        return 2
    table = pd.read_csv(RESULTS_DIR / f"accuracy_{args.run}_curves.csv")
    fits = load_fits(args.work_dir)
    by_task = table.set_index("task")
    order = [task for task, _, _ in fits]
    if len(order) != len(table) or set(order) != set(table["task"]):
        raise SystemExit(f"prior_screen: the checkpoints under {args.work_dir} are not the curves of run {args.run!r}")
    base = bundled_priors()
    rows = []
    ordered = by_task.loc[order].reset_index()
    for cand in candidates():
        t = ordered.copy()
        t["pf_p"] = p_breakpoint(fits, cand, base)
        t["pf_called"] = t["pf_p"] >= scoring.CALL
        res = {"candidate": cand.name, "why": cand.why}
        for sub, mask in scoring.subsets(t).items():
            if sub.startswith("world:") or sub == "rising":
                continue
            s = scoring.score(t[mask], "pf")
            res[sub] = {
                k: s[k] for k in ("auc", "tpr", "precision", "n_false_called", "calibration_worst", "smooth_median_p")
            }
        res["world_auc"] = {
            w: scoring.auc(t.loc[t["world"] == w, "pf_p"], t.loc[t["world"] == w, "kind"] == "break")
            for w in dict.fromkeys(t["world"])
        }
        rows.append(res)
        print(f"{cand.name:<58} AUC {res['all']['auc']:.3f} TPR(id) {res['identifiable']['tpr']:.3f}", file=sys.stderr)
    ref = {sub: scoring.score(by_task.reset_index()[mask], "ref") for sub, mask in scoring.subsets(table).items()}
    commit, dirty = git_state()
    report = {
        "benchmark": "prior_screen",
        "date": now(),
        "command": "benchmarks/prior_screen.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "git": commit,
        "uncommitted_src": dirty,
        "machine": machine(),
        "versions": versions(),
        "run": args.run,
        "suite_seed": run["settings"]["seed"],
        "reference": {k: {m: ref[k][m] for m in ("auc", "tpr", "smooth_median_p")} for k in ("all", "identifiable")},
        "candidates": rows,
        "seconds": time.perf_counter() - t0,
    }
    write_json(RESULTS_DIR / "prior_screen.json", report)
    if not args.no_results_md:
        write_results_md(section(report), *markers("prior_screen"))
    print(section(report))
    return 0


def section(r: dict) -> str:
    start, end = markers("prior_screen")
    ref_all, ref_id = r["reference"]["all"], r["reference"]["identifiable"]
    lines = [
        start,
        f"## prior_screen: candidate priors re-weighted on the development seed ({r['run']}, seed {r['suite_seed']})",
        "",
        f"Run {r['date']} by `{r['command']}` (git {r['git'][:7]}); {r['seconds']:.0f} s. No refit: each curve's "
        "evidence re-weighted from the run's draws; called = P >= 0.9. Reference (Bayes-optimal): AUC "
        f"{ref_all['auc']:.3f} (identifiable {ref_id['auc']:.3f}), TPR {ref_all['tpr']:.3f} "
        f"({ref_id['tpr']:.3f}), median P of smooth curves {ref_all['smooth_median_p']:.3f}.",
        "",
        "| candidate | AUC | AUC identifiable | TPR | TPR identifiable | false calls | precision | "
        "worst calibration bin | median P, smooth | AUC hinge / logistic / powerlaw / prior_predictive |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in r["candidates"]:
        a, i = c["all"], c["identifiable"]
        worlds = " / ".join(fmt_value(v) for v in c["world_auc"].values())
        lines.append(
            f"| {c['candidate']} | {fmt_value(a['auc'])} | {fmt_value(i['auc'])} | {fmt_value(a['tpr'])} | "
            f"{fmt_value(i['tpr'])} | {a['n_false_called']} | {fmt_value(a['precision'])} | "
            f"{fmt_value(a['calibration_worst'])} | {fmt_value(a['smooth_median_p'])} | {worlds} |"
        )
    lines.append(end)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
