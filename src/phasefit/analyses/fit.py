"""The fit analysis: every curve's fits, evidence and verdict row, then the population stage.

Pure computation: the caller passes the sampler, where finished curves are kept (`CheckpointStore`)
and how progress is reported (`Progress`); nothing here writes files or prints. The same
`analyse_curve` runs unchanged in a local loop or on a remote worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from phasefit.analyses.curve import CurveResult, analyse_curve
from phasefit.analyses.population import PopulationResult, fit_population
from phasefit.data.curves import Curve, CurveSet
from phasefit.evidence.sensitivity import Sensitivity, prior_sensitivity
from phasefit.inference.sampler import Sampler


class CheckpointStore(Protocol):
    """Where finished curves are kept so that an interrupted run resumes."""

    def load(self, curve: Curve) -> CurveResult | None: ...

    def save(self, result: CurveResult) -> None: ...


class Progress(Protocol):
    """Told when a curve starts (`done` finished so far) and when the population stage starts."""

    def __call__(self, stage: str, *, label: str, done: int, total: int) -> None: ...


@dataclass(frozen=True, kw_only=True)
class FitOutcome:
    results: tuple[CurveResult, ...]
    population: PopulationResult | None
    compile_seconds: dict[str, float]
    sensitivity: dict[int, Sensitivity]  # per curve (not failed): its evidence under power-scaled priors


def analyse_curves(
    curves: CurveSet,
    sampler: Sampler,
    *,
    lfo_cutoff: float | None = None,
    store: CheckpointStore | None = None,
    progress: Progress | None = None,
) -> FitOutcome:
    """Analyse every curve (reusing stored ones), then pool them. `lfo_cutoff` in FLOPs or params."""
    cutoff = math.log10(lfo_cutoff) if lfo_cutoff is not None else None
    results: list[CurveResult] = []
    for i, curve in enumerate(curves):
        if progress is not None:
            progress("curve", label=curve.label, done=i, total=len(curves))
        result = store.load(curve) if store is not None else None
        if result is None:
            result = analyse_curve(curve, sampler, x_axis=curves.x_axis, lfo_cutoff=cutoff)
            if store is not None:
                store.save(result)
        results.append(result)
    population = None
    spec = sampler.spec
    if spec.population.enabled and len(results) >= 2:
        if progress is not None:
            progress("population", label="", done=len(curves), total=len(curves))
        population = fit_population(curves, results, spec, seed=spec.sampler.seed)
    sensitivity = {
        r.index: prior_sensitivity(
            {h: f.draws for h, f in r.fits.items()},
            {h: r.row[f"log_z_{h}"] for h in spec.names},
            spec,
            student_t=r.row["likelihood"] == "student_t",
            p_above_floor=r.row["p_above_floor"],
        )
        for r in results
        if r.row["verdict"] != "failed"
    }
    return FitOutcome(
        results=tuple(results),
        population=population,
        compile_seconds=dict(sampler.compile_seconds),
        sensitivity=sensitivity,
    )


__all__: Sequence[str] = ("CheckpointStore", "FitOutcome", "Progress", "analyse_curves")
