"""Accuracy benchmark: phasefit's P(breakpoint) and break intervals against Bayes-optimal references.

Simulates curves from four generators ("worlds", `accuracy_worlds`): a smoothed hinge on the logit
scale, a logistic rise in log-compute, a power law in the error rate from a break (none of them
phasefit's model), and phasefit's own prior-predictive `simulation_suite`; each world has break,
smooth and flat curves, 1/3 each. For every curve it computes the world's Bayes-optimal reference
(`accuracy_reference`: P(break | data) and the break's and onset's posterior by integrating the
world's own priors), fits all curves with `phasefit.fit`, and scores both the same way
(`accuracy_scoring`) on the whole suite, on the identifiable breaks (+ every smooth and flat curve) and
per world.

Writes benchmarks/results/accuracy[_LABEL]_curves.csv (one row per curve: truth, reference, phasefit),
accuracy[_LABEL].json (every score, settings, machine, timings) and the section
"Accuracy against Bayes-optimal references" of benchmarks/RESULTS.md (full runs only).

    .venv/bin/python benchmarks/accuracy.py                        # 600 curves, reporting seed
    .venv/bin/python benchmarks/accuracy.py --quick                # 24 curves, development seed, short chains
    .venv/bin/python benchmarks/accuracy.py --reference-only       # the reference alone (minutes)
    .venv/bin/python benchmarks/accuracy.py --fits-from benchmarks/results/accuracy_curves.csv   # rescore

Develop with --seed 1 (DEV_SEED); the committed results come from the default, REPORT_SEED.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import accuracy_reference as ref_mod  # noqa: E402
import accuracy_scoring as sc  # noqa: E402
import accuracy_worlds as worlds_mod  # noqa: E402

from _common import DEV_SEED, cpu_model, git_state, ram_gib, write_results_md  # noqa: E402
from _common import fmt_value as _f  # noqa: E402

ROOT = HERE.parent
RESULTS = HERE / "results"
REPORT_SEED = 2026  # the committed results; never tune on it
FIT_SEED = 20221  # phasefit's sampler seed (its default)
DEFAULT_CURVES = 600
QUICK_CURVES = 24
SECTION = "## Accuracy against Bayes-optimal references"
IS_OPTIONS: dict = {}  # accuracy_reference.kind_evidence's defaults: 20,000 prior draws, rounds of 20,000, ESS 1500
CHECK_OPTIONS = {"n_prior": 40000, "n_round": 40000, "max_rounds": 10, "ess_target": 6000.0}
LOW_ESS = 200.0


# --------------------------------------------------------------------------------- reference

_WORLD_CACHE: dict = {}


def _reference_job(job: tuple) -> dict:
    world, x, n, floor, k, seed, curve, options = job
    if world not in _WORLD_CACHE:
        _WORLD_CACHE[world] = worlds_mod.get_world(world)
    design = worlds_mod.Design(x=np.asarray(x), n=np.asarray(n), floor=floor)
    rng = np.random.default_rng([seed, 7919, curve])
    return ref_mod.reference_curve(_WORLD_CACHE[world], design, np.asarray(k), rng, **options)


def compute_reference(
    data: pd.DataFrame, truth: pd.DataFrame, seed: int, *, jobs: int = 1, options: dict | None = None, log=print
) -> pd.DataFrame:
    options = IS_OPTIONS if options is None else options
    groups = dict(tuple(data.groupby("task", sort=False)))
    work = []
    for t in truth.itertuples():
        df = groups[t.task]
        d = worlds_mod.design_of(df)
        work.append((t.world, d.x, d.n, d.floor, worlds_mod.counts_of(df), seed, int(t.curve), options))
    rows = []
    t0 = time.perf_counter()
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            for i, r in enumerate(ex.map(_reference_job, work, chunksize=4)):
                rows.append(r)
                if (i + 1) % 50 == 0:
                    log(f"  reference: {i + 1}/{len(work)} curves, {time.perf_counter() - t0:.0f} s")
    else:
        for i, job in enumerate(work):
            rows.append(_reference_job(job))
            if (i + 1) % 50 == 0:
                log(f"  reference: {i + 1}/{len(work)} curves, {time.perf_counter() - t0:.0f} s")
    out = pd.DataFrame(rows)
    out.insert(0, "task", truth["task"].to_numpy())
    out["ref_called"] = out["ref_p_break"] >= sc.CALL
    out = out.rename(columns={"ref_p_break": "ref_p"})
    return out


# ----------------------------------------------------------------------------------- phasefit


def fit_phasefit(
    data: pd.DataFrame,
    *,
    seed: int,
    fit_seed: int,
    draws: int | None,
    tune: int | None,
    work_dir: Path | None,
    population: bool = True,
) -> tuple[pd.DataFrame, dict]:
    import dataclasses

    import phasefit

    curves = phasefit.load_curves(data, x_axis="flops", min_points=4, name=f"accuracy-suite:seed={seed}")
    kwargs: dict = {"seed": fit_seed, "progress": False}
    if not population:  # the curves alone (their checkpoints are reused by a later run with it)
        spec = phasefit.load_spec()
        kwargs["models"] = dataclasses.replace(spec, population=dataclasses.replace(spec.population, enabled=False))
    params = inspect.signature(phasefit.fit).parameters
    if draws is not None:
        kwargs["draws"] = draws
    if tune is not None:
        kwargs["tune"] = tune
    if work_dir is not None and "work_dir" in params:
        kwargs["work_dir"] = work_dir
    t0 = time.perf_counter()
    analysis = phasefit.fit(curves, **kwargs)
    seconds = time.perf_counter() - t0
    v = analysis.verdicts
    out = pd.DataFrame({"task": v["task"].to_numpy()})
    out["pf_p"] = v["p_emergent"].to_numpy(float)
    for c in (
        "p_absent",
        "p_smooth",
        "verdict",
        "elpd_diff",
        "lfo_elpd_diff",
        "breakthroughness",
        "rhat_max",
        "failure_reason",
        "p_emergent_unpooled",
        "p_emergent_pooled",
        "pooled",
        "importance_ess",
        "p_emergent_prior_min",
        "p_emergent_prior_max",
        "prior_sensitive",
        "p_above_floor",
    ):
        if c in v:
            out[f"pf_{c}"] = v[c].to_numpy()
    out["pf_called"] = (v["verdict"] == "emergent").to_numpy() if "verdict" in v else out["pf_p"] >= sc.CALL
    for what in ("break", "onset"):
        for q in ("q05", "median", "q95"):
            col = f"{what}_flops_{q}"
            name = f"pf_{'tau' if what == 'break' else 'onset'}_{q}"
            if col in v:
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[name] = np.log10(pd.to_numeric(v[col], errors="coerce").to_numpy(float))
    params = getattr(analysis, "parameters", None)
    if params is not None and "tau_median_pooled" in params:  # the population stage's values, scored beside
        for q in ("q05", "median", "q95"):
            out[f"pf_pool_tau_{q}"] = params[f"tau_{q}_pooled"].to_numpy(float)
    run = getattr(analysis, "run", {}) or {}
    info = {
        "fit_seconds": seconds,
        "versions": run.get("versions"),
        "compile_seconds": run.get("compile_seconds"),
        "spec_hash": run.get("spec_hash"),
        "fit_kwargs": {k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items() if k != "models"},
        "population": population,
    }
    return out, info


# ------------------------------------------------------------------------------------ machine


def machine() -> dict:
    commit, dirty = git_state()
    commit = commit[:7]
    import phasefit

    code = str(Path(phasefit.__file__).resolve().parent)
    if not code.startswith(str(ROOT / "src")):  # a snapshot (e.g. `git archive HEAD src`) on PYTHONPATH
        commit = os.environ.get("PHASEFIT_CODE_COMMIT", f"? (phasefit imported from {code})")
        dirty = []
    import scipy

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "ram_gib": ram_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "phasefit": getattr(phasefit, "__version__", "?"),
        "git_commit": commit,
        "src_uncommitted": dirty,
        "phasefit_path": code,
        "loadavg_at_end": list(os.getloadavg()),
    }


# ------------------------------------------------------------------------------------ scoring


def score_all(table: pd.DataFrame, with_pf: bool) -> dict:
    out: dict = {"reference": {}, "phasefit": {}, "targets": {}, "pooled": {}}
    pooled = with_pf and "pf_p_emergent_pooled" in table and table["pf_p_emergent_pooled"].notna().any()
    if pooled:  # the population stage's P(breakpoint), scored as a method of its own ("pool")
        table = table.assign(
            pool_p=table["pf_p_emergent_pooled"],
            pool_called=table["pf_p_emergent_pooled"] >= sc.CALL,
            **{f"pool_tau_{q}": table.get(f"pf_pool_tau_{q}") for q in ("q05", "median", "q95")},
        )
    for name, mask in sc.subsets(table).items():
        sub = table[mask].reset_index(drop=True)
        out["reference"][name] = sc.score(sub, "ref")
        if with_pf:
            out["phasefit"][name] = sc.score(sub, "pf")
            out["targets"][name] = sc.targets(sub, out["phasefit"][name], out["reference"][name])
        if pooled:
            out["pooled"][name] = sc.score(sub, "pool")
    if not with_pf:
        del out["phasefit"], out["targets"]
    if not pooled:
        del out["pooled"]
    return out


def check_reference(
    data: pd.DataFrame, truth: pd.DataFrame, ref: pd.DataFrame, seed: int, n: int, jobs: int, log
) -> dict:
    """Recompute the reference of the first n curves with ~4x the draws and an independent random stream,
    and compare: the Monte Carlo error of P(break) and of each log Z against its reported SE."""
    sub = truth.iloc[:n]
    big = compute_reference(data, sub, seed + 1_000_003, jobs=jobs, options=CHECK_OPTIONS, log=log)
    a = ref.set_index("task").loc[sub["task"]]
    b = big.set_index("task").loc[sub["task"]]
    dp = np.abs(a["ref_p"].to_numpy() - b["ref_p"].to_numpy())
    z = []
    for h in worlds_mod.KINDS:
        se = np.hypot(a[f"ref_logz_se_{h}"].to_numpy(), b[f"ref_logz_se_{h}"].to_numpy())
        z.append(np.abs(a[f"ref_logz_{h}"].to_numpy() - b[f"ref_logz_{h}"].to_numpy()) / se)
    z = np.concatenate(z)
    dq = np.abs(a["ref_tau_median"].to_numpy() - b["ref_tau_median"].to_numpy())
    return {
        "curves": n,
        "options": CHECK_OPTIONS,
        "p_abs_diff_max": float(dp.max()),
        "p_abs_diff_median": float(np.median(dp)),
        "logz_diff_over_se_median": float(np.median(z)),
        "logz_share_beyond_3se": float(np.mean(z > 3)),
        "tau_median_abs_diff_max": float(np.nanmax(dq)),
    }


def reference_diagnostics(table: pd.DataFrame) -> dict:
    e = table["ref_ess_min"].to_numpy(float)
    return {
        "ess_min_median": float(np.median(e)),
        "ess_min_min": float(e.min()),
        "share_low_ess": float((e < LOW_ESS).mean()),
        "low_ess_threshold": LOW_ESS,
        "n_low_ess": int((e < LOW_ESS).sum()),
        "p_break_se_max": float(table["ref_p_break_se"].max()),
        "p_break_se_median": float(table["ref_p_break_se"].median()),
        "draws_per_kind_median": float(np.median(table[[f"ref_draws_{h}" for h in worlds_mod.KINDS]].to_numpy())),
    }


# ------------------------------------------------------------------------------------ writing


def _pass(v) -> str:
    return "n/a" if v is None else ("PASS" if v else "FAIL")


def markdown(res: dict, stem: str) -> str:
    s, m, mach = res["settings"], res["metrics"], res["machine"]
    t = res["timing"]
    head = SECTION + f" ({s['label'] + '; ' if s.get('label') else ''}{s['curves']} curves)"
    lines = [
        head,
        "",
        *([s["note"], ""] if s.get("note") else []),
        *(
            [
                f"**{s['curves']} curves, fewer than the {DEFAULT_CURVES} the project's targets are defined on**: the "
                f"first {s['curves']} curves of the {DEFAULT_CURVES}-curve suite of this seed (a smaller suite is a "
                "prefix of a larger one), so a later full run can be compared on them curve by curve.",
                "",
            ]
            if s["curves"] < DEFAULT_CURVES and not s.get("quick")
            else []
        ),
        f"Run {res['date']} by `{res['command']}`; git {mach['git_commit']}"
        + (
            f" with uncommitted changes to {len(mach['src_uncommitted'])} files under src/"
            if mach["src_uncommitted"]
            else ""
        )
        + (
            f", phasefit from `{mach['phasefit_path']}`. "
            if mach["phasefit_path"].startswith(str(ROOT / "src"))
            else f"; phasefit imported from a copy of src/ at git {mach['git_commit']} (`{mach['phasefit_path']}` on "
            "PYTHONPATH, made with `git archive`). "
        )
        + f"{mach['nproc']} cores ({mach['cpu']}), {mach['ram_gib']} GiB RAM; load average at the end "
        f"{', '.join(f'{x:.1f}' for x in mach['loadavg_at_end'])} (shared machine).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in (res.get("versions") or {}).items()) + ".",
        "",
        f"Suite: {s['curves']} curves, seed {s['seed']} (reporting seed {REPORT_SEED}; development seed "
        f"{DEV_SEED}), worlds {', '.join(s['worlds'])} in rotation, kinds break / smooth / flat 1/3 each; "
        f"phasefit `fit(seed={s['fit_seed']})`"
        + (
            f", draws {s['draws']}, tune {s['tune']}"
            if s.get("draws") or s.get("tune")
            else " with the spec's sampler settings"
        )
        + ". "
        f"Time: simulation {t['simulate_s']:.0f} s, reference "
        + (
            f"from `{s['reference_from']}`"
            if s.get("reference_from")
            else f"{t['reference_s']:.0f} s ({t['reference_s'] / s['curves']:.2f} s per curve, "
            f"{s['reference_jobs']} process(es))"
        )
        + ", phasefit "
        + (
            f"{t['fit_s']:.0f} s ({t['fit_s'] / s['curves']:.2f} s per curve)"
            if t.get("fit_s")
            else "from " + str(s.get("fits_from"))
        )
        + f", total {t['total_s']:.0f} s.",
        "",
        *(
            [
                f"Scores recomputed from saved fits (`{s['fits_from']}`): phasefit ran {fr['date']} by "
                f"`{fr['command']}`; git {fr['machine']['git_commit']}, phasefit from "
                f"`{fr['machine']['phasefit_path']}`. The versions above are that run's.",
                "",
            ]
            if (fr := res.get("fits_run")) and fr.get("machine")
            else []
        ),
        f"Per-curve table: `benchmarks/results/{stem}_curves.csv`; every number: `benchmarks/results/{stem}.json`. "
        "Positives: break curves; called: phasefit verdict `emergent`, reference P >= 0.9. *identifiable*: the "
        "break curves to which the Bayes-optimal reference gives P(break) >= 0.5, plus every smooth and flat "
        "curve (selected on the reference's own P, which favours the reference there). Intervals in decades "
        "of FLOPs; coverage over the true breaks each method calls; the reference's width for the width "
        "target is on the curves phasefit calls. *ref meets*: whether the Bayes-optimal reference itself "
        "meets the absolute target here.",
        "",
    ]
    ta, ti = res["targets"]["all"], res["targets"]["identifiable"]
    lines += [
        "| target | phasefit (all) | reference (all) | result | ref meets | phasefit (identifiable) | "
        "reference (identifiable) | result | ref meets |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a, b in zip(ta, ti, strict=True):
        lines.append(
            f"| {a['target']} | {_f(a['phasefit'], a['fmt'])} | {_f(a['reference'], a['fmt'])} | "
            f"{_pass(a['pass'])} | {_f(a['reference_meets'])} | {_f(b['phasefit'], b['fmt'])} | "
            f"{_f(b['reference'], b['fmt'])} | {_pass(b['pass'])} | {_f(b['reference_meets'])} |"
        )
    pa, ra = m["phasefit"]["all"], m["reference"]["all"]
    pi, ri = m["phasefit"]["identifiable"], m["reference"]["identifiable"]
    lines += [
        "",
        f"Curves: {pa['n']} ({pa['n_break']} break, {pa['n_smooth']} smooth, {pa['n_flat']} flat); "
        f"identifiable breaks {pi['n_break']}. Called: phasefit {pa['n_called']} ({pa['n_false_called']} false), "
        f"reference {ra['n_called']} ({ra['n_false_called']} false); on the identifiable subset phasefit "
        f"{pi['n_called']}, reference {ri['n_called']}. Curves without a phasefit P: {pa['n_p_missing']}.",
        "",
    ]
    if "pooled" in m:  # the population stage's P, scored the same way (it sets no verdict unless `decide`)
        qa, qi = m["pooled"]["all"], m["pooled"]["identifiable"]
        cov = qa["break_coverage"]
        lines += [
            "The population stage's pooled P(breakpoint) (`p_emergent_pooled`, learned rates and break "
            f"population), scored as a method of its own: AUC {_f(qa['auc'])} (identifiable {_f(qi['auc'])}), "
            f"TPR at P >= 0.9 {_f(qa['tpr'])} (identifiable {_f(qi['tpr'])}), precision {_f(qa['precision'])}, "
            f"FPR {_f(qa['fpr'])}, flat called {qa['flat_called']}, worst calibration bin "
            f"{_f(qa['calibration_worst'])}, median P on smooth curves {_f(qa['smooth_median_p'])}, break "
            f"coverage {cov['covered']}/{cov['n']} (median width {_f(cov['median_width'], '{:.2f}')}).",
            "",
        ]
    # secondary numbers
    rows = [
        ("mean P, break curves", "break_mean_p"),
        ("mean P, smooth curves", "smooth_mean_p"),
        ("median P, smooth curves", "smooth_median_p"),
        ("mean P, flat curves", "flat_mean_p"),
    ]
    lines += [
        "| | phasefit (all) | reference (all) | phasefit (identifiable) | reference (identifiable) |",
        "|---|---|---|---|---|",
    ]
    for label, key in rows:
        lines.append(f"| {label} | {_f(pa[key])} | {_f(ra[key])} | {_f(pi[key])} | {_f(ri[key])} |")
    for key, label in (("break_coverage", "break"), ("onset_coverage", "onset")):
        for who, d in (("phasefit", pa[key]), ("reference", ra[key])):
            lines.append(
                f"| {label} 90% interval, {who}: covered / n (below, above); median width; median "
                f"abs error of the median | {d['covered']}/{d['n']} ({d['below']}, {d['above']}); "
                f"{_f(d['median_width'], '{:.2f}')}; {_f(d['median_abs_error'], '{:.2f}')} | | | |"
            )
    lines += [
        "",
        "Per world (all curves of the world):",
        "",
        "| world | curves | AUC pf / ref | TPR pf / ref | precision pf / ref | FPR pf / ref | flat called "
        "pf / ref | break coverage pf / ref | median P smooth pf / ref |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in res["metrics"]["reference"]:
        if not name.startswith("world:"):
            continue
        p, r = m["phasefit"][name], m["reference"][name]
        lines.append(
            f"| {name[6:]} | {p['n']} | {_f(p['auc'])} / {_f(r['auc'])} | {_f(p['tpr'])} / {_f(r['tpr'])} | "
            f"{_f(p['precision'])} / {_f(r['precision'])} | {_f(p['fpr'])} / {_f(r['fpr'])} | "
            f"{p['flat_called']} / {r['flat_called']} | {_f(p['break_coverage']['share'])} / "
            f"{_f(r['break_coverage']['share'])} | {_f(p['smooth_median_p'])} / {_f(r['smooth_median_p'])} |"
        )
    pr, rr = m["phasefit"]["rising"], m["reference"]["rising"]
    lines += [
        "",
        f"Subset *rising* (a truth-based alternative to *identifiable*: the {pr['n_break']} breaks with >= 2 "
        f"models before the break and >= 2 after it whose expected score is >= {worlds_mod.RISE_SD:g} sd above the "
        f"pre-break line, + every smooth and flat curve): AUC {_f(pr['auc'])} / {_f(rr['auc'])}, TPR "
        f"{_f(pr['tpr'])} / {_f(rr['tpr'])}, break coverage {_f(pr['break_coverage']['share'])} / "
        f"{_f(rr['break_coverage']['share'])} (phasefit / reference).",
    ]
    lines += [
        "",
        "Calibration (all curves; observed = share of break curves in the bin):",
        "",
        "| bin | phasefit n | mean P | observed | reference n | mean P | observed |",
        "|---|---|---|---|---|---|---|",
    ]
    for a, b in zip(pa["calibration"], ra["calibration"], strict=True):
        lines.append(
            f"| {a['bin']} | {a['count']} | {_f(a['mean_p'])} | {_f(a['observed'])} | {b['count']} | "
            f"{_f(b['mean_p'])} | {_f(b['observed'])} |"
        )
    d = res["reference_diagnostics"]
    lines += [
        "",
        f"Reference Monte Carlo: median draws per kind {d['draws_per_kind_median']:.0f}; smallest ESS over the "
        f"three kinds: median {d['ess_min_median']:.0f}, minimum {d['ess_min_min']:.0f}; {d['n_low_ess']} curves "
        f"({d['share_low_ess']:.1%}) below {d['low_ess_threshold']:.0f}; SE of the reference P(break): median "
        f"{d['p_break_se_median']:.4f}, max {d['p_break_se_max']:.4f}.",
    ]
    return "\n".join(lines) + "\n"


def render_saved(json_path: Path, write: bool = True) -> str:
    """The RESULTS.md section of a saved accuracy*.json (e.g. after a change to this rendering), written
    between its markers unless `write` is false."""
    res = json.loads(Path(json_path).read_text())
    text = markdown(res, res["stem"])
    if write:
        label = res["settings"].get("label")
        key = "accuracy" + (f"-{label}" if label else "")
        write_results_md(
            f"<!-- {key}:start -->\n{text.rstrip()}\n<!-- {key}:end -->\n",
            f"<!-- {key}:start -->",
            f"<!-- {key}:end -->",
        )
    return text


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def _fits_meta(path: Path) -> dict | None:
    """The JSON written beside a saved *_curves.csv (None when there is none)."""
    j = path.with_name(path.name.removesuffix("_curves.csv") + ".json")
    if not path.name.endswith("_curves.csv") or not j.exists():
        return None
    return json.loads(j.read_text())


def _reuse(path: Path, prefix: str, truth: pd.DataFrame) -> pd.DataFrame:
    """The `prefix` columns of a saved per-curve table, after checking it is the same suite."""
    saved = pd.read_csv(path)
    need = truth[["task", "kind", "tau"]].merge(
        saved[["task", "kind", "tau"]], on="task", how="left", suffixes=("", "_saved")
    )
    if need["kind_saved"].isna().any():
        raise SystemExit(
            f"{path}: {int(need['kind_saved'].isna().sum())} curves of this suite are missing "
            "(other --curves or --seed?)"
        )
    same = (need["kind"] == need["kind_saved"]) & np.isclose(need["tau"].fillna(0), need["tau_saved"].fillna(0))
    if not same.all():
        raise SystemExit(f"{path}: the saved truth differs from this suite's (other --seed?)")
    cols = ["task"] + [c for c in saved.columns if c.startswith(prefix)]
    return saved[cols]


# --------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--curves", type=int, default=None, help=f"curves (default {DEFAULT_CURVES}; --quick {QUICK_CURVES})"
    )
    ap.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"suite seed (default: the reporting seed {REPORT_SEED}; --quick: the development seed {DEV_SEED})",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 24 curves, development seed, 300 draws / 300 tune; writes accuracy_quick*",
    )
    ap.add_argument("--reference-only", action="store_true", help="simulate, compute and score the reference only")
    ap.add_argument("--fits-from", type=Path, help="take phasefit's columns from a saved *_curves.csv (no fitting)")
    ap.add_argument("--reference-from", type=Path, help="take the reference's columns from a saved *_curves.csv")
    ap.add_argument("--label", default="", help="output stem accuracy_LABEL (e.g. before / after)")
    ap.add_argument("--fit-seed", type=int, default=FIT_SEED, help="phasefit's sampler seed")
    ap.add_argument("--draws", type=int, default=None)
    ap.add_argument("--tune", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=1, help="processes for the reference")
    ap.add_argument(
        "--check-reference",
        type=int,
        default=0,
        metavar="N",
        help="recompute the reference of the first N curves with ~4x the draws and compare",
    )
    ap.add_argument("--no-results-md", action="store_true", help="leave benchmarks/RESULTS.md alone")
    ap.add_argument(
        "--note", default="", help="a sentence printed under the section's heading (e.g. how the fits were made)"
    )
    ap.add_argument(
        "--work-dir",
        type=Path,
        default=RESULTS / ".work-accuracy",
        help="checkpoints of phasefit's fits (a rerun resumes; default benchmarks/results/.work-accuracy)",
    )
    ap.add_argument("--no-work-dir", action="store_true", help="no checkpoints of phasefit's fits")
    ap.add_argument(
        "--no-population",
        action="store_true",
        help="skip phasefit's population stage (fit and checkpoint the curves; a later run reuses them)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.curves = args.curves or QUICK_CURVES
        args.draws = args.draws or 300
        args.tune = args.tune or 300
        args.seed = DEV_SEED if args.seed is None else args.seed
    n = args.curves or DEFAULT_CURVES
    seed = REPORT_SEED if args.seed is None else args.seed
    stem = (
        "accuracy"
        + (f"_{args.label}" if args.label else "")
        + ("_reference" if args.reference_only else "")
        + ("_quick" if args.quick else "")
    )

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    data, truth = worlds_mod.simulate_suite(n, seed)
    import phasefit

    curves = phasefit.load_curves(data, x_axis="flops", min_points=4, name=f"accuracy-suite:seed={seed}")
    if len(curves) != n:
        raise SystemExit(f"load_curves kept {len(curves)} of {n} curves")
    t_sim = time.perf_counter() - t0
    log(f"accuracy benchmark: {n} curves (seed {seed}), simulated in {t_sim:.1f} s -> {stem}")

    t1 = time.perf_counter()
    if args.reference_from:
        ref = _reuse(args.reference_from, "ref_", truth)
        log(f"reference from {args.reference_from}")
    else:
        ref = compute_reference(data, truth, seed, jobs=args.jobs, log=log)
    t_ref = time.perf_counter() - t1
    log(f"reference: {t_ref:.0f} s")
    table = truth.merge(ref, on="task", how="left", validate="one_to_one")
    table["identifiable"] = sc.identifiable(table)
    ref_check = None
    if args.check_reference:
        t2 = time.perf_counter()
        ref_check = check_reference(data, truth, ref, seed, min(args.check_reference, n), args.jobs, log)
        ref_check["seconds"] = time.perf_counter() - t2
        log(f"reference check: {json.dumps(_jsonable(ref_check))}")

    with_pf = not args.reference_only
    fit_info: dict = {}
    t_fit = None
    fits_run = None
    if with_pf:
        if args.fits_from:
            pf = _reuse(args.fits_from, "pf_", truth)
            log(f"phasefit's fits from {args.fits_from}")
            meta = _fits_meta(args.fits_from)
            if meta is not None:  # the run that made the fits: its versions, code, settings and time
                fits_run = meta.get("fits_run") or {
                    "date": meta.get("date"),
                    "command": meta.get("command"),
                    "machine": meta.get("machine"),
                }
                fit_info = {**(meta.get("settings") or {}).get("fit", {}), "versions": meta.get("versions")}
                t_fit = (meta.get("timing") or {}).get("fit_s")
                for key in ("fit_seed", "draws", "tune"):
                    setattr(args, key, (meta.get("settings") or {}).get(key, getattr(args, key)))
        else:
            work = None if args.no_work_dir else args.work_dir
            log(f"fitting {n} curves with phasefit (checkpoints in {work}) ...")
            pf, fit_info = fit_phasefit(
                data,
                seed=seed,
                fit_seed=args.fit_seed,
                draws=args.draws,
                tune=args.tune,
                work_dir=work,
                population=not args.no_population,
            )
            t_fit = fit_info["fit_seconds"]
            log(f"phasefit: {t_fit:.0f} s ({t_fit / n:.2f} s per curve)")
        table = table.merge(pf, on="task", how="left", validate="one_to_one")
        table["pf_called"] = table["pf_called"].fillna(False).astype(bool)

    metrics = score_all(table, with_pf)
    mach = machine()
    res = {
        "benchmark": "accuracy",
        "stem": stem,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "benchmarks/accuracy.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": mach,
        "versions": fit_info.get("versions")
        or {"phasefit": mach["phasefit"], "numpy": mach["numpy"], "scipy": mach["scipy"]},
        "settings": {
            "curves": n,
            "seed": seed,
            "dev_seed": DEV_SEED,
            "report_seed": REPORT_SEED,
            "label": args.label,
            "note": args.note,
            "quick": args.quick,
            "reference_only": args.reference_only,
            "worlds": list(worlds_mod.WORLD_ORDER),
            "kind_weights": worlds_mod.KIND_WEIGHTS,
            "fit_seed": args.fit_seed,
            "draws": args.draws,
            "tune": args.tune,
            "fits_from": str(args.fits_from) if args.fits_from else None,
            "reference_from": str(args.reference_from) if args.reference_from else None,
            "reference_jobs": args.jobs,
            "importance_sampling": IS_OPTIONS,
            "call_threshold": sc.CALL,
            "onset_margin": worlds_mod.MARGIN,
            "onset_window_pad_decades": worlds_mod.ONSET_PAD,
            "rising_sd": worlds_mod.RISE_SD,
            "identifiable_p": sc.IDENTIFIABLE_P,
            "targets": sc.TARGETS,
            "priors": dict(worlds_mod.prior_summary()),
            "prior_predictive_priors": worlds_mod.PriorPredictive().describe(),
            "fit": {k: v for k, v in fit_info.items() if k != "versions"},
        },
        "timing": {
            "simulate_s": t_sim,
            "reference_s": t_ref,
            "fit_s": t_fit,
            "total_s": time.perf_counter() - t0,
            "fit_s_per_curve": (t_fit / n) if t_fit else None,
            "reference_s_per_curve": t_ref / n,
        },
        "reference_diagnostics": reference_diagnostics(table) if "ref_ess_min" in table else None,
        "fits_run": fits_run,
        "reference_check": ref_check,
        "metrics": metrics,
    }
    if with_pf:
        res["targets"] = metrics.pop("targets")
    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS / f"{stem}_curves.csv", index=False)
    (RESULTS / f"{stem}.json").write_text(json.dumps(_jsonable(res), indent=1) + "\n", encoding="utf-8")
    log(f"wrote {RESULTS / f'{stem}_curves.csv'} and {stem}.json")
    if with_pf:
        text = markdown(res, stem)
        if not args.quick and not args.no_results_md:
            key = "accuracy" + (f"-{args.label}" if args.label else "")
            start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
            write_results_md(f"{start}\n{text.rstrip()}\n{end}\n", start, end)
        print(text)
    else:
        r = metrics["reference"]
        for name in ("all", "identifiable", "rising", *[k for k in r if k.startswith("world:")]):
            v = r[name]
            print(
                f"{name:<26} n {v['n']:4d}  AUC {v['auc']:.3f}  TPR {v['tpr']:.3f}  precision {_f(v['precision'])}  "
                f"FPR {v['fpr']:.3f}  flat called {v['flat_called']}  calib worst {_f(v['calibration_worst'])}  "
                f"break cov {_f(v['break_coverage']['share'])} (n {v['break_coverage']['n']}, width "
                f"{_f(v['break_coverage']['median_width'], '{:.2f}')})  onset cov {_f(v['onset_coverage']['share'])} "
                f"(n {v['onset_coverage']['n']})  smooth median P {_f(v['smooth_median_p'])}"
            )
        print(json.dumps(_jsonable(res["reference_diagnostics"]), indent=1))
        if ref_check:
            print(json.dumps(_jsonable(ref_check), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
