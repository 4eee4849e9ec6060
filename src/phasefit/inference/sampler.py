"""Compile once, sample many: the sampler handle, convergence diagnostics and automatic retries.

`Sampler` builds and compiles the hypothesis model once per likelihood family (lazily, on first
use) and then only swaps data for each curve, each leave-future-out subset and each exact LOO
refit. A fit that fails its checks (R-hat, bulk/tail ESS, divergences, tree-depth saturation) is
retried with the escalations of `DiagnosticsSpec.retries`; if it still fails it is returned with
`ok = False` and the caller marks the curve `failed`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import arviz_stats as azs
import numpy as np
import xarray as xr

from phasefit.data.curves import Likelihood
from phasefit.errors import SamplingError
from phasefit.models.hypotheses import CurveInputs, Fit, build_model, free_params, weights_for
from phasefit.models.spec import HYPOTHESES, ModelSpec

MAX_TREEDEPTH = 10


@dataclass(frozen=True, kw_only=True)
class Diagnostics:
    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    treedepth_share: float
    attempts: int
    ok: bool
    reason: str  # empty when ok


@dataclass(frozen=True, kw_only=True)
class FitResult:
    """Posterior draws (chain, draw) of one fit of one curve, with its diagnostics."""

    fit: Fit
    draws: dict[str, np.ndarray]
    diagnostics: Diagnostics
    seconds: float
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def checked(self) -> dict[str, np.ndarray]:
        """The draws the diagnostics and LOO use (the break fraction duplicates bp_tau)."""
        return _checked(self.draws)


def _checked(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every sampled quantity of a fit (the break's fraction duplicates bp_tau)."""
    return {k: v for k, v in draws.items() if k != "bp_tau_fraction"}


def diagnose(draws: dict[str, np.ndarray], stats: dict[str, np.ndarray], spec: ModelSpec, *, attempts: int
             ) -> Diagnostics:
    """R-hat (rank-normalised), bulk/tail ESS (ArviZ), divergences and tree-depth saturation."""
    ds = xr.Dataset({k: (("chain", "draw"), v) for k, v in draws.items()})
    rhat = azs.rhat(ds)
    ess_b = azs.ess(ds, method="bulk")
    ess_t = azs.ess(ds, method="tail")
    r = float(np.nanmax([rhat[k].item() for k in ds.data_vars]))
    eb = float(np.nanmin([ess_b[k].item() for k in ds.data_vars]))
    et = float(np.nanmin([ess_t[k].item() for k in ds.data_vars]))
    div = int(np.sum(stats["diverging"]))
    depth_share = float(np.mean(stats["maxdepth_reached"])) if "maxdepth_reached" in stats else 0.0
    d = spec.diagnostics
    problems = []
    if not np.isfinite(r) or r > d.rhat_max:
        problems.append(f"R-hat {r:.3f} > {d.rhat_max}")
    if not np.isfinite(eb) or eb < d.ess_bulk_min:
        problems.append(f"bulk ESS {eb:.0f} < {d.ess_bulk_min:g}")
    if not np.isfinite(et) or et < d.ess_tail_min:
        problems.append(f"tail ESS {et:.0f} < {d.ess_tail_min:g}")
    if div > d.max_divergences:
        problems.append(f"{div} divergences")
    if depth_share > d.max_treedepth_share:
        problems.append(f"{depth_share:.0%} of draws hit the maximum tree depth")
    return Diagnostics(rhat_max=r, ess_bulk_min=eb, ess_tail_min=et, divergences=div, treedepth_share=depth_share,
                       attempts=attempts, ok=not problems, reason="; ".join(problems))


