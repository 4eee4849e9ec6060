"""Mirage benchmark: does the mirage stage tell a smooth per-token skill from a skill that breaks?

Schaeffer, Miranda & Koyejo (2023): exact match over answers of L tokens is q ** L when each token is
right with probability q, so a per-token skill q that improves smoothly can look like a jump. The
mirage stage (`phasefit.analyses.mirage`) weighs two hypotheses of one per-token skill, `mirage` (logit
q linear in log10 compute) and `latent_break` (q flat, then a rise), on the exact-match curve alone
and jointly with a continuous metric of the same outputs. This benchmark simulates pairs of curves
(exact match + continuous metric of the same answers) from generators written independently of the
mirage model's priors, runs `mirage_evidence` on each pair twice (exact match alone, and jointly), and
scores P(mirage) and the 90% interval of L against the truth.

Generators (pair i: smooth skill for even i, breaking skill for odd i; x = log10 training FLOPs):

- design: 5-10 models (uniform integer), x_min ~ U(19, 21), span ~ U(2.5, 4) decades, gaps = 0.1
  decade + a flat-Dirichlet share of the rest (uneven spacing, no two models closer than 0.1 decade);
  n_items log-uniform 200-3000 (rounded), the same for every model of a curve; floor (chance) 0.
- smooth skill (half), one of two shapes with probability 1/2 each:
  `logit_linear`: logit q = logit q_mid + s (x - x_mid), s ~ U(0.4, 2.5) per decade, q_mid ~ U(0.3, 0.9)
  at the middle of the range; `power_law`: per-token error 1 - q = e0 10^(-alpha (x - x_min)),
  e0 ~ U(0.3, 0.8), alpha ~ U(0.1, 0.5) decades of error per decade of compute (concave in logit q:
  not the mirage model's shape).
- breaking skill (half), `hinge`: q flat at q0 ~ U(0.05, 0.6) (flat on the logit scale), then a
  smoothed hinge, logit q = logit q0 + G h(x) / h(x_max) with h(x) = w softplus((x - tau) / w), so the
  rise is G ~ U(3, 10) log-odds by the largest model; break tau ~ U(x_min + 0.1 span, x_max - 0.1
  span), width w ~ U(0.02, 0.2) decades.
- exact match: p = q ** L with L = floor(exp(U(log 2, log 16))), an integer in 2..15 with P(L) ~
  log((L + 1) / L) (log-uniform on integers); counts k ~ Binomial(n_items, p), with p first drawn
  from Beta(p kappa, (1 - p) kappa) (over-dispersion, kappa log-uniform 50-2000) for a random half of
  the curves; floor 0; no `answer_tokens` column (L is unknown to the model).
- continuous metric of the same outputs (a proportion, `metric_kind` continuous, beta likelihood):
  `token_accuracy` = q (half) or `bleu_like` = q ** gamma, gamma ~ U(1.5, 3) (half), observed as
  Beta(m phi, (1 - m) phi) with precision phi log-uniform 100-2000, clipped to [0.001, 0.999].

Every random choice of pair i comes from `np.random.default_rng([seed, 7717, i])`, so a smaller suite
is a prefix of a larger one. The mirage model's priors (models/toml/mirage.toml, latent_break.toml)
differ: e.g. its L is continuous (1 + LogNormal(1.1, 1.0)), its break is the breakpoint's shape with a
slope before it, and the continuous metric's link exponent is free (LogNormal(0.5, 0.75)).

Scores, per mode (alone / joint): smooth skill called mirage (P >= 0.5; target >= 0.90 joint);
breaking skill called a break (P < 0.5; target >= 0.90 joint); share inconclusive (0.1 < P < 0.9)
per kind; coverage of the true L by the 90% interval of L averaged over both hypotheses (target >= 0.85; ok fits);
failed fits (`ok` False: a fit or the evidence failed its checks) and time per fit. Shares are over
the ok fits (a failed fit has no P), with a 90% Wilson interval.

Writes benchmarks/results/mirage.json (every number, settings, versions, machine, command, git
commit), mirage_curves.csv (one row per pair: truth and both modes' results), the "mirage" section of
benchmarks/RESULTS.md and docs/figures/mirage_simulation.png (--quick writes mirage_quick.* and leaves
RESULTS.md and the figure alone).

    .venv/bin/python benchmarks/mirage.py                 # 60 pairs, reporting seed 2026, spec sampler settings
    .venv/bin/python benchmarks/mirage.py --quick         # 8 pairs, development seed 1, 500 draws / 500 tune

Develop with --seed 1 (DEV_SEED); the committed results come from the default, REPORT_SEED.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS_DIR,
    ROOT,
    SAMPLING_PACKAGES,
    auc,
    fmt_value,
    git_state,
    loadavg,
    markers,
    now,
    rss_mib,
    versions,
    wilson,
    write_json,
    write_results_md,
)
from _common import machine as machine_info  # noqa: E402

DEV_SEED = 1  # tune and debug with this one
REPORT_SEED = 2026  # the committed results; never tune on it
DEFAULT_PAIRS = 60
QUICK_PAIRS = 8
QUICK_DRAWS = QUICK_TUNE = 500
STREAM = 7717  # the pair's random stream: default_rng([seed, STREAM, i])
KINDS = ("smooth", "break")
MODES = ("alone", "joint")
SECTION = "## Mirage: a smooth per-token skill or a breaking one"
START, END = markers("mirage")
FIGURE = ROOT / "docs" / "figures" / "mirage_simulation.png"
CALL = 0.5  # P(mirage) >= CALL: called a mirage (smooth skill)
INCONCLUSIVE = (0.1, 0.9)  # open interval
TARGETS = {"smooth_called": 0.90, "break_called": 0.90, "tokens_coverage": 0.85}

# generator settings (documented in the module docstring and benchmarks/README.md)
MODELS = (5, 10)  # models per curve, uniform integer
X_START = (19.0, 21.0)  # log10 FLOPs of the smallest model
SPAN = (2.5, 4.0)  # decades
MIN_GAP = 0.1  # decades between neighbouring models
N_ITEMS = (200, 3000)  # log-uniform
SMOOTH_SLOPE = (0.4, 2.5)  # logit q per decade
SMOOTH_MID = (0.3, 0.9)  # q at the middle of the range
POWER_E0 = (0.3, 0.8)  # per-token error at the smallest model
POWER_ALPHA = (0.1, 0.5)  # decades of error per decade of compute
BREAK_Q0 = (0.05, 0.6)  # q before the break
BREAK_GAIN = (3.0, 10.0)  # log-odds of q gained by the largest model
BREAK_INSET = 0.1  # the break is uniform in the inner 80% of the range
BREAK_WIDTH = (0.02, 0.2)  # decades
TOKENS = (2, 15)  # L, log-uniform integer
KAPPA = (50.0, 2000.0)  # beta over-dispersion of the exact match (half the curves), log-uniform
GAMMA = (1.5, 3.0)  # bleu_like = q ** gamma
PRECISION = (100.0, 2000.0)  # beta precision of the continuous metric, log-uniform
Y_CLIP = (0.001, 0.999)
SHARP, OTHER = "exact_match", "token_metric"


# ------------------------------------------------------------------------------------ generators


def _logu(u: float, lo: float, hi: float) -> float:
    return float(lo * (hi / lo) ** u)


def _uni(u: float, lo: float, hi: float) -> float:
    return float(lo + (hi - lo) * u)


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _expit(z):
    return 1.0 / (1.0 + np.exp(-z))


def design(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The models' log10 FLOPs (ascending, gaps >= MIN_GAP) and n_items of one pair."""
    k = int(rng.integers(MODELS[0], MODELS[1] + 1))
    start, span = rng.uniform(*X_START), rng.uniform(*SPAN)
    gaps = MIN_GAP + (span - (k - 1) * MIN_GAP) * rng.dirichlet(np.ones(k - 1))
    x = start + np.concatenate([[0.0], np.cumsum(gaps)])
    x[-1] = start + span  # exact despite rounding
    n = int(round(_logu(rng.uniform(), *N_ITEMS)))
    return x, n


