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
from phasefit.models.hypotheses import Hypothesis, hypothesis_class, registered
from phasefit.models.priors import DISTRIBUTIONS, Prior

# the bundled hypotheses in their default order; a spec may name any registered hypothesis
HYPOTHESES: tuple[str, ...] = ("absent", "smooth", "breakpoint")
EMERGENT = "breakpoint"  # the hypothesis whose probability is p_emergent
Backend = Literal["nutpie", "pymc", "numpyro"]


@dataclass(frozen=True)
class HypothesisSpec:
    """One hypothesis' TOML: its priors and the options its plug-in declares (e.g. a break's width)."""

    name: str
    priors: tuple[tuple[str, Prior], ...]
    priors_student_t: tuple[tuple[str, Prior], ...]
    options: tuple[tuple[str, float], ...] = ()

    def option(self, name: str) -> float:
        return dict(self.options)[name]

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
    # "importance": a short NUTS pilot, then importance sampling from a Student-t fitted to it (full NUTS
    # where its checks fail); "nuts": every fit sampled with NUTS at `tune` / `draws` (docs/models.md)
    method: str = "importance"
    # a hypothesis whose plug-in declares `laplace_proposal` starts from a Laplace approximation instead of the pilot
    # (the pilot where its weights fail)
    laplace: bool = True
    pilot_chains: int = 2
    pilot_tune: int = 300
    pilot_draws: int = 400
    proposal_draws: int = 4000


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
    pilot_rhat_max: float = 1.1  # the importance pilot's chains must agree this well (its draws only shape a proposal)


@dataclass(frozen=True)
class EvidenceSpec:
    """How exact LOO points and leave-future-out training posteriors are computed (docs/verdicts.md)."""

    refits: str = "importance"  # "importance": importance sampling, NUTS where unreliable; "exact": always NUTS
    importance_draws: int = 8000  # proposal draws per importance-sampling round (benchmarks/importance_refits.py)


@dataclass(frozen=True)
class VerdictSpec:
    emergent: float = 0.9
    smooth: float = 0.1
    absent: float = 0.5
    onset_margin: float = 0.05  # the onset: expected score first above floor + margin * (1 - floor)


@dataclass(frozen=True)
class PopulationSpec:
    """The hierarchy: which parameters' priors are learned from the curves, and its hyperpriors
    (see phasefit.analyses.population)."""

    enabled: bool = True
    decide: bool = False  # whether the pooled probabilities set the verdicts (docs/models.md, "Hierarchy")
    draws_per_curve: int = 1000
    hyper_draws: int = 200
    min_curves: int = 10
    learn: tuple[str, ...] = ()
    priors: tuple[tuple[str, Prior], ...] = ()
    rates_concentration: float = 1.0

    def prior(self, name: str) -> Prior:
        return dict(self.priors)[name]


POPULATION_PRIORS = ("task_break_sd", "family_offset_sd", "curve_break_sd")


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines an analysis' models; serialisable to run.json."""

    hypotheses: tuple[HypothesisSpec, ...]
    prior_weights: tuple[tuple[str, float], ...]
    shared: tuple[tuple[str, Prior], ...]
    t_nu: float
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    diagnostics: DiagnosticsSpec = field(default_factory=DiagnosticsSpec)
    evidence: EvidenceSpec = field(default_factory=EvidenceSpec)
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

    @property
    def names(self) -> tuple[str, ...]:
        """The competing hypotheses, in the spec's order."""
        return tuple(h.name for h in self.hypotheses)

    def plugin(self, name: str) -> Hypothesis:
        """The hypothesis' plug-in, configured with the spec's options."""
        return hypothesis_class(name)(dict(self.hypothesis(name).options))

    def plugins(self) -> tuple[Hypothesis, ...]:
        return tuple(self.plugin(n) for n in self.names)

    def log_weights(self) -> tuple[float, ...]:
        """Normalised log prior weights in the order of `names`."""
        w = dict(self.prior_weights)
        total = sum(w[h] for h in self.names)
        return tuple(math.log(w[h] / total) for h in self.names)

    def with_bundled(self, *names: str) -> ModelSpec:
        """A copy that also holds the bundled hypotheses `names` (their TOMLs in `models/toml/`), at
        prior weight 1, for analyses that fit them beside the competing ones (the mirage stage)."""
        extra = tuple(_load_hypothesis(default_spec_path().parent / f"{n}.toml") for n in names if n not in self.names)
        weights = self.prior_weights + tuple((h.name, 1.0) for h in extra)
        return replace(self, hypotheses=self.hypotheses + extra, prior_weights=weights)

    def with_sampler(self, **changes) -> ModelSpec:
        """A copy with sampler settings changed (None values are ignored)."""
        fields = {**asdict(self.sampler), **{k: v for k, v in changes.items() if v is not None}}
        return replace(self, sampler=SamplerSpec(**fields))

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


