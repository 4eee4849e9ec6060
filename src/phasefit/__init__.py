"""phasefit: Bayesian evidence for emergent vs smooth scaling of language-model abilities.

The public API: `load_curves` (validate a table into curves), `datasets` (bundled real data),
`load_spec` (model specs), `fit` / `fit_to_directory` (the analysis), `sensitivity` /
`sensitivity_to_directory` (verdicts across metrics, the mirage), `intervention` /
`intervention_to_directory` (does a technique help only past some scale), `load_run` (a finished fit
directory as an `Analysis`), `write_report` (its figures, tables and index.html, or an
intervention directory's), `write_intervention_figures` (an intervention directory's figures), `load_tree` (a
written posterior) and the typed errors. The layers
behind it are described in ARCHITECTURE.md.
"""

from phasefit._version import __version__
from phasefit.data import CurveSet, datasets, load_curves  # noqa: E402
from phasefit.errors import DataError, DatasetNotFound, PhasefitError, SpecError  # noqa: E402
from phasefit.models.spec import load_spec  # noqa: E402
from phasefit.results.analysis import Analysis, load_run  # noqa: E402
from phasefit.results.posterior import load_tree  # noqa: E402
from phasefit.runner.intervention import Intervention, intervention, intervention_to_directory  # noqa: E402
from phasefit.runner.local import fit, fit_to_directory, sensitivity, sensitivity_to_directory  # noqa: E402

__all__ = [
    "Analysis",
    "CurveSet",
    "DataError",
    "DatasetNotFound",
    "Intervention",
    "PhasefitError",
    "SpecError",
    "__version__",
    "datasets",
    "fit",
    "fit_to_directory",
    "intervention",
    "intervention_to_directory",
    "load_curves",
    "load_run",
    "load_spec",
    "load_tree",
    "sensitivity",
    "sensitivity_to_directory",
    "write_intervention_figures",
    "write_report",
]


def __getattr__(name: str):
    """The report layer on first use: it imports matplotlib, which `fit` never needs."""
    if name == "write_report":
        from phasefit.report.build import write_report

        return write_report
    if name == "write_intervention_figures":
        from phasefit.report.intervention import write_intervention_figures

        return write_intervention_figures
    raise AttributeError(f"module 'phasefit' has no attribute {name!r}")
