"""Intervention benchmark: does the intervention analysis find a technique that helps only past a break?

`phasefit.analyses.intervention` fits a pair of curves (the same task, metric and models under a
baseline arm and a treatment arm, e.g. answer-only vs chain-of-thought prompting) jointly, with the
treatment's log-odds = the baseline's + a gain g(x) under four hypotheses (`no_gain`, `smooth_gain`,
and the emergent family `breakpoint_gain` (step) and `hinge_gain` (ramp)), with the hypotheses' prior
weights learned from the run's pairs, and calls the pair `emergent` when P(emergent family | data) >=
0.9 and the onset lies within the data; the onset is the smallest scale from which the gain stays >=
0.5 log-odds. This benchmark simulates pairs from generators that are not phasefit's model (see below
for the gain's shape), runs `phasefit.intervention` on the whole suite as a user would (`--weights
even`: each pair at even prior odds, the same fits), and puts every score beside
the score of the **Bayes-optimal reference**: P(kind | data) and the onset's posterior computed by
integrating the generators' own priors (baseline-arm parameters and over-dispersion included).

Generators (pair i has kind KINDS[i % 4]; every random choice of pair i comes from
`np.random.default_rng([seed, 4242, i])`, so a smaller suite is a prefix of a larger one; x = log10
training FLOPs; the design is data, which the generator and the reference both condition on):

- design: m models, uniform integer 4-10; x_min ~ U(19, 21), span ~ U(2, 4) decades; uneven gaps =
  0.1 decade + a Dirichlet share of the rest (concentration log-uniform 0.7-5: low = clustered
  models); n_items log-uniform 100-1000 (rounded), the same for every model and both arms (one
  benchmark); floor (chance) 0, 0.25 or 0.5 (1/3 each).
- expected score of an arm: p = floor + (1 - floor) q with q the share above the floor. Baseline arm,
  one of three shapes (1/3 each), not phasefit's free value per model:
  `logistic`: q = c logistic(k (x - mid)), mid ~ U(x_min - span/4, x_max + span/4), k log-uniform
  0.5-5 per decade, ceiling c ~ U(0.6, 1) (an emergent baseline, or its foot or its top);
  `flat`: q = level, log-uniform 0.002-0.1 (flat at the floor);
  `powerlaw`: a power law in the error, 1 - q = e0 10^(-alpha (x - x_min)), e0 ~ U(0.3, 0.98),
  alpha log-uniform 0.05-0.5.
- treatment arm: logit q_t = logit q_b + g(x), g the true gain in log-odds, one of four kinds; the
  break kinds' transition s(x) (0 well below the break, 1 at the largest model) is a logistic step that
  stays, s(x) = logistic((x - t) / w) / logistic((x_max - t) / w) (default), or with `--transition
  ramp` a softplus hinge that keeps rising linearly to the largest model, s(x) = softplus((x - t) / w)
  / softplus((x_max - t) / w) (the same draws: only the gain's shape differs):
  `harm_then_benefit`: g = -h + (h + B) s(x) (harm h below the break, benefit B at the largest model),
  h ~ U(0.3, 2), B ~ U(1, 5) log-odds;
  `benefit_at_break`: g = B s(x), B ~ U(1, 5) (nothing, then a benefit);
  `constant`: g = c, c ~ U(0.3, 3) (a constant benefit);
  `none`: g = 0.
  Break t ~ U(x_(2), x_(m-1)) (at least 2 models before it and 2 after it, the models sorted),
  transition width w log-uniform 0.02-0.2 decades (10-90% of the transition over 4.4 w).
- counts: each cell's (model, arm) success probability ~ Beta(p kappa, (1 - p) kappa), then k ~
  Binomial(n_items, it); kappa log-uniform 20-2000 (strong to mild over-dispersion) for 75% of the
  pairs and binomial (none) for 25%, the same kappa for both arms.
- truth onset: the smallest x of a fine grid over [x_min, x_max] (0.002 decades) from which the true
  gain stays >= 0.5 log-odds up to x_max (phasefit's definition and margin); inf if it never does.
  For the break kinds g(x_max) = B >= 1, so the truth onset is always inside the data.

phasefit's model differs in the baseline arm (a free log-odds per model, Normal(-1, 3), where the
generators draw a logistic, flat or power-law curve), in its priors and in having a `smooth_gain`
alternative the generators never use. Its gain under `breakpoint_gain` was a softplus hinge rising
linearly to the largest model when these generators were written (the logistic transition was chosen
to differ from it); since git b92df33 it is g = level + jump logistic((x - tau) / width), the same
family as the default transition (priors differ: level Normal(0, 1), jump LogNormal(0.9, 0.7), width
LogNormal(-1.9, 1)), and since git 530ae24 `hinge_gain` (a softplus hinge reaching level + jump at the
largest model, the same priors) is the second emergent shape, the family of `--transition ramp`. Both
transitions are therefore shapes phasefit fits; what is not phasefit's model is the baseline arm, the
priors (uniform harm and benefit, log-uniform widths) and the over-dispersion.

Reference (`reference_pair`): each (kind, baseline shape) is a deterministic function of independent
uniforms (gain parameters, baseline parameters, kappa: 2-8 of them), so `accuracy_reference.kind_evidence`
(adaptive importance sampling in logit(u), balance-heuristic weights, the generator's own
beta-binomial/binomial likelihood on both arms' 2m counts) gives each of the 12 marginal likelihoods;
P(kind | data) weighs them with the generator's weights (1/4 per kind x 1/3 per baseline shape),
P(emergent) = P(harm_then_benefit) + P(benefit_at_break). The onset's posterior given an emergent kind
is the weighted draws of both emergent kinds and all baseline shapes, resampled (4,000) and their
onsets computed on the truth's grid; P(harm at the smallest model) likewise. Reported per pair: the
Monte Carlo ESS of each part (its minimum over all 12 and over the parts with P >= 0.01) and the
delta-method SE of P(emergent).

Scores, each for phasefit (called: verdict `emergent`) and the reference (called: P >= 0.9): share
called emergent per kind; the onset's 90% interval covering the truth among called harm-then-benefit
pairs and among all called breaks (with median width and |median - truth|, and on the pairs both
call); constant + none called emergent; AUC of P(emergent), breaks vs constant + none; none called
`absent` (reference: P(none) >= 0.5); harm at the smallest model claimed (P >= 0.9); and diagnostics
(calls by the number of models past the onset, signed onset error, failed pairs). Targets (issue):
harm-then-benefit called emergent >= 0.70, onset coverage among them >= 0.85, constant/none called
emergent <= 0.05.

    .venv/bin/python benchmarks/intervention.py                   # 120 pairs, reporting seed 2026
    .venv/bin/python benchmarks/intervention.py --dev --pairs 24  # development seed 1, writes intervention_dev.*
    .venv/bin/python benchmarks/intervention.py --reference-only --dev --pairs 40 --jobs 2
    .venv/bin/python benchmarks/intervention.py --transition ramp --jobs 2   # gains that keep rising
    .venv/bin/python benchmarks/intervention.py --table-from benchmarks/results/intervention_pairs.csv  # rescore

Develop with --dev (DEV_SEED); the committed results come from the default, REPORT_SEED, which nobody
tunes on. Finished pairs are checkpointed under --work-dir (the reference as JSON lines, phasefit's fits by the
runner itself, keyed by the code, the suite and the sampler settings), so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy_reference import kind_evidence, systematic_resample, weighted_quantile  # noqa: E402
from accuracy_worlds import Kind, Shape, kappa_of, logu, uni  # noqa: E402

from _common import (  # noqa: E402
    RESULTS_DIR,
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
DEFAULT_PAIRS = 120
STREAM = 4242  # pair i's generator stream: default_rng([seed, STREAM, i])
REF_STREAM = 4243  # pair i's reference stream
SECTION = "## Intervention: a technique that helps only past a break"
BASELINE_ARM, TREATMENT_ARM = "direct", "cot"

KINDS = ("harm_then_benefit", "benefit_at_break", "constant", "none")
TRANSITIONS = ("logistic", "ramp")  # the break kinds' transition: the default, or a ramp (--transition ramp)
EMERGENT_KINDS = ("harm_then_benefit", "benefit_at_break")
NULL_KINDS = ("constant", "none")
BASELINES = ("logistic", "flat", "powerlaw")
KIND_WEIGHT = 1 / len(KINDS)  # the kinds are drawn in rotation
BASELINE_WEIGHT = 1 / len(BASELINES)

# generator priors (documented in the module docstring and benchmarks/README.md)
MODELS = (4, 10)  # models per pair, uniform integer
X_START = (19.0, 21.0)  # log10 FLOPs of the smallest model
SPAN = (2.0, 4.0)  # decades
MIN_GAP = 0.1  # decades between neighbouring models
EVENNESS = (0.7, 5.0)  # Dirichlet concentration of the gaps, log-uniform
N_ITEMS = (100, 1000)  # log-uniform, the same for every model and arm of a pair
FLOORS = (0.0, 0.25, 0.5)
LOGISTIC_MID_PAD = 0.25  # baseline logistic's midpoint: U(x_min - pad span, x_max + pad span)
LOGISTIC_STEEPNESS = (0.5, 5.0)  # per decade, log-uniform
LOGISTIC_CEILING = (0.6, 1.0)
FLAT_LEVEL = (0.002, 0.1)  # log-uniform
POWER_E0 = (0.3, 0.98)  # error at the smallest model
POWER_ALPHA = (0.05, 0.5)  # decades of error per decade of compute, log-uniform
HARM = (0.3, 2.0)  # log-odds, uniform
BENEFIT = (1.0, 5.0)  # log-odds at the largest model, uniform
CONSTANT = (0.3, 3.0)  # log-odds, uniform
WIDTH = (0.02, 0.2)  # decades, log-uniform (logistic scale of the transition)
# kappa: accuracy_worlds.kappa_of, log-uniform 20-2000 on u < 0.75, binomial above
KAPPA_RANGE = (20.0, 2000.0)
KAPPA_SHARE = 0.75

MARGIN = 0.5  # onset margin, log-odds (phasefit's ONSET_MARGIN)
ONSET_STEP = 0.002  # decades, the onset grid
CALL = 0.9  # the reference calls a pair emergent at P >= CALL (phasefit: its verdict)
TARGETS = {"htb_called": 0.70, "htb_onset_coverage": 0.85, "null_called_max": 0.05}
IS_OPTIONS = {"n_prior": 20000, "n_round": 20000, "max_rounds": 10, "ess_target": 1500.0}
N_RESAMPLE = 4000
P_CLIP = 1e-12

GAIN_PARAMS = {
    "harm_then_benefit": ("harm", "benefit", "tau", "width"),
    "benefit_at_break": ("benefit", "tau", "width"),
    "constant": ("effect",),
    "none": (),
}
BASE_PARAMS = {"logistic": ("mid", "steepness", "ceiling"), "flat": ("level",), "powerlaw": ("error0", "alpha")}
ALL_PARAMS = ("harm", "benefit", "tau", "width", "effect", "mid", "steepness", "ceiling", "level", "error0", "alpha")


# ------------------------------------------------------------------------------------ generators


@dataclass(frozen=True)
class PairDesign:
    """The models' log10 FLOPs (ascending), n_items and floor. `n` is both arms' items in the order of
    the counts the likelihood sees (baseline then treatment), as `accuracy_reference` expects."""

    x: np.ndarray
    n_items: np.ndarray
    floor: float

    @property
    def n(self) -> np.ndarray:
        return np.concatenate([self.n_items, self.n_items])

    @property
    def x_lo(self) -> float:
        return float(self.x[0])

    @property
    def x_hi(self) -> float:
        return float(self.x[-1])

    @property
    def span(self) -> float:
        return self.x_hi - self.x_lo

    @property
    def tau_range(self) -> tuple[float, float]:
        """The break's range: at least 2 models before it and 2 after it."""
        return float(self.x[1]), float(self.x[len(self.x) - 2])

    def onset_grid(self) -> np.ndarray:
        return np.linspace(self.x_lo, self.x_hi, int(round(self.span / ONSET_STEP)) + 1)


