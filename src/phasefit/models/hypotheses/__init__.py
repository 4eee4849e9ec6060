"""The hypothesis registry: every competing hypothesis is a plug-in.

A hypothesis is one module in this package (or a third-party module registered under the entry
point group `phasefit.hypotheses`) defining a `Hypothesis` subclass decorated with `@register`, and
one TOML file with its priors (see `models/toml/*.toml`). The module gives its parameters, its
options, and its linear predictor eta(x) written once for both PyMC and NumPy (`xp` is `PYTENSOR`
or `NUMPY`). Nothing else in phasefit names a hypothesis, except the evidence that compares the
`breakpoint` hypothesis against the others.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar

import numpy as np
from scipy import special

from phasefit.errors import SpecError


@dataclass(frozen=True)
class MathBackend:
    """The few functions a mean function needs, for NumPy or PyTensor."""

    name: str
    softplus: Any
    exp: Any
    log: Any
    sigmoid: Any
    log1mexp: Any  # log(1 - exp(z)) for z < 0, accurate near 0


def _np_log1mexp(z):
    with np.errstate(divide="ignore"):  # z = 0 (q rounds to 1): -inf, as PyTensor's
        return np.log(-np.expm1(z))


NUMPY = MathBackend("numpy", lambda z: np.logaddexp(0.0, z), np.exp, np.log, special.expit, _np_log1mexp)


def _pytensor_backend() -> MathBackend:
    import pytensor.tensor as pt

    return MathBackend("pytensor", pt.softplus, pt.exp, pt.log, pt.sigmoid, pt.log1mexp)


class Hypothesis:
    """Base class of a hypothesis plug-in.

    `params` are the free parameters, each with a prior in the hypothesis' TOML (`[priors]`, and
    `[priors_student_t]` for unbounded scores); `options` are fixed settings with defaults that the
    TOML may override; `derived` are deterministic quantities kept in the posterior. `uses_ceiling`:
    whether the curve may plateau below 1 (a shared nuisance parameter); `uses_range`: whether it
    places a feature (a break) inside the curve's admissible range `[range_lo, range_hi]`;
    `laplace_proposal`: whether its posterior on the unconstrained scale is close to a Gaussian for any
    curve (one mode, little skew), so that importance sampling may start from a Laplace approximation
    instead of a NUTS pilot. A second mode, or a long one-sided tail, is what the importance weights
    of a few thousand draws can miss: declare it only when measured so.
    """

    name: ClassVar[str]
    params: ClassVar[tuple[str, ...]]
    derived: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[Mapping[str, float]] = {}
    uses_ceiling: ClassVar[bool] = True
    uses_range: ClassVar[bool] = False
    laplace_proposal: ClassVar[bool] = False
    summary: ClassVar[str] = ""

    def __init__(self, options: Mapping[str, float] | None = None):
        self.opts = {**self.options, **(options or {})}

    def deterministics(self, p: Mapping[str, Any], data: Mapping[str, Any], xp: MathBackend) -> dict[str, Any]:
        """Derived quantities from the free parameters (and the curve's data), e.g. the break."""
        return {}

    def eta(self, x: Any, p: Mapping[str, Any], data: Mapping[str, Any], xp: MathBackend) -> Any:
        """The linear predictor at centred x (log-odds, or the standardised score for Student-t)."""
        raise NotImplementedError

    def admissible_range(self, xs: np.ndarray) -> tuple[float, float]:
        """Where this hypothesis may place its feature, given the sorted centred x of a curve."""
        return float(xs[0]), float(xs[-1])

    def convex_in_x(self, p: Mapping[str, np.ndarray]) -> np.ndarray:
        """Per draw (arrays of `p`, with the derived quantities): whether eta is convex in x. Where it
        is, a curve below a level at its smallest scale stays above it once it has crossed it, so the
        first crossing (the onset) can be found by bisection. Not declared (False) by default."""
        return np.zeros(np.shape(next(iter(p.values()))), bool)


_REGISTRY: dict[str, type[Hypothesis]] = {}
_DISCOVERED = False


def register(cls: type[Hypothesis]) -> type[Hypothesis]:
    """Class decorator: make a hypothesis available to specs by its `name`."""
    if not getattr(cls, "name", None) or not isinstance(cls.params, tuple):
        raise TypeError(f"{cls.__name__}: a hypothesis needs a `name` and a tuple of `params`")
    other = _REGISTRY.get(cls.name)
    if other is not None and other is not cls:
        raise TypeError(f"hypothesis {cls.name!r} is registered twice ({other.__module__}, {cls.__module__})")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}")
    for ep in sorted(entry_points(group="phasefit.hypotheses"), key=lambda e: e.name):
        ep.load()


def registered() -> dict[str, type[Hypothesis]]:
    """Every registered hypothesis by name (bundled modules first, then entry points)."""
    _discover()
    return dict(_REGISTRY)


def hypothesis_class(name: str) -> type[Hypothesis]:
    reg = registered()
    if name not in reg:
        raise SpecError(f"unknown hypothesis {name!r} (registered: {', '.join(sorted(reg))})")
    return reg[name]


__all__ = ["NUMPY", "Hypothesis", "MathBackend", "hypothesis_class", "register", "registered"]
