"""Point-fit baselines on the accuracy suite: what a user gets from a least-squares sigmoid, a least-squares
broken line in log-odds (a broken power law in the odds) and BIG-bench's breakthroughness / linearity, beside
phasefit and the Bayes-optimal reference.

The curves are those `accuracy.py` scores phasefit on: `accuracy_worlds.simulate_suite(curves, seed)`, each
curve's points read with `design_of` / `counts_of` exactly as accuracy.py's reference reads them (x = log10
FLOPs, k correct of n items, floor = chance). Per curve, every baseline is fitted and timed here, in one
process; phasefit's and the reference's per-curve results are read from the committed table
(`results/accuracy_after_curves.csv`, checked to be this suite: same tasks, worlds, kinds, breaks, sizes),
never refitted. Each baseline's threshold is the value of its score that calls 2% of the break-free curves
emergent on the development seed (accuracy.py's DEV_SEED), fitted and scored the same way; nothing is tuned
on the reporting seed. Scores as in `accuracy_scoring`: positives are the break curves, AUC on all curves
and on the identifiable subset, TPR / FPR / flat curves called at the threshold, median |break estimate -
true break| (decades) over the break curves each method calls.

Writes results/point_fits_curves.csv (one row per curve: truth, every baseline's fit and score, the
committed phasefit and reference columns), results/point_fits.json (every number, thresholds, timings,
checks, machine) and the section `point_fits` of RESULTS.md.

    .venv/bin/python benchmarks/point_fits.py                     # 600 curves, reporting seed (~2-4 min)
    .venv/bin/python benchmarks/point_fits.py --curves 60 --no-results-md   # a smoke run
    make bench-point-fits
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import accuracy as acc  # noqa: E402
import accuracy_scoring as sc  # noqa: E402
import accuracy_worlds as worlds_mod  # noqa: E402

from phasefit.evidence.baselines import CLIP as BT_CLIP  # noqa: E402
from phasefit.evidence.baselines import breakthroughness, linearity  # noqa: E402

from _common import auc, git_state, machine, markers, now, write_json, write_results_md  # noqa: E402
from _common import fmt_value as _f  # noqa: E402

RESULTS = HERE / "results"
BASELINES_SRC = "src/phasefit/evidence/baselines.py"  # the only phasefit code the baselines use
COMMITTED = RESULTS / "accuracy_after_curves.csv"  # phasefit's and the reference's per-curve results
DEV_REFERENCE = RESULTS / "accuracy_dev_reference_curves.csv"  # the reference on the development seed
REFERENCE_JSON = RESULTS / "accuracy_reference.json"  # the reference's run time
NAME = "point_fits"
SECTION = "## Point-fit baselines on the accuracy suite"

FPR_TARGET = 0.02  # every baseline's threshold: the score that calls this share of break-free dev curves
BIC_RULE = 10.0  # the conventional "very strong" BIC difference (Kass & Raftery), the hinge's user rule
SIG_K_MAX = 50.0  # sigmoid steepness bound, per decade (a step)
SIG_K_STARTS = (1.0, 4.0, 16.0)
SIG_M_STARTS = (0.25, 0.5, 0.75)  # midpoint starts, as shares of the span
SIG_MIN_RISE = 0.1  # the sigmoid's rise must be >= this share of the above-chance range (1 - floor)
HINGE_GRID = 101  # break grid points between the second and the second-to-last model


# ------------------------------------------------------------------------------------------ suite


def suite_points(n: int, seed: int) -> tuple[pd.DataFrame, list[dict]]:
    """accuracy.py's suite (truth table) and every curve's points, read the way its reference reads them."""
    data, truth = worlds_mod.simulate_suite(n, seed)
    groups = dict(tuple(data.groupby("task", sort=False)))
    points = []
    for t in truth.itertuples():
        df = groups[t.task]
        d = worlds_mod.design_of(df)
        k = worlds_mod.counts_of(df)
        points.append({"x": d.x, "k": k, "n": d.n, "floor": d.floor, "y": k / d.n})
    return truth, points


# ---------------------------------------------------------------------------------------- sigmoid


def _sigmoid(p, x):
    lo, amp, k, m = p
    return lo + amp * special.expit(k * (x - m))


def fit_sigmoid(x: np.ndarray, y: np.ndarray, floor: float) -> dict:
    """Unweighted least squares (scipy `least_squares`, trf, bounds) of y = lo + amp logistic(k (x - m)),
    lo and amp in [0, 1], k in [0, SIG_K_MAX] per decade (rising), m within one span of the data; 9 starts
    (k 1, 4, 16 x m at 1/4, 1/2, 3/4 of the span), the lowest cost kept.

    Score (the user's rule): the steepness k when the midpoint lies inside the data and the rise is at least
    SIG_MIN_RISE of the above-chance range, else 0. Break estimate: where the tangent at the midpoint meets
    the lower asymptote, m - 2 / k (NaN when k = 0)."""
    x_lo, x_hi = float(x[0]), float(x[-1])
    span = x_hi - x_lo
    lo_b = [0.0, 0.0, 0.0, x_lo - span]
    hi_b = [1.0, 1.0, SIG_K_MAX, x_hi + span]
    lo0, amp0 = float(y.min()), max(float(y.max() - y.min()), 0.01)
    best = None
    for k0 in SIG_K_STARTS:
        for f0 in SIG_M_STARTS:
            p0 = np.clip([lo0, amp0, k0, x_lo + f0 * span], lo_b, hi_b)
            r = optimize.least_squares(lambda p: _sigmoid(p, x) - y, p0, bounds=(lo_b, hi_b), method="trf")
            if best is None or r.cost < best.cost:
                best = r
    lo, amp, k, m = (float(v) for v in best.x)
    inside = x_lo < m < x_hi
    real = amp >= SIG_MIN_RISE * (1.0 - floor)
    return {
        "sig_lo": lo,
        "sig_amp": amp,
        "sig_k": k,
        "sig_m": m,
        "sig_rss": 2.0 * float(best.cost),
        "sig_inside": inside,
        "sig_rise_ok": real,
        "sig_score": k if inside and real else 0.0,
        "sig_tau": m - 2.0 / k if k > 0 else float("nan"),
    }


# ------------------------------------------------------------------------------------------ hinge


def empirical_logit(k: np.ndarray, n: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds of the above-chance share, log((a + 1/2) / (b + 1/2)) with a = max(k - n floor, 0) the
    successes above chance and b = n - k the failures, and its variance 1 / (a + 1/2) + 1 / (b + 1/2)."""
    a = np.maximum(k - n * floor, 0.0)
    b = n - k
    return np.log((a + 0.5) / (b + 0.5)), 1.0 / (a + 0.5) + 1.0 / (b + 0.5)


def _wls(X: np.ndarray, z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of z on the columns of X (batched over the leading axes): coefficients, chi2."""
    A = np.einsum("...ij,i,...ik->...jk", X, w, X)
    b = np.einsum("...ij,i,i->...j", X, w, z)
    beta = np.linalg.solve(A, b[..., None])[..., 0]
    res = z - np.einsum("...ij,...j->...i", X, beta)
    return beta, np.einsum("...i,i->...", res**2, w)


def _hinge_design(x: np.ndarray, tau) -> np.ndarray:
    tau = np.asarray(tau, float)[..., None]
    d = x - tau
    return np.stack([np.ones_like(d), d, np.maximum(d, 0.0)], axis=-1)


def fit_hinge(x: np.ndarray, k: np.ndarray, n: np.ndarray, floor: float) -> dict:
    """A broken line in the log-odds of the above-chance share (`empirical_logit`) against log10 FLOPs, a
    broken power law in the odds: z = a + b (x - tau) + c max(x - tau, 0) with c >= 0 (the slope may only
    rise at the break), by weighted least squares (weights 1 / variance of the empirical logit). For each
    tau the fit is linear (c < 0 -> the straight line); tau on a grid of HINGE_GRID points in [x_(2),
    x_(m-1)], then refined by a bounded scalar search between the best point's neighbours.

    Scores: dBIC = chi2_line - chi2_hinge - 2 ln m (two more parameters, binomial variance taken as known);
    F = ((chi2_line - chi2_hinge) / 2) / (chi2_hinge / (m - 4)), the same drop over the residual dispersion
    (needs m >= 5 points; 0 for 4-point curves). Break estimate: tau (NaN when the best fit is the line)."""
    x, k, n = np.asarray(x, float), np.asarray(k, float), np.asarray(n, float)
    m = len(x)
    z, var = empirical_logit(k, n, floor)
    w = 1.0 / var
    X_line = np.stack([np.ones_like(x), x - x.mean()], axis=-1)
    _, chi2_line = _wls(X_line, z, w)
    chi2_line = float(chi2_line)

    def chi2_at(tau):
        beta, chi2 = _wls(_hinge_design(x, tau), z, w)
        return np.where(beta[..., 2] > 0, np.minimum(chi2, chi2_line), chi2_line), beta

    grid = np.linspace(x[1], x[-2], HINGE_GRID)
    c2, _ = chi2_at(grid)
    i = int(np.argmin(c2))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    tau, best = float(grid[i]), float(c2[i])
    if hi > lo:
        r = optimize.minimize_scalar(lambda t: float(chi2_at(t)[0]), bounds=(lo, hi), method="bounded")
        if r.fun < best:
            tau, best = float(r.x), float(r.fun)
    _, beta = chi2_at(tau)
    kinked = bool(beta[2] > 0 and best < chi2_line)
    drop = chi2_line - best if kinked else 0.0
    f = (drop / 2.0) / (best / (m - 4)) if m > 4 and best > 0 else (math.inf if m > 4 and drop > 0 else 0.0)
    return {
        "hinge_tau": tau if kinked else float("nan"),
        "hinge_slope_before": float(beta[1]) if kinked else float("nan"),
        "hinge_slope_after": float(beta[1] + beta[2]) if kinked else float("nan"),
        "hinge_chi2": best if kinked else chi2_line,
        "line_chi2": chi2_line,
        "hinge_dbic": drop - 2.0 * math.log(m),
        "hinge_f": float(f),
    }


# ----------------------------------------------------------------------------------- the baselines


def run_baselines(points: list[dict], log=None) -> tuple[pd.DataFrame, dict]:
    """Every baseline on every curve, each timed on its own (wall seconds, summed over the curves)."""
    rows, secs = [], {"sigmoid": 0.0, "hinge": 0.0, "bigbench": 0.0}
    t_start = time.perf_counter()
    for i, p in enumerate(points):
        t0 = time.perf_counter()
        sig = fit_sigmoid(p["x"], p["y"], p["floor"])
        t1 = time.perf_counter()
        hin = fit_hinge(p["x"], p["k"], p["n"], p["floor"])
        t2 = time.perf_counter()
        bb = {"breakthroughness": breakthroughness(p["x"], p["y"]), "linearity": linearity(p["x"], p["y"])}
        t3 = time.perf_counter()
        secs["sigmoid"] += t1 - t0
        secs["hinge"] += t2 - t1
        secs["bigbench"] += t3 - t2
        rows.append(sig | hin | bb)
        if log and (i + 1) % 100 == 0:
            log(f"  {i + 1}/{len(points)} curves, {time.perf_counter() - t_start:.0f} s")
    return pd.DataFrame(rows), secs


# ----------------------------------------------------------------------------------------- scoring


def threshold_at_fpr(score, positive, fpr: float = FPR_TARGET) -> float:
    """The smallest threshold t such that `score >= t` calls at most floor(fpr x negatives) negatives
    (NaN scores are never called)."""
    score, positive = np.asarray(score, float), np.asarray(positive, bool)
    neg = np.sort(score[~positive & np.isfinite(score)])[::-1]
    allowed = int(math.floor(fpr * len(neg)))
    if allowed >= len(neg):
        return -math.inf
    return float(np.nextafter(neg[allowed], np.inf))


def _median_abs(est, truth) -> tuple[float, int]:
    d = np.abs(np.asarray(est, float) - np.asarray(truth, float))
    d = d[np.isfinite(d)]
    return (float(np.median(d)) if len(d) else float("nan")), len(d)


def score_method(table: pd.DataFrame, score: str, called: np.ndarray | None, tau: str | None) -> dict:
    """AUC of `score` (all, identifiable, per world); TPR, FPR, precision, flat curves called at `called`;
    median |break estimate - true break| over the called breaks and over all identifiable breaks."""
    kind = table["kind"].to_numpy()
    brk, flat = kind == "break", kind == "flat"
    s = table[score].to_numpy(float)
    out: dict = {"auc": auc(s, brk), "n_score_missing": int((~np.isfinite(s)).sum())}
    ident = table["identifiable"].to_numpy(bool) if "identifiable" in table else None
    out["auc_identifiable"] = auc(s[~brk | ident], brk[~brk | ident]) if ident is not None else float("nan")
    out["auc_world"] = {
        w: auc(s[(table["world"] == w).to_numpy()], brk[(table["world"] == w).to_numpy()])
        for w in dict.fromkeys(table["world"])
    }
    if called is not None:
        called = np.asarray(called, bool)
        n_called = int(called.sum())
        out |= {
            "n_called": n_called,
            "tpr": float((called & brk).sum() / brk.sum()) if brk.any() else float("nan"),
            "fpr": float((called & ~brk).sum() / (~brk).sum()) if (~brk).any() else float("nan"),
            "precision": float((called & brk).sum() / n_called) if n_called else float("nan"),
            "n_false_called": int((called & ~brk).sum()),
            "flat_called": int((called & flat).sum()),
        }
        if ident is not None:
            out["tpr_identifiable"] = float((called & ident).sum() / ident.sum()) if ident.any() else float("nan")
    if tau is not None:
        est, truth = table[tau].to_numpy(float), table["tau"].to_numpy(float)
        if called is not None:
            sel = np.asarray(called, bool) & brk
            out["break_error_called"], out["break_error_called_n"] = _median_abs(est[sel], truth[sel])
        if ident is not None:
            out["break_error_identifiable"], out["break_error_identifiable_n"] = _median_abs(est[ident], truth[ident])
            out["break_error_identifiable_of"] = int(ident.sum())
    return out


# ------------------------------------------------------------------------------ committed results


def committed_columns(path: Path, truth: pd.DataFrame, log) -> tuple[pd.DataFrame | None, dict]:
    """The reference's and phasefit's columns of a committed accuracy table, after checking it holds this
    suite: accuracy.py's own check (`_reuse`: every task, kind and break) and the same worlds, sizes,
    n_items and floors."""
    check: dict = {"path": str(path.relative_to(HERE.parent)) if path.is_relative_to(HERE.parent) else str(path)}
    if not path.exists():
        log(f"{path} is missing: no reference or phasefit columns")
        return None, check | {"matches": False, "why": "missing"}
    try:
        cols = acc._reuse(path, "ref_", truth).merge(
            acc._reuse(path, "pf_", truth), on="task", how="left", validate="one_to_one"
        )
    except SystemExit as e:  # another seed or size than the committed table's
        log(f"{e}: no reference or phasefit columns")
        return None, check | {"matches": False, "why": str(e)}
    saved = pd.read_csv(path).set_index("task").loc[truth["task"]]
    same = {}
    for c in ("world", "kind", "n_points", "n_items", "floor"):
        same[c] = bool((saved[c].to_numpy() == truth[c].to_numpy()).all())
    same["x_min"] = bool(np.allclose(saved["x_min"].to_numpy(float), truth["x_min"].to_numpy(float)))
    same["tau"] = bool(
        np.allclose(saved["tau"].to_numpy(float), truth["tau"].to_numpy(float), equal_nan=True, atol=1e-9)
    )
    if not all(same.values()):
        raise SystemExit(f"{path}: the regenerated suite differs from the committed one: {same}")
    return cols, check | {"matches": True, "columns_equal": same, "curves": len(truth)}


def phasefit_time(path: Path) -> dict:
    """phasefit's seconds per curve from the committed accuracy run (not re-timed here): the per-curve fits
    as its note records them plus the population stage (its `timing.fit_s`)."""
    meta = json.loads(path.read_text())
    curves = meta["settings"]["curves"]
    pop = float(meta["timing"]["fit_s"])
    m = re.search(r"([\d.]+) s = ([\d.]+) s per curve", meta["settings"].get("note") or "")
    fits = float(m.group(1)) if m else 0.0  # no note: the run fitted the curves itself, inside timing.fit_s
    return {
        "source": (
            f"results/{path.name}: per-curve fits {fits:.0f} s (its note) + population stage and tables "
            f"{pop:.0f} s (timing.fit_s)"
            if m
            else f"results/{path.name}: timing.fit_s {pop:.0f} s"
        )
        + f", {curves} curves, {meta['machine']['nproc']} shared cores",
        "per_curve_fits_s": fits,
        "population_s": pop,
        "s_per_curve": (fits + pop) / curves,
    }


def reference_time(path: Path) -> dict:
    meta = json.loads(path.read_text())
    t, s = meta["timing"], meta["settings"]
    return {
        "source": f"results/{path.name}: {t['reference_s']:.0f} s wall for {s['curves']} curves with "
        f"{s['reference_jobs']} processes",
        "s_per_curve": float(t["reference_s_per_curve"]),
    }


# ------------------------------------------------------------------------------------------ writing


METHODS = (  # key, label, score column, tau column
    ("phasefit", "phasefit, verdict `emergent` (P >= 0.9)", "pf_p", "pf_tau_median"),
    ("reference", "Bayes-optimal reference, P >= 0.9", "ref_p", "ref_tau_median"),
    ("reference_dev", "Bayes-optimal reference, P >= dev threshold", "ref_p", "ref_tau_median"),
    ("sigmoid", "LSQ sigmoid: steepness k, midpoint inside, rise >= 10%", "sig_score", "sig_tau"),
    ("sigmoid_k", "LSQ sigmoid: raw steepness k", "sig_k", "sig_tau"),
    ("hinge", "LSQ broken line in log-odds: dBIC", "hinge_dbic", "hinge_tau"),
    ("hinge_bic10", "LSQ broken line in log-odds: dBIC > 10", "hinge_dbic", "hinge_tau"),
    ("hinge_f", "LSQ broken line in log-odds: F (dispersion from residuals)", "hinge_f", "hinge_tau"),
    ("breakthroughness", "BIG-bench breakthroughness", "breakthroughness", None),
    ("linearity", "BIG-bench linearity", "linearity", None),
)


def _rule(key: str, thr: dict, m: dict) -> str:
    t = thr.get(key)
    if key == "phasefit":
        same = m["phasefit"].get("tpr_at_p09_equals_verdict")
        return "verdict emergent (P >= 0.9, fit not failed), fixed in advance" + (
            "; the same calls as P >= 0.9 here" if same else "; P >= 0.9 alone calls other curves"
        )
    if key == "reference":
        return "P >= 0.9, fixed in advance"
    if key == "hinge_bic10":
        return f"dBIC > {BIC_RULE:g} (convention)"
    return f">= {_f(t, '{:.4g}')} (dev FPR {FPR_TARGET:.0%})" if t is not None else "n/a"


SHORT = {
    "phasefit": "phasefit",
    "reference": "the reference",
    "sigmoid": "the sigmoid's gated steepness",
    "sigmoid_k": "the sigmoid's raw steepness",
    "hinge": "the broken line's dBIC",
    "hinge_f": "the broken line's F",
    "breakthroughness": "breakthroughness",
    "linearity": "linearity",
}


def reading(res: dict) -> list[str]:
    """A paragraph that reads the numbers (no number is written by hand)."""
    m, d = res["metrics"], res["diagnostics"]
    base = [k for k in ("sigmoid", "sigmoid_k", "hinge", "hinge_f", "breakthroughness", "linearity") if k in m]
    best = max(base, key=lambda k: m[k]["auc"])
    best_id = max(base, key=lambda k: m[k]["auc_identifiable"] if math.isfinite(m[k]["auc_identifiable"]) else -1)
    pf, ref = m.get("phasefit"), m.get("reference")
    out = []
    s = (
        f"The best point-fit score by AUC is {SHORT[best]} ({_f(m[best]['auc'])} on all curves, "
        f"{_f(m[best]['auc_identifiable'])} on the identifiable subset"
        + (f"; there {SHORT[best_id]} does best, {_f(m[best_id]['auc_identifiable'])}" if best_id != best else "")
        + ")"
    )
    if pf and ref:
        gap = pf["auc"] - m[best]["auc"]
        gap_id = pf["auc_identifiable"] - m[best_id]["auc_identifiable"]
        s += (
            f"; phasefit's P(emergent) ranks the curves {'better' if gap > 0 else 'worse'} by {abs(gap):.3f} AUC "
            f"({_f(pf['auc'])}) and by {abs(gap_id):.3f} on the identifiable subset "
            f"({'above' if gap_id > 0 else 'below'}: {_f(pf['auc_identifiable'])}), the reference reaches "
            f"{_f(ref['auc'])} ({_f(ref['auc_identifiable'])})."
        )
    else:
        s += "."
    out.append(s)
    tprs = {k: m[k]["tpr"] for k in base}
    top = max(tprs, key=tprs.get)
    s = f"At their development thresholds (FPR <= {FPR_TARGET:.0%} on seed {res['settings']['dev_seed']}) the " + (
        f"baselines find at most {_f(tprs[top])} of the breaks ({SHORT[top]}, FPR {_f(m[top]['fpr'])}, "
        f"{m[top]['flat_called']} flat curves called)"
        if tprs[top] > 0
        else "baselines call none of the breaks"
    )
    if pf:
        s += f"; phasefit's verdicts find {_f(pf['tpr'])} at FPR {_f(pf['fpr'])} with a threshold fixed in advance" + (
            f", the reference at its own development threshold {_f(m['reference_dev']['tpr'])} at FPR "
            f"{_f(m['reference_dev']['fpr'])}"
            if "reference_dev" in m
            else ""
        )
    out.append(s + ".")
    h, hb = m.get("hinge"), m.get("hinge_bic10")
    if h and hb:
        out.append(
            f"Without a labelled suite to calibrate on, a user of the broken line applies the convention dBIC > "
            f"{BIC_RULE:g}: it finds {_f(hb['tpr'])} of the breaks but calls {hb['n_false_called']} break-free "
            f"curves emergent (FPR {_f(hb['fpr'])}, {hb['flat_called']} of them flat, precision "
            f"{_f(hb['precision'])}). Its weights take the binomial variance as known: it calls "
            f"{_f(d['bic10_fpr_overdispersed'], '{:.0%}')} of the over-dispersed break-free curves and "
            f"{_f(d['bic10_fpr_binomial'], '{:.0%}')} of the binomial ones (the development threshold is dBIC >= "
            f"{_f(res['thresholds']['hinge'], '{:.0f}')})."
        )
    if "sig_k_at_bound" in d:
        kb = d["sig_k_at_bound"]
        s = (
            f"The sigmoid's steepness sits at (within 1% of) its bound ({SIG_K_MAX:g} per decade) on "
            f"{_f(kb['all'], '{:.0%}')} of the curves ({_f(kb['flat'], '{:.0%}')} of the flat ones, "
            f"{_f(kb['break'], '{:.0%}')} of the breaks): with a few models per curve any jump between two "
            "neighbours fits as a step, so the raw "
            f"steepness ranks the curves {'worse than chance' if m['sigmoid_k']['auc'] < 0.5 else 'poorly'} "
            f"(AUC {_f(m['sigmoid_k']['auc'])})"
        )
        if "breakthroughness" in m and d.get("bt_clipped_dev_negatives"):
            s += (
                f". Breakthroughness is clipped at its maximum on {d['bt_clipped_dev_negatives']} of the break-free "
                "development curves (at least half of their steps are zero: flat curves at chance)"
                + (
                    ", so no threshold with FPR <= 2% calls anything"
                    if m["breakthroughness"].get("n_called") == 0
                    else ""
                )
            )
        out.append(s + ".")
    if pf and h:
        e = {k: m[k].get("break_error_identifiable") for k in ("phasefit", "reference", "hinge", "sigmoid")}
        out.append(
            f"Break location on the identifiable breaks (each method's estimate where it has one, called or not): "
            f"median error {_f(e['phasefit'], '{:.2f}')} decades for phasefit's posterior median, "
            f"{_f(e['hinge'], '{:.2f}')} for the broken line's tau, {_f(e['sigmoid'], '{:.2f}')} for the sigmoid's "
            f"tangent onset, {_f(e['reference'], '{:.2f}')} for the reference; on the breaks it calls at its "
            f"development threshold the broken line is off by {_f(h.get('break_error_called'), '{:.2f}')} "
            f"({h.get('break_error_called_n')} curves), phasefit on its calls by "
            f"{_f(pf.get('break_error_called'), '{:.2f}')} ({pf.get('break_error_called_n')})."
        )
    t = res["timing"]
    s = (
        f"Time: {t['sigmoid_s_per_curve'] * 1e3:.0f} ms per curve for the sigmoid (9 starts), "
        f"{t['hinge_s_per_curve'] * 1e3:.1f} ms for the broken line, {t['bigbench_s_per_curve'] * 1e6:.0f} us for "
        "breakthroughness and linearity"
    )
    if res.get("phasefit_time"):
        s += f"; phasefit {res['phasefit_time']['s_per_curve']:.1f} s per curve (committed run, not re-timed)"
    out.append(s + ".")
    return out


def markdown(res: dict) -> str:
    s, m, t, mach = res["settings"], res["metrics"], res["timing"], res["machine"]
    thr = res["thresholds"]
    secs = {
        "phasefit": res["phasefit_time"]["s_per_curve"] if res.get("phasefit_time") else None,
        "reference": res["reference_time"]["s_per_curve"] if res.get("reference_time") else None,
        "sigmoid": t["sigmoid_s_per_curve"],
        "hinge": t["hinge_s_per_curve"],
        "breakthroughness": t["bigbench_s_per_curve"],
    }
    secs |= {
        "reference_dev": secs["reference"],
        "sigmoid_k": secs["sigmoid"],
        "hinge_bic10": secs["hinge"],
        "hinge_f": secs["hinge"],
        "linearity": secs["breakthroughness"],
    }
    lines = [
        SECTION + f" ({s['curves']} curves)",
        "",
        f"Run {res['date']} by `{res['command']}`; git {res['git_commit'][:7]}"
        + (
            f" (uncommitted under src/: {len(res['src_uncommitted'])} files; "
            + ("among them" if any(BASELINES_SRC in f for f in res["src_uncommitted"]) else "not among them")
            + f" `{BASELINES_SRC}`, the only phasefit code used here)"
            if res["src_uncommitted"]
            else ""
        )
        + f"; {mach['nproc']} cores ({mach['cpu']}), load average at the start "
        f"{', '.join(f'{x:.1f}' for x in res['loadavg_start'])}, at the end "
        f"{', '.join(f'{x:.1f}' for x in mach['loadavg'])} (shared machine); numpy {res['versions']['numpy']}, "
        f"scipy {res['versions']['scipy']}.",
        "",
        f"Suite: accuracy.py's, {s['curves']} curves of seed {s['seed']} (worlds hinge / logistic / powerlaw / "
        f"prior_predictive, kinds break / smooth / flat 1/3 each), regenerated with `simulate_suite` and read "
        "with `design_of` / `counts_of`"
        + (
            f"; checked against `{res['committed']['path']}` (same tasks, worlds, kinds, breaks, n_points, "
            "n_items, floors), whose phasefit and reference columns are used as they are (not refitted)"
            if res["committed"].get("matches")
            else "; no committed phasefit / reference table for this suite"
        )
        + (
            f". BIG-bench breakthroughness computed here equals phasefit's own column "
            f"(max |diff| {res['checks']['breakthroughness_max_abs_diff']:.1e})"
            if res["checks"].get("breakthroughness_max_abs_diff") is not None
            else ""
        )
        + ".",
        "",
        f"Thresholds: every baseline score is cut where it calls {FPR_TARGET:.0%} of the break-free curves "
        f"(smooth + flat) emergent on the development suite ({s['dev_curves']} curves of seed {s['dev_seed']}, "
        "fitted the same way); the reporting seed is not used to choose anything. That is generous to the "
        "baselines: a user has no labelled suite to calibrate on. The reference's development threshold comes "
        f"from `{s['dev_reference']}`"
        + ("" if "reference_dev" in m else " (not available for this development suite)")
        + ".",
        "",
        "Baselines: *LSQ sigmoid*: y = lo + amp logistic(k (x - m)) by unweighted least squares on the score "
        f"(k in [0, {SIG_K_MAX:g}] per decade, 9 starts), score = k when the midpoint lies inside the data and "
        f"amp >= {SIG_MIN_RISE:g} (1 - chance), else 0; break estimate m - 2/k (the midpoint tangent meets the "
        "lower asymptote). *LSQ broken line in log-odds* (a broken power law in the odds of the above-chance "
        "share): z = a + b (x - tau) + c max(x - tau, 0), c >= 0, weighted least squares on the empirical logit "
        "(weights its binomial inverse variance), tau on a grid between the second and the second-to-last model "
        "then refined; dBIC = chi2 drop against one straight line - 2 ln m; F = the same drop over the residual "
        "dispersion (m >= 5; 4-point curves score 0); break estimate tau. *BIG-bench*: "
        "`phasefit.evidence.baselines` on the score. Break error: median |estimate - true break| in decades, "
        "over the break curves the method calls, and over all identifiable breaks (called or not; n = curves "
        "with an estimate).",
        "",
        "| method | threshold | AUC all | AUC identifiable | TPR | TPR identifiable | FPR | precision | flat "
        "called | break error, called (n) | break error, identifiable (n) | s per curve |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label, *_ in METHODS:
        if key not in m:
            continue
        r = m[key]
        sec = secs.get(key)
        lines.append(
            f"| {label} | {_rule(key, thr, m)} | {_f(r['auc'])} | {_f(r['auc_identifiable'])} | {_f(r.get('tpr'))} | "
            f"{_f(r.get('tpr_identifiable'))} | {_f(r.get('fpr'))} | {_f(r.get('precision'))} | "
            f"{_f(r.get('flat_called'))} | "
            + (
                f"{_f(r['break_error_called'], '{:.2f}')} ({r['break_error_called_n']})"
                if "break_error_called" in r
                else "n/a"
            )
            + " | "
            + (
                f"{_f(r['break_error_identifiable'], '{:.2f}')} ({r['break_error_identifiable_n']})"
                if "break_error_identifiable" in r
                else "n/a"
            )
            + f" | {_f(sec, '{:.2g}') if sec is not None else 'n/a'} |"
        )
    worlds = list(next(iter(m.values()))["auc_world"])
    lines += [
        "",
        "AUC per world (all curves of the world):",
        "",
        "| method | " + " | ".join(worlds) + " |",
        "|---|" + "---|" * len(worlds),
    ]
    seen = set()
    for key, label, score, _ in METHODS:
        if key not in m or score in seen:
            continue
        seen.add(score)
        lines.append(
            f"| {label.split(':')[0].split(',')[0]} ({score}) | "
            + " | ".join(_f(m[key]["auc_world"][w]) for w in worlds)
            + " |"
        )
    lines += [
        "",
        "Times: the baselines timed in this run, one process, summed over the curves (fits only; simulation "
        "excluded). "
        + (f"phasefit: {res['phasefit_time']['source']}, not re-timed here. " if res.get("phasefit_time") else "")
        + (f"Reference: {res['reference_time']['source']}. " if res.get("reference_time") else "")
        + f"Per-curve table: `benchmarks/results/{NAME}_curves.csv`; every number: `benchmarks/results/{NAME}.json`.",
        "",
        "**Reading** (generated from the numbers above). " + " ".join(reading(res)),
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--curves", type=int, default=acc.DEFAULT_CURVES, help="curves of the scored suite")
    ap.add_argument("--seed", type=int, default=acc.REPORT_SEED, help="suite seed (default: the reporting seed)")
    ap.add_argument("--dev-seed", type=int, default=acc.DEV_SEED, help="seed of the suite the thresholds are set on")
    ap.add_argument("--dev-curves", type=int, default=acc.DEFAULT_CURVES, help="curves of the development suite")
    ap.add_argument("--committed", type=Path, default=COMMITTED, help="accuracy table with phasefit's fits")
    ap.add_argument("--out-dir", type=Path, default=RESULTS, help="where the JSON and CSV go")
    ap.add_argument("--no-results-md", action="store_true", help="leave benchmarks/RESULTS.md alone")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    load_start = list(os.getloadavg())
    t0 = time.perf_counter()

    # thresholds on the development suite
    dev_truth, dev_points = suite_points(args.dev_curves, args.dev_seed)
    log(f"development suite: {args.dev_curves} curves of seed {args.dev_seed}; fitting the baselines ...")
    dev_fits, _ = run_baselines(dev_points, log)
    dev = pd.concat([dev_truth[["task", "world", "kind"]].reset_index(drop=True), dev_fits], axis=1)
    dev_pos = (dev["kind"] == "break").to_numpy()
    scores = {
        "sigmoid": "sig_score",
        "sigmoid_k": "sig_k",
        "hinge": "hinge_dbic",
        "hinge_f": "hinge_f",
        "breakthroughness": "breakthroughness",
        "linearity": "linearity",
    }
    thresholds = {key: threshold_at_fpr(dev[col], dev_pos) for key, col in scores.items()}
    dev_ref_cols, dev_ref_check = committed_columns(DEV_REFERENCE, dev_truth, log)
    if dev_ref_cols is not None:
        d = dev_truth[["task", "kind"]].merge(dev_ref_cols[["task", "ref_p"]], on="task")
        thresholds["reference_dev"] = threshold_at_fpr(d["ref_p"], (d["kind"] == "break").to_numpy())
    dev_clip = dev["breakthroughness"].abs().to_numpy(float) >= BT_CLIP
    t_dev = time.perf_counter() - t0
    log(f"thresholds (dev FPR {FPR_TARGET:.0%}): {json.dumps({k: round(v, 4) for k, v in thresholds.items()})}")

    # the reporting suite
    truth, points = suite_points(args.curves, args.seed)
    log(f"suite: {args.curves} curves of seed {args.seed}; fitting the baselines ...")
    fits, secs = run_baselines(points, log)
    table = pd.concat([truth.reset_index(drop=True), fits], axis=1)
    cols, committed = committed_columns(args.committed, truth, log)
    checks: dict = {}
    if cols is not None:
        table = table.merge(cols, on="task", how="left", validate="one_to_one")
        table["identifiable"] = sc.identifiable(table)
        table["pf_called"] = table["pf_called"].fillna(False).astype(bool)
        if "pf_breakthroughness" in table:
            checks["breakthroughness_max_abs_diff"] = float(
                np.nanmax(np.abs(table["breakthroughness"] - table["pf_breakthroughness"]))
            )
    for key, col in scores.items():
        table[f"{key}_called"] = table[col].to_numpy(float) >= thresholds[key]
    table["hinge_bic10_called"] = table["hinge_dbic"].to_numpy(float) > BIC_RULE

    metrics: dict = {}
    if cols is not None:
        metrics["phasefit"] = score_method(table, "pf_p", table["pf_called"], "pf_tau_median")
        metrics["phasefit"]["tpr_at_p09_equals_verdict"] = bool(
            (table["pf_called"] == (table["pf_p"] >= sc.CALL)).all()
        )
        metrics["reference"] = score_method(table, "ref_p", table["ref_p"] >= sc.CALL, "ref_tau_median")
        if "reference_dev" in thresholds:
            table["reference_dev_called"] = table["ref_p"] >= thresholds["reference_dev"]
            metrics["reference_dev"] = score_method(table, "ref_p", table["reference_dev_called"], "ref_tau_median")
    taus = {"sigmoid": "sig_tau", "sigmoid_k": "sig_tau", "hinge": "hinge_tau", "hinge_f": "hinge_tau"}
    for key, col in scores.items():
        metrics[key] = score_method(table, col, table[f"{key}_called"], taus.get(key))
        if key == "hinge":
            metrics["hinge_bic10"] = score_method(table, col, table["hinge_bic10_called"], "hinge_tau")
    metrics = {k: metrics[k] for k, *_ in METHODS if k in metrics}

    at_bound = table["sig_k"].to_numpy(float) >= 0.99 * SIG_K_MAX  # trf stops just inside a bound
    clipped = table["breakthroughness"].abs().to_numpy(float) >= BT_CLIP
    neg, kappa = (table["kind"] != "break").to_numpy(), table["kappa"].to_numpy(float)
    diagnostics = {
        "sig_k_at_bound": {"all": float(at_bound.mean())}
        | {k: float(at_bound[(table["kind"] == k).to_numpy()].mean()) for k in worlds_mod.KINDS},
        "bt_clipped": {"all": int(clipped.sum())}
        | {k: int(clipped[(table["kind"] == k).to_numpy()].sum()) for k in worlds_mod.KINDS},
        "bt_clipped_dev_negatives": int((dev_clip & ~dev_pos).sum()),
        "bic10_fpr_overdispersed": float(table["hinge_bic10_called"][neg & np.isfinite(kappa)].mean()),
        "bic10_fpr_binomial": float(table["hinge_bic10_called"][neg & ~np.isfinite(kappa)].mean()),
        "bt_clipped_dev_positives": int((dev_clip & dev_pos).sum()),
    }

    n = args.curves
    mach = machine()
    commit, dirty = git_state()
    import scipy

    res = {
        "benchmark": NAME,
        "date": now(),
        "command": " ".join(["benchmarks/point_fits.py", *(sys.argv[1:] if argv is None else argv)]),
        "git_commit": commit,
        "src_uncommitted": dirty,
        "machine": mach,
        "loadavg_start": load_start,
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "pandas": pd.__version__},
        "settings": {
            "curves": n,
            "seed": args.seed,
            "dev_seed": args.dev_seed,
            "dev_curves": args.dev_curves,
            "report_seed": acc.REPORT_SEED,
            "fpr_target_dev": FPR_TARGET,
            "bic_rule": BIC_RULE,
            "sigmoid": {
                "k_max": SIG_K_MAX,
                "k_starts": SIG_K_STARTS,
                "m_starts_share_of_span": SIG_M_STARTS,
                "min_rise_share_of_range": SIG_MIN_RISE,
            },
            "hinge_grid": HINGE_GRID,
            "dev_reference": str(DEV_REFERENCE.relative_to(HERE.parent)),
            "identifiable_p": sc.IDENTIFIABLE_P,
            "call": sc.CALL,
        },
        "thresholds": thresholds,
        "committed": committed,
        "dev_reference_check": dev_ref_check,
        "checks": checks,
        "diagnostics": diagnostics,
        "timing": {
            "total_s": time.perf_counter() - t0,
            "dev_s": t_dev,
            "sigmoid_s": secs["sigmoid"],
            "hinge_s": secs["hinge"],
            "bigbench_s": secs["bigbench"],
            "sigmoid_s_per_curve": secs["sigmoid"] / n,
            "hinge_s_per_curve": secs["hinge"] / n,
            "bigbench_s_per_curve": secs["bigbench"] / n,
        },
        "phasefit_time": phasefit_time(
            args.committed.with_name(args.committed.name.removesuffix("_curves.csv") + ".json")
        )
        if cols is not None
        else None,
        "reference_time": reference_time(REFERENCE_JSON) if cols is not None and REFERENCE_JSON.exists() else None,
        "metrics": metrics,
    }
    res["reading"] = reading(res)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    keep = [c for c in table.columns if not c.startswith(("ref_", "pf_")) or c in SIDE_BY_SIDE]
    table[keep].to_csv(args.out_dir / f"{NAME}_curves.csv", index=False)
    write_json(args.out_dir / f"{NAME}.json", res, indent=1)
    log(f"wrote {args.out_dir / f'{NAME}_curves.csv'} and {NAME}.json ({res['timing']['total_s']:.0f} s)")
    text = markdown(res)
    if not args.no_results_md:
        start, end = markers(NAME)
        write_results_md(f"{start}\n{text.rstrip()}\n{end}\n", start, end)
    print(text)
    return 0


SIDE_BY_SIDE = (  # the committed columns copied into point_fits_curves.csv
    "ref_p",
    "ref_called",
    "ref_tau_q05",
    "ref_tau_median",
    "ref_tau_q95",
    "pf_p",
    "pf_verdict",
    "pf_called",
    "pf_tau_q05",
    "pf_tau_median",
    "pf_tau_q95",
    "pf_breakthroughness",
)


if __name__ == "__main__":
    raise SystemExit(main())
