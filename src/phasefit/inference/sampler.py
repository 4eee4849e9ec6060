"""Compile once, sample many: the sampler handle and automatic retries.

`Sampler` builds and compiles each hypothesis' model once per likelihood family (lazily, on first
use) and then only swaps data for each curve, each leave-future-out subset and each exact LOO
refit. A fit that fails its checks (R-hat, bulk/tail ESS, divergences, tree-depth saturation) is
retried (`next_setting`): with twice its draws when R-hat or ESS alone failed, else with the next
escalation of `DiagnosticsSpec.retries`; if it still fails it is returned with `ok = False` and the
caller marks the curve `failed`.

Reproducibility: models are compiled with numba's fastmath off. With fastmath on, the floating
point of a compiled model depends on whether its pieces were just compiled or loaded from
PyTensor's on-disk cache, so the first run after installing (cold cache) gave different draws
from later runs for the same seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from phasefit.errors import SamplingError
from phasefit.inference.diagnostics import Diagnostics, diagnose
from phasefit.models.curve_model import CurveInputs, build_model, stored_names
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

    def checked(self) -> dict[str, np.ndarray]:
        """The draws the diagnostics use (a break's fraction duplicates the break)."""
        return _checked(self.draws)


def _checked(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in draws.items() if k != "tau_fraction"}


def _compile_nutpie(model):
    import nutpie
    import pytensor

    with pytensor.config.change_flags(numba__fastmath=False):
        return nutpie.compile_pymc_model(model, backend="numba")


class Sampler:
    """One compiled model per (likelihood, hypothesis); data swapped per fit. Seeded and reproducible."""

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

    def compiled(self, likelihood: str, hypothesis: str):
        """The compiled model of one (likelihood, hypothesis), compiled on first use only."""
        return self._compiled_model(
            f"{likelihood}/{hypothesis}", lambda: build_model(hypothesis, likelihood, self.spec)
        )

    def _compiled_model(self, key: str, build):
        if key not in self._compiled:
            t0 = time.perf_counter()
            model = build()
            if self.backend == "nutpie":
                self._compiled[key] = _compile_nutpie(model)
            else:
                from pymc.model.transform.optimization import freeze_model

                self._compiled[key] = freeze_model(model) if self.backend == "pymc" else model
            self.compile_seconds[key] = round(time.perf_counter() - t0, 3)
        return self._compiled[key]

    def fit(self, inputs: CurveInputs, hypothesis: str, *, seed: int) -> FitResult:
        """Sample one hypothesis with retries; `ok=False` in the diagnostics if every attempt failed."""
        return self.fit_model(
            f"{inputs.likelihood}/{hypothesis}",
            lambda: build_model(hypothesis, inputs.likelihood, self.spec),
            inputs.data(),
            stored_names(hypothesis, inputs.likelihood, self.spec),
            hypothesis=hypothesis,
            seed=seed,
        )

    def fit_model(
        self, key: str, build, data: dict, names: tuple[str, ...], *, hypothesis: str, seed: int
    ) -> FitResult:
        """Any model whose inputs are `pm.Data`: compiled once under `key` (by `build()`), then its
        data swapped in; sampled with the spec's settings and retries. `seconds` leaves out compiling."""
        compiled = self._compiled_model(key, build)
        t0 = time.perf_counter()
        result = None
        ladder = attempts(self.spec)
        setting = ladder[0]
        for i in range(len(ladder)):
            if result is not None:
                setting = next_setting(ladder, i, setting, result.diagnostics, self.spec)
            draws, stats = self._sample(compiled, data, names, seed=attempt_seed(seed, i), **setting)
            diag = diagnose(_checked(draws), stats, self.spec, attempts=i + 1)
            result = FitResult(
                hypothesis=hypothesis,
                draws=draws,
                diagnostics=diag,
                seconds=time.perf_counter() - t0,
                stats=stats,
                settings=setting,
            )
            if diag.ok:
                break
        assert result is not None
        return result

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
        self, compiled, data: dict, names: tuple[str, ...], *, seed: int, target_accept: float, tune: int, draws: int
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        chains = self.spec.sampler.chains
        if self.backend == "nutpie":
            import nutpie

            known = {var.name for var in compiled.shared_var_keys}  # nutpie drops data the graph never uses
            compiled = compiled.with_data(**{k: v for k, v in data.items() if k in known})
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


def sample_model(model, spec: ModelSpec, *, names: list[str], seed: int) -> tuple[dict[str, np.ndarray], Diagnostics]:
    """Sample a one-off model (compiled once here) with the spec's settings and retries
    (`next_setting`). Returns draws (chain, draw[, ...]) of `names` and diagnostics over all their
    components."""
    s = spec.sampler
    compiled = None
    draws: dict[str, np.ndarray] = {}
    diag = None
    ladder = attempts(spec)
    setting = ladder[0]
    for i in range(len(ladder)):
        if diag is not None:
            setting = next_setting(ladder, i, setting, diag, spec)
        if spec.sampler.backend == "nutpie":
            import nutpie

            compiled = compiled or _compile_nutpie(model)
            tr = nutpie.sample(
                compiled,
                chains=s.chains,
                cores=s.chains,
                seed=attempt_seed(seed, i),
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
                    random_seed=attempt_seed(seed, i),
                    progressbar=False,
                    compute_convergence_checks=False,
                    nuts_sampler="pymc",
                    **setting,
                )
            post, stats = idata.posterior, pymc_stats(idata.sample_stats)
        draws = {k: np.asarray(post[k].values, float) for k in names}
        flat = {
            f"{k}[{j}]": v.reshape(v.shape[0], v.shape[1], -1)[:, :, j]
            for k, v in draws.items()
            for j in range(int(np.prod(v.shape[2:], dtype=int)))
        }
        diag = diagnose(flat, stats, spec, attempts=i + 1)
        if diag.ok:
            break
    assert diag is not None
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
