"""Evidence per curve: PSIS-LOO with exact refits, stacking, and leave-future-out predictability.

LOO, its standard errors and stacking weights come from ArviZ (`arviz_stats.loo`, `compare`).
Curves have 4-10 points, so Pareto k-hat above ArviZ's `good_k` is common; those points are
scored by an exact refit without them (the compiled model is reused, only data change) and the
number of refits is reported.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

import arviz_stats as azs
import numpy as np
import xarray as xr
from scipy import special

from phasefit.inference.sampler import FitResult
from phasefit.models.curve_model import CurveInputs, pointwise_loglik, predictive
from phasefit.models.spec import ModelSpec


class Refit(Protocol):
    """Fit one hypothesis to (a subset of) a curve: LOO and leave-future-out refits go through it."""

    def __call__(self, inputs: CurveInputs, hypothesis: str, *, seed: int) -> FitResult: ...


@dataclass(frozen=True, kw_only=True)
class LooResult:
    elpd: object  # arviz_stats ELPDDataLOO (pointwise)
    refits: int  # points whose elpd_i comes from an exact refit
    refits_unconverged: int  # of those, refits that failed their convergence checks
    max_pareto_k: float  # before refits


@dataclass(frozen=True, kw_only=True)
class Comparison:
    elpd_diff: float  # elpd(breakpoint) - elpd(smooth): positive favours the break
    elpd_diff_se: float
    stacking_weight_breakpoint: float
    loo_refits: int
    refits_unconverged: int
    max_pareto_k: float


@dataclass(frozen=True, kw_only=True)
class LfoResult:
    cutoff_x: float  # on the analysis axis (log10), not centred
    n_train: int
    n_test: int
    elpd_smooth: float
    elpd_breakpoint: float
    lfo_elpd_diff: float  # breakpoint minus smooth extrapolation: positive favours the break
    largest_in_interval: bool  # largest model inside the smooth extrapolation's 90% predictive interval
    ok: bool


def logmeanexp(a: np.ndarray, axis=None) -> np.ndarray:
    a = np.asarray(a)
    n = a.size if axis is None else np.prod([a.shape[i] for i in np.atleast_1d(axis)])
    return special.logsumexp(a, axis=axis) - np.log(n)


def _loglik(result: FitResult, inputs: CurveInputs, spec: ModelSpec) -> np.ndarray:
    return pointwise_loglik(result.hypothesis, result.draws, inputs, spec)


def loo(
    result: FitResult, inputs: CurveInputs, spec: ModelSpec, *, refit: Refit | None, seed: int
) -> tuple[LooResult, np.ndarray]:
    """PSIS-LOO of one hypothesis' fit; points with high k-hat are replaced by exact refits.

    Returns the LOO result and the pointwise log likelihood (chain, draw, point) used.
    """
    hypothesis = result.hypothesis
    ll = _loglik(result, inputs, spec)
    post = xr.Dataset({k: (("chain", "draw"), v) for k, v in result.checked().items()})
    tree = xr.DataTree.from_dict(
        {
            "posterior": post,
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "point"), ll)}),
        }
    )
    with warnings.catch_warnings():  # high k-hat is expected with 4-10 points; handled below
        warnings.simplefilter("ignore")
        elpd = azs.loo(tree, pointwise=True, var_name="y")
    k = np.asarray(elpd.pareto_k.values, float)
    max_k = float(np.nanmax(k))
    refits = unconverged = 0
    if refit is not None:
        bad = np.flatnonzero(~(k <= elpd.good_k))
        elpd_i = np.asarray(elpd.elpd_i.values, float).copy()
        for i in bad:
            keep = np.ones(len(inputs.x), bool)
            keep[i] = False
            sub = refit(inputs.subset(keep), hypothesis, seed=seed + 101 * (i + 1))
            elpd_i[i] = float(logmeanexp(_loglik(sub, inputs, spec)[..., i]))
            refits += 1
            unconverged += not sub.diagnostics.ok
        if refits:
            n = len(elpd_i)
            elpd.elpd_i = elpd.elpd_i.copy(data=elpd_i)
            elpd.elpd = float(elpd_i.sum())
            elpd.se = float(np.sqrt(n * np.var(elpd_i)))
            elpd.pareto_k = elpd.pareto_k.where(~np.isin(np.arange(n), bad), 0.0)
            elpd.warning = False
    return LooResult(elpd=elpd, refits=refits, refits_unconverged=unconverged, max_pareto_k=max_k), ll


def compare(smooth: LooResult, breakpoint: LooResult) -> Comparison:
    """elpd difference (breakpoint - smooth) with its SE, and the stacking weight of breakpoint."""
    table = azs.compare({"smooth": smooth.elpd, "breakpoint": breakpoint.elpd}, method="stacking", round_to="none")
    diff_i = np.asarray(breakpoint.elpd.elpd_i.values) - np.asarray(smooth.elpd.elpd_i.values)
    n = len(diff_i)
    return Comparison(
        elpd_diff=float(diff_i.sum()),
        elpd_diff_se=float(np.sqrt(n * np.var(diff_i))),
        stacking_weight_breakpoint=float(table.loc["breakpoint", "weight"]),
        loo_refits=smooth.refits + breakpoint.refits,
        refits_unconverged=smooth.refits_unconverged + breakpoint.refits_unconverged,
        max_pareto_k=max(smooth.max_pareto_k, breakpoint.max_pareto_k),
    )


def leave_future_out(
    inputs: CurveInputs, cutoff_centred: float, spec: ModelSpec, *, refit: Refit, seed: int, min_train: int = 3
) -> LfoResult | None:
    """Fit both hypotheses on the models at or below the cutoff and score the larger ones.

    The break may fall anywhere in the full range (the breakpoint hypothesis may expect a rise
    it has not seen yet); the smooth one can only extrapolate its trend. Returns None when fewer
    than `min_train` models lie below the cutoff or none above it.
    """
    train = inputs.x <= cutoff_centred + 1e-12
    test = ~train
    if train.sum() < min_train or test.sum() < 1:
        return None
    sub = inputs.subset(train, range_=(float(np.sort(inputs.x)[min(1, len(inputs.x) - 1)]), float(inputs.range_hi)))
    fits = {h: refit(sub, h, seed=seed + j) for j, h in enumerate(("smooth", "breakpoint"))}
    elpd = {}
    for h, res in fits.items():
        ll = _loglik(res, inputs, spec)[..., test]
        elpd[h] = float(logmeanexp(ll.reshape(-1, ll.shape[-1]), axis=0).sum())
    largest = int(np.argmax(inputs.x))
    inside = _in_predictive_interval(fits["smooth"], inputs, largest, spec, seed=seed)
    return LfoResult(
        cutoff_x=cutoff_centred + inputs.center,
        n_train=int(train.sum()),
        n_test=int(test.sum()),
        elpd_smooth=elpd["smooth"],
        elpd_breakpoint=elpd["breakpoint"],
        lfo_elpd_diff=elpd["breakpoint"] - elpd["smooth"],
        largest_in_interval=inside,
        ok=all(f.diagnostics.ok for f in fits.values()),
    )


def _in_predictive_interval(
    result: FitResult, inputs: CurveInputs, i: int, spec: ModelSpec, *, seed: int, prob: float = 0.9
) -> bool:
    """Is point i inside the central `prob` posterior predictive interval of the fit?"""
    point = inputs.subset(np.arange(len(inputs.x)) == i)
    sims = predictive(result.hypothesis, result.draws, point, spec, rng=np.random.default_rng(seed))
    lo, hi = np.quantile(sims.reshape(-1), [(1 - prob) / 2, 1 - (1 - prob) / 2])
    return bool(lo <= point.y[0] <= hi)