def draw_design(rng: np.random.Generator, models: tuple[int, int] = MODELS) -> PairDesign:
    m = int(rng.integers(models[0], models[1] + 1))
    start, span = rng.uniform(*X_START), rng.uniform(*SPAN)
    conc = logu(rng.uniform(), *EVENNESS)
    gaps = MIN_GAP + (span - (m - 1) * MIN_GAP) * rng.dirichlet(np.full(m - 1, conc))
    x = start + np.concatenate([[0.0], np.cumsum(gaps)])
    x[-1] = start + span
    n = int(round(logu(rng.uniform(), *N_ITEMS)))
    floor = FLOORS[int(rng.integers(len(FLOORS)))]
    return PairDesign(x=x, n_items=np.full(m, n, dtype=np.int64), floor=float(floor))


def _col(u: np.ndarray, j: int) -> np.ndarray:
    return u[:, j]


def gain_params(kind: str, ug: np.ndarray, design: PairDesign) -> dict[str, np.ndarray]:
    """The gain's parameters from its uniforms ug (M, len(GAIN_PARAMS[kind]))."""
    lo, hi = design.tau_range
    if kind == "harm_then_benefit":
        return {
            "harm": uni(_col(ug, 0), *HARM),
            "benefit": uni(_col(ug, 1), *BENEFIT),
            "tau": uni(_col(ug, 2), lo, hi),
            "width": logu(_col(ug, 3), *WIDTH),
        }
    if kind == "benefit_at_break":
        return {
            "benefit": uni(_col(ug, 0), *BENEFIT),
            "tau": uni(_col(ug, 1), lo, hi),
            "width": logu(_col(ug, 2), *WIDTH),
        }
    if kind == "constant":
        return {"effect": uni(_col(ug, 0), *CONSTANT)}
    if kind == "none":
        return {}
    raise ValueError(kind)


def transition_curve(x: np.ndarray, t: np.ndarray, w: np.ndarray, x_hi: float, transition: str) -> np.ndarray:
    """s(x), 0 well below the break t and 1 at the largest model: a logistic step of scale w that
    stays (`logistic`), or a softplus hinge of width w that keeps rising linearly to the largest model
    (`ramp`)."""
    if transition == "logistic":
        return special.expit((x - t) / w) / special.expit((x_hi - t) / w)
    if transition == "ramp":
        return np.logaddexp(0.0, (x - t) / w) / np.logaddexp(0.0, (x_hi - t) / w)
    raise ValueError(transition)


def gain_curve(
    kind: str,
    par: dict[str, np.ndarray],
    design: PairDesign,
    x: np.ndarray,
    m: int,
    transition: str = "logistic",
) -> np.ndarray:
    """The true gain g(x) in log-odds for M parameter draws: (M, K)."""
    x = np.asarray(x, float)[None, :]
    if kind in EMERGENT_KINDS:
        t, w = par["tau"][:, None], par["width"][:, None]
        s = transition_curve(x, t, w, design.x_hi, transition)
        if kind == "benefit_at_break":
            return par["benefit"][:, None] * s
        h = par["harm"][:, None]
        return -h + (h + par["benefit"][:, None]) * s
    if kind == "constant":
        return np.broadcast_to(par["effect"][:, None], (m, x.shape[1])).copy()
    return np.zeros((m, x.shape[1]))


def baseline_params(shape: str, ub: np.ndarray, design: PairDesign) -> dict[str, np.ndarray]:
    if shape == "logistic":
        pad = LOGISTIC_MID_PAD * design.span
        return {
            "mid": uni(_col(ub, 0), design.x_lo - pad, design.x_hi + pad),
            "steepness": logu(_col(ub, 1), *LOGISTIC_STEEPNESS),
            "ceiling": uni(_col(ub, 2), *LOGISTIC_CEILING),
        }
    if shape == "flat":
        return {"level": logu(_col(ub, 0), *FLAT_LEVEL)}
    if shape == "powerlaw":
        return {"error0": uni(_col(ub, 0), *POWER_E0), "alpha": logu(_col(ub, 1), *POWER_ALPHA)}
    raise ValueError(shape)


def baseline_q(shape: str, par: dict[str, np.ndarray], design: PairDesign, x: np.ndarray, m: int) -> np.ndarray:
    """The baseline arm's share above the floor, (M, K)."""
    x = np.asarray(x, float)[None, :]
    if shape == "logistic":
        return par["ceiling"][:, None] * special.expit(par["steepness"][:, None] * (x - par["mid"][:, None]))
    if shape == "flat":
        return np.broadcast_to(par["level"][:, None], (m, x.shape[1])).copy()
    return 1.0 - par["error0"][:, None] * 10.0 ** (-par["alpha"][:, None] * (x - design.x_lo))


