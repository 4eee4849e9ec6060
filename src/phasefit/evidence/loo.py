"""Evidence per curve: PSIS-LOO with exact refits, stacking, and leave-future-out predictability.

LOO, its standard errors and stacking weights come from ArviZ (`arviz_stats.loo`, `compare`).
Curves have 4-10 points, so Pareto k-hat above ArviZ's `good_k` is common; those points are
scored exactly, by the posterior without them. Leave-future-out needs the posterior given the
smaller models only. Both are computed by importance sampling (`ImportanceRefit`: a Student-t
proposal around the whole curve's posterior, adapted to the weighted draws when its Pareto k-hat
is high), and by a NUTS refit (the compiled model reused, only data changed) where that is not
reliable, or for every one with `[evidence] refits = "exact"`. How many of each is reported.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import arviz_stats as azs
import numpy as np
import xarray as xr
from arviz_stats.base import array_stats

from phasefit.inference.diagnostics import stacked
from phasefit.inference.importance import (
    ADAPTED_SCALE,
    K_HAT_MAX,
    PROPOSAL_SCALE,
    draw_moments,
    logsumexp,
    pareto_k,
    proposal_draws,
    psis,
    t_proposal,
    weighted_moments,
)
from phasefit.inference.sampler import FitResult
from phasefit.models.curve_model import CurveInputs, parameter_priors, pointwise_loglik, predictive
from phasefit.models.spec import ModelSpec

IMPORTANCE_ROUNDS = 3  # the proposal around the whole curve's posterior, then up to two adapted ones


class Refit(Protocol):
    """Fit one hypothesis to (a subset of) a curve: LOO and leave-future-out refits go through it."""

    def __call__(self, inputs: CurveInputs, hypothesis: str, *, seed: int) -> FitResult: ...


@dataclass(frozen=True, kw_only=True)
class LooResult:
    elpd: object  # arviz_stats ELPDDataLOO (pointwise)
    refits: int  # points whose elpd_i is computed exactly (importance sampling or a NUTS refit)
    refits_sampled: int  # of those, the points that needed a NUTS refit
    refits_unconverged: int  # of the NUTS refits, those that failed their convergence checks
    max_pareto_k: float  # before refits


@dataclass(frozen=True, kw_only=True)
class Comparison:
    elpd_diff: float  # elpd(breakpoint) - elpd(smooth): positive favours the break
    elpd_diff_se: float
    stacking_weight_breakpoint: float
    loo_refits: int
    loo_refits_sampled: int
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
    refits_sampled: int  # training fits that needed NUTS (0-2; the others by importance sampling)


@dataclass(frozen=True, kw_only=True)
class Weighted:
    """Proposal draws weighted towards a posterior given a subset of a curve's points."""

    values: dict[str, np.ndarray]  # parameter values per draw
    log_weights: np.ndarray  # Pareto-smoothed, normalised (logsumexp = 0)
    loglik: np.ndarray  # (draw, point): every point of the curve
    k_hat: float

    def elpd(self, point: int) -> float:
        """log p(y_point | the subset): the weighted mean of the point's likelihood."""
        return float(logsumexp(self.log_weights + self.loglik[:, point]))

    def reliable_for(self, points) -> bool:
        """Whether the weighted mean of each point's likelihood is reliable too: the Pareto k-hat of
        weight x likelihood, not only of the weights (a future point's likelihood can be carried by a
        few draws that the weights alone do not flag)."""
        return all(pareto_k(self.log_weights + self.loglik[:, i]) <= K_HAT_MAX for i in np.atleast_1d(points))

    def resample(self, n: int, *, seed: int) -> dict[str, np.ndarray]:
        """`n` draws (1, n) resampled with the weights: draws of the subset's posterior."""
        w = np.exp(self.log_weights)
        idx = np.random.default_rng(seed).choice(len(w), size=n, p=w / w.sum())
        return {k: np.asarray(v)[idx][None, :] for k, v in self.values.items()}