def spec_from_dict(d: dict) -> ModelSpec:
    """The `ModelSpec` a run recorded (`run.json` "spec", written by `ModelSpec.to_dict`): what a
    report needs to evaluate a finished run's hypotheses without their TOML files."""

    def prior(p) -> Prior:
        return Prior(p["dist"], tuple((k, float(v)) for k, v in p["params"]))

    def pairs(items) -> tuple:
        return tuple((name, prior(p)) for name, p in items)

    try:
        hyps = tuple(
            HypothesisSpec(
                name=h["name"],
                priors=pairs(h["priors"]),
                priors_student_t=pairs(h["priors_student_t"]),
                options=tuple((k, float(v)) for k, v in h["options"]),
            )
            for h in d["hypotheses"]
        )
        diag = dict(d["diagnostics"])
        pop = dict(d["population"])
        return ModelSpec(
            hypotheses=hyps,
            prior_weights=tuple((k, float(v)) for k, v in d["prior_weights"]),
            shared=pairs(d["shared"]),
            t_nu=float(d["t_nu"]),
            sampler=SamplerSpec(**d["sampler"]),
            diagnostics=DiagnosticsSpec(**{**diag, "retries": tuple(RetrySpec(**r) for r in diag["retries"])}),
            evidence=EvidenceSpec(**d.get("evidence", {})),  # runs before the [evidence] table: the default
            verdict=VerdictSpec(**d["verdict"]),
            population=PopulationSpec(**{**pop, "learn": tuple(pop["learn"]), "priors": pairs(pop["priors"])}),
            source=d.get("source", "run.json"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"the recorded spec is incomplete or from another version ({exc!r})") from None


def default_spec_path() -> Path:
    return Path(str(resources.files("phasefit.models") / "toml" / "default.toml"))


def load_spec(path: str | Path | None = None) -> ModelSpec:
    """Load a model spec TOML (the bundled `models/default.toml` when `path` is None)."""
    path = Path(path) if path is not None else default_spec_path()
    doc = _read_toml(path)
    _check_spec_doc(doc, path)
    names = doc.get("hypotheses")
    if not isinstance(names, list) or not names:
        raise SpecError(f"{path}: 'hypotheses' must list the hypothesis TOML files")
    hyps = tuple(_load_hypothesis(path.parent / str(n)) for n in names)
    got = [h.name for h in hyps]
    if len(set(got)) != len(got):
        raise SpecError(f"{path}: 'hypotheses' names a hypothesis twice ({', '.join(got)})")
    if EMERGENT not in got or len(got) < 2:
        raise SpecError(
            f"{path}: 'hypotheses' must include '{EMERGENT}' and at least one alternative; got {', '.join(got)}"
        )
    _check_prior_weights(doc, path, got)
    weights = doc.get("prior_weights", {h: 1.0 for h in got})
    for h in got:
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
        evidence = EvidenceSpec(**doc.get("evidence", {}))
        verdict = VerdictSpec(**doc.get("verdict", {}))
    except TypeError as exc:
        raise SpecError(f"{path}: {exc}") from None
    population = _population(doc.get("population", {}), where=f"{path}: [population]", hypotheses=hyps)
    if sampler.backend not in ("nutpie", "pymc", "numpyro"):
        raise SpecError(f"{path}: [sampler] backend must be nutpie, pymc or numpyro")
    if not 0 < verdict.smooth < verdict.emergent < 1:
        raise SpecError(f"{path}: [verdict] needs 0 < smooth < emergent < 1")
    return ModelSpec(
        hypotheses=hyps,
        prior_weights=tuple((h, float(weights[h])) for h in got),
        shared=tuple(shared),
        t_nu=float(t_nu),
        sampler=sampler,
        diagnostics=diagnostics,
        evidence=evidence,
        verdict=verdict,
        population=population,
        source=str(path),
    )


def _population(doc: dict, *, where: str, hypotheses: tuple[HypothesisSpec, ...]) -> PopulationSpec:
    if not doc:
        return PopulationSpec(enabled=False)
    enabled, decide = doc.get("enabled", True), doc.get("decide", False)
    for key, value in (("enabled", enabled), ("decide", decide)):
        if not isinstance(value, bool):
            raise SpecError(f"{where} '{key}' must be true or false")
    ints = {}
    for key, default, least in (("draws_per_curve", 1000, 50), ("hyper_draws", 200, 20), ("min_curves", 10, 2)):
        value = doc.get(key, default)
        if not _is_int(value) or value < least:
            raise SpecError(f"{where} '{key}' must be an integer >= {least}")
        ints[key] = value
    conc = doc.get("rates_concentration", 1.0)
    if not _is_number(conc) or conc <= 0:
        raise SpecError(f"{where} 'rates_concentration' must be positive")
    learn = doc.get("learn", [])
    if not isinstance(learn, list) or not all(isinstance(n, str) for n in learn):
        raise SpecError(f"{where} 'learn' must be a list of \"hypothesis.parameter\" names")
    own = {f"{h.name}.{p}": h for h in hypotheses for p, _ in h.priors}
    for name in learn:
        if name not in own:
            raise SpecError(
                f"{where} 'learn' names {name!r}, not a hypothesis parameter (one of {', '.join(sorted(own))})"
            )
        if name.endswith(".tau_fraction"):
            raise SpecError(
                f"{where} 'learn' names {name!r}: the break is always learned (task, family and curve levels)"
            )
        if own[name].prior(name.split(".", 1)[1]).support == "unit":
            raise SpecError(f"{where} 'learn' names {name!r}: only parameters with a real or positive support")
    if len(set(learn)) != len(learn):
        raise SpecError(f"{where} 'learn' names a parameter twice")
    priors = []
    for name in POPULATION_PRIORS:
        if name not in doc:
            raise SpecError(f"{where} is missing '{name}'")
        prior = _prior(doc[name], where=f"{where} {name}")
        if prior.dist != "halfnormal":
            raise SpecError(f"{where} {name} must be a halfnormal (its sigma scales a half-Student-t hyperprior)")
        priors.append((name, prior))
    return PopulationSpec(
        enabled=enabled,
        decide=decide,
        learn=tuple(learn),
        priors=tuple(priors),
        rates_concentration=float(conc),
        **ints,
    )


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
    if not isinstance(name, str):
        raise SpecError(f"{path}: 'name' must name a registered hypothesis ({', '.join(sorted(registered()))})")
    try:
        plugin = hypothesis_class(name)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    sections = {}
    for section in ("priors", "priors_student_t"):
        table = doc.get(section, {})
        for req in plugin.params:
            if req not in table:
                raise SpecError(f"{path}: [{section}] is missing '{req}'")
        sections[section] = tuple((k, _prior(v, where=f"{path}: [{section}] {k}")) for k, v in sorted(table.items()))
    unknown = set(doc) - {"name", "priors", "priors_student_t", *plugin.options}
    if unknown:
        raise SpecError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))} for hypothesis {name!r} "
            f"(options: {', '.join(plugin.options) or 'none'})"
        )
    options = []
    for key, default in plugin.options.items():
        v = doc.get(key, default)
        if (
            not isinstance(v, int | float)
            or isinstance(v, bool)
            or not math.isfinite(v)
            or v < 0
            or (isinstance(default, int) and v != int(v))
            or (key == "width" and v <= 0)
        ):
            raise SpecError(
                f"{path}: '{key}' must be a {'whole' if isinstance(default, int) else 'positive'} number, got {v!r}"
            )
        options.append((key, float(v)))
    return HypothesisSpec(name=name, **sections, options=tuple(options))


