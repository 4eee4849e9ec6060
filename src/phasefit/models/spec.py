"""Declarative model specs: TOML files under `models/` loaded into frozen dataclasses.

`models/default.toml` names the competing hypotheses (one TOML each), their prior weights, the shared
nuisance priors, sampler settings, convergence thresholds and verdict thresholds. Users pass another
file with `--models FILE` / `load_spec(path)`.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Literal

from phasefit.errors import SpecError

HypothesisName = Literal["absent", "smooth", "breakpoint"]
HYPOTHESES: tuple[HypothesisName, ...] = ("absent", "smooth", "breakpoint")
Backend = Literal["nutpie", "pymc", "numpyro"]

_DIST_PARAMS = {
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
    "beta": ("alpha", "beta"),
    "halfnormal": ("sigma",),
}
# the parameters each hypothesis must give a prior for
_REQUIRED_PRIORS = {
    "absent": ("level",),
    "smooth": ("intercept", "slope"),
    "breakpoint": ("level", "slope_before", "gain", "tau_fraction"),
}


@dataclass(frozen=True)
class Prior:
    """A univariate prior: `dist` with its parameters in `params` (name, value) pairs."""

    dist: str
    params: tuple[tuple[str, float], ...]

    def __getitem__(self, name: str) -> float:
        return dict(self.params)[name]

    def describe(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.dist.capitalize()}({args})"


@dataclass(frozen=True)
class HypothesisSpec:
    name: HypothesisName
    priors: tuple[tuple[str, Prior], ...]
    priors_student_t: tuple[tuple[str, Prior], ...]
    width: float = 0.1
    min_points_after: int = 2
    min_points_before: int = 1

    def prior(self, param: str, *, student_t: bool = False) -> Prior:
        return dict(self.priors_student_t if student_t else self.priors)[param]


@dataclass(frozen=True)
class SamplerSpec:
    backend: Backend = "nutpie"
    chains: int = 4
    draws: int = 1000
    tune: int = 500
    target_accept: float = 0.95
    seed: int = 20221


@dataclass(frozen=True)
class RetrySpec:
    target_accept: float
    tune: int
    draws: int


@dataclass(frozen=True)
class DiagnosticsSpec:
    rhat_max: float = 1.01
    ess_bulk_min: float = 400
    ess_tail_min: float = 400
    max_divergences: int = 0
    max_treedepth_share: float = 0.05
    retries: tuple[RetrySpec, ...] = ()


@dataclass(frozen=True)
class VerdictSpec:
    emergent: float = 0.9
    smooth: float = 0.1
    absent: float = 0.5


@dataclass(frozen=True)
class PopulationSpec:
    """Hyperpriors of the partial-pooling stage (see phasefit.analyses.population)."""

    enabled: bool = True
    draws_per_curve: int = 200
    priors: tuple[tuple[str, Prior], ...] = ()
    rates_concentration: float = 1.0

    def prior(self, name: str) -> Prior:
        return dict(self.priors)[name]


POPULATION_PRIORS = ("task_break_sd", "family_offset_sd", "curve_break_sd", "log_rise_mean", "task_log_rise_sd",
                     "curve_log_rise_sd")


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines an analysis' models; serialisable to run.json."""

    hypotheses: tuple[HypothesisSpec, ...]
    prior_weights: tuple[tuple[str, float], ...]
    shared: tuple[tuple[str, Prior], ...]
    t_nu: float
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    diagnostics: DiagnosticsSpec = field(default_factory=DiagnosticsSpec)
    verdict: VerdictSpec = field(default_factory=VerdictSpec)
    population: PopulationSpec = field(default_factory=PopulationSpec)
    source: str = "default"

    def hypothesis(self, name: str) -> HypothesisSpec:
        for h in self.hypotheses:
            if h.name == name:
                return h
        raise SpecError(f"hypothesis {name!r} is not in the spec ({self.source})")

    def shared_prior(self, name: str) -> Prior:
        return dict(self.shared)[name]

    def log_weights(self) -> tuple[float, ...]:
        """Normalised log prior weights in `HYPOTHESES` order."""
        w = dict(self.prior_weights)
        total = sum(w.values())
        return tuple(math.log(w[h] / total) for h in HYPOTHESES)

    def with_sampler(self, **changes) -> ModelSpec:
        """A copy with sampler settings changed (None values are ignored)."""
        fields = {**asdict(self.sampler), **{k: v for k, v in changes.items() if v is not None}}
        return replace(self, sampler=SamplerSpec(**fields))

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


def default_spec_path() -> Path:
    return Path(str(resources.files("phasefit.models") / "toml" / "default.toml"))