def smooth_skill(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A smoothly improving per-token skill q(x): logit-linear or a power law in the error (1/2 each)."""
    u = rng.uniform(size=3)
    if u[0] < 0.5:
        slope, q_mid = _uni(u[1], *SMOOTH_SLOPE), _uni(u[2], *SMOOTH_MID)
        mid = 0.5 * (x[0] + x[-1])
        q = _expit(_logit(q_mid) + slope * (x - mid))
        return q, {"generator": "logit_linear", "slope": slope, "q_mid": q_mid}
    e0, alpha = _uni(u[1], *POWER_E0), _uni(u[2], *POWER_ALPHA)
    q = 1.0 - e0 * 10.0 ** (-alpha * (x - x[0]))
    return q, {"generator": "power_law", "e0": e0, "alpha": alpha}


def break_skill(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A per-token skill flat at q0, then a smoothed hinge rise of G log-odds by the largest model."""
    u = rng.uniform(size=4)
    q0, gain, width = _uni(u[0], *BREAK_Q0), _uni(u[1], *BREAK_GAIN), _uni(u[3], *BREAK_WIDTH)
    span = x[-1] - x[0]
    tau = _uni(u[2], x[0] + BREAK_INSET * span, x[-1] - BREAK_INSET * span)

    def h(v):
        return width * np.logaddexp(0.0, (v - tau) / width)

    q = _expit(_logit(q0) + gain * h(x) / h(x[-1]))
    return q, {"generator": "hinge", "q0": q0, "gain": gain, "tau": tau, "width": width}


def draw_tokens(u: float) -> int:
    """L: an integer in TOKENS, log-uniform (floor of exp(U(log lo, log(hi + 1))))."""
    lo, hi = TOKENS
    return int(min(hi, math.floor(math.exp(_uni(u, math.log(lo), math.log(hi + 1))))))


def exact_match_counts(p: np.ndarray, n: int, kappa: float, rng: np.random.Generator) -> np.ndarray:
    """k ~ Binomial(n, p'), p' = p (kappa = inf) or ~ Beta(p kappa, (1 - p) kappa)."""
    if math.isfinite(kappa):
        pc = np.clip(p, 1e-12, 1 - 1e-12)
        p = rng.beta(pc * kappa, (1 - pc) * kappa)
    return rng.binomial(n, p)


def continuous_metric(q: np.ndarray, gamma: float, precision: float, rng: np.random.Generator) -> np.ndarray:
    """The continuous metric of the same outputs: q ** gamma observed with Beta noise, clipped."""
    m = np.clip(q**gamma, 1e-9, 1 - 1e-9)
    return np.clip(rng.beta(m * precision, (1 - m) * precision), *Y_CLIP)


def simulate_pair(seed: int, i: int) -> tuple[pd.DataFrame, dict]:
    """Pair i of the suite: its rows (exact match and the continuous metric) and its truth."""
    rng = np.random.default_rng([seed, STREAM, i])
    kind = KINDS[i % 2]
    x, n = design(rng)
    q, info = (smooth_skill if kind == "smooth" else break_skill)(x, rng)
    u = rng.uniform(size=6)
    tokens = draw_tokens(u[0])
    kappa = _logu(u[2], *KAPPA) if u[1] < 0.5 else math.inf
    other = "token_accuracy" if u[3] < 0.5 else "bleu_like"
    gamma = 1.0 if other == "token_accuracy" else _uni(u[4], *GAMMA)
    precision = _logu(u[5], *PRECISION)
    p = q**tokens
    k = exact_match_counts(p, n, kappa, rng)
    y = continuous_metric(q, gamma, precision, rng)
    task = f"mirage-{i:03d}"
    models = [f"m{j:02d}" for j in range(len(x))]
    flops = 10.0**x
    rows = pd.concat(
        [
            pd.DataFrame(
                {
                    "task": task,
                    "metric": SHARP,
                    "family": "sim",
                    "model": models,
                    "score": k / n,
                    "n_items": float(n),
                    "n_correct": k.astype(float),
                    "train_flops": flops,
                    "metric_kind": "discrete",
                }
            ),
            pd.DataFrame(
                {
                    "task": task,
                    "metric": OTHER,
                    "family": "sim",
                    "model": models,
                    "score": y,
                    "n_items": np.nan,
                    "n_correct": np.nan,
                    "train_flops": flops,
                    "metric_kind": "continuous",
                }
            ),
        ],
        ignore_index=True,
    )
    truth = {
        "pair": i,
        "task": task,
        "kind": kind,
        "generator": info["generator"],
        "tokens": tokens,
        "n_items": n,
        "n_models": len(x),
        "x_min": float(x[0]),
        "x_max": float(x[-1]),
        "kappa": kappa,
        "other_metric": other,
        "gamma": gamma,
        "other_precision": precision,
        "q_min": float(q[0]),
        "q_max": float(q[-1]),
        "em_min": float(p[0]),
        "em_max": float(p[-1]),
        "em_observed_max": float((k / n).max()),
        **{key: info.get(key, math.nan) for key in ("slope", "q_mid", "e0", "alpha", "q0", "gain", "tau", "width")},
    }
    return rows, truth


def simulate_suite(n_pairs: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All pairs' rows (one table) and their truth (one row per pair)."""
    frames, truths = zip(*(simulate_pair(seed, i) for i in range(n_pairs)), strict=True)
    return pd.concat(frames, ignore_index=True), pd.DataFrame(truths)


def true_skill(truth: dict | pd.Series, x: np.ndarray) -> np.ndarray:
    """The noiseless per-token skill q(x) of a pair from its truth row (for plots and checks)."""
    t = truth
    if t["generator"] == "logit_linear":
        return _expit(_logit(t["q_mid"]) + t["slope"] * (x - 0.5 * (t["x_min"] + t["x_max"])))
    if t["generator"] == "power_law":
        return 1.0 - t["e0"] * 10.0 ** (-t["alpha"] * (x - t["x_min"]))
    w, tau = t["width"], t["tau"]
    h = w * np.logaddexp(0.0, (np.asarray(x) - tau) / w)
    h_max = w * np.logaddexp(0.0, (t["x_max"] - tau) / w)
    return _expit(_logit(t["q0"]) + t["gain"] * h / h_max)


# ---------------------------------------------------------------------------------------- fitting


def make_sampler(draws: int | None = None, tune: int | None = None, chains: int | None = None):
    """One Sampler for every pair (compiled once per model) with the mirage hypotheses in its spec."""
    from phasefit.analyses.mirage import mirage_spec
    from phasefit.inference.sampler import Sampler
    from phasefit.models.spec import load_spec

    return Sampler(mirage_spec(load_spec().with_sampler(draws=draws, tune=tune, chains=chains)))


def _result_columns(mode: str, r, wall: float, truth_tokens: int) -> dict:
    cols = {
        "p_mirage": r.p_mirage,
        "tokens_q05": r.tokens_q05,
        "tokens_median": r.tokens_median,
        "tokens_q95": r.tokens_q95,
        "tokens_covered": bool(r.tokens_q05 <= truth_tokens <= r.tokens_q95) if r.ok else None,
        "link_median": r.link_median,
        "log_z_mirage": r.log_z_mirage,
        "log_z_latent_break": r.log_z_latent_break,
        "log_z_se": r.log_z_se,
        "ok": bool(r.ok),
        "reason": r.reason,
        "seconds": r.seconds,
        "wall_seconds": wall,
    }
    return {f"{mode}_{k}": v for k, v in cols.items()}


def _failed_columns(mode: str, reason: str, wall: float) -> dict:
    cols = dict.fromkeys(
        (
            "p_mirage",
            "tokens_q05",
            "tokens_median",
            "tokens_q95",
            "link_median",
            "log_z_mirage",
            "log_z_latent_break",
            "log_z_se",
            "seconds",
        ),
        math.nan,
    )
    cols |= {"tokens_covered": None, "ok": False, "reason": reason, "wall_seconds": wall}
    return {f"{mode}_{k}": v for k, v in cols.items()}


def fit_suite(
    data: pd.DataFrame, truth: pd.DataFrame, sampler, *, modes=MODES, log=print, checkpoint: Path | None = None
) -> pd.DataFrame:
    """`mirage_evidence` on every pair, for each mode; one row per pair (truth + results). The table so
    far is written to `checkpoint` (CSV) after every pair (`--table-from` rescores it)."""
    import phasefit
    from phasefit.analyses.mirage import mirage_evidence

    cs = phasefit.load_curves(data, x_axis="flops", min_points=4, name="mirage-suite")
    index = {(c["task"], c["metric"]): i for i, c in cs.curves.reset_index(drop=True).iterrows()}
    rows = []
    t0 = time.perf_counter()
    for t in truth.to_dict("records"):
        sharp = cs.curve(index[(t["task"], SHARP)])
        other = cs.curve(index[(t["task"], OTHER)])
        row = dict(t)
        for mode in modes:
            t1 = time.perf_counter()
            try:
                r = mirage_evidence(sharp, other if mode == "joint" else None, sampler)
                row |= _result_columns(mode, r, time.perf_counter() - t1, t["tokens"])
            except Exception as e:  # a crash is a failure of the stage, counted like the others
                row |= _failed_columns(mode, f"{type(e).__name__}: {e}", time.perf_counter() - t1)
        rows.append(row)
        if checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(checkpoint, index=False)
        log(
            f"  pair {t['pair']:3d} {t['kind']:6s} {t['generator']:12s} L={t['tokens']:2d} "
            + " ".join(
                f"{m}: p={row[f'{m}_p_mirage']:.3f} L90=[{row[f'{m}_tokens_q05']:.1f}, {row[f'{m}_tokens_q95']:.1f}]"
                f"{'' if row[f'{m}_ok'] else ' FAILED'} ({row[f'{m}_wall_seconds']:.1f} s)"
                for m in modes
            )
            + f"  [{time.perf_counter() - t0:.0f} s]"
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------- scoring


def _share(hits: np.ndarray) -> dict:
    hits = np.asarray(hits, bool)
    k, n = int(hits.sum()), int(hits.size)
    lo, hi = wilson(k, n)
    return {"k": k, "n": n, "share": k / n if n else math.nan, "wilson90": [lo, hi]}


def score_mode(table: pd.DataFrame, mode: str) -> dict:
    """Every score of one mode (alone / joint)."""
    p = table[f"{mode}_p_mirage"].to_numpy(float)
    ok = table[f"{mode}_ok"].to_numpy(bool) & np.isfinite(p)
    kind = table["kind"].to_numpy()
    out: dict = {"n": len(table), "n_ok": int(ok.sum()), "n_failed": int((~ok).sum())}
    out["failures"] = [
        {"pair": int(r["pair"]), "kind": r["kind"], "reason": r[f"{mode}_reason"]}
        for r in table[~ok].to_dict("records")
    ]
    lo, hi = INCONCLUSIVE
    for k in KINDS:
        m = ok & (kind == k)
        pk = p[m]
        called = pk >= CALL if k == "smooth" else pk < CALL
        out[k] = {
            "n": int((kind == k).sum()),
            "n_ok": int(m.sum()),
            "called": _share(called),  # smooth: P >= 0.5; break: P < 0.5
            "inconclusive": _share((pk > lo) & (pk < hi)),
            "confident_right": _share(pk >= hi if k == "smooth" else pk <= lo),
            "confident_wrong": _share(pk <= lo if k == "smooth" else pk >= hi),
            "mean_p": float(pk.mean()) if pk.size else math.nan,
            "median_p": float(np.median(pk)) if pk.size else math.nan,
        }
    out["auc"] = auc(np.where(ok, p, np.nan), kind == "smooth")  # P(mirage) ranking smooth above break
    cov = table[f"{mode}_tokens_covered"].to_numpy(object)
    t05, t95 = table[f"{mode}_tokens_q05"].to_numpy(float), table[f"{mode}_tokens_q95"].to_numpy(float)
    tok = table["tokens"].to_numpy(float)
    covered = np.array([bool(c) for c in cov[ok]])
    out["tokens"] = {
        "coverage": _share(covered),
        "below": int((t95[ok] < tok[ok]).sum()),  # interval entirely below the truth
        "above": int((t05[ok] > tok[ok]).sum()),
        "median_ratio_q95_q05": float(np.median(t95[ok] / t05[ok])) if ok.any() else math.nan,
        "median_abs_log_error": float(
            np.median(np.abs(np.log(table[f"{mode}_tokens_median"].to_numpy(float)[ok] / tok[ok])))
        )
        if ok.any()
        else math.nan,
    }
    for k in KINDS:
        m = ok & (kind == k)
        out["tokens"][k] = _share(np.array([bool(c) for c in cov[m]]))
    # per generator and per continuous metric: the share called right
    right = np.where(kind == "smooth", p >= CALL, p < CALL)
    out["by_generator"] = {
        g: _share(right[ok & (table["generator"].to_numpy() == g)]) for g in ("logit_linear", "power_law", "hinge")
    }
    out["by_other_metric"] = {
        g: _share(right[ok & (table["other_metric"].to_numpy() == g)]) for g in ("token_accuracy", "bleu_like")
    }
    sec = table[f"{mode}_seconds"].to_numpy(float)
    wall = table[f"{mode}_wall_seconds"].to_numpy(float)
    out["time"] = {
        "sampling_seconds_median": float(np.nanmedian(sec)),  # both hypotheses' fits (MirageResult.seconds)
        "sampling_seconds_mean": float(np.nanmean(sec)),
        "wall_seconds_median": float(np.median(wall)),  # the whole mirage_evidence call
        "wall_seconds_mean": float(np.mean(wall)),
        "wall_seconds_max": float(np.max(wall)),
        "wall_seconds_total": float(np.sum(wall)),
    }
    if mode == "joint" and "joint_link_median" in table:
        g = table["gamma"].to_numpy(float)
        link = table["joint_link_median"].to_numpy(float)
        m = ok & (kind == "smooth")
        out["link_median_abs_log_error_smooth"] = (
            float(np.median(np.abs(np.log(link[m] / g[m])))) if m.any() else math.nan
        )
    return out


def targets(metrics: dict) -> list[dict]:
    """The targets, checked per mode (the P targets are the joint mode's; alone is shown beside)."""
    rows = []
    for name, label, value in (
        ("smooth_called", "smooth skill: P(mirage) >= 0.5", lambda m: m["smooth"]["called"]["share"]),
        ("break_called", "breaking skill: P(mirage) < 0.5", lambda m: m["break"]["called"]["share"]),
        ("tokens_coverage", "90% interval of L covers the true L", lambda m: m["tokens"]["coverage"]["share"]),
    ):
        row = {"target": name, "label": label, "threshold": TARGETS[name]}
        for mode in MODES:
            v = value(metrics[mode]) if mode in metrics else math.nan
            row[mode] = v
            row[f"{mode}_pass"] = bool(v >= TARGETS[name]) if math.isfinite(v) else None
        row["applies_to"] = "joint" if name != "tokens_coverage" else "alone and joint"
        rows.append(row)
    return rows


def score(table: pd.DataFrame, modes=MODES) -> dict:
    return {mode: score_mode(table, mode) for mode in modes}


# ---------------------------------------------------------------------------------------- machine


def code_info() -> dict:
    """The git commit, uncommitted files under src/, and where phasefit was imported from."""
    import phasefit

    commit, dirty = git_state()
    code = str(Path(phasefit.__file__).resolve().parent)
    if not code.startswith(str(ROOT / "src")):
        commit = os.environ.get("PHASEFIT_CODE_COMMIT", f"? (phasefit imported from {code})")
        dirty = []
    return {
        "git_commit": commit,
        "git_commit_short": commit[:7],
        "src_uncommitted": dirty,
        "phasefit_path": code,
        "phasefit": getattr(phasefit, "__version__", "?"),
    }


# ---------------------------------------------------------------------------------------- writing


def _f(v, fmt: str = "{:.2f}") -> str:
    return fmt_value(v, fmt)


def _sh(s: dict) -> str:
    """'0.93 (28/30; 0.82-0.98)'"""
    if not s["n"]:
        return "n/a (0)"
    lo, hi = s["wilson90"]
    return f"{s['share']:.2f} ({s['k']}/{s['n']}; {lo:.2f}-{hi:.2f})"


def _pass(v) -> str:
    return "n/a" if v is None else ("PASS" if v else "FAIL")


def markdown(res: dict) -> str:
    s, m, c, mach, t = res["settings"], res["metrics"], res["code"], res["machine"], res["timing"]
    a, j = m["alone"], m["joint"]
    lines = [
        SECTION + f" ({s['pairs']} pairs)",
        "",
        *([res["note"], ""] if res.get("note") else []),
        f"Run {res['date']} by `{res['command']}`; git {c['git_commit_short']}"
        + (f" with uncommitted changes to {len(c['src_uncommitted'])} files under src/" if c["src_uncommitted"] else "")
        + f". {mach['nproc']} cores ({mach['cpu']}), {mach['ram']} RAM; load average at the end "
        f"{', '.join(f'{x:.1f}' for x in res['loadavg_at_end'])} (shared machine).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()) + ".",
        "",
        *(
            [
                f"Scored again from the saved per-pair table `{r['from']}` by `{r['command']}` ({r['date']}); "
                "the run, settings, machine and times above are the fitting run's.",
                "",
            ]
            if (r := res.get("rescored"))
            else []
        ),
        f"Suite: {s['pairs']} pairs (exact match + a continuous metric of the same outputs), seed {s['seed']} "
        f"(reporting seed {REPORT_SEED}; development seed {DEV_SEED}); smooth and breaking per-token skills in "
        f"rotation; generators in `benchmarks/mirage.py` (not the mirage model's priors). `mirage_evidence` per pair "
        f"with exact match alone and jointly; {s['chains']} chains x {s['draws']} draws, tune {s['tune']}, "
        f"target_accept {s['target_accept']}, retries as the spec. Time: {t['total_s'] / 60:.1f} min in all"
        + (f" (compilation {t['compile_s']:.0f} s)" if t["compile_s"] > 0 else "")
        + f"; per pair and mode a median {a['time']['wall_seconds_median']:.1f} s "
        f"alone, {j['time']['wall_seconds_median']:.1f} s joint (`mirage_evidence` wall time, both hypotheses). "
        f"Per-pair table: `benchmarks/results/mirage_curves.csv`; every number: `benchmarks/results/mirage.json`; "
        "figure: `docs/figures/mirage_simulation.png`.",
        "",
        "Shares over the ok fits, with their 90% Wilson interval. Called: P(mirage) >= 0.5 for a smooth skill, "
        "< 0.5 for a breaking one; inconclusive: 0.1 < P(mirage) < 0.9.",
        "",
        "| score | target | exact match alone | joint with the continuous metric | result (joint) |",
        "|---|---|---|---|---|",
    ]
    tg = {r["target"]: r for r in res["targets"]}
    lines += [
        f"| smooth skill called mirage | >= {TARGETS['smooth_called']:.2f} joint | {_sh(a['smooth']['called'])} | "
        f"{_sh(j['smooth']['called'])} | {_pass(tg['smooth_called']['joint_pass'])} |",
        f"| breaking skill called a break | >= {TARGETS['break_called']:.2f} joint | {_sh(a['break']['called'])} | "
        f"{_sh(j['break']['called'])} | {_pass(tg['break_called']['joint_pass'])} |",
        f"| inconclusive, smooth skill | | {_sh(a['smooth']['inconclusive'])} | {_sh(j['smooth']['inconclusive'])} | |",
        f"| inconclusive, breaking skill | | {_sh(a['break']['inconclusive'])} | {_sh(j['break']['inconclusive'])} | |",
        f"| confidently wrong, smooth (P <= 0.1) | | {_sh(a['smooth']['confident_wrong'])} | "
        f"{_sh(j['smooth']['confident_wrong'])} | |",
        f"| confidently wrong, break (P >= 0.9) | | {_sh(a['break']['confident_wrong'])} | "
        f"{_sh(j['break']['confident_wrong'])} | |",
        f"| median P(mirage): smooth / break | | {_f(a['smooth']['median_p'])} / {_f(a['break']['median_p'])} | "
        f"{_f(j['smooth']['median_p'])} / {_f(j['break']['median_p'])} | |",
        f"| AUC of P(mirage), smooth vs break | | {_f(a['auc'], '{:.3f}')} | {_f(j['auc'], '{:.3f}')} | |",
        f"| 90% interval of L covers the true L | >= {TARGETS['tokens_coverage']:.2f} | "
        f"{_sh(a['tokens']['coverage'])} {_pass(tg['tokens_coverage']['alone_pass'])} | "
        f"{_sh(j['tokens']['coverage'])} | {_pass(tg['tokens_coverage']['joint_pass'])} |",
        f"| L coverage: smooth / break | | {_sh(a['tokens']['smooth'])} / {_sh(a['tokens']['break'])} | "
        f"{_sh(j['tokens']['smooth'])} / {_sh(j['tokens']['break'])} | |",
        f"| L interval: truth below / above it | | {a['tokens']['below']} / {a['tokens']['above']} | "
        f"{j['tokens']['below']} / {j['tokens']['above']} | |",
        f"| L interval: median q95 / q05 | | {_f(a['tokens']['median_ratio_q95_q05'], '{:.1f}')} | "
        f"{_f(j['tokens']['median_ratio_q95_q05'], '{:.1f}')} | |",
        f"| failed (ok False) | 0 | {a['n_failed']} of {a['n']} | {j['n_failed']} of {j['n']} | |",
        f"| time per pair (median / max wall, s) | | {a['time']['wall_seconds_median']:.1f} / "
        f"{a['time']['wall_seconds_max']:.1f} | {j['time']['wall_seconds_median']:.1f} / "
        f"{j['time']['wall_seconds_max']:.1f} | |",
        "",
        "Called right, by generator (joint): "
        + ", ".join(f"{g} {_sh(v)}" for g, v in j["by_generator"].items())
        + "; by continuous metric (joint): "
        + ", ".join(f"{g} {_sh(v)}" for g, v in j["by_other_metric"].items())
        + ". Exact match alone, by generator: "
        + ", ".join(f"{g} {_sh(v)}" for g, v in a["by_generator"].items())
        + ".",
        "",
    ]
    fails = [f for mode in MODES for f in m[mode]["failures"]]
    if fails:
        lines += [
            "Failures: "
            + "; ".join(
                f"{mode} pair {f['pair']} ({f['kind']}): {f['reason'][:160]}"
                for mode in MODES
                for f in m[mode]["failures"]
            )
            + ".",
            "",
        ]
    return "\n".join(lines)


def figure(table: pd.DataFrame, path: Path) -> Path:
    """P(mirage) by true kind, alone vs joint (strip + box), and the L intervals against the true L."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.5]})
    rng = np.random.default_rng(0)
    colors = {"alone": "#888888", "joint": "#1f77b4"}
    positions, labels = [], []
    for ki, k in enumerate(KINDS):
        for mi, mode in enumerate(MODES):
            pos = ki * 2.6 + mi
            p = table.loc[(table["kind"] == k) & table[f"{mode}_ok"].astype(bool), f"{mode}_p_mirage"].to_numpy(float)
            p = p[np.isfinite(p)]
            if p.size:
                ax1.boxplot([p], positions=[pos], widths=0.6, showfliers=False, medianprops={"color": "k"})
                ax1.scatter(pos + rng.uniform(-0.22, 0.22, p.size), p, s=14, color=colors[mode], alpha=0.8, zorder=3)
            positions.append(pos)
            labels.append(f"{k}\n{mode}")
    ax1.axhline(CALL, color="r", lw=0.8, ls="--")
    for v in INCONCLUSIVE:
        ax1.axhline(v, color="0.6", lw=0.6, ls=":")
    ax1.set_xticks(positions, labels)
    ax1.set_ylim(-0.03, 1.03)
    ax1.set_ylabel("P(mirage)")
    ax1.set_title("P(mirage) by true per-token skill")

    order = table.sort_values(["tokens", "pair"]).reset_index(drop=True)
    idx = np.arange(len(order))
    for mi, mode in enumerate(MODES):
        ok = order[f"{mode}_ok"].astype(bool).to_numpy()
        lo, med, hi = (order[f"{mode}_tokens_{q}"].to_numpy(float) for q in ("q05", "median", "q95"))
        xx = idx + (mi - 0.5) * 0.3
        cov = (lo <= order["tokens"].to_numpy()) & (order["tokens"].to_numpy() <= hi)
        for c, style in ((True, "-"), (False, ":")):
            m = ok & (cov == c)
            ax2.vlines(xx[m], lo[m], hi[m], color=colors[mode], ls=style, lw=1.2)
        ax2.scatter(xx[ok], med[ok], s=8, color=colors[mode], label=f"{mode} (90% interval, median)")
    for k, col in zip(KINDS, ("r", "darkorange"), strict=True):
        m = (order["kind"] == k).to_numpy()
        ax2.scatter(idx[m], order["tokens"][m], marker="_", s=60, color=col, label=f"true L ({k} skill)", zorder=4)
    ax2.set_yscale("log")
    ax2.set_xlabel("pair (sorted by true L); dotted: interval misses L")
    ax2.set_ylabel("answer tokens L")
    a = table["alone_tokens_covered"].dropna().astype(bool)
    j = table["joint_tokens_covered"].dropna().astype(bool)
    ax2.set_title(f"L: 90% interval coverage alone {a.mean():.2f}, joint {j.mean():.2f}")
    ax2.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=None, help=f"pairs (default {DEFAULT_PAIRS}; --quick {QUICK_PAIRS})")
    ap.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"suite seed (default: the reporting seed {REPORT_SEED}; --quick: the development seed {DEV_SEED})",
    )
    ap.add_argument("--draws", type=int, default=None, help="draws per chain (default: the spec's)")
    ap.add_argument("--tune", type=int, default=None, help="tuning steps per chain (default: the spec's)")
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_PAIRS} pairs, seed {DEV_SEED}, {QUICK_DRAWS} draws / {QUICK_TUNE} tune; writes mirage_quick.*",
    )
    ap.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="folder of the JSON and CSV (default benchmarks/results)"
    )
    ap.add_argument(
        "--table-from",
        type=Path,
        help="rescore a saved per-pair table (a *_curves.csv or the checkpoint) instead of fitting; "
        "its pairs must be a prefix of this suite",
    )
    ap.add_argument("--note", default="", help="a sentence printed under the section's heading (recorded in the JSON)")
    ap.add_argument("--no-results-md", action="store_true", help="leave benchmarks/RESULTS.md and the figure alone")
    args = ap.parse_args(argv)
    if args.quick:
        args.pairs = args.pairs or QUICK_PAIRS
        args.draws = args.draws or QUICK_DRAWS
        args.tune = args.tune or QUICK_TUNE
        args.seed = DEV_SEED if args.seed is None else args.seed
    n = args.pairs or DEFAULT_PAIRS
    seed = REPORT_SEED if args.seed is None else args.seed
    stem = "mirage_quick" if args.quick else "mirage"
    command = "python benchmarks/mirage.py" + ("" if not sys.argv[1:] else " " + shlex.join(sys.argv[1:]))

    t0 = time.perf_counter()
    code = code_info()  # before fitting: the code the fits ran on
    data, truth = simulate_suite(n, seed)
    sampler = make_sampler(args.draws, args.tune, args.chains)
    sp = sampler.spec.sampler
    print(
        f"mirage benchmark: {n} pairs, seed {seed}, {sp.chains} chains x {sp.draws} draws, tune {sp.tune}",
        file=sys.stderr,
        flush=True,
    )
    if args.table_from is not None:  # rescore: the fits' times are the saved table's
        table = pd.read_csv(args.table_from)
        if args.pairs is not None:  # the first --pairs pairs of the saved table
            if len(table) < args.pairs:
                raise SystemExit(f"{args.table_from}: {len(table)} pairs, fewer than --pairs {args.pairs}")
            table = table.iloc[: args.pairs].copy()
        n = len(table)
        truth = truth.iloc[:n]
        same = np.allclose(table["x_min"], truth["x_min"]) and (table["tokens"] == truth["tokens"]).all()
        if not same:
            raise SystemExit(f"{args.table_from}: its pairs are not this suite's (seed {seed})")
        for mode in MODES:
            table[f"{mode}_ok"] = table[f"{mode}_ok"].astype(bool)
            table[f"{mode}_reason"] = table[f"{mode}_reason"].astype(object).fillna("")
    else:
        table = fit_suite(
            data,
            truth,
            sampler,
            log=lambda s: print(s, file=sys.stderr, flush=True),
            checkpoint=RESULTS_DIR / ".work-mirage" / f"{stem}_s{seed}_partial.csv",
        )
    total = time.perf_counter() - t0
    metrics = score(table)
    res = {
        "benchmark": "mirage",
        "stem": stem,
        "date": now(),
        "command": command,
        "note": args.note,
        "code": code,
        "machine": machine_info(),
        "versions": {"phasefit": code["phasefit"], **versions((*SAMPLING_PACKAGES, "scipy", "pandas"))},
        "settings": {
            "pairs": n,
            "seed": seed,
            "quick": args.quick,
            "backend": sp.backend,
            "chains": sp.chains,
            "draws": sp.draws,
            "tune": sp.tune,
            "target_accept": sp.target_accept,
            "sampler_seed": sp.seed,
            "retries": [vars(r) for r in sampler.spec.diagnostics.retries],
            "call": CALL,
            "inconclusive": list(INCONCLUSIVE),
            "generators": {
                "models": MODELS,
                "x_start": X_START,
                "span": SPAN,
                "min_gap": MIN_GAP,
                "n_items": N_ITEMS,
                "smooth_slope": SMOOTH_SLOPE,
                "smooth_mid": SMOOTH_MID,
                "power_e0": POWER_E0,
                "power_alpha": POWER_ALPHA,
                "break_q0": BREAK_Q0,
                "break_gain": BREAK_GAIN,
                "break_inset": BREAK_INSET,
                "break_width": BREAK_WIDTH,
                "tokens": TOKENS,
                "kappa": KAPPA,
                "gamma": GAMMA,
                "precision": PRECISION,
                "y_clip": Y_CLIP,
            },
        },
        "rescored": None,
        "timing": {
            "total_s": total
            if args.table_from is None
            else float(table[[f"{m}_wall_seconds" for m in MODES]].sum().sum()),
            "compile_s": float(sum(sampler.compile_seconds.values())),
            "compile_seconds": sampler.compile_seconds,
            "peak_rss_mib": rss_mib(),
        },
        "loadavg_at_end": loadavg(),
        "targets_threshold": TARGETS,
        "targets": targets(metrics),
        "metrics": metrics,
    }
    if args.table_from is not None:
        res["rescored"] = {"from": str(args.table_from), "date": res["date"], "command": command}
        saved = args.table_from.with_name(args.table_from.name.replace("_curves.csv", ".json"))
        if saved != args.table_from and saved.exists():  # the fitting run's record: its date, command, machine, time
            fits = json.loads(saved.read_text())
            for key in ("date", "command", "code", "machine", "versions", "timing", "loadavg_at_end"):
                res[key] = fits[key]
            for key in ("chains", "draws", "tune", "target_accept", "sampler_seed", "retries"):
                res["settings"][key] = fits["settings"][key]
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"{stem}.json", res)
    table.to_csv(args.out / f"{stem}_curves.csv", index=False)
    section = markdown(res)
    if not args.quick and not args.no_results_md:
        write_results_md(f"{START}\n{section.rstrip()}\n{END}\n", START, END)
        figure(table, FIGURE)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