def _prior(table: object, *, where: str) -> Prior:
    if not isinstance(table, dict) or "dist" not in table:
        raise SpecError(f'{where}: a prior is a table like {{ dist = "normal", mu = 0, sigma = 1 }}')
    dist = table["dist"]
    if dist not in DISTRIBUTIONS:
        raise SpecError(f"{where}: unknown dist {dist!r} (one of {', '.join(DISTRIBUTIONS)})")
    params = []
    for p in DISTRIBUTIONS[dist].params:
        v = table.get(p)
        if not isinstance(v, int | float) or not math.isfinite(v):
            raise SpecError(f"{where}: {dist} needs a finite number '{p}'")
        if p in DISTRIBUTIONS[dist].positive and v <= 0:
            raise SpecError(f"{where}: '{p}' must be positive")
        params.append((p, float(v)))
    unknown = set(table) - {"dist", *DISTRIBUTIONS[dist].params}
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    return Prior(dist=dist, params=tuple(params))


# ------------------------------------------------------------------------ checks of a spec's keys and values

# the top-level tables of a model spec and the keys each may hold ([prior_weights]: the spec's hypotheses,
# checked by _check_prior_weights; [sampler], [diagnostics], [verdict]: the fields of their dataclasses)
_SPEC_TABLES: dict[str, tuple[str, ...] | None] = {
    "prior_weights": None,
    "shared": ("ceiling_fraction", "concentration", "beta_precision", "t_sigma", "t_nu"),
    "sampler": None,
    "diagnostics": None,
    "evidence": None,
    "verdict": None,
    "population": (
        "enabled",
        "decide",
        "draws_per_curve",
        "hyper_draws",
        "min_curves",
        "learn",
        "rates_concentration",
        *POPULATION_PRIORS,
    ),
}
_SPEC_KEYS = ("hypotheses",)  # top-level keys that are not tables


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# (test, what the value must be) per key; a key of a known table without a rule is only type-checked by
# the code that reads it
_BACKENDS = ("nutpie", "pymc", "numpyro")
_VALUE_RULES: dict[str, dict[str, tuple]] = {
    "sampler": {
        "backend": (lambda v: v in _BACKENDS, f"one of {', '.join(_BACKENDS)}"),
        "chains": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        "draws": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        "tune": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
        "target_accept": (lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
        "seed": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
        "method": (lambda v: v in ("importance", "nuts"), '"importance" or "nuts"'),
        "laplace": (lambda v: isinstance(v, bool), "true or false"),
        "pilot_chains": (lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
        "pilot_tune": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
        "pilot_draws": (lambda v: _is_int(v) and v >= 20, "an integer >= 20"),
        "proposal_draws": (lambda v: _is_int(v) and v >= 1000, "an integer >= 1000"),
    },
    "diagnostics": {
        "rhat_max": (lambda v: _is_number(v) and v >= 1, "a number >= 1"),
        "pilot_rhat_max": (lambda v: _is_number(v) and v >= 1, "a number >= 1"),
        "ess_bulk_min": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        "ess_tail_min": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        "max_divergences": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
        "max_treedepth_share": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
        "retries": (
            lambda v: isinstance(v, list),
            "a list of tables like { target_accept = 0.99, tune = 2000, draws = 1000 }",
        ),
    },
    "evidence": {
        "refits": (lambda v: v in ("importance", "exact"), '"importance" or "exact"'),
        "importance_draws": (lambda v: _is_int(v) and v >= 1000, "an integer >= 1000"),
    },
    "verdict": {
        "emergent": (lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
        "smooth": (lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
        "absent": (lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    },
}
_RETRY_RULES = {
    "target_accept": (lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    "tune": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "draws": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
}


def _unknown(kind: str, name: str, known: tuple[str, ...] | list[str]) -> str:
    """The message for a name not in `known`: the closest known name, or all of them when none is close."""
    import difflib

    names = sorted(str(k) for k in known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(names)}"
    return f"unknown {kind} {name!r} ({hint})"


def _table_keys(section: str) -> tuple[str, ...]:
    from dataclasses import fields

    keys = _SPEC_TABLES[section]
    if keys is not None:
        return keys
    cls = {"sampler": SamplerSpec, "diagnostics": DiagnosticsSpec, "evidence": EvidenceSpec, "verdict": VerdictSpec}[
        section
    ]
    return tuple(f.name for f in fields(cls))


def _check_spec_doc(doc: dict, path: Path) -> None:
    """Unknown or misspelt sections and keys, and values of the wrong type or out of range, in a model spec.

    One-line `SpecError`s naming the file, the table and the key, e.g.
    `default.toml: [sampler] chains must be an integer >= 1, got 'four'` or
    `default.toml: unknown section 'sampeler' (did you mean 'sampler'?)`.
    """
    for key, value in doc.items():
        if key in _SPEC_KEYS:
            continue
        if key not in _SPEC_TABLES:
            kind = "section" if isinstance(value, dict) else "key"
            raise SpecError(f"{path}: {_unknown(kind, key, (*_SPEC_TABLES, *_SPEC_KEYS))}")
        if not isinstance(value, dict):
            raise SpecError(f"{path}: [{key}] must be a table ([{key}] followed by key = value lines), got {value!r}")
        if key == "prior_weights":
            continue
        known = _table_keys(key)
        for name in value:
            if name not in known:
                raise SpecError(f"{path}: [{key}] {_unknown('key', name, known)}")
        for name, (ok, what) in _VALUE_RULES.get(key, {}).items():
            if name in value and not ok(value[name]):
                raise SpecError(f"{path}: [{key}] {name} must be {what}, got {value[name]!r}")
    for i, retry in enumerate(doc.get("diagnostics", {}).get("retries", [])):
        where = f"{path}: [diagnostics] retries[{i}]"
        if not isinstance(retry, dict):
            raise SpecError(
                f"{where} must be a table like {{ target_accept = 0.99, tune = 2000, draws = 1000 }}, got {retry!r}"
            )
        for name in retry:
            if name not in _RETRY_RULES:
                raise SpecError(f"{where}: {_unknown('key', name, tuple(_RETRY_RULES))}")
        for name, (ok, what) in _RETRY_RULES.items():
            if name not in retry:
                raise SpecError(f"{where} is missing '{name}'")
            if not ok(retry[name]):
                raise SpecError(f"{where} {name} must be {what}, got {retry[name]!r}")


def _check_prior_weights(doc: dict, path: Path, names: list[str]) -> None:
    """[prior_weights] names only the spec's hypotheses, each with a positive number."""
    for name, value in doc.get("prior_weights", {}).items():
        if name not in names:
            raise SpecError(
                f"{path}: [prior_weights] {_unknown('hypothesis', name, names)}; "
                f"the spec's hypotheses are {', '.join(names)}"
            )
        if not _is_number(value) or value <= 0:
            raise SpecError(f"{path}: [prior_weights] {name} must be a positive number, got {value!r}")


# ------------------------------------------------------------------------------------------------ export


def export_spec(directory: str | Path, *, force: bool = False) -> Path:
    """Write an editable copy of the bundled model spec into `directory` and return the copy's `default.toml`.

    The copy is `default.toml` and every hypothesis TOML it lists, byte for byte, so that
    `load_spec(export_spec("my-models"))` loads the bundled spec and `--models my-models/default.toml`
    runs it once edited. `directory` is created (with its parents) when missing. One that exists and is
    not empty is refused with a `PhasefitError`, unless `force`: the spec's files are then overwritten and
    anything else in it is left alone.
    """
    from phasefit.errors import PhasefitError

    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise PhasefitError(f"{target}: exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise PhasefitError(
            f"{target}: exists and is not empty; choose a new directory, or overwrite the spec "
            "files in it with --force (Python: force=True)"
        )
    source = default_spec_path()
    names = ["default.toml", *(str(n) for n in _read_toml(source).get("hypotheses", []))]
    for name in names:
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((source.parent / name).read_bytes())  # new files get the user's umask, not the install's
    return target / "default.toml"