def load_spec(path: str | Path | None = None) -> ModelSpec:
    """Load a model spec TOML (the bundled `models/default.toml` when `path` is None)."""
    path = Path(path) if path is not None else default_spec_path()
    doc = _read_toml(path)
    names = doc.get("hypotheses")
    if not isinstance(names, list) or not names:
        raise SpecError(f"{path}: 'hypotheses' must list the hypothesis TOML files")
    hyps = tuple(_load_hypothesis(path.parent / str(n)) for n in names)
    got = sorted(h.name for h in hyps)
    if got != sorted(HYPOTHESES):
        raise SpecError(f"{path}: 'hypotheses' must define exactly {', '.join(HYPOTHESES)}; got {', '.join(got)}")
    weights = doc.get("prior_weights", {h: 1.0 for h in HYPOTHESES})
    for h in HYPOTHESES:
        v = weights.get(h)
        if not isinstance(v, int | float) or v <= 0:
            raise SpecError(f"{path}: [prior_weights] {h} must be a positive number")
    shared_doc = doc.get("shared", {})
    shared = []
    for name in ("ceiling_fraction", "concentration", "beta_precision", "t_sigma"):
        if name not in shared_doc:
            raise SpecError(f"{path}: [shared] is missing '{name}'")
        shared.append((name, _prior(shared_doc[name], where=f"{path}: [shared] {name}")))
    t_nu = shared_doc.get("t_nu", 4.0)
    if not isinstance(t_nu, int | float) or t_nu <= 0:
        raise SpecError(f"{path}: [shared] t_nu must be a positive number")
    try:
        sampler = SamplerSpec(**doc.get("sampler", {}))
        diag_doc = dict(doc.get("diagnostics", {}))
        retries = tuple(RetrySpec(**r) for r in diag_doc.pop("retries", []))
        diagnostics = DiagnosticsSpec(**diag_doc, retries=retries)
        verdict = VerdictSpec(**doc.get("verdict", {}))
    except TypeError as exc:
        raise SpecError(f"{path}: {exc}") from None
    population = _population(doc.get("population", {}), where=f"{path}: [population]")
    if sampler.backend not in ("nutpie", "pymc", "numpyro"):
        raise SpecError(f"{path}: [sampler] backend must be nutpie, pymc or numpyro")
    if not 0 < verdict.smooth < verdict.emergent < 1:
        raise SpecError(f"{path}: [verdict] needs 0 < smooth < emergent < 1")
    return ModelSpec(
        hypotheses=hyps,
        prior_weights=tuple((h, float(weights[h])) for h in HYPOTHESES),
        shared=tuple(shared),
        t_nu=float(t_nu),
        sampler=sampler,
        diagnostics=diagnostics,
        verdict=verdict,
        population=population,
        source=str(path),
    )


def _population(doc: dict, *, where: str) -> PopulationSpec:
    if not doc:
        return PopulationSpec(enabled=False)
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SpecError(f"{where} 'enabled' must be true or false")
    draws = doc.get("draws_per_curve", 200)
    if not isinstance(draws, int) or draws < 50:
        raise SpecError(f"{where} 'draws_per_curve' must be an integer >= 50")
    conc = doc.get("rates_concentration", 1.0)
    if not isinstance(conc, int | float) or conc <= 0:
        raise SpecError(f"{where} 'rates_concentration' must be positive")
    priors = []
    for name in POPULATION_PRIORS:
        if name not in doc:
            raise SpecError(f"{where} is missing '{name}'")
        priors.append((name, _prior(doc[name], where=f"{where} {name}")))
    return PopulationSpec(enabled=enabled, draws_per_curve=draws, priors=tuple(priors),
                          rates_concentration=float(conc))


def _read_toml(path: Path) -> dict:
    if not path.is_file():
        raise SpecError(f"{path}: no such model spec file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None


def _load_hypothesis(path: Path) -> HypothesisSpec:
    doc = _read_toml(path)
    name = doc.get("name")
    if name not in HYPOTHESES:
        raise SpecError(f"{path}: 'name' must be one of {', '.join(HYPOTHESES)}")
    sections = {}
    for section in ("priors", "priors_student_t"):
        table = doc.get(section, {})
        for req in _REQUIRED_PRIORS[name]:
            if req not in table:
                raise SpecError(f"{path}: [{section}] is missing '{req}'")
        sections[section] = tuple(
            (k, _prior(v, where=f"{path}: [{section}] {k}")) for k, v in sorted(table.items())
        )
    extra = {k: doc[k] for k in ("width", "min_points_after", "min_points_before") if k in doc}
    if "width" in extra and not (isinstance(extra["width"], int | float) and extra["width"] > 0):
        raise SpecError(f"{path}: 'width' must be a positive number of decades")
    return HypothesisSpec(name=name, **sections, **extra)


def _prior(table: object, *, where: str) -> Prior:
    if not isinstance(table, dict) or "dist" not in table:
        raise SpecError(f"{where}: a prior is a table like {{ dist = \"normal\", mu = 0, sigma = 1 }}")
    dist = table["dist"]
    if dist not in _DIST_PARAMS:
        raise SpecError(f"{where}: unknown dist {dist!r} (one of {', '.join(_DIST_PARAMS)})")
    params = []
    for p in _DIST_PARAMS[dist]:
        v = table.get(p)
        if not isinstance(v, int | float) or not math.isfinite(v):
            raise SpecError(f"{where}: {dist} needs a finite number '{p}'")
        if p in ("sigma", "alpha", "beta") and v <= 0:
            raise SpecError(f"{where}: '{p}' must be positive")
        params.append((p, float(v)))
    unknown = set(table) - {"dist", *_DIST_PARAMS[dist]}
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    return Prior(dist=dist, params=tuple(params))
