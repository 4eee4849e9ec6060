"""Compile once, sample many: the sampler handle and automatic retries.

`Sampler` builds and compiles each hypothesis' model once per likelihood family (lazily, on first
use) and then only swaps data for each curve, each leave-future-out subset and each exact LOO
refit. A fit that fails its checks (R-hat, bulk/tail ESS, divergences, tree-depth saturation) is
retried (`next_setting`): with twice its draws when R-hat or ESS alone failed, else with the next
escalation of `DiagnosticsSpec.retries`; if it still fails it is returned with `ok = False` and the
caller marks the curve `failed`.

Compiled models are kept for the whole process (`_COMPILED`, the most recent `COMPILED_CACHE_SIZE`),
keyed by what the model is built from (`model_key`: the hypotheses with their priors and plug-in
classes, the shared priors, the backend) and not by sampler, verdict or population settings: a
second `fit` in the same session (a notebook, a test run, a sensitivity run that fits first) does not
compile again. Sampling a cached model is the same computation, so its draws are the same.

nutpie's compiled callbacks are also kept on disk (`inference.compile_cache`): a new process loads
them instead of compiling them again (about 2 s instead of 10 per hypothesis).

Reproducibility: models are compiled with numba's fastmath off. With fastmath on, the floating
point of a compiled model depends on whether its pieces were just compiled or loaded from
PyTensor's on-disk cache, so the first run after installing (cold cache) gave different draws
from later runs for the same seed.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from phasefit.errors import SamplingError
from phasefit.inference.diagnostics import Diagnostics, diagnose, diagnose_pilot
from phasefit.inference.importance import (
    K_HAT_MAX,
    LAPLACE_K_HAT_MAX,
    ImportanceFit,
    chain_components,
    draw_moments,
    importance_posterior,
    laplace,
)
from phasefit.models.curve_model import (
    CurveInputs,
    build_model,
    parameter_priors,
    pointwise_loglik,
    stored_names,
    with_derived,
)
from phasefit.models.likelihoods import LAPLACE_FAMILIES
from phasefit.models.spec import ModelSpec

MAX_TREEDEPTH = 10
# sampler statistics kept per draw, ArviZ's names
STATS = ("diverging", "reached_max_treedepth", "energy", "tree_depth", "step_size", "n_steps", "lp")
_NUTPIE_STATS = {
    "diverging": "diverging",
    "reached_max_treedepth": "maxdepth_reached",
    "energy": "energy",
    "tree_depth": "depth",
    "step_size": "step_size",
    "n_steps": "n_steps",
    "lp": "logp",
}


@dataclass(frozen=True, kw_only=True)
class FitResult:
    """Posterior draws (chain, draw) of one hypothesis fitted to one curve, with its diagnostics."""

    hypothesis: str
    draws: dict[str, np.ndarray]
    diagnostics: Diagnostics
    seconds: float
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    importance: ImportanceFit | None = None  # how the draws were weighted, when drawn by importance sampling

    def checked(self) -> dict[str, np.ndarray]:
        """The draws the diagnostics use (a break's fraction duplicates the break)."""
        return _checked(self.draws)


def _checked(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in draws.items() if k != "tau_fraction"}


def nutpie_data(compiled, data: dict) -> dict:
    """The curve's data that a compiled nutpie model takes (nutpie drops inputs the graph never uses)."""
    known = {var.name for var in compiled.shared_var_keys}
    return {k: v for k, v in data.items() if k in known}


def _compile_nutpie(model):
    import pytensor

    from phasefit.inference import compile_cache  # imports numba: only when a model is compiled

    with pytensor.config.change_flags(numba__fastmath=False):
        return compile_cache.compile_pymc_model(model)


COMPILED_CACHE_SIZE = 32  # compiled models kept per process (a default analysis uses 3 per likelihood)
_COMPILED: OrderedDict[tuple[str, str], object] = OrderedDict()
_COMPILED_LOCK = threading.Lock()


def model_key(spec: ModelSpec) -> str:
    """What a spec's compiled models depend on: its hypotheses (priors, options, plug-in classes), the
    shared priors, the Student-t degrees of freedom and the backend. Sampler settings are not in it."""
    d = spec.to_dict()
    content = {k: d[k] for k in ("hypotheses", "shared", "t_nu")} | {"backend": spec.sampler.backend}
    content["plugins"] = [f"{type(p).__module__}.{type(p).__qualname__}" for p in spec.plugins()]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


class Sampler:
    """One compiled model per (likelihood, hypothesis); data swapped per fit. Seeded and reproducible."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.backend = spec.sampler.backend
        self._model_key = model_key(spec)
        self._compiled: dict[str, object] = {}
        self.compile_seconds: dict[str, float] = {}
        if self.backend == "numpyro":
            try:
                import jax  # noqa: F401
                import numpyro  # noqa: F401
            except ImportError:
                raise SamplingError("backend 'numpyro' needs the gpu extra: pip install 'phasefit[gpu]'") from None

    def compiled(self, likelihood: str, hypothesis: str):
        """The compiled model of one (likelihood, hypothesis), compiled on first use only."""
        return self._compiled_model(
            f"{likelihood}/{hypothesis}", lambda: build_model(hypothesis, likelihood, self.spec)
        )

    def _compiled_model(self, key: str, build):
        """The compiled model under `key`: this sampler's, else the process cache's (0 s of compiling
        recorded), else built and compiled now."""
        if key not in self._compiled:
            t0 = time.perf_counter()
            cache_key = (self._model_key, key)
            with _COMPILED_LOCK:  # a Dask worker with several threads compiles each model once
                if cache_key in _COMPILED:
                    _COMPILED.move_to_end(cache_key)
                    compiled = _COMPILED[cache_key]
                else:
                    model = build()
                    if self.backend == "nutpie":
                        compiled = _compile_nutpie(model)
                    else:
                        from pymc.model.transform.optimization import freeze_model

                        compiled = freeze_model(model) if self.backend == "pymc" else model
                    _COMPILED[cache_key] = compiled
                    while len(_COMPILED) > COMPILED_CACHE_SIZE:
                        _COMPILED.popitem(last=False)
            self._compiled[key] = compiled
            self.compile_seconds[key] = round(time.perf_counter() - t0, 3)
        return self._compiled[key]

    def fit(self, inputs: CurveInputs, hypothesis: str, *, seed: int) -> FitResult:
        """The posterior of one hypothesis: by importance sampling from a short NUTS pilot (`[sampler]
        method = "importance"`) where its checks pass, else by NUTS with retries; `ok=False` in the
        diagnostics if every attempt failed."""
        key = f"{inputs.likelihood}/{hypothesis}"
        build = lambda: build_model(hypothesis, inputs.likelihood, self.spec)  # noqa: E731
        names = stored_names(hypothesis, inputs.likelihood, self.spec)
        if self.spec.sampler.method != "importance":
            return self.fit_model(key, build, inputs.data(), names, hypothesis=hypothesis, seed=seed)
        compiled = self._compiled_model(key, build)  # compiled before the clock starts, as in fit_model
        t0 = time.perf_counter()
        drawn = self._importance_fit(inputs, hypothesis, compiled, names, seed=seed)
        if isinstance(drawn, FitResult):
            return drawn
        pilot_seconds = time.perf_counter() - t0
        result = self.fit_model(key, build, inputs.data(), names, hypothesis=hypothesis, seed=seed)
        settings = {**result.settings, "method": "nuts", "importance_fallback": drawn}
        return replace(result, seconds=result.seconds + pilot_seconds, settings=settings)

    def _importance_fit(
        self, inputs: CurveInputs, hypothesis: str, compiled, names: tuple[str, ...], *, seed: int
    ) -> FitResult | str:
        """Importance sampling from a Student-t shaped by a Laplace approximation (a hypothesis whose
        plug-in declares `laplace_proposal`, in a family where that holds) or else by a short NUTS
        pilot (`inference.importance`); the reasons it is not reliable when neither is."""
        t0 = time.perf_counter()
        spec, s, d = self.spec, self.spec.sampler, self.spec.diagnostics
        priors = parameter_priors(hypothesis, inputs.likelihood, spec)

        def loglik(values: dict[str, np.ndarray]) -> np.ndarray:
            return pointwise_loglik(hypothesis, values, inputs, spec).sum(-1)

        def weigh(proposal: tuple[np.ndarray, np.ndarray], first_k_hat_max: float = K_HAT_MAX):
            return importance_posterior(
                proposal,
                priors,
                loglik,
                n_proposal=s.proposal_draws,
                n_keep=s.chains * s.draws,
                ess_min=max(d.ess_bulk_min, d.ess_tail_min),
                seed=seed + 104729,
                first_k_hat_max=first_k_hat_max,
            )

        refused = ""
        if s.laplace and spec.plugin(hypothesis).laplace_proposal and inputs.likelihood in LAPLACE_FAMILIES:
            moments = laplace(priors, loglik)
            out = weigh(moments, LAPLACE_K_HAT_MAX) if moments is not None else None
            if out is not None and not isinstance(out, ImportanceFit):
                checks = Diagnostics(
                    rhat_max=float("nan"),  # no chains
                    ess_bulk_min=float("nan"),
                    ess_tail_min=float("nan"),
                    divergences=0,
                    treedepth_share=0.0,
                    attempts=1,
                    ok=True,
                    reason="",
                )
                settings = {"method": "importance", "proposal": "laplace", "tune": 0, "draws": 0}
                return self._weighted(out, inputs, hypothesis, names, checks, settings, t0)
            refused = "laplace: no mode" if out is None else f"laplace: k-hat {out.k_hat:.2f}, ESS {out.ess:.0f}"
        # a pilot that diverged (or saturated its trees) runs once more at the first retry's
        # target_accept, as a NUTS fit would; chains that disagree without such problems are not a
        # step-size problem and are not rerun
        target_accepts = [s.target_accept] + [r.target_accept for r in d.retries[:1]]
        escalated = ""
        for i, target_accept in enumerate(target_accepts):
            pilot, stats = self._sample(
                compiled,
                inputs.data(),
                names,
                seed=attempt_seed(seed, i),
                target_accept=target_accept,
                tune=s.pilot_tune,
                draws=s.pilot_draws,
                chains=s.pilot_chains,
            )
            checks = diagnose_pilot(_checked(pilot), stats, spec)
            trajectories_ok = _only_mixing(checks, spec)  # whatever the R-hat: no divergence or saturated tree
            if trajectories_ok:
                break
            if i + 1 < len(target_accepts):
                escalated = f"pilot: {checks.reason}"
        # chains that disagree without diverging or saturating their trees found different modes: a
        # mixture of one Student-t per chain (and one over both) is the proposal, and the weights give
        # each mode its mass; a pilot with trajectory problems may have missed a region: NUTS
        modes = not checks.ok and trajectories_ok
        if not checks.ok and not modes:
            return "; ".join(r for r in (refused, escalated, f"pilot: {checks.reason}") if r)
        out = weigh(chain_components(pilot, priors) if modes else draw_moments(pilot, priors))
        if isinstance(out, ImportanceFit):
            reason = f"importance: k-hat {out.k_hat:.2f}, ESS {out.ess:.0f}"
            return "; ".join(r for r in (refused, escalated, f"pilot: {checks.reason}" if modes else "", reason) if r)
        proposal = "pilot chains (mixture)" if modes else "pilot"
        settings = {"method": "importance", "proposal": proposal, "tune": s.pilot_tune, "draws": s.pilot_draws}
        if modes:
            settings["pilot_disagreed"] = checks.reason
            # the draws are independent and weighted: the pilot's disagreement is kept in the settings,
            # not reported as the fit's R-hat (NaN, as for a Laplace proposal)
            checks = replace(checks, rhat_max=float("nan"), ok=True, reason="")
        if refused:
            settings["laplace_refused"] = refused
        if escalated:  # the pilot that was used ran at this target_accept
            settings |= {"pilot_escalated": escalated, "pilot_target_accept": target_accept}
        return self._weighted(out, inputs, hypothesis, names, checks, settings, t0)

    def _weighted(
        self, out, inputs: CurveInputs, hypothesis: str, names: tuple[str, ...], checks: Diagnostics, settings, t0
    ) -> FitResult:
        """The `FitResult` of importance-sampled draws: derived quantities added, shaped (chain, draw)."""
        s = self.spec.sampler
        values, log_density, weighting = out
        shape = (s.chains, s.draws)
        derived = with_derived(self.spec.plugin(hypothesis), {k: v.reshape(shape) for k, v in values.items()}, inputs)
        draws = {k: np.asarray(derived[k], float) for k in names}
        # independent draws have no trajectories: no divergence or saturated tree (the pilot had none), no
        # energy, tree depth, step size or step count (NaN); lp is the log density, as NUTS reports it
        no, nan = np.zeros(shape, bool), np.full(shape, np.nan)
        draw_stats = {k: nan for k in STATS} | {"diverging": no, "reached_max_treedepth": no}
        draw_stats["lp"] = log_density.reshape(shape)
        return FitResult(
            hypothesis=hypothesis,
            draws=draws,
            diagnostics=replace(checks, ess_bulk_min=weighting.ess, ess_tail_min=weighting.ess),
            seconds=time.perf_counter() - t0,
            stats=draw_stats,
            settings={
                **settings,
                "target_accept": s.target_accept,
                "proposal_draws": weighting.n_proposal,
            },
            importance=weighting,
        )

    def fit_model(
        self, key: str, build, data: dict, names: tuple[str, ...], *, hypothesis: str, seed: int
    ) -> FitResult:
        """Any model whose inputs are `pm.Data`: compiled once under `key` (by `build()`), then its
        data swapped in; sampled with the spec's settings and retries. `seconds` leaves out compiling."""
        compiled = self._compiled_model(key, build)
        t0 = time.perf_counter()
        draws, stats, diag, setting = with_retries(
            self.spec,
            lambda seed_i, setting: self._sample(compiled, data, names, seed=seed_i, **setting),
            checked=_checked,
            seed=seed,
        )
        return FitResult(
            hypothesis=hypothesis,
            draws=draws,
            diagnostics=diag,
            seconds=time.perf_counter() - t0,
            stats=stats,
            settings=setting,
        )

    def sample(
        self, inputs: CurveInputs, hypothesis: str, *, seed: int, target_accept: float, tune: int, draws: int
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One sampling run (no retries): draws and sampler statistics, each (chain, draw)."""
        names = stored_names(hypothesis, inputs.likelihood, self.spec)
        compiled = self.compiled(inputs.likelihood, hypothesis)
        return self._sample(
            compiled, inputs.data(), names, seed=seed, target_accept=target_accept, tune=tune, draws=draws
        )

    def _sample(
        self,
        compiled,
        data: dict,
        names: tuple[str, ...],
        *,
        seed: int,
        target_accept: float,
        tune: int,
        draws: int,
        chains: int | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        chains = self.spec.sampler.chains if chains is None else chains
        if self.backend == "nutpie":
            import nutpie

            compiled = compiled.with_data(**nutpie_data(compiled, data))
            raw = nutpie.sample(
                compiled,
                draws=draws,
                tune=tune,
                chains=chains,
                cores=chains,
                seed=seed,
                target_accept=target_accept,
                progress_bar=False,
                save_warmup=False,
                return_raw_trace=True,
            )
            return _from_arrow(raw, names)
        import pymc as pm

        model = compiled
        with model:
            pm.set_data(data)
            idata = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=1,
                random_seed=seed,
                target_accept=target_accept,
                progressbar=False,
                compute_convergence_checks=False,
                nuts_sampler="numpyro" if self.backend == "numpyro" else "pymc",
            )
        post = idata.posterior
        return {k: np.asarray(post[k].values, float) for k in names}, pymc_stats(idata.sample_stats)


def attempts(spec: ModelSpec) -> list[dict]:
    """Sampler settings of the first attempt, then of each retry escalation, in order."""
    s = spec.sampler
    first = {"target_accept": s.target_accept, "tune": s.tune, "draws": s.draws}
    return [first] + [
        {"target_accept": r.target_accept, "tune": r.tune, "draws": r.draws} for r in spec.diagnostics.retries
    ]


def attempt_seed(seed: int, attempt: int) -> int:
    """A retry samples with a fresh, reproducible seed."""
    return seed + 7919 * attempt


def pymc_stats(st) -> dict[str, np.ndarray]:
    """ArviZ-named sampler statistics from a PyMC/numpyro `sample_stats` group."""
    out = {"diverging": np.asarray(st["diverging"].values, bool)}
    if "tree_depth" in st:
        out["tree_depth"] = np.asarray(st["tree_depth"].values, np.int64)
        out["reached_max_treedepth"] = out["tree_depth"] >= MAX_TREEDEPTH
    elif "reached_max_treedepth" in st:
        out["reached_max_treedepth"] = np.asarray(st["reached_max_treedepth"].values, bool)
    for k in ("energy", "step_size", "n_steps", "lp"):
        if k in st:
            out[k] = np.asarray(st[k].values, float)
    return out


def _from_arrow(raw, names: tuple[str, ...]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(chain, draw) arrays of draws and sampler stats from nutpie's raw Arrow trace.

    Skipping nutpie's conversion to a DataTree saves a fifth of a small fit's time; only the
    post-warmup rows (stat `tuning` false) are kept.
    """
    draw_batches, stat_batches = raw.get_arrow_trace()
    draws: dict[str, list] = {k: [] for k in names}
    stats: dict[str, list] = {k: [] for k in STATS}
    for d, st in zip(draw_batches, stat_batches, strict=True):
        keep = ~np.asarray(st.column("tuning"), bool)
        for k in names:
            draws[k].append(np.asarray(d.column(k), float)[keep])
        for k in STATS:
            stats[k].append(np.asarray(st.column(_NUTPIE_STATS[k]))[keep])
    out_stats = {k: np.stack(v) for k, v in stats.items()}
    for k in ("diverging", "reached_max_treedepth"):
        out_stats[k] = out_stats[k].astype(bool)
    return {k: np.stack(v) for k, v in draws.items()}, out_stats


def with_retries(
    spec: ModelSpec,
    sample_once: Callable[[int, dict], tuple[dict[str, np.ndarray], dict[str, np.ndarray]]],
    *,
    checked: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    seed: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], Diagnostics, dict]:
    """`sample_once(seed, setting)` until the draws pass the spec's checks or the retries run out
    (`next_setting`). Returns the last attempt's draws, statistics, diagnostics (of `checked(draws)`)
    and settings."""
    ladder = attempts(spec)
    setting = ladder[0]
    diag = None
    for i in range(len(ladder)):
        if diag is not None:
            setting = next_setting(ladder, i, setting, diag, spec)
        draws, stats = sample_once(attempt_seed(seed, i), setting)
        diag = diagnose(checked(draws), stats, spec, attempts=i + 1)
        if diag.ok:
            break
    assert diag is not None
    return draws, stats, diag, setting


def sample_model(model, spec: ModelSpec, *, names: list[str], seed: int) -> tuple[dict[str, np.ndarray], Diagnostics]:
    """Sample a one-off model (compiled once here) with the spec's settings and retries
    (`with_retries`). Returns draws (chain, draw[, ...]) of `names` and diagnostics over all their
    components."""
    s = spec.sampler
    compiled = _compile_nutpie(model) if s.backend == "nutpie" else None

    def sample_once(seed_i: int, setting: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        if compiled is not None:
            import nutpie

            tr = nutpie.sample(
                compiled,
                chains=s.chains,
                cores=s.chains,
                seed=seed_i,
                progress_bar=False,
                save_warmup=False,
                **setting,
            )
            post, st = tr.posterior, tr.sample_stats
            stats = {"diverging": st["diverging"].values, "reached_max_treedepth": st["maxdepth_reached"].values}
        else:
            import pymc as pm

            with model:
                idata = pm.sample(
                    chains=s.chains,
                    cores=1,
                    random_seed=seed_i,
                    progressbar=False,
                    compute_convergence_checks=False,
                    nuts_sampler="pymc",
                    **setting,
                )
            post, stats = idata.posterior, pymc_stats(idata.sample_stats)
        return {k: np.asarray(post[k].values, float) for k in names}, stats

    def components(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every component of a vector parameter checked on its own."""
        return {
            f"{k}[{j}]": v.reshape(v.shape[0], v.shape[1], -1)[:, :, j]
            for k, v in draws.items()
            for j in range(int(np.prod(v.shape[2:], dtype=int)))
        }

    draws, _, diag, _ = with_retries(spec, sample_once, checked=components, seed=seed)
    return draws, diag


def next_setting(ladder: list[dict], i: int, previous: dict, diag: Diagnostics, spec: ModelSpec) -> dict:
    """The settings of attempt `i` (from 1) after `previous` failed its checks with `diag`.

    The spec's escalations (`ladder[i]`: higher target_accept, longer tuning) are for divergences
    and saturated trees. An attempt that failed on R-hat or ESS alone mixes slowly along some
    direction (a smooth fit's intercept against its ceiling when the curve stays low; the population
    stage's break sd, whose likelihood is flat below its floor): it is retried with the same step
    size adaptation and twice its draws, which is what it lacks and cheaper than an escalation.
    """
    return {**previous, "draws": 2 * previous["draws"]} if _only_mixing(diag, spec) else ladder[i]


def _only_mixing(diag: Diagnostics, spec: ModelSpec) -> bool:
    """Whether a failed fit failed on R-hat or ESS alone: no divergences, no saturated trees."""
    d = spec.diagnostics
    return diag.divergences <= d.max_divergences and diag.treedepth_share <= d.max_treedepth_share


def thin_to(draws: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Keep `n` evenly spaced draws per chain (axis 1) of every array: retries may have sampled more
    than the spec's draws, and every curve's draws must line up in the DataTree."""
    out = {}
    for k, v in draws.items():
        if v.shape[1] == n:
            out[k] = v
        else:
            idx = np.linspace(0, v.shape[1] - 1, n).round().astype(int)
            out[k] = v[:, idx]
    return out