class Sampler:
    """One compiled model per likelihood family; data swapped per fit. Seeded and reproducible."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.backend = spec.sampler.backend
        self._compiled: dict[str, object] = {}
        self.compile_seconds: dict[str, float] = {}
        if self.backend == "numpyro":
            try:
                import jax  # noqa: F401
                import numpyro  # noqa: F401
            except ImportError:
                raise SamplingError("backend 'numpyro' needs the gpu extra: pip install 'phasefit[gpu]'") from None

    def compiled(self, likelihood: Likelihood, fit: Fit = "mixture"):
        """The compiled model of one (likelihood, hypothesis), compiled on first use only."""
        key = f"{likelihood}/{fit}"
        if key not in self._compiled:
            t0 = time.perf_counter()
            model = build_model(likelihood, self.spec, fit=fit)
            if self.backend == "nutpie":
                import nutpie

                self._compiled[key] = nutpie.compile_pymc_model(model, backend="numba")
            else:
                from pymc.model.transform.optimization import freeze_model

                self._compiled[key] = (freeze_model(model), model) if self.backend == "pymc" else (model, model)
            self.compile_seconds[key] = time.perf_counter() - t0
        return self._compiled[key]

    def fit(self, inputs: CurveInputs, fit: Fit, *, seed: int) -> FitResult:
        """Sample one fit with retries; `ok=False` in the diagnostics if every attempt failed."""
        t0 = time.perf_counter()
        result = None
        for i, setting in enumerate(_attempts(self.spec)):
            draws, stats = self._sample(inputs, fit, seed=_attempt_seed(seed, i), **setting)
            diag = diagnose(_checked(draws), stats, self.spec, attempts=i + 1)
            result = FitResult(fit=fit, draws=draws, diagnostics=diag, seconds=time.perf_counter() - t0,
                               stats=stats, settings=setting)
            if diag.ok:
                break
        return result

    def _sample(self, inputs: CurveInputs, fit: Fit, *, seed: int, target_accept: float, tune: int, draws: int
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        data = inputs.data(weights_for(fit, self.spec), fit=fit)
        names = free_params(inputs.likelihood, fit)
        chains = self.spec.sampler.chains
        if self.backend == "nutpie":
            import nutpie

            compiled = self.compiled(inputs.likelihood, fit).with_data(**data)
            raw = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=chains, seed=seed,
                                target_accept=target_accept, progress_bar=False, save_warmup=False,
                                return_raw_trace=True)
            return _from_arrow(raw, names)
        else:
            import pymc as pm

            frozen, _ = self.compiled(inputs.likelihood, fit)
            with frozen:
                pm.set_data(data)
                idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=seed,
                                  target_accept=target_accept, progressbar=False, compute_convergence_checks=False,
                                  nuts_sampler="numpyro" if self.backend == "numpyro" else "pymc")
            post = idata.posterior
        return {k: np.asarray(post[k].values, float) for k in names if k in post}, _pymc_stats(idata.sample_stats)


def _attempts(spec: ModelSpec) -> list[dict]:
    """Sampler settings of the first attempt, then of each retry escalation, in order."""
    s = spec.sampler
    first = {"target_accept": s.target_accept, "tune": s.tune, "draws": s.draws}
    return [first] + [{"target_accept": r.target_accept, "tune": r.tune, "draws": r.draws}
                      for r in spec.diagnostics.retries]


def _attempt_seed(seed: int, attempt: int) -> int:
    """A retry samples with a fresh, reproducible seed."""
    return seed + 7919 * attempt


def _pymc_stats(st) -> dict[str, np.ndarray]:
    """Divergences and tree-depth saturation from a PyMC/numpyro `sample_stats` group."""
    diverging = st["diverging"].values
    depth = st["tree_depth"].values >= MAX_TREEDEPTH if "tree_depth" in st else np.zeros_like(diverging)
    return {"diverging": diverging, "maxdepth_reached": depth}


def _from_arrow(raw, names: tuple[str, ...]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(chain, draw) arrays of scalar draws and sampler stats from nutpie's raw Arrow trace.

    Skipping nutpie's conversion to a DataTree saves a fifth of a small fit's time; only the
    post-warmup rows (stat `tuning` false) are kept.
    """
    draw_batches, stat_batches = raw.get_arrow_trace()
    draws: dict[str, list] = {k: [] for k in names}
    stats: dict[str, list] = {"diverging": [], "maxdepth_reached": []}
    for d, st in zip(draw_batches, stat_batches, strict=True):
        keep = ~np.asarray(st.column("tuning"), bool)
        for k in names:
            draws[k].append(np.asarray(d.column(k), float)[keep])
        for k in stats:
            stats[k].append(np.asarray(st.column(k), bool)[keep])
    return {k: np.stack(v) for k, v in draws.items()}, {k: np.stack(v) for k, v in stats.items()}


def sample_model(model, spec: ModelSpec, *, names: list[str], seed: int
                 ) -> tuple[dict[str, np.ndarray], Diagnostics]:
    """Sample a one-off model (compiled once here) with the spec's settings and retries.

    Returns draws (chain, draw[, ...]) of `names` and diagnostics over all their components.
    """
    s = spec.sampler
    compiled = None
    for i, setting in enumerate(_attempts(spec)):
        if spec.sampler.backend == "nutpie":
            import nutpie

            compiled = compiled or nutpie.compile_pymc_model(model, backend="numba")
            tr = nutpie.sample(compiled, chains=s.chains, cores=s.chains, seed=_attempt_seed(seed, i), progress_bar=False,
                               save_warmup=False, **setting)
            post, st = tr.posterior, tr.sample_stats
            stats = {"diverging": st["diverging"].values, "maxdepth_reached": st["maxdepth_reached"].values}
        else:
            import pymc as pm

            with model:
                idata = pm.sample(chains=s.chains, cores=1, random_seed=_attempt_seed(seed, i), progressbar=False,
                                  compute_convergence_checks=False, nuts_sampler="pymc", **setting)
            post, stats = idata.posterior, _pymc_stats(idata.sample_stats)
        draws = {k: np.asarray(post[k].values, float) for k in names}
        flat = {f"{k}[{j}]": v.reshape(v.shape[0], v.shape[1], -1)[:, :, j]
                for k, v in draws.items() for j in range(int(np.prod(v.shape[2:], dtype=int)))}
        diag = diagnose(flat, stats, spec, attempts=i + 1)
        if diag.ok:
            break
    return draws, diag


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


__all__ = ["HYPOTHESES", "Diagnostics", "FitResult", "Sampler", "diagnose", "sample_model", "thin_to"]
