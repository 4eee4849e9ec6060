"""Scores of the accuracy benchmark, computed the same way for phasefit and for the Bayes-optimal reference.

A method's columns in the per-curve table have a prefix (`pf_` phasefit, `ref_` reference):
`<m>_p` (P(break | data)), `<m>_called` (phasefit: verdict `emergent`; reference: P >= 0.9), and the
break's and onset's posterior quantiles in log10 FLOPs, `<m>_tau_q05/_median/_q95` and
`<m>_onset_q05/_median/_q95` (NaN or absent when the method does not report them). The truth columns
are `kind` (break / smooth / flat), `tau`, `onset` (NaN when the true curve does not cross the margin
inside the search window), `rising` (the break's rise is visible at >= 2 models) and `ref_p` (for the
identifiable subset). Positives are the break curves, negatives smooth + flat.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from _common import auc, wilson  # noqa: F401  (re-exported for the scoring API)

CALL = 0.9  # P(break) at which a curve is called emergent
BINS = tuple(np.round(np.linspace(0.0, 1.0, 11), 10))  # calibration bins of width 0.1
TARGETS = {
    "auc": 0.95,
    "auc_gap": 0.03,
    "tpr_gap": 0.10,
    "precision": 0.95,
    "fpr": 0.02,
    "flat_called": 0,
    "calibration_tol": 0.10,
    "coverage": (0.85, 0.95),
    "width_ratio": 1.5,
    "smooth_median_p": 0.10,
}


def calibration(p, positive, tol: float = TARGETS["calibration_tol"]) -> list[dict]:
    """Ten bins [0, 0.1), ..., [0.9, 1.0]: count, mean p, observed share of breaks, |difference|, whether
    it is within `tol`, and the 90% Wilson interval of the observed share. NaN p are left out."""
    p, positive = np.asarray(p, float), np.asarray(positive, bool)
    ok = np.isfinite(p)
    p, positive = p[ok], positive[ok]
    rows = []
    for i, (lo, hi) in enumerate(zip(BINS[:-1], BINS[1:], strict=True)):
        last = i == len(BINS) - 2
        m = (p >= lo) & ((p <= hi) if last else (p < hi))
        n, k = int(m.sum()), int(positive[m].sum())
        mean_p = float(p[m].mean()) if n else float("nan")
        obs = k / n if n else float("nan")
        ci = wilson(k, n)
        rows.append(
            {
                "bin": f"[{lo:.1f}, {hi:.1f}{']' if last else ')'}",
                "count": n,
                "n_break": k,
                "mean_p": mean_p,
                "observed": obs,
                "abs_diff": abs(mean_p - obs) if n else float("nan"),
                "within_tol": bool(abs(mean_p - obs) <= tol) if n else None,
                "obs_ci90": list(ci),
                "mean_p_in_ci90": bool(ci[0] <= mean_p <= ci[1]) if n else None,
            }
        )
    return rows


def coverage(truth, lo, med, hi) -> dict:
    """How often [lo, hi] covers the truth, over the curves where all are finite; widths in decades."""
    truth, lo, med, hi = (np.asarray(a, float) for a in (truth, lo, med, hi))
    ok = np.isfinite(truth) & np.isfinite(lo) & np.isfinite(hi)
    t, a, b, m = truth[ok], lo[ok], hi[ok], med[ok]
    n = int(ok.sum())
    cov = (a <= t) & (t <= b)
    return {
        "n": n,
        "n_without_interval": int((np.isfinite(truth) & ~(np.isfinite(lo) & np.isfinite(hi))).sum()),
        "covered": int(cov.sum()),
        "share": float(cov.mean()) if n else float("nan"),
        "below": int((t < a).sum()),
        "above": int((t > b).sum()),
        "median_width": float(np.median(b - a)) if n else float("nan"),
        "median_abs_error": float(np.nanmedian(np.abs(m - t))) if n and np.isfinite(m).any() else float("nan"),
    }


def _col(table: pd.DataFrame, name: str) -> np.ndarray:
    return table[name].to_numpy(float) if name in table else np.full(len(table), np.nan)


def score(table: pd.DataFrame, m: str) -> dict:
    """Every score of method `m` (column prefix) on `table` (module doc)."""
    kind = table["kind"].to_numpy()
    brk, flat, smooth = kind == "break", kind == "flat", kind == "smooth"
    p = _col(table, f"{m}_p")
    called = table[f"{m}_called"].to_numpy(bool) if f"{m}_called" in table else (p >= CALL)
    n_called = int(called.sum())
    out: dict = {
        "n": len(table),
        "n_break": int(brk.sum()),
        "n_smooth": int(smooth.sum()),
        "n_flat": int(flat.sum()),
        "n_p_missing": int((~np.isfinite(p)).sum()),
        "auc": auc(p, brk),
        "n_called": n_called,
        "tpr": float((called & brk).sum() / brk.sum()) if brk.any() else float("nan"),
        "precision": float((called & brk).sum() / n_called) if n_called else float("nan"),
        "fpr": float((called & ~brk).sum() / (~brk).sum()) if (~brk).any() else float("nan"),
        "n_false_called": int((called & ~brk).sum()),
        "flat_called": int((called & flat).sum()),
    }
    cal = calibration(p, brk)
    filled = [r for r in cal if r["count"]]
    out["calibration"] = cal
    out["calibration_worst"] = max((r["abs_diff"] for r in filled), default=float("nan"))
    out["calibration_bins_outside"] = sum(not r["within_tol"] for r in filled)
    out["calibration_bins_outside_ci90"] = sum(not r["mean_p_in_ci90"] for r in filled)
    sel = called & brk
    for what in ("tau", "onset"):
        q = [_col(table, f"{m}_{what}_{s}")[sel] for s in ("q05", "median", "q95")]
        key = "break" if what == "tau" else "onset"
        out[f"{key}_coverage"] = coverage(_col(table, what)[sel], *q)
        out[f"{key}_coverage"]["reported"] = bool(f"{m}_{what}_q05" in table and np.isfinite(q[0]).any())
    for k, mask in (("smooth", smooth), ("flat", flat), ("break", brk)):
        v = p[mask & np.isfinite(p)]
        out[f"{k}_mean_p"] = float(v.mean()) if len(v) else float("nan")
        out[f"{k}_median_p"] = float(np.median(v)) if len(v) else float("nan")
    return out


def width_on(table: pd.DataFrame, m: str, sel: np.ndarray, what: str) -> float:
    """Median 90% interval width of method `m` on the curves `sel` (for the width-ratio target)."""
    lo, hi = _col(table, f"{m}_{what}_q05")[sel], _col(table, f"{m}_{what}_q95")[sel]
    ok = np.isfinite(lo) & np.isfinite(hi)
    return float(np.median(hi[ok] - lo[ok])) if ok.any() else float("nan")


IDENTIFIABLE_P = 0.5


def identifiable(table: pd.DataFrame) -> np.ndarray:
    """Break curves whose break the Bayes-optimal reference sees: P_ref(break | data) >= IDENTIFIABLE_P."""
    return (table["kind"] == "break").to_numpy() & (table["ref_p"].to_numpy(float) >= IDENTIFIABLE_P)


def subsets(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """`all`; `identifiable`: the identifiable breaks (`identifiable`) + every smooth and flat curve;
    `rising`: the breaks whose rise is visible at >= 2 models (truth, `accuracy_worlds.visible_rise`) +
    every smooth and flat curve; and one subset per world."""
    brk = (table["kind"] == "break").to_numpy()
    out = {
        "all": np.ones(len(table), bool),
        "identifiable": ~brk | identifiable(table),
        "rising": ~brk | table["rising"].to_numpy(bool),
    }
    for w in dict.fromkeys(table["world"]):
        out[f"world:{w}"] = (table["world"] == w).to_numpy()
    return out


def targets(table: pd.DataFrame, pf: dict, ref: dict) -> list[dict]:
    """The project's targets for phasefit on one subset, with the reference's value beside each, and
    whether the reference itself meets the absolute ones (a target it misses is not reachable on this
    subset at this size)."""
    T = TARGETS
    brk = (table["kind"] == "break").to_numpy()
    pf_sel = table["pf_called"].to_numpy(bool) & brk if "pf_called" in table else np.zeros(len(table), bool)
    lo_c, hi_c = T["coverage"]

    def inside(v):
        return bool(np.isfinite(v) and lo_c <= v <= hi_c)

    rows = []

    def add(name, pf_v, ref_v, ok, ref_ok=None, fmt="{:.3f}"):
        rows.append(
            {"target": name, "phasefit": pf_v, "reference": ref_v, "pass": ok, "reference_meets": ref_ok, "fmt": fmt}
        )

    fin = np.isfinite
    add(
        f"AUC >= {T['auc']}",
        pf["auc"],
        ref["auc"],
        bool(fin(pf["auc"]) and pf["auc"] >= T["auc"]),
        bool(ref["auc"] >= T["auc"]),
    )
    add(
        f"AUC within {T['auc_gap']} of the reference",
        pf["auc"] - ref["auc"],
        0.0,
        bool(fin(pf["auc"]) and ref["auc"] - pf["auc"] <= T["auc_gap"]),
        None,
        "{:+.3f}",
    )
    add(
        f"TPR at P >= {CALL} within {T['tpr_gap']} of the reference",
        pf["tpr"],
        ref["tpr"],
        bool(ref["tpr"] - pf["tpr"] <= T["tpr_gap"]),
    )
    add(
        f"precision at P >= {CALL} >= {T['precision']}",
        pf["precision"],
        ref["precision"],
        bool(fin(pf["precision"]) and pf["precision"] >= T["precision"]),
        bool(fin(ref["precision"]) and ref["precision"] >= T["precision"]),
    )
    add(
        f"FPR at P >= {CALL} <= {T['fpr']:.0%}",
        pf["fpr"],
        ref["fpr"],
        bool(pf["fpr"] <= T["fpr"]),
        bool(ref["fpr"] <= T["fpr"]),
    )
    add(
        "flat curves called emergent == 0",
        pf["flat_called"],
        ref["flat_called"],
        pf["flat_called"] == 0,
        ref["flat_called"] == 0,
        "{:d}",
    )
    add(
        f"calibration: every bin within {T['calibration_tol']} (worst |diff|)",
        pf["calibration_worst"],
        ref["calibration_worst"],
        pf["calibration_bins_outside"] == 0,
        ref["calibration_bins_outside"] == 0,
    )
    for key, what, label in (("break_coverage", "tau", "break"), ("onset_coverage", "onset", "onset")):
        pc, rc = pf[key], ref[key]
        if not pc.get("reported"):
            add(
                f"{label}: 90% interval coverage in {lo_c:.0%}-{hi_c:.0%} (called breaks)",
                float("nan"),
                rc["share"],
                None,
                inside(rc["share"]),
            )
            add(
                f"{label}: median 90% width <= {T['width_ratio']} x reference's (decades)",
                float("nan"),
                rc["median_width"],
                None,
            )
            continue
        add(
            f"{label}: 90% interval coverage in {lo_c:.0%}-{hi_c:.0%} (called breaks)",
            pc["share"],
            rc["share"],
            inside(pc["share"]),
            inside(rc["share"]),
        )
        ref_w = width_on(table, "ref", pf_sel, what)  # the reference on the same curves
        add(
            f"{label}: median 90% width <= {T['width_ratio']} x reference's (decades)",
            pc["median_width"],
            ref_w,
            bool(fin(pc["median_width"]) and pc["median_width"] <= T["width_ratio"] * ref_w),
        )
    add(
        f"smooth curves: median P <= {T['smooth_median_p']}",
        pf["smooth_median_p"],
        ref["smooth_median_p"],
        bool(pf["smooth_median_p"] <= T["smooth_median_p"]),
        bool(ref["smooth_median_p"] <= T["smooth_median_p"]),
    )
    return rows
