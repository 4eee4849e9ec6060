"""Run an analysis on this machine: curves -> fits -> evidence -> verdicts -> files.

`fit(curves)` returns an `Analysis` (verdict table, parameter table, DataTree, prose summary).
`fit_to_directory` writes `verdicts.csv`, `parameters.csv`, `tasks.csv`, `posterior.nc` and
`run.json` atomically. Finished curves are checkpointed in `DIR/.phasefit-work/` as they complete
(keyed by the phasefit version, data, spec and options), so an interrupted run resumes where it
stopped; the work folder is removed once the outputs are whole. Progress goes to a rich console.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from phasefit.analyses.fit import analyse_curves
from phasefit.data.curves import CurveSet
from phasefit.errors import PhasefitError
from phasefit.inference.sampler import Sampler
from phasefit.models.spec import ModelSpec, load_spec
from phasefit.results.analysis import Analysis, assemble, curve_spec_hash
from phasefit.results.checkpoints import DiskCheckpoints, checkpoint_key
from phasefit.results.files import write_json_atomic, write_table_atomic
from phasefit.results.posterior import save_tree

OUTPUT_FILES = ("posterior.nc", "parameters.csv", "tasks.csv", "run.json", "verdicts.csv")
DEMO_TASKS = ("arithmetic_2da", "arithmetic_3ds", "word_unscrambling", "ipa_transliterate", "parsinlu_qa")


def _resolve_spec(models: str | Path | ModelSpec | None, **sampler) -> ModelSpec:
    spec = models if isinstance(models, ModelSpec) else load_spec(models)
    for key in ("chains", "draws", "tune"):
        v = sampler.get(key)
        if v is not None and v < 1:
            raise PhasefitError(f"--{key} must be at least 1, got {v}")
    return spec.with_sampler(**sampler)


class _RichProgress:
    """A `Progress` callback drawing a rich bar (curves done, elapsed, eta, current curve)."""

    def __init__(self, console: Console, *, enabled: bool):
        columns = (
            TextColumn("[bold]fitting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
        )
        self.console = console
        self.bar = Progress(*columns, console=console, disable=not enabled, transient=False)
        self.task = None

    def __call__(self, stage: str, *, label: str, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.bar.add_task("", total=total)
        self.bar.update(self.task, completed=done, description=label)
        if stage == "population":
            self.bar.update(self.task, completed=total, description="")
            self.bar.stop()
            if self.bar.disable:
                return
            self.console.print(
                "population stage: learning the rates and the break population from the curves", markup=False
            )


def fit(
    curves: CurveSet,
    *,
    models: str | Path | ModelSpec | None = None,
    backend: str | None = None,
    chains: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    seed: int | None = None,
    lfo_cutoff: float | None = None,
    progress: bool = True,
    console: Console | None = None,
    work_dir: Path | None = None,
) -> Analysis:
    """Fit every curve (compiling each hypothesis' model once) and decide its verdict.

    `lfo_cutoff` is in FLOPs (or parameters when the curves use `x_axis="params"`); by default each
    curve's leave-future-out cutoff is its posterior median break. With `work_dir`, finished curves
    are checkpointed there and reused by a rerun with the same phasefit version, data and spec.
    """
    from phasefit import __version__

    if len(curves) == 0:
        raise PhasefitError(f"{curves.source}: no curves to fit (all dropped: see `phasefit validate`)")
    if lfo_cutoff is not None and lfo_cutoff <= 0:
        raise PhasefitError(f"--lfo-cutoff must be positive, got {lfo_cutoff}")
    spec = _resolve_spec(models, backend=backend, chains=chains, draws=draws, tune=tune, seed=seed)
    store = None
    if work_dir is not None:
        key = checkpoint_key(
            version=__version__,
            data_hash=curves.data_hash,
            spec_hash=curve_spec_hash(spec),
            lfo_cutoff=lfo_cutoff,
            x_axis=curves.x_axis,
        )
        store = DiskCheckpoints(Path(work_dir) / key)
    console = console or Console(stderr=True)
    t0 = time.perf_counter()
    bar = _RichProgress(console, enabled=progress)
    with bar.bar:
        outcome = analyse_curves(curves, Sampler(spec), lfo_cutoff=lfo_cutoff, store=store, progress=bar)
    return assemble(curves, outcome, spec, lfo_cutoff=lfo_cutoff, seconds=time.perf_counter() - t0, argv=list(sys.argv))


def fit_to_directory(curves: CurveSet, *, out: Path, console: Console | None = None, **options) -> Analysis:
    """`fit` and write verdicts.csv, parameters.csv, tasks.csv, posterior.nc and run.json to `out`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PhasefitError(f"{out}: exists and is not a directory")
    models = options.get("models")
    if not isinstance(models, ModelSpec):  # a bad spec fails before anything is created
        options["models"] = load_spec(models)
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".phasefit-work"
    console = console or Console()
    analysis = fit(curves, console=console, work_dir=work, **options)
    # everything is written to a staging folder first, then moved in; verdicts.csv moves last
    staging = work / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    save_tree(analysis.posterior, staging / "posterior.nc")
    write_table_atomic(analysis.parameters, staging / "parameters.csv")
    write_table_atomic(analysis.tasks, staging / "tasks.csv")
    write_json_atomic(analysis.run, staging / "run.json")
    write_table_atomic(analysis.verdicts, staging / "verdicts.csv")
    for name in OUTPUT_FILES:
        os.replace(staging / name, out / name)
    shutil.rmtree(work, ignore_errors=True)
    console.print(analysis.summary(), markup=False, highlight=False)
    if len(analysis.tasks):
        console.print("\nper task (families pooled; onset from the curves called emergent):", markup=False)
        shown = analysis.tasks
        console.print(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"), markup=False)
    console.print(f"\nwrote {', '.join(str(out / n) for n in OUTPUT_FILES)}", markup=False)
    return analysis


def demo_curves() -> CurveSet:
    """The demo subset: ObsScaling's emergent-capability tasks across families (bundled real data)."""
    from phasefit.data import datasets
    from phasefit.data.curves import load_curves

    df = datasets.load("obsscaling_emergent")
    df = df[df["task"].isin(DEMO_TASKS) & (df["metric"] != "bleu")]
    return load_curves(df, x_axis="flops", min_points=5, name="dataset:obsscaling_emergent")


def run_demo(
    *,
    out: Path,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    console: Console | None = None,
) -> Analysis:
    console = console or Console()
    curves = demo_curves()
    console.print(
        f"phasefit demo: {len(curves)} curves from the bundled ObsScaling emergent-capability table "
        f"({', '.join(DEMO_TASKS)}), x = log10 training FLOPs",
        markup=False,
    )
    return fit_to_directory(curves, out=out, console=console, draws=draws, tune=tune, chains=chains)