def dims(kind: str, shape: str) -> int:
    return len(GAIN_PARAMS[kind]) + len(BASE_PARAMS[shape]) + 1


def split_u(kind: str, shape: str, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns of u: the gain's uniforms, the baseline's, then kappa's."""
    a, b = len(GAIN_PARAMS[kind]), len(BASE_PARAMS[shape])
    return u[:, :a], u[:, a : a + b], u[:, a + b]


def arms_p(kind: str, shape: str, u: np.ndarray, design: PairDesign, x: np.ndarray, transition: str = "logistic"):
    """Expected scores of both arms (M, 2K: baseline then treatment), kappa (M,), gain (M, K), params."""
    ug, ub, uk = split_u(kind, shape, u)
    m = len(u)
    gp, bp = gain_params(kind, ug, design), baseline_params(shape, ub, design)
    qb = np.clip(baseline_q(shape, bp, design, x, m), P_CLIP, 1.0 - P_CLIP)
    g = gain_curve(kind, gp, design, x, m, transition)
    qt = special.expit(special.logit(qb) + g)
    f = design.floor
    p = f + (1.0 - f) * np.concatenate([qb, qt], axis=1)
    return p, kappa_of(uk), g, gp | bp


def sub_kind(kind: str, shape: str, transition: str = "logistic") -> Kind:
    """One (gain kind, baseline shape) as an `accuracy_worlds.Kind` whose curve is both arms' 2m cells."""

    def shape_fn(u, design, x):
        p, kappa, _, par = arms_p(kind, shape, u, design, x, transition)
        return Shape(p=p, kappa=kappa, tau=par.get("tau"))

    return Kind(dim=dims(kind, shape), names=(*GAIN_PARAMS[kind], *BASE_PARAMS[shape], "kappa"), shape=shape_fn)


def onsets(gain: np.ndarray, grid: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """Per row of `gain` on `grid`: the smallest grid value from which the gain stays >= margin up to
    the grid's end; inf where it ends below (phasefit's `onset_draws`)."""
    above = gain >= margin
    stays = np.flip(np.logical_and.accumulate(np.flip(above, axis=1), axis=1), axis=1)
    first = np.argmax(stays, axis=1)
    return np.where(stays[:, -1], grid[first], np.inf)


@dataclass(frozen=True)
class Sim:
    """One simulated pair: its design, counts of both arms and its truth."""

    i: int
    seed: int
    kind: str
    shape: str
    u: np.ndarray  # (dims,) the uniforms of its parameters
    design: PairDesign
    k_base: np.ndarray
    k_treat: np.ndarray
    truth: dict
    transition: str = "logistic"

    @property
    def k(self) -> np.ndarray:
        return np.concatenate([self.k_base, self.k_treat])

    @property
    def task(self) -> str:
        return self.truth["task"]


def simulate_pair(seed: int, i: int, models: tuple[int, int] = MODELS, transition: str = "logistic") -> Sim:
    """Pair i of the suite (kind KINDS[i % 4]); `models` narrows the number of models (tests);
    `transition` = the break kinds' (the same draws either way: only the gain's shape differs)."""
    rng = np.random.default_rng([seed, STREAM, i])
    kind = KINDS[i % len(KINDS)]
    design = draw_design(rng, models)
    shape = BASELINES[int(rng.integers(len(BASELINES)))]
    u = rng.uniform(size=dims(kind, shape))
    return make_sim(kind, shape, u, design, rng, i=i, seed=seed, transition=transition)


def make_sim(
    kind: str,
    shape: str,
    u: np.ndarray,
    design: PairDesign,
    rng: np.random.Generator,
    *,
    i: int = 0,
    seed: int = 0,
    transition: str = "logistic",
) -> Sim:
    """A pair of the given kind, baseline shape, uniforms u (`split_u`) and design, counts drawn with rng."""
    p, kappa, g, par = arms_p(kind, shape, u[None, :], design, design.x, transition)
    p, kappa, g = p[0], float(kappa[0]), g[0]
    if math.isfinite(kappa):
        pc = np.clip(p, 1e-12, 1 - 1e-12)
        p_cell = rng.beta(pc * kappa, (1 - pc) * kappa)
    else:
        p_cell = p
    k = rng.binomial(design.n, p_cell)
    m = len(design.x)
    grid = design.onset_grid()
    gain_grid = gain_curve(kind, {a: b for a, b in par.items() if a in GAIN_PARAMS[kind]}, design, grid, 1, transition)
    onset = float(onsets(gain_grid, grid)[0])
    truth = {
        "pair": i,
        "task": f"intervention-{i:03d}",
        "kind": kind,
        "transition": transition if kind in EMERGENT_KINDS else "",
        "emergent": kind in EMERGENT_KINDS,
        "baseline_shape": shape,
        "n_models": m,
        "n_items": int(design.n_items[0]),
        "floor": design.floor,
        "x_min": design.x_lo,
        "x_max": design.x_hi,
        "kappa": kappa,
        **{name: float(par[name][0]) if name in par else math.nan for name in ALL_PARAMS},
        "gain_smallest": float(g[0]),
        "gain_largest": float(g[-1]),
        "gain_min": float(g.min()),
        "true_onset": onset,
        "models_before_onset": int((design.x < onset).sum()) if math.isfinite(onset) else m,
        "base_min": float(p[:m].min()),
        "base_max": float(p[:m].max()),
        "treat_min": float(p[m:].min()),
        "treat_max": float(p[m:].max()),
    }
    return Sim(
        i=i,
        seed=seed,
        kind=kind,
        shape=shape,
        u=u,
        design=design,
        k_base=k[:m],
        k_treat=k[m:],
        truth=truth,
        transition=transition,
    )


def pair_rows(sim: Sim) -> pd.DataFrame:
    """The pair's rows in phasefit's data contract (both arms, `condition` = the arm)."""
    d = sim.design
    m = len(d.x)
    models = [f"m{j:02d}" for j in range(m)]
    frames = []
    for arm, k in ((BASELINE_ARM, sim.k_base), (TREATMENT_ARM, sim.k_treat)):
        frames.append(
            pd.DataFrame(
                {
                    "task": sim.task,
                    "metric": "exact_match",
                    "family": "sim",
                    "condition": arm,
                    "model": models,
                    "score": k / d.n_items,
                    "n_items": d.n_items.astype(float),
                    "n_correct": k.astype(float),
                    "train_flops": 10.0**d.x,
                    "chance": d.floor,
                    "metric_kind": "discrete",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def simulate_suite(
    n_pairs: int, seed: int, models: tuple[int, int] = MODELS, transition: str = "logistic"
) -> list[Sim]:
    return [simulate_pair(seed, i, models, transition) for i in range(n_pairs)]


def suite_table(sims: list[Sim]) -> pd.DataFrame:
    return pd.concat([pair_rows(s) for s in sims], ignore_index=True)


# -------------------------------------------------------------------------------- the reference


def reference_pair(sim: Sim, rng: np.random.Generator, *, n_resample: int = N_RESAMPLE, **is_options) -> dict:
    """The Bayes-optimal reference of one pair (module docstring): P(kind | data) of the four kinds,
    P(emergent) with its Monte Carlo SE and ESS, the onset's posterior given an emergent kind and
    P(harm at the smallest model)."""
    opts = IS_OPTIONS | is_options
    t0 = time.perf_counter()
    design, k = sim.design, sim.k
    parts = {
        (kind, s): kind_evidence(sub_kind(kind, s, sim.transition), design, k, rng, **opts)
        for kind in KINDS
        for s in BASELINES
    }
    log_a = {key: math.log(KIND_WEIGHT * BASELINE_WEIGHT) + e.log_z for key, e in parts.items()}
    total = special.logsumexp(list(log_a.values()))
    post = {key: math.exp(v - total) for key, v in log_a.items()}
    p_kind = {kind: sum(post[(kind, s)] for s in BASELINES) for kind in KINDS}
    p_em = sum(p_kind[kind] for kind in EMERGENT_KINDS)
    # delta-method SE of P(emergent): dP/dlogZ_s = P_s (1 - P) for s emergent, -P_s P otherwise
    var = sum(
        (post[key] * ((1.0 - p_em) if key[0] in EMERGENT_KINDS else -p_em) * parts[key].log_z_se) ** 2 for key in parts
    )
    out: dict = {f"ref_p_{kind}": p_kind[kind] for kind in KINDS}
    out["ref_p_emergent"] = p_em
    out["ref_p_emergent_se"] = math.sqrt(var)
    for kind in KINDS:
        out[f"ref_logz_{kind}"] = float(
            special.logsumexp([math.log(BASELINE_WEIGHT) + parts[(kind, s)].log_z for s in BASELINES])
        )
    ess = {key: e.ess for key, e in parts.items()}
    out["ref_ess_min"] = min(ess.values())
    relevant = [ess[key] for key in parts if post[key] >= 0.01]
    out["ref_ess_min_relevant"] = min(relevant) if relevant else math.nan
    out["ref_draws"] = int(sum(e.n_draws for e in parts.values()))
    out["ref_rounds_max"] = int(max(e.rounds for e in parts.values()))
    out["ref_ess"] = json.dumps({f"{a}/{b}": round(v, 1) for (a, b), v in ess.items()})

    # the onset's posterior given an emergent kind, and P(harm at the smallest model)
    grid = design.onset_grid()
    em_keys = [key for key in parts if key[0] in EMERGENT_KINDS and post[key] > 0]
    p_harm = 0.0
    oq = np.full(3, np.nan)
    if em_keys and p_em > 0:
        lw = np.concatenate(
            [parts[key].log_w - special.logsumexp(parts[key].log_w) + math.log(post[key] / p_em) for key in em_keys]
        )
        w = np.exp(lw - lw.max())
        idx = systematic_resample(w, n_resample, rng)
        sizes = np.cumsum([0] + [len(parts[key].log_w) for key in em_keys])
        values, counts = [], []
        for j, key in enumerate(em_keys):
            mine = idx[(idx >= sizes[j]) & (idx < sizes[j + 1])] - sizes[j]
            if len(mine) == 0:
                continue
            uniq, c = np.unique(mine, return_counts=True)
            u = np.clip(special.expit(np.clip(parts[key].z[uniq], -35.0, 35.0)), 1e-15, 1 - 1e-15)
            ug, _, _ = split_u(key[0], key[1], u)
            g = gain_curve(key[0], gain_params(key[0], ug, design), design, grid, len(u), sim.transition)
            values.append(onsets(g, grid))
            counts.append(c.astype(float))
        oq = weighted_quantile(np.concatenate(values), np.concatenate(counts), (0.05, 0.5, 0.95))
    for s in BASELINES:
        key = ("harm_then_benefit", s)
        e = parts[key]
        if post[key] <= 0:
            continue
        u = np.clip(special.expit(np.clip(e.z, -35.0, 35.0)), 1e-15, 1 - 1e-15)
        ug, _, _ = split_u(key[0], s, u)
        g0 = gain_curve(key[0], gain_params(key[0], ug, design), design, design.x[:1], len(u), sim.transition)
        g0 = g0[:, 0]
        w = np.exp(e.log_w - e.log_w.max())
        p_harm += post[key] * float((w * (g0 < 0)).sum() / w.sum())
    out |= {"ref_onset_q05": oq[0], "ref_onset_median": oq[1], "ref_onset_q95": oq[2]}
    out["ref_p_harm_smallest"] = p_harm
    out["ref_called"] = bool(p_em >= CALL)
    out["ref_seconds"] = time.perf_counter() - t0
    return out


def _reference_job(job: tuple) -> dict:
    seed, i, models, opts, transition = job
    sim = simulate_pair(seed, i, models, transition)
    rng = np.random.default_rng([seed, REF_STREAM, i])
    return {"pair": i, **reference_pair(sim, rng, **opts)}


def _read_jsonl(path: Path | None, settings: dict) -> dict[int, dict]:
    """The finished pairs of a checkpoint whose settings are these."""
    if path is None or not path.exists():
        return {}
    done = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by an interruption
            continue
        if rec.get("settings") == settings:
            done[int(rec["row"]["pair"])] = rec["row"]
    return done


def _append_jsonl(path: Path | None, settings: dict, row: dict) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps({"settings": settings, "row": _plain(row)}) + "\n")


def _plain(row: dict) -> dict:
    """JSON-safe values that read back the same (inf and NaN as strings)."""
    out = {}
    for k, v in row.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = repr(v)  # 'inf', '-inf', 'nan'
        out[k] = v
    return out


def _unplain(row: dict) -> dict:
    return {k: float(v) if v in ("inf", "-inf", "nan") else v for k, v in row.items()}


def compute_reference(
    n_pairs: int,
    seed: int,
    *,
    jobs: int = 1,
    models: tuple[int, int] = MODELS,
    transition: str = "logistic",
    options: dict | None = None,
    checkpoint: Path | None = None,
    log=print,
) -> pd.DataFrame:
    """The reference of pairs 0..n_pairs-1 (one row per pair), resuming from `checkpoint`."""
    opts = dict(IS_OPTIONS if options is None else options)
    settings = {"seed": seed, "models": list(models), "options": opts, "n_resample": N_RESAMPLE}
    if transition != "logistic":
        settings["transition"] = transition
    done = {i: _unplain(r) for i, r in _read_jsonl(checkpoint, settings).items() if i < n_pairs}
    todo = [(seed, i, models, opts, transition) for i in range(n_pairs) if i not in done]
    if done:
        log(f"  reference: {len(done)} pairs from the checkpoint, {len(todo)} to compute")
    t0 = time.perf_counter()

    def record(r):
        done[r["pair"]] = r
        _append_jsonl(checkpoint, settings, r)
        if len(done) % 10 == 0 or len(done) == n_pairs:
            log(f"  reference: {len(done)}/{n_pairs} pairs, {time.perf_counter() - t0:.0f} s")

    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(jobs) as ex:
            for r in ex.map(_reference_job, todo):
                record(r)
    else:
        for job in todo:
            record(_reference_job(job))
    return pd.DataFrame([done[i] for i in range(n_pairs)])


# ------------------------------------------------------------------------------------ phasefit


def sampler_spec(draws: int | None = None, tune: int | None = None, chains: int | None = None):
    """The spec every pair is fitted with (the package's default, with these sampler changes)."""
    from phasefit.analyses.intervention import intervention_spec
    from phasefit.models.spec import load_spec

    return intervention_spec(load_spec().with_sampler(draws=draws, tune=tune, chains=chains))


def _log10(v) -> float:
    v = float(v) if v is not None else math.nan
    return math.log10(v) if math.isfinite(v) and v > 0 else math.nan


def pf_columns(row: dict, seconds: float) -> dict:
    """phasefit's numbers of one pair (a row of intervention.csv), onsets and breaks as log10 FLOPs.

    Where the break is favoured (P >= 0.5, the onset reported), a missing onset quantile is one
    beyond the data (+inf), as intervention.csv writes inf quantiles as NaN."""
    favoured = row["verdict"] != "failed" and (row["p_emergent"] or 0.0) >= 0.5
    out = {
        "pf_p_emergent": row["p_emergent"],
        "pf_p_smooth": row["p_smooth"],
        "pf_p_absent": row["p_absent"],
        "pf_verdict": row["verdict"],
        "pf_called": row["verdict"] == "emergent",
        "pf_onset_reported": bool(favoured),
    }
    for q in ("q05", "median", "q95"):
        v = _log10(row[f"onset_flops_{q}"])
        out[f"pf_onset_{q}"] = (math.inf if not math.isfinite(v) else v) if favoured else math.nan
        out[f"pf_break_{q}"] = _log10(row[f"break_flops_{q}"])
    for key in (
        "p_harm_smallest",
        "p_benefit_largest",
        "gain_smallest_median",
        "gain_largest_median",
        "onset_beyond_data",
        "onset_at_smallest",
        "rhat_max",
        "ess_bulk_min",
        "divergences",
        "attempts",
        "p_step",
        "p_ramp",
        "log_z_no_gain",
        "log_z_smooth_gain",
        "log_z_breakpoint_gain",
        "log_z_hinge_gain",
        "k_hat_max",
        "failure_reason",
        "notes",
    ):
        out[f"pf_{key}"] = row.get(key, math.nan)
    out["pf_seconds"] = seconds
    return out


def fit_suite(
    sims: list[Sim],
    *,
    work_dir: Path,
    weights: str = "learned",
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    log=print,
) -> tuple[pd.DataFrame, dict]:
    """`phasefit.intervention` on the whole suite, as a user runs it (one row of pf_* columns per
    pair; the hypotheses' weights learned from the suite's pairs unless `weights="even"`),
    resuming from the runner's own checkpoints in `work_dir`. Also the run's record."""
    import phasefit

    curves = phasefit.load_curves(suite_table(sims), x_axis="flops", min_points=4, name="intervention-suite")
    run = phasefit.intervention(
        curves,
        baseline=BASELINE_ARM,
        treatment=TREATMENT_ARM,
        weights=weights,
        draws=draws,
        tune=tune,
        chains=chains,
        work_dir=work_dir,
        progress=sys.stderr.isatty(),
    )
    if run.run["skipped"]:
        raise RuntimeError(f"pairs left out by the analysis: {run.run['skipped']}")
    by_task = {r.row["task"]: r for r in run.results}
    rows = []
    for sim in sims:
        r = by_task[sim.task]
        row = {"pair": sim.i, **pf_columns(r.row, r.seconds)}
        rows.append(row)
        t = sim.truth
        log(
            f"  pair {sim.i:3d} {sim.kind:17s} {sim.shape:8s} m={t['n_models']:2d} n={t['n_items']:4d} "
            f"onset={t['true_onset']:.2f} p={row['pf_p_emergent']:.3f} {row['pf_verdict']:12s} "
            f"onset90=[{row['pf_onset_q05']:.2f}, {row['pf_onset_q95']:.2f}] ({row['pf_seconds']:.1f} s)"
        )
    return pd.DataFrame(rows), run.run


# ------------------------------------------------------------------------------------- scoring


def _share(hits) -> dict:
    hits = np.asarray(hits, bool)
    k, n = int(hits.sum()), int(hits.size)
    lo, hi = wilson(k, n)
    return {"k": k, "n": n, "share": k / n if n else math.nan, "wilson90": [lo, hi]}


def _median(v) -> float:
    v = np.asarray(v, float)
    v = v[~np.isnan(v)]
    return float(np.median(v)) if v.size else math.nan


def onset_scores(table: pd.DataFrame, mask: np.ndarray, method: str) -> dict:
    """Coverage of the true onset by `method`'s 90% interval on the pairs of `mask`."""
    lo = table[f"{method}_onset_q05"].to_numpy(float)[mask]
    med = table[f"{method}_onset_median"].to_numpy(float)[mask]
    hi = table[f"{method}_onset_q95"].to_numpy(float)[mask]
    truth = table["true_onset"].to_numpy(float)[mask]
    have = ~np.isnan(lo) & ~np.isnan(hi)
    covered = (lo <= truth) & (truth <= hi) & have
    with np.errstate(invalid="ignore"):
        width = np.where(have, hi - lo, np.nan)
        err = np.where(~np.isnan(med), np.abs(med - truth), np.nan)
    return {
        "coverage": _share(covered),
        "truth_below": int((have & (truth < lo)).sum()),  # the interval lies above the truth: onset late
        "truth_above": int((have & (truth > hi)).sum()),
        "no_interval": int((~have).sum()),
        "median_width": _median(width),
        "median_abs_error": _median(err),
    }


def score_method(table: pd.DataFrame, method: str) -> dict:
    """Every score of one method (`pf` or `ref`)."""
    kind = table["kind"].to_numpy()
    p = table[f"{method}_p_emergent"].to_numpy(float)
    called = table[f"{method}_called"].to_numpy(bool)
    if method == "pf":
        failed = table["pf_verdict"].to_numpy() == "failed"
        absent = table["pf_verdict"].to_numpy() == "absent"
        harm = table["pf_p_harm_smallest"].to_numpy(float) >= 0.9
    else:
        failed = ~np.isfinite(p)
        absent = table["ref_p_none"].to_numpy(float) >= 0.5
        harm = table["ref_p_harm_smallest"].to_numpy(float) >= 0.9
    out: dict = {"n": len(table), "n_failed": int(failed.sum())}
    out["failures"] = [
        {"pair": int(r["pair"]), "kind": r["kind"], "reason": r.get("pf_failure_reason", "")}
        for r in table[failed].to_dict("records")
    ]
    out["kinds"] = {}
    for k in KINDS:
        m = kind == k
        pk = p[m & ~failed]
        out["kinds"][k] = {
            "n": int(m.sum()),
            "n_failed": int((m & failed).sum()),
            "called": _share(called[m]),  # failed pairs count as not called
            "absent": _share(absent[m]),
            "harm_claimed": _share(harm[m]),
            "mean_p": float(pk.mean()) if pk.size else math.nan,
            "median_p": float(np.median(pk)) if pk.size else math.nan,
        }
        if method == "pf":
            v = table.loc[m, "pf_verdict"].value_counts()
            out["kinds"][k]["verdicts"] = {str(a): int(b) for a, b in v.items()}
    em, null = np.isin(kind, EMERGENT_KINDS), np.isin(kind, NULL_KINDS)
    out["breaks_called"] = _share(called[em])
    out["null_called"] = _share(called[null])
    out["auc"] = auc(np.where(failed, np.nan, p), em)
    out["auc_n_left_out"] = int(failed.sum())
    out["onset"] = {
        "harm_then_benefit": onset_scores(table, called & (kind == "harm_then_benefit"), method),
        "benefit_at_break": onset_scores(table, called & (kind == "benefit_at_break"), method),
        "breaks": onset_scores(table, called & em, method),
    }
    return out


def score(table: pd.DataFrame) -> dict:
    metrics: dict = {}
    if "pf_p_emergent" in table:
        metrics["pf"] = score_method(table, "pf")
    if "ref_p_emergent" in table:
        metrics["ref"] = score_method(table, "ref")
    if "pf" in metrics and "ref" in metrics:  # the onset on the breaks both call: like for like
        kind = table["kind"].to_numpy()
        both = table["pf_called"].to_numpy(bool) & table["ref_called"].to_numpy(bool)
        metrics["both_called"] = {
            name: {meth: onset_scores(table, both & sel, meth) for meth in ("pf", "ref")}
            for name, sel in (
                ("harm_then_benefit", kind == "harm_then_benefit"),
                ("breaks", np.isin(kind, EMERGENT_KINDS)),
            )
        }
        metrics["diagnostics"] = diagnostics(table)
        metrics["agreement"] = {
            "pf_called_ref_not": int((table["pf_called"].astype(bool) & ~table["ref_called"].astype(bool)).sum()),
            "ref_called_pf_not": int((~table["pf_called"].astype(bool) & table["ref_called"].astype(bool)).sum()),
        }
    return metrics


AFTER_GROUPS = {"1-2": (1, 2), "3-4": (3, 4), "5+": (5, 99)}


def diagnostics(table: pd.DataFrame) -> dict:
    """Where phasefit loses power on the true breaks: the share called by the number of models at or
    past the true onset (both methods), what phasefit favours on the breaks it does not call, the
    signed error of the onset's median where each calls a break, and of the gain at the largest model."""
    kind = table["kind"].to_numpy()
    brk = np.isin(kind, EMERGENT_KINDS)
    after = (table["n_models"] - table["models_before_onset"]).to_numpy()
    out: dict = {"called_by_models_after_onset": {}}
    for name, (lo, hi) in AFTER_GROUPS.items():
        m = brk & (after >= lo) & (after <= hi)
        out["called_by_models_after_onset"][name] = {
            meth: _share(table[f"{meth}_called"].to_numpy(bool)[m]) for meth in ("pf", "ref")
        }
    pf_called = table["pf_called"].to_numpy(bool)
    ok = table["pf_verdict"].to_numpy() != "failed"
    missed = brk & ~pf_called & ok
    ps, pe = table["pf_p_smooth"].to_numpy(float), table["pf_p_emergent"].to_numpy(float)
    out["missed_breaks"] = {
        "n": int(missed.sum()),
        "smooth_favoured": int((missed & (ps > pe)).sum()),
        "median_p_smooth": _median(ps[missed]),
        "median_p_emergent": _median(pe[missed]),
        "verdicts": {str(a): int(b) for a, b in table.loc[missed, "pf_verdict"].value_counts().items()},
    }
    # what the failed pairs' marginal likelihoods would have said (P at even odds from the logged log Z)
    lz = table[[f"pf_log_z_{h}" for h in ("no_gain", "smooth_gain", "breakpoint_gain", "hinge_gain")]].to_numpy(float)
    with np.errstate(invalid="ignore"):
        p_lz = np.exp(special.logsumexp(lz[:, 2:], axis=1) - special.logsumexp(lz, axis=1))
    failed = ~ok
    out["failed"] = {
        "n": int(failed.sum()),
        "divergences": int((failed & (table["pf_divergences"].to_numpy(float) > 0)).sum()),
        "breaks": int((failed & brk).sum()),
        "breaks_log_z_favours_break": int((failed & brk & (p_lz >= CALL)).sum()),
        "others_log_z_favours_break": int((failed & ~brk & (p_lz >= CALL)).sum()),
    }
    out["attempts"] = {str(int(a)): int(b) for a, b in table["pf_attempts"].value_counts().sort_index().items()}
    truth = table["true_onset"].to_numpy(float)
    for meth in ("pf", "ref"):
        m = brk & table[f"{meth}_called"].to_numpy(bool)
        med = table[f"{meth}_onset_median"].to_numpy(float)
        with np.errstate(invalid="ignore"):
            out[f"{meth}_onset_median_minus_truth"] = _median((med - truth)[m])
    g = table["pf_gain_largest_median"].to_numpy(float) - table["gain_largest"].to_numpy(float)
    out["pf_gain_largest_minus_truth"] = {
        "breaks": _median(g[brk & ok]),
        "breaks_called": _median(g[brk & pf_called]),
        "constant": _median(g[(kind == "constant") & ok]),
    }
    return out


def targets(metrics: dict) -> list[dict]:
    rows = []
    for name, label, value, ok in (
        (
            "htb_called",
            "harm-then-benefit called emergent",
            lambda m: m["kinds"]["harm_then_benefit"]["called"]["share"],
            lambda v: v >= TARGETS["htb_called"],
        ),
        (
            "htb_onset_coverage",
            "onset 90% interval covers the truth (called harm-then-benefit)",
            lambda m: m["onset"]["harm_then_benefit"]["coverage"]["share"],
            lambda v: v >= TARGETS["htb_onset_coverage"],
        ),
        (
            "null_called_max",
            "constant / none called emergent",
            lambda m: m["null_called"]["share"],
            lambda v: v <= TARGETS["null_called_max"],
        ),
    ):
        row = {"target": name, "label": label, "threshold": TARGETS[name]}
        for meth in ("pf", "ref"):
            v = value(metrics[meth]) if meth in metrics else math.nan
            row[meth] = v
            row[f"{meth}_pass"] = bool(ok(v)) if math.isfinite(v) else None
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------- machine


#: the code an intervention fit depends on beyond the package's general machinery: a checkpointed fit
#: is reused only while these files are unchanged (they may be uncommitted)
CODE_FILES = (
    "analyses/intervention.py",
    "models/arms.py",
    "models/hypotheses/gain.py",
    "models/hypotheses/breakpoint.py",
    "models/toml/no_gain.toml",
    "models/toml/smooth_gain.toml",
    "models/toml/breakpoint_gain.toml",
    "models/toml/hinge_gain.toml",
    "models/toml/default.toml",
    "runner/intervention.py",
)


def code_info() -> dict:
    """The git commit, uncommitted files under src/, and a hash of `CODE_FILES` (checkpoints' key)."""
    import hashlib

    import phasefit

    commit, dirty = git_state()
    pkg = Path(phasefit.__file__).resolve().parent
    h = hashlib.sha1()
    for name in CODE_FILES:
        f = pkg / name
        h.update(name.encode() + b"\0" + (f.read_bytes() if f.exists() else b"missing") + b"\0")
    return {
        "git_commit": commit,
        "git_commit_short": commit[:7],
        "src_uncommitted": dirty,
        "phasefit_path": str(pkg),
        "phasefit": getattr(phasefit, "__version__", "?"),
        "hash": h.hexdigest()[:16],
    }


# ------------------------------------------------------------------------------------- writing


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


def _onset_cell(o: dict) -> str:
    return (
        f"{_sh(o['coverage'])}; width {_f(o['median_width'])}, |err| {_f(o['median_abs_error'])}"
        f" (truth below / above: {o['truth_below']} / {o['truth_above']})"
    )


def markdown(res: dict) -> str:
    s, m, c, mach, t = res["settings"], res["metrics"], res["code"], res["machine"], res["timing"]
    pf, ref = m["pf"], m["ref"]
    tg = {r["target"]: r for r in res["targets"]}
    transition = s.get("transition", "logistic")
    lines = [
        SECTION
        + ("" if transition == "logistic" else f", {transition} transitions")
        + (", each pair at even prior odds" if s.get("weights") == "even" else "")
        + f" ({s['pairs']} pairs)",
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
                "the run, settings, machine and times above are the computing run's.",
                "",
            ]
            if (r := res.get("rescored"))
            else []
        ),
        f"Suite: {s['pairs']} pairs (baseline arm `{BASELINE_ARM}` + treatment arm `{TREATMENT_ARM}` on 4-10 models), "
        f"seed {s['seed']} (reporting seed {REPORT_SEED}; development seed {DEV_SEED}); kinds in rotation "
        f"(harm_then_benefit, benefit_at_break, constant, none), baseline arm logistic / flat / power law, gains "
        f"with {transition} transitions"
        + (
            " (a logistic step that stays: since git b92df33 the shape of phasefit's own `breakpoint_gain`)"
            if transition == "logistic"
            else " (a softplus hinge that keeps rising to the largest model: not phasefit's step)"
        )
        + ", beta-binomial over-dispersion; generators and priors in "
        "`benchmarks/intervention.py` (the baseline arm's shapes, the priors and the over-dispersion are not "
        "phasefit's model). phasefit: `phasefit.intervention` on the suite as a user runs it (the hypotheses' "
        + (
            "prior weights learned from the suite's pairs: "
            + ", ".join(f"{h} {v:.2f}" for h, v in (s.get("hypothesis_weights") or {}).get("prior", {}).items())
            if s.get("weights", "learned") == "learned"
            else "prior odds even for every pair"
        )
        + "), "
        f"{s['chains']} chains x {s['draws']} draws, tune {s['tune']}, target_accept {s['target_accept']}, retries "
        f"as the spec. Reference: P(kind | data) and the onset's posterior by importance sampling over each "
        f"kind's generator priors (12 parts per pair); its Monte Carlo ESS per pair has median "
        f"{_f(res['reference_diagnostics']['ess_min_relevant_median'], '{:.0f}')} (minimum "
        f"{_f(res['reference_diagnostics']['ess_min_relevant_min'], '{:.0f}')}) over the parts with P >= 0.01, "
        f"SE of P(emergent) at most {_f(res['reference_diagnostics']['p_emergent_se_max'], '{:.3f}')}. "
        f"Time: {t['total_s'] / 60:.1f} min in all; phasefit {t['phasefit_s'] / 60:.1f} min "
        f"(compilation {t['compile_s']:.0f} s of it, median {t['pf_seconds_median']:.1f} s per pair), "
        f"reference {t['ref_seconds_total'] / 60:.1f} min summed over the pairs ({s['jobs']} process(es) at once; "
        f"median {t['ref_seconds_median']:.1f} s per pair). Per pair: `benchmarks/results/{res['stem']}_pairs.csv`; "
        f"every number: `benchmarks/results/{res['stem']}.json`.",
        "",
        "Called: phasefit's verdict `emergent` (P(breakpoint_gain) + P(hinge_gain) >= 0.9, diagnostics ok, the "
        "onset within the data); the reference's "
        "P(harm_then_benefit or benefit_at_break | data) >= 0.9. Shares with their 90% Wilson interval; "
        "onset intervals in decades of FLOPs.",
        "",
        "| score | target | phasefit | reference | phasefit meets | ref meets |",
        "|---|---|---|---|---|---|",
        f"| harm-then-benefit called emergent | >= {TARGETS['htb_called']:.2f} | "
        f"{_sh(pf['kinds']['harm_then_benefit']['called'])} | {_sh(ref['kinds']['harm_then_benefit']['called'])} | "
        f"{_pass(tg['htb_called']['pf_pass'])} | {_pass(tg['htb_called']['ref_pass'])} |",
        f"| onset 90% covers the truth, called harm-then-benefit | >= {TARGETS['htb_onset_coverage']:.2f} | "
        f"{_onset_cell(pf['onset']['harm_then_benefit'])} | {_onset_cell(ref['onset']['harm_then_benefit'])} | "
        f"{_pass(tg['htb_onset_coverage']['pf_pass'])} | {_pass(tg['htb_onset_coverage']['ref_pass'])} |",
        f"| constant / none called emergent | <= {TARGETS['null_called_max']:.2f} | {_sh(pf['null_called'])} | "
        f"{_sh(ref['null_called'])} | {_pass(tg['null_called_max']['pf_pass'])} | "
        f"{_pass(tg['null_called_max']['ref_pass'])} |",
        f"| benefit-at-break called emergent | | {_sh(pf['kinds']['benefit_at_break']['called'])} | "
        f"{_sh(ref['kinds']['benefit_at_break']['called'])} | | |",
        f"| all breaks called emergent | | {_sh(pf['breaks_called'])} | {_sh(ref['breaks_called'])} | | |",
        f"| onset 90% covers the truth, called benefit-at-break | | {_onset_cell(pf['onset']['benefit_at_break'])} | "
        f"{_onset_cell(ref['onset']['benefit_at_break'])} | | |",
        f"| onset 90% covers the truth, all called breaks | | {_onset_cell(pf['onset']['breaks'])} | "
        f"{_onset_cell(ref['onset']['breaks'])} | | |",
    ]
    if "both_called" in m:
        b = m["both_called"]
        lines += [
            f"| onset, harm-then-benefit both call | | {_onset_cell(b['harm_then_benefit']['pf'])} | "
            f"{_onset_cell(b['harm_then_benefit']['ref'])} | | |",
            f"| onset, breaks both call | | {_onset_cell(b['breaks']['pf'])} | {_onset_cell(b['breaks']['ref'])} | | |",
        ]
    lines += [
        f"| constant called emergent | | {_sh(pf['kinds']['constant']['called'])} | "
        f"{_sh(ref['kinds']['constant']['called'])} | | |",
        f"| none called emergent | | {_sh(pf['kinds']['none']['called'])} | "
        f"{_sh(ref['kinds']['none']['called'])} | | |",
        f"| AUC of P(emergent), breaks vs constant + none | | {_f(pf['auc'], '{:.3f}')}"
        + (f" ({pf['auc_n_left_out']} failed left out)" if pf["auc_n_left_out"] else "")
        + f" | {_f(ref['auc'], '{:.3f}')} | | |",
        "| median P(emergent): htb / bab / constant / none | | "
        + " / ".join(_f(pf["kinds"][k]["median_p"]) for k in KINDS)
        + " | "
        + " / ".join(_f(ref["kinds"][k]["median_p"]) for k in KINDS)
        + " | | |",
        f"| none called absent (ref: P(none) >= 0.5) | | {_sh(pf['kinds']['none']['absent'])} | "
        f"{_sh(ref['kinds']['none']['absent'])} | | |",
        f"| constant called absent | | {_sh(pf['kinds']['constant']['absent'])} | "
        f"{_sh(ref['kinds']['constant']['absent'])} | | |",
        f"| harm at the smallest model claimed (P >= 0.9): htb | | "
        f"{_sh(pf['kinds']['harm_then_benefit']['harm_claimed'])} | "
        f"{_sh(ref['kinds']['harm_then_benefit']['harm_claimed'])} | | |",
        "| harm claimed where there is none: bab / constant / none | | "
        + " / ".join(f"{pf['kinds'][k]['harm_claimed']['k']}/{pf['kinds'][k]['harm_claimed']['n']}" for k in KINDS[1:])
        + " | "
        + " / ".join(
            f"{ref['kinds'][k]['harm_claimed']['k']}/{ref['kinds'][k]['harm_claimed']['n']}" for k in KINDS[1:]
        )
        + " | | |",
        f"| failed | 0 | {pf['n_failed']} of {pf['n']} | {ref['n_failed']} of {ref['n']} | | |",
        "",
        "phasefit's verdicts per kind: "
        + "; ".join(
            f"{k} " + ", ".join(f"{v} {n}" for v, n in sorted(pf["kinds"][k]["verdicts"].items())) for k in KINDS
        )
        + f". Called by phasefit and not by the reference: {m['agreement']['pf_called_ref_not']}; by the "
        f"reference and not by phasefit: {m['agreement']['ref_called_pf_not']}.",
        "",
    ]
    if "diagnostics" in m:
        dg = m["diagnostics"]
        mb = dg["missed_breaks"]
        lines += [
            "Where the breaks are lost. Called emergent by the number of models at or past the true onset: "
            + "; ".join(
                f"{g}: phasefit {_sh(v['pf'])}, reference {_sh(v['ref'])}"
                for g, v in dg["called_by_models_after_onset"].items()
            )
            + f". Of the {mb['n']} true breaks phasefit does not call (not failed), smooth_gain is favoured over "
            f"breakpoint_gain in {mb['smooth_favoured']} (median P(smooth_gain) {_f(mb['median_p_smooth'])}, "
            f"P(breakpoint_gain) {_f(mb['median_p_emergent'])}). Onset median minus the truth where a break is "
            f"called (median, decades): phasefit {_f(dg['pf_onset_median_minus_truth'], '{:+.2f}')}, reference "
            f"{_f(dg['ref_onset_median_minus_truth'], '{:+.2f}')}. phasefit's median gain at the largest model minus "
            f"the true gain there (log-odds, median): breaks "
            f"{_f(dg['pf_gain_largest_minus_truth']['breaks'], '{:+.2f}')}, called breaks "
            f"{_f(dg['pf_gain_largest_minus_truth']['breaks_called'], '{:+.2f}')}, constant "
            f"{_f(dg['pf_gain_largest_minus_truth']['constant'], '{:+.2f}')}. Failed pairs: {dg['failed']['n']} "
            f"({dg['failed']['divergences']} for divergences that the spec's retries did not remove, the others "
            f"for an importance k-hat > 0.7), {dg['failed']['breaks']} of them true breaks, of which "
            f"{dg['failed']['breaks_log_z_favours_break']} have logged marginal likelihoods that give "
            f"P(breakpoint_gain) >= 0.9 (and {dg['failed']['others_log_z_favours_break']} of the other failed pairs). "
            "Sampling attempts per pair (the spec retries a fit that fails its checks): "
            + ", ".join(f"{a}: {b}" for a, b in dg["attempts"].items())
            + ".",
            "",
        ]
    if pf["failures"]:
        lines += [
            "Failures: "
            + "; ".join(f"pair {f['pair']} ({f['kind']}): {str(f['reason'])[:160]}" for f in pf["failures"])
            + ".",
            "",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help=f"pairs (default {DEFAULT_PAIRS})")
    ap.add_argument("--seed", type=int, default=None, help=f"suite seed (default: the reporting seed {REPORT_SEED})")
    ap.add_argument(
        "--dev",
        action="store_true",
        help=f"the development seed {DEV_SEED}; writes intervention_dev.* and leaves RESULTS.md alone",
    )
    ap.add_argument("--jobs", type=int, default=1, help="processes for the reference (default 1)")
    ap.add_argument(
        "--transition",
        choices=TRANSITIONS,
        default="logistic",
        help="the break kinds' transition: a logistic step that stays (default) or a ramp that keeps rising "
        "to the largest model (writes intervention_ramp*, its own RESULTS.md section)",
    )
    ap.add_argument("--draws", type=int, default=None, help="draws per chain (default: the spec's)")
    ap.add_argument("--tune", type=int, default=None, help="tuning steps per chain (default: the spec's)")
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument(
        "--weights",
        choices=("learned", "even"),
        default="learned",
        help="the hypotheses' prior weights: learned from the suite's pairs (phasefit's default) or even "
        "(each pair alone); the fits are shared (writes *_even with even)",
    )
    ap.add_argument("--reference-only", action="store_true", help="the reference alone (no phasefit fits)")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder of the JSON and CSV")
    ap.add_argument(
        "--work-dir", type=Path, default=RESULTS_DIR / ".work-intervention", help="checkpoints of finished pairs"
    )
    ap.add_argument(
        "--table-from",
        type=Path,
        help="rescore a saved per-pair table (an *_pairs.csv) instead of computing; its pairs must be this "
        "suite's first ones; the run's record (date, machine, times) comes from the JSON beside it",
    )
    ap.add_argument("--note", default="", help="a sentence printed under the section's heading")
    ap.add_argument("--no-results-md", action="store_true", help="leave benchmarks/RESULTS.md alone")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else (DEV_SEED if args.dev else REPORT_SEED)
    variant = "" if args.transition == "logistic" else f"_{args.transition}"
    stem = "intervention" + variant + ("_even" if args.weights == "even" else "")
    stem += "_dev" if args.dev or seed != REPORT_SEED else ""
    stem += "_reference" if args.reference_only else ""
    command = "python benchmarks/intervention.py" + ("" if not sys.argv[1:] else " " + shlex.join(sys.argv[1:]))

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    code = code_info()
    n = args.pairs
    sims = simulate_suite(n, seed, transition=args.transition)
    truth = pd.DataFrame([s.truth for s in sims])
    log(
        f"intervention benchmark: {n} pairs, seed {seed}, {args.transition} transitions; kinds "
        + ", ".join(f"{k} {int((truth['kind'] == k).sum())}" for k in KINDS)
    )
    with_t = time.perf_counter()
    spec = None
    run: dict = {}
    phasefit_s = reference_s = 0.0
    if args.table_from is not None:
        table = pd.read_csv(args.table_from, keep_default_na=True)
        for col in ("pf_failure_reason", "pf_notes"):
            if col in table:
                table[col] = table[col].astype(object).where(table[col].notna(), "")
        for col in ("pf_called", "ref_called", "emergent"):
            if col in table:
                table[col] = table[col].astype(bool)
        if len(table) > n or not np.allclose(table["x_min"], truth["x_min"].iloc[: len(table)]):
            raise SystemExit(f"{args.table_from}: its pairs are not the first of this suite (seed {seed})")
        n = len(table)
    else:
        ref = compute_reference(
            n,
            seed,
            jobs=args.jobs,
            transition=args.transition,
            checkpoint=args.work_dir / f"reference{variant}_s{seed}.jsonl",
            log=log,
        )
        reference_s = time.perf_counter() - with_t
        table = truth.merge(ref, on="pair")
    if not args.reference_only and args.table_from is None:
        spec = sampler_spec(args.draws, args.tune, args.chains)
        sp = spec.sampler
        log(f"phasefit: {sp.chains} chains x {sp.draws} draws, tune {sp.tune}, weights {args.weights}")
        t1 = time.perf_counter()
        pf, run = fit_suite(
            sims,
            # the runner's checkpoints, kept while the code, the suite and the sampler are unchanged
            work_dir=args.work_dir / f"phasefit{variant}_s{seed}_n{n}_{code['hash']}_{sp.chains}x{sp.draws}t{sp.tune}",
            weights=args.weights,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            log=log,
        )
        phasefit_s = time.perf_counter() - t1
        table = table.merge(pf, on="pair")
    total = time.perf_counter() - t0
    if args.table_from is None and code_info()["hash"] != code["hash"]:
        log("WARNING: the intervention code or its TOMLs changed during the run")
        code["changed_during_run"] = True
    metrics = score(table)
    diag = {
        "ess_min_median": float(np.median(table["ref_ess_min"])),
        "ess_min_min": float(np.min(table["ref_ess_min"])),
        "ess_min_relevant_median": float(np.nanmedian(table["ref_ess_min_relevant"])),
        "ess_min_relevant_min": float(np.nanmin(table["ref_ess_min_relevant"])),
        "pairs_ess_relevant_below_200": int((table["ref_ess_min_relevant"] < 200).sum()),
        "p_emergent_se_max": float(table["ref_p_emergent_se"].max()),
        "p_emergent_se_median": float(table["ref_p_emergent_se"].median()),
        "draws_median": float(table["ref_draws"].median()),
    }
    sp = spec.sampler if spec is not None else None
    res = {
        "benchmark": "intervention",
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
            "dev": args.dev,
            "jobs": args.jobs,
            "backend": sp.backend if sp else None,
            "chains": sp.chains if sp else None,
            "draws": sp.draws if sp else None,
            "tune": sp.tune if sp else None,
            "target_accept": sp.target_accept if sp else None,
            "sampler_seed": sp.seed if sp else None,
            "retries": [vars(r) for r in spec.diagnostics.retries] if spec else None,
            "weights": args.weights,
            "hypothesis_weights": run.get("hypothesis_weights"),
            "call_reference": CALL,
            "transition": args.transition,
            "onset_margin": MARGIN,
            "onset_step": ONSET_STEP,
            "reference_is_options": IS_OPTIONS,
            "reference_resample": N_RESAMPLE,
            "generators": {
                "kinds": KINDS,
                "baselines": BASELINES,
                "models": MODELS,
                "x_start": X_START,
                "span": SPAN,
                "min_gap": MIN_GAP,
                "evenness": EVENNESS,
                "n_items": N_ITEMS,
                "floors": FLOORS,
                "logistic_mid_pad": LOGISTIC_MID_PAD,
                "logistic_steepness": LOGISTIC_STEEPNESS,
                "logistic_ceiling": LOGISTIC_CEILING,
                "flat_level": FLAT_LEVEL,
                "power_e0": POWER_E0,
                "power_alpha": POWER_ALPHA,
                "harm": HARM,
                "benefit": BENEFIT,
                "constant": CONSTANT,
                "width": WIDTH,
                "kappa": KAPPA_RANGE,
                "kappa_share": KAPPA_SHARE,
            },
        },
        "timing": {
            "total_s": total,
            "reference_s": reference_s,
            "phasefit_s": phasefit_s,
            "compile_s": float(sum(run.get("compile_seconds", {}).values())),
            "compile_seconds": run.get("compile_seconds", {}),
            "pf_seconds_median": float(table["pf_seconds"].median()) if "pf_seconds" in table else math.nan,
            "pf_seconds_max": float(table["pf_seconds"].max()) if "pf_seconds" in table else math.nan,
            "ref_seconds_median": float(table["ref_seconds"].median()),
            "ref_seconds_max": float(table["ref_seconds"].max()),
            "ref_seconds_total": float(table["ref_seconds"].sum()),
            "pf_seconds_total": float(table["pf_seconds"].sum()) if "pf_seconds" in table else math.nan,
            "peak_rss_mib": rss_mib(),
            "note": "pairs read from a checkpoint keep the seconds of the run that computed them",
        },
        "loadavg_at_end": loadavg(),
        "reference_diagnostics": diag,
        "targets_threshold": TARGETS,
        "targets": targets(metrics) if "pf" in metrics else [],
        "metrics": metrics,
    }
    if args.table_from is not None:
        res["rescored"] = {"from": str(args.table_from), "date": res["date"], "command": command}
        saved = args.table_from.with_name(args.table_from.name.replace("_pairs.csv", ".json"))
        if saved != args.table_from and saved.exists():  # the computing run's record
            run = json.loads(saved.read_text())
            timing = res["timing"]
            for key in ("date", "command", "code", "machine", "versions", "settings", "timing", "loadavg_at_end"):
                res[key] = run[key]
            res["settings"]["pairs"] = n
            for key in ("ref_seconds_median", "ref_seconds_max", "ref_seconds_total", "pf_seconds_total"):
                res["timing"].setdefault(key, timing[key])
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"{stem}.json", res)
    table.to_csv(args.out / f"{stem}_pairs.csv", index=False)
    if args.reference_only:
        print(json.dumps({k: v for k, v in metrics["ref"].items() if k != "failures"}, indent=1, default=str))
        print(json.dumps(diag, indent=1))
        return 0
    section = markdown(res)
    if not args.dev and seed == REPORT_SEED and not args.no_results_md:
        start, end = markers("intervention" + variant.replace("_", "-") + ("-even" if args.weights == "even" else ""))
        write_results_md(f"{start}\n{section.rstrip()}\n{end}\n", start, end)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
