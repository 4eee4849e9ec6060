"""A finished run as an object: `Analysis` (what `fit` returns) and `load_run` (a fit directory read
back). Kept apart from `results.analysis` (which assembles it from the per-curve results) so that
readers of finished runs — the report — never import the analyses or the sampler."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import xarray as xr

from phasefit.evidence.verdicts import describe, summary_text


@dataclass(frozen=True)
class Analysis:
    """Verdicts (one row per curve), per-curve parameters, task table, posterior DataTree, run record."""

    verdicts: pd.DataFrame
    parameters: pd.DataFrame
    posterior: xr.DataTree
    run: dict
    tasks: pd.DataFrame  # emergence scale per task, pooled across families

    def summary(self) -> str:
        """Verdict counts, one sentence per curve and one per task (`tasks`)."""
        return summary_text(self.verdicts, self.tasks)

    def describe(self, i: int) -> str:
        return describe(self.verdicts.iloc[i])


def load_run(directory) -> Analysis:
    """A finished fit directory read back as the `Analysis` that `fit` returned: the same tables
    (CSV-typed), the posterior DataTree and the run record; `summary()` says the same."""
    from phasefit.results.files import read_run_files
    from phasefit.results.posterior import load_tree

    files = read_run_files(directory)
    return Analysis(
        verdicts=files["verdicts"],
        parameters=files["parameters"],
        posterior=load_tree(files["posterior"]),
        run=files["run"],
        tasks=files["tasks"],
    )
