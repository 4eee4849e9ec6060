"""The fit analysis: every curve's fits, evidence and verdict row, then the population stage.

Pure computation: the caller passes the sampler, where finished curves are kept (`CheckpointStore`),
where each curve's draws go (`PosteriorSink`) and how progress is reported (`Progress`); nothing
here writes files or prints. The same `analyse_curve` runs unchanged in a local loop or on a remote
worker. Once a curve's draws are handed to the sink, only a slim copy of its result is kept
(`curve.slim`: what the population stage and the tables read), so that memory does not grow with
the posterior of every curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from phasefit.analyses.curve import CurveResult, analyse_curve, slim
from phasefit.analyses.population import PopulationResult, draws_per_curve, fit_population
from phasefit.data.curves import Curve, CurveSet
from phasefit.evidence.sensitivity import Sensitivity, prior_sensitivity
from phasefit.inference.sampler import Sampler
from phasefit.models.spec import EMERGENT


class CheckpointStore(Protocol):
    """Where finished curves are kept so that an interrupted run resumes."""

    def has(self, curve: Curve) -> bool: ...

    def load(self, curve: Curve) -> CurveResult | None: ...

    def save(self, result: CurveResult) -> None: ...


class PosteriorSink(Protocol):
    """Takes each curve's full result, in curve order, to keep its draws (e.g. in a posterior file)."""

    def add(self, result: CurveResult) -> None: ...


class Progress(Protocol):
    """Told when a curve starts (`done` finished so far; stage "curve", or "stored" for a curve whose
    result is read back from the checkpoints) and when the population stage starts."""

    def __call__(self, stage: str, *, label: str, done: int, total: int) -> None: ...


@dataclass(frozen=True, kw_only=True)
class FitOutcome:
    results: tuple[CurveResult, ...]  # slim (`curve.slim`): the full draws went to the sink
    population: PopulationResult | None
    taus: dict[int, np.ndarray]  # per curve: every draw of the break (log10 axis), for the task table
    compile_seconds: dict[str, float]
    sensitivity: dict[int, Sensitivity]  # per curve (not failed): its evidence under power-scaled priors


def analyse_curves(
    curves: CurveSet,
    sampler: Sampler,
    *,
    lfo_cutoff: float | None = None,
    store: CheckpointStore | None = None,
    progress: Progress | None = None,
    sink: PosteriorSink | None = None,
) -> FitOutcome:
    """Analyse every curve (reusing stored ones), hand its draws to `sink`, then pool them.
    `lfo_cutoff` in FLOPs or params."""
    cutoff = math.log10(lfo_cutoff) if lfo_cutoff is not None else None
    spec = sampler.spec
    results: list[CurveResult] = []
    taus: dict[int, np.ndarray] = {}
    sensitivity: dict[int, Sensitivity] = {}
    keep = draws_per_curve(spec, len(curves))  # what the population stage will read of each curve
    for i, curve in enumerate(curves):
        result = store.load(curve) if store is not None else None
        if progress is not None:
            progress("curve" if result is None else "stored", label=curve.label, done=i, total=len(curves))
        if result is None:
            result = analyse_curve(curve, sampler, x_axis=curves.x_axis, lfo_cutoff=cutoff)
            if store is not None:
                store.save(result)
        if sink is not None:
            sink.add(result)
        taus[result.index] = result.fits[EMERGENT].draws["tau"].reshape(-1)
        if result.row["verdict"] != "failed":
            sensitivity[result.index] = prior_sensitivity(
                {h: f.draws for h, f in result.fits.items()},
                {h: result.row[f"log_z_{h}"] for h in spec.names},
                spec,
                student_t=result.row["likelihood"] == "student_t",
                p_above_floor=result.row["p_above_floor"],
            )
        results.append(slim(result, draws=keep))
    population = None
    if spec.population.enabled and len(results) >= 2:
        if progress is not None:
            progress("population", label="", done=len(curves), total=len(curves))
        population = fit_population(curves, results, spec, seed=spec.sampler.seed)
    return FitOutcome(
        results=tuple(results),
        population=population,
        taus=taus,
        compile_seconds=dict(sampler.compile_seconds),
        sensitivity=sensitivity,
    )


__all__: Sequence[str] = ("CheckpointStore", "FitOutcome", "PosteriorSink", "Progress", "analyse_curves")