@dataclass(frozen=True, kw_only=True)
class _Round:
    """One round's proposal draws: what weighting them, alone or pooled with other rounds, needs."""

    proposal: object  # scipy multivariate_t: its logpdf scores other rounds' draws in a pooled mixture
    z: np.ndarray  # (draw, parameter) on the unconstrained scale
    values: dict[str, np.ndarray]
    log_prior: np.ndarray
    log_q: np.ndarray
    loglik: np.ndarray  # (draw, point), -inf where not finite


class ImportanceRefit:
    """The posterior of one hypothesis given a subset of a curve's points, by importance sampling:
    what an exact refit estimates, without sampling again.

    The first proposal is the marginal likelihood's (a Student-t around the whole curve's posterior
    on the unconstrained scale), drawn once and shared by every subset. A subset whose Pareto k-hat
    is above `K_HAT_MAX` gets up to two more rounds whose proposal is fitted to the previous round's
    weighted draws (adaptive importance sampling). Where a round's weights are reliable but the
    scored points' likelihoods under them are not (a future model predicted by a tail of the subset's
    posterior that the adapted proposal reaches rarely and the first one often), the rounds drawn so
    far are pooled as draws of their mixture (multiple importance sampling, balance heuristic: Veach &
    Guibas 1995; Elvira et al. 2019). `condition` returns None when nothing is reliable; the caller
    then refits with NUTS.
    """

    def __init__(
        self, fit: FitResult, inputs: CurveInputs, spec: ModelSpec, *, draws: int, seed: int, pool: bool = True
    ):
        self.fit, self.inputs, self.spec = fit, inputs, spec
        self.n, self.seed, self.pool = draws, seed, pool  # pool=False: each round alone, as before pooling
        self.priors = parameter_priors(fit.hypothesis, inputs.likelihood, spec)

    @cached_property
    def _round0(self) -> _Round | None:
        """The first proposal's draws (around the whole curve's posterior), shared by every subset."""
        mean, cov = draw_moments(self.fit.draws, self.priors)
        return self._round(mean, cov, scale=PROPOSAL_SCALE, seed=self.seed)

    def on(self, inputs: CurveInputs) -> ImportanceRefit:
        """The same proposal for the curve's points under another admissible range (a plug-in's
        feature range, e.g. the break's, enters the prior): self when the range is the same or the
        hypothesis does not use it (its draws and weights would be the same)."""
        same = (inputs.range_lo, inputs.range_hi) == (self.inputs.range_lo, self.inputs.range_hi)
        if same or not self.spec.plugin(self.fit.hypothesis).uses_range:
            return self
        return ImportanceRefit(self.fit, inputs, self.spec, draws=self.n, seed=self.seed, pool=self.pool)

    def _round(self, mean: np.ndarray, cov: np.ndarray, *, scale: float, seed: int) -> _Round | None:
        proposal = t_proposal(mean, cov, scale=scale, seed=seed)
        if proposal is None:
            return None
        z, values, log_prior, log_q = proposal_draws(proposal, self.priors, n=self.n)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # extreme draws: weight 0
            ll = pointwise_loglik(self.fit.hypothesis, values, self.inputs, self.spec)
        return _Round(
            proposal=proposal,
            z=z,
            values=values,
            log_prior=log_prior,
            log_q=log_q,
            loglik=np.where(np.isfinite(ll), ll, -np.inf),
        )

    @staticmethod
    def _weigh(rounds: list[_Round], keep: np.ndarray) -> Weighted | None:
        """The draws of `rounds` weighted towards the posterior given `keep`: one round by its own
        proposal, several as draws of their equal-weight mixture. None when no ratio is finite."""
        if len(rounds) == 1:
            (d,) = rounds
            values, log_prior, ll, log_q = d.values, d.log_prior, d.loglik, d.log_q
        else:
            z = np.vstack([d.z for d in rounds])
            values = {k: np.concatenate([d.values[k] for d in rounds]) for k in rounds[0].values}
            log_prior = np.concatenate([d.log_prior for d in rounds])
            ll = np.vstack([d.loglik for d in rounds])
            log_q = logsumexp(np.stack([d.proposal.logpdf(z) for d in rounds]), axis=0) - np.log(len(rounds))
        with np.errstate(invalid="ignore"):
            log_ratio = log_prior - log_q + ll[:, keep].sum(-1)
        log_ratio = np.where(np.isfinite(log_ratio), log_ratio, -np.inf)
        if not np.isfinite(log_ratio).any():
            return None
        log_w, k_hat = psis(log_ratio)
        return Weighted(values=values, log_weights=log_w, loglik=ll, k_hat=k_hat)

    def condition(self, keep: np.ndarray, *, seed: int, points=None) -> Weighted | None:
        """The posterior given the points in `keep` (a boolean mask over the curve's points), reliable
        (k-hat) and, when `points` are given, reliable for their likelihoods too (`reliable_for`)."""

        def reliable(w: Weighted | None) -> bool:
            return w is not None and w.k_hat <= K_HAT_MAX and (points is None or w.reliable_for(points))

        drawn, pool = self._round0, []
        for r in range(IMPORTANCE_ROUNDS):
            if drawn is None:
                return None
            pool.append(drawn)
            single = self._weigh([drawn], keep)
            if single is None:
                return None
            if reliable(single):
                return single
            if self.pool and len(pool) > 1 and reliable(pooled := self._weigh(pool, keep)):
                return pooled
            if r + 1 < IMPORTANCE_ROUNDS:  # fit the next proposal to the weighted draws
                mean, cov = weighted_moments(drawn.z, np.exp(single.log_weights))
                drawn = self._round(mean, cov, scale=ADAPTED_SCALE, seed=seed + r)
        return None


