"""The report's figures for one `Analysis` (what `fit` returns or `load_run` reads back), in one call.

    from phasefit import load_run
    from phasefit.report.plots import plot_curve

    fig = plot_curve(load_run("out/"), "arithmetic_3ds, Pythia, acc [2-shot]")
    fig.savefig("curve.pdf")

Each returns a matplotlib `Figure` in the report's style; `figures.save` writes it as PNG and PDF
with deterministic bytes.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from phasefit.report import figures
from phasefit.report.data import curve_labels, curve_plot, run_spec
from phasefit.results.run import Analysis


def _label(analysis: Analysis, curve: str | int) -> str:
    labels = curve_labels(analysis.verdicts)
    if isinstance(curve, int):
        if not -len(labels) <= curve < len(labels):
            raise IndexError(f"curve {curve}: the analysis has {len(labels)} curves")
        return labels[curve]
    if curve not in labels:
        raise KeyError(f"no curve {curve!r} (curves are named 'task, family, metric [condition]', e.g. {labels[0]!r})")
    return curve


def plot_curve(analysis: Analysis, curve: str | int, *, max_draws: int = 400) -> Figure:
    """One curve: its data, every hypothesis' posterior mean and 90% band, the break and the onset.

    `curve` is the label "task, family, metric [condition]" or the row of `analysis.verdicts`.
    """
    label = _label(analysis, curve)
    cp = curve_plot(analysis.posterior, analysis.verdicts, label, spec=run_spec(analysis.run), max_draws=max_draws)
    return figures.curve_figure(cp)


def plot_p_emergent(analysis: Analysis) -> Figure:
    """P(emergent) of every curve by task, with its prior-sensitivity range."""
    verdict = run_spec(analysis.run).verdict
    return figures.forest_figure(analysis.verdicts, emergent=verdict.emergent, smooth=verdict.smooth)


def plot_emergence_scales(analysis: Analysis) -> Figure:
    """The onset's median and 90% interval of every emergent or inconclusive curve, by task."""
    return figures.scale_figure(analysis.verdicts, x_axis=str(analysis.run["x_axis"]))
