"""Run an intervention analysis on this machine: pairs of arms -> joint fits -> intervention.csv.

`intervention(curves, baseline=..., treatment=...)` returns the tables in memory;
`intervention_to_directory` writes `intervention.csv`, `intervention_curves.csv` (what each figure
draws) and `intervention.json` (the run record) atomically, after checkpointing every finished pair
in `DIR/.phasefit-work/` (safe `.npz` files, keyed by version, data, spec, arms and margin), so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from phasefit.analyses.intervention import (
    HYPOTHESES,
    ONSET_MARGIN,
    WEIGHTS,
    InterventionResult,
    decide_pair,
    figure_table,
    fit_pair,
    intervention_pairs,
    intervention_spec,
    intervention_table,
    pair_probabilities,
)
from phasefit.data.curves import CurveSet, as_curve_set
from phasefit.errors import PhasefitError
from phasefit.inference.sampler import Sampler
from phasefit.results.analysis import curve_spec_hash, versions
from phasefit.results.checkpoints import PairCheckpoints, checkpoint_key
from phasefit.results.files import write_json_atomic, write_table_atomic
from phasefit.runner.local import _resolve_spec, _RichProgress

INTERVENTION_FILES = ("intervention.json", "intervention_curves.csv", "intervention.csv")


@dataclass(frozen=True, kw_only=True)
class Intervention:
    """An intervention analysis: `table` (intervention.csv), `curves` (intervention_curves.csv),
    `run` (intervention.json) and the per-pair results."""

    table: pd.DataFrame
    curves: pd.DataFrame
    run: dict
    results: tuple[InterventionResult, ...]

    def summary(self) -> str:
        """Counts by verdict, the learned weights, then one line per pair."""
        return summary_text(self.table, weights=self.run.get("hypothesis_weights"))


def intervention(
    curves: CurveSet | pd.DataFrame | str | Path,
    *,
    baseline: str,
    treatment: str,
    margin: float = ONSET_MARGIN,
    weights: str = "learned",
    models=None,
    backend: str | None = None,
    chains: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    seed: int | None = None,
    progress: bool = True,
    console: Console | None = None,
    work_dir: Path | None = None,
) -> Intervention:
    """Fit every (task, metric, family) measured under both arms and decide whether the gain of
    `treatment` over `baseline` (conditions) is emergent. `margin`: the gain (log-odds) the onset
    must reach. `weights`: the hypotheses' prior weights, `learned` from the run's pairs or `even`.
    With `work_dir`, finished pairs are checkpointed there and reused by a rerun (whatever `weights`)."""
    from phasefit._version import code_stamp

    curves = as_curve_set(curves, where="phasefit.intervention")
    if not margin > 0:
        raise PhasefitError(f"--margin must be positive (log-odds), got {margin}")
    if weights not in WEIGHTS:
        raise PhasefitError(f"--weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    try:
        pairs, skipped = intervention_pairs(curves, baseline=baseline, treatment=treatment)
    except ValueError as exc:
        raise PhasefitError(str(exc)) from None
    if not pairs:
        why = "; ".join(f"{label}: {reason}" for label, reason in skipped[:3]) or "no curve has both arms"
        raise PhasefitError(f"{curves.source}: no task, metric and family is measured under both arms ({why})")
    spec = intervention_spec(_resolve_spec(models, backend=backend, chains=chains, draws=draws, tune=tune, seed=seed))
    store = None
    if work_dir is not None:
        key = checkpoint_key(
            version=code_stamp(),
            data_hash=curves.data_hash,
            spec_hash=curve_spec_hash(spec) + f"|{baseline}|{treatment}|{margin!r}",
            lfo_cutoff=None,
            x_axis=curves.x_axis,
        )
        store = PairCheckpoints(Path(work_dir) / f"intervention-{key}")
    console = console or Console(stderr=True)
    bar = _RichProgress(console, enabled=progress, title="intervention", unit="pairs")
    sampler = Sampler(spec)
    t0 = time.perf_counter()
    fits = []
    with bar.bar:
        for j, (b, t) in enumerate(pairs):
            base, treat = curves.curve(b), curves.curve(t)
            label = f"{base.task}, {base.family}, {base.metric}"
            bar("curve", label=label, done=j, total=len(pairs))
            fit = store.load(label, b) if store is not None else None
            if fit is None:
                try:
                    fit = fit_pair(base, treat, sampler, x_axis=curves.x_axis, margin=margin)
                except ValueError as exc:  # e.g. fewer than 4 models in both arms
                    skipped.append((label, str(exc)))
                    continue
                if store is not None:
                    store.save(b, fit)
            fits.append(fit)
        bar("done", label="", done=len(pairs), total=len(pairs))
    log_z = np.array([f.log_z for f in fits]).reshape(len(fits), len(HYPOTHESES))
    k_hat = np.array([f.k_hat for f in fits]).reshape(log_z.shape)
    probability, weighing = pair_probabilities(log_z, k_hat, weights=weights, seed=spec.sampler.seed)
    results = [decide_pair(f, p, thresholds=spec.verdict) for f, p in zip(fits, probability, strict=True)]
    table = intervention_table(results)
    run = {
        "source": curves.source,
        "data_hash": curves.data_hash,
        "x_axis": curves.x_axis,
        "baseline": baseline,
        "treatment": treatment,
        "onset_margin": margin,
        "hypothesis_weights": weighing,
        "hypotheses": [asdict(spec.hypothesis(h)) for h in HYPOTHESES],
        "seed": spec.sampler.seed,
        "sampler": spec.to_dict()["sampler"],
        "diagnostics": spec.to_dict()["diagnostics"],
        "verdict": spec.to_dict()["verdict"],
        "versions": versions(),
        "n_pairs": len(table),
        "skipped": [{"pair": label, "reason": reason} for label, reason in skipped],
        "failed": int((table["verdict"] == "failed").sum()),
        "compile_seconds": sampler.compile_seconds,
        "seconds": round(time.perf_counter() - t0, 2),
        "argv": list(sys.argv),
    }
    return Intervention(table=table, curves=figure_table(results), run=run, results=tuple(results))


def intervention_to_directory(
    curves: CurveSet | pd.DataFrame | str | Path,
    *,
    out: Path,
    force: bool = False,
    console: Console | None = None,
    **options,
) -> Intervention:
    """`intervention` and write intervention.csv, intervention_curves.csv and intervention.json to
    `out` (the table last). An interrupted run resumes from `out/.phasefit-work`; `force` starts over."""
    curves = as_curve_set(curves, where="intervention_to_directory")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PhasefitError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".phasefit-work"
    if force:
        shutil.rmtree(work, ignore_errors=True)
    console = console or Console()
    result = intervention(curves, console=console, work_dir=work, **options)
    staging = work / "staging-intervention"
    staging.mkdir(parents=True, exist_ok=True)
    write_json_atomic(result.run, staging / "intervention.json")
    write_table_atomic(result.curves, staging / "intervention_curves.csv")
    write_table_atomic(result.table, staging / "intervention.csv")
    for name in INTERVENTION_FILES:
        os.replace(staging / name, out / name)
    shutil.rmtree(work, ignore_errors=True)
    console.print(result.summary(), markup=False, highlight=False)
    console.print(f"\nwrote {', '.join(str(out / n) for n in INTERVENTION_FILES)}", markup=False)
    return result


def summary_text(table: pd.DataFrame, *, weights: dict | None = None) -> str:
    """'N pairs: a emergent, ...', the hypotheses' prior weights when learned (`weights`: the run
    record's `hypothesis_weights`), then one sentence per pair (the onset only where emergent)."""
    from phasefit.evidence.verdicts import format_params, format_sci

    counts = table["verdict"].value_counts()
    order = ["emergent", "inconclusive", "smooth", "absent", "failed"]
    lines = [f"{len(table)} pairs: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in order) + "."]
    if weights and weights.get("method") == "learned" and weights.get("pairs"):
        prior = ", ".join(f"{h} {v:.2f}" for h, v in weights["prior"].items())
        lines.append(
            f"Prior weights of the gain hypotheses, learned from the {weights['pairs']} weighed pairs: {prior}."
        )
    for _, r in table.iterrows():
        verdict = {"absent": "absent (no effect)", "smooth": "smooth (no break in the gain)"}.get(
            r["verdict"], r["verdict"]
        )
        head = f"{r['task']}, {r['family']}, {r['metric']} [{r['treatment']} vs {r['baseline']}]: {verdict}"
        if r["verdict"] == "failed":
            lines.append(f"{head} ({r['failure_reason']})")
            continue
        text = f"{head} (P(emergent gain) = {r['p_emergent']:.2f}, P(no effect) = {r['p_absent']:.2f}"
        text += f", P(hurts the smallest model) = {r['p_harm_smallest']:.2f})"
        if r["verdict"] == "emergent" and pd.notna(r["onset_flops_median"]):
            text += (
                f"; helps from {format_sci(r['onset_flops_median'])} FLOPs "
                f"[{format_sci(r['onset_flops_q05'])}, {format_sci(r['onset_flops_q95'])}]"
            )
            if pd.notna(r.get("onset_params_median")):
                text += f", {format_params(r['onset_params_median'])} params"
        lines.append(text)
    return "\n".join(lines)


__all__ = ["INTERVENTION_FILES", "Intervention", "intervention", "intervention_to_directory", "summary_text"]