def relative_efficiency(draws: dict[str, np.ndarray]) -> float:
    """The relative efficiency PSIS-LOO uses, as `arviz_stats.loo` computes it by default (the mean
    over the posterior's variables of ESS(mean) / number of draws; 1 for one chain), from the
    (chain, draw) arrays: the same value without a Dataset per variable (~2 ms instead of ~6-7)."""
    ary = stacked(draws)  # (variable, chain, draw)
    if ary.shape[1] == 1:
        return 1.0
    return float(np.hstack(array_stats.ess(ary, method="mean")).mean() / (ary.shape[1] * ary.shape[2]))


def logmeanexp(a: np.ndarray, axis=None) -> np.ndarray:
    a = np.asarray(a)
    n = a.size if axis is None else np.prod([a.shape[i] for i in np.atleast_1d(axis)])
    return logsumexp(a, axis=axis) - np.log(n)


def _loglik(result: FitResult, inputs: CurveInputs, spec: ModelSpec) -> np.ndarray:
    return pointwise_loglik(result.hypothesis, result.draws, inputs, spec)


def loo(
    result: FitResult,
    inputs: CurveInputs,
    spec: ModelSpec,
    *,
    refit: Refit | None,
    seed: int,
    importance: ImportanceRefit | None = None,
) -> tuple[LooResult, np.ndarray]:
    """PSIS-LOO of one hypothesis' fit; points with high k-hat are scored exactly, by `importance`
    where it is reliable (and given), else by a NUTS refit without the point (`refit`).

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
        elpd = azs.loo(tree, pointwise=True, var_name="y", reff=relative_efficiency(result.checked()))
    k = np.asarray(elpd.pareto_k.values, float)
    max_k = float(np.nanmax(k))
    refits = sampled = unconverged = 0
    if refit is not None or importance is not None:
        bad = np.flatnonzero(~(k <= elpd.good_k))
        elpd_i = np.asarray(elpd.elpd_i.values, float).copy()
        exact = np.zeros(len(elpd_i), bool)
        for i in bad:
            keep = np.ones(len(inputs.x), bool)
            keep[i] = False
            weighted = (
                importance.condition(keep, seed=seed + 101 * (i + 1), points=i) if importance is not None else None
            )
            if weighted is not None:
                elpd_i[i] = weighted.elpd(i)
            elif refit is not None:
                sub = refit(inputs.subset(keep), hypothesis, seed=seed + 101 * (i + 1))
                elpd_i[i] = float(logmeanexp(_loglik(sub, inputs, spec)[..., i]))
                sampled += 1
                unconverged += not sub.diagnostics.ok
            else:
                continue
            exact[i] = True
            refits += 1
        if refits:
            n = len(elpd_i)
            elpd.elpd_i = elpd.elpd_i.copy(data=elpd_i)
            elpd.elpd = float(elpd_i.sum())
            elpd.se = float(np.sqrt(n * np.var(elpd_i)))
            elpd.pareto_k = elpd.pareto_k.where(~exact, 0.0)
            elpd.warning = bool(np.any(~(elpd.pareto_k.values <= elpd.good_k)))
    result_ = LooResult(
        elpd=elpd, refits=refits, refits_sampled=sampled, refits_unconverged=unconverged, max_pareto_k=max_k
    )
    return result_, ll


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
        loo_refits_sampled=smooth.refits_sampled + breakpoint.refits_sampled,
        refits_unconverged=smooth.refits_unconverged + breakpoint.refits_unconverged,
        max_pareto_k=max(smooth.max_pareto_k, breakpoint.max_pareto_k),
    )


def leave_future_out(
    inputs: CurveInputs,
    cutoff_centred: float,
    spec: ModelSpec,
    *,
    refit: Refit,
    seed: int,
    min_train: int = 3,
    importance: dict[str, ImportanceRefit] | None = None,
) -> LfoResult | None:
    """Fit both hypotheses on the models at or below the cutoff and score the larger ones.

    The break may fall anywhere in the full range (the breakpoint hypothesis may expect a rise
    it has not seen yet); the smooth one can only extrapolate its trend. Each training posterior
    comes from `importance[h]` where reliable, else from a NUTS refit. Returns None when fewer
    than `min_train` models lie below the cutoff or none above it.
    """
    train = inputs.x <= cutoff_centred + 1e-12
    test = ~train
    if train.sum() < min_train or test.sum() < 1:
        return None
    range_ = (float(np.sort(inputs.x)[min(1, len(inputs.x) - 1)]), float(inputs.range_hi))
    everything = np.ones(len(inputs.x), bool)
    largest = int(np.argmax(inputs.x))
    elpd, inside, ok, sampled = {}, True, True, 0
    for j, h in enumerate(("smooth", "breakpoint")):
        weighted = None
        if importance is not None and h in importance:
            weighted = (
                importance[h]
                .on(inputs.subset(everything, range_=range_))
                .condition(train, seed=seed + 7 + j, points=np.flatnonzero(test))
            )
        if weighted is not None:
            elpd[h] = float(sum(weighted.elpd(i) for i in np.flatnonzero(test)))
            draws = weighted.resample(spec.sampler.chains * spec.sampler.draws, seed=seed + j)
        else:
            res = refit(inputs.subset(train, range_=range_), h, seed=seed + j)
            ll = _loglik(res, inputs, spec)[..., test]
            elpd[h] = float(logmeanexp(ll.reshape(-1, ll.shape[-1]), axis=0).sum())
            draws, ok, sampled = res.draws, ok and res.diagnostics.ok, sampled + 1
        if h == "smooth":
            inside = _in_predictive_interval(h, draws, inputs, largest, spec, seed=seed)
    return LfoResult(
        cutoff_x=cutoff_centred + inputs.center,
        n_train=int(train.sum()),
        n_test=int(test.sum()),
        elpd_smooth=elpd["smooth"],
        elpd_breakpoint=elpd["breakpoint"],
        lfo_elpd_diff=elpd["breakpoint"] - elpd["smooth"],
        largest_in_interval=inside,
        ok=ok,
        refits_sampled=sampled,
    )


def _in_predictive_interval(
    hypothesis: str,
    draws: dict[str, np.ndarray],
    inputs: CurveInputs,
    i: int,
    spec: ModelSpec,
    *,
    seed: int,
    prob: float = 0.9,
) -> bool:
    """Is point i inside the central `prob` posterior predictive interval of the draws?"""
    point = inputs.subset(np.arange(len(inputs.x)) == i)
    sims = predictive(hypothesis, draws, point, spec, rng=np.random.default_rng(seed))
    lo, hi = np.quantile(sims.reshape(-1), [(1 - prob) / 2, 1 - (1 - prob) / 2])
    return bool(lo <= point.y[0] <= hi)
