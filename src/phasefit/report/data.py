"""What a figure of one curve shows, computed from a finished run: never refits, never samples.

`curve_plot` reads one curve out of the run's posterior (`posterior.nc`): its points with 90%
binomial intervals, every hypothesis' posterior mean curve and 90% band on a grid, and the draws of
the break and of the onset. The mean curves are the hypotheses' own mean functions evaluated with
NumPy on the stored draws (the spec recorded in `run.json`), so a report shows exactly the fitted
models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from phasefit.data.curves import curve_label
from phasefit.evidence.onset import onset_draws
from phasefit.models.curve_model import CurveInputs, mean_curve
from phasefit.models.spec import EMERGENT, ModelSpec, spec_from_dict

GRID = 160
BAND = (0.05, 0.95)


@dataclass(frozen=True, kw_only=True)
class Band:
    """One hypothesis' posterior mean curve and 90% band over `CurvePlot.grid`."""

    hypothesis: str
    probability: float  # P(hypothesis | data)
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


@dataclass(frozen=True, kw_only=True)
class CurvePlot:
    """Everything the figure of one curve draws, on the analysis axis (log10 FLOPs or parameters).

    `y` is the score on the scale the model fits: a proportion for counts and bounded scores, the
    standardised score for unbounded ones (`proportion` False). `y_lo`/`y_hi` are 90% binomial
    (Clopper-Pearson) intervals from n_items, NaN without item counts. `top_ticks` are the models'
    positions with their parameter counts (log10), for the axis beside FLOPs.
    """

    label: str
    task: str
    metric: str
    family: str
    condition: str
    x_axis: str
    verdict: str
    p_emergent: float
    proportion: bool
    floor: float
    x: np.ndarray
    y: np.ndarray
    y_lo: np.ndarray
    y_hi: np.ndarray
    models: tuple[str, ...]
    top_ticks: np.ndarray  # log10 parameters (or FLOPs) at x, NaN where unknown
    grid: np.ndarray
    bands: tuple[Band, ...]
    tau: np.ndarray  # break draws (log10 axis); empty where the break does not apply
    onset: np.ndarray  # onset draws (log10 axis, finite only); empty where it does not apply
    onset_margin: float


def run_spec(run: dict) -> ModelSpec:
    """The spec a run was fitted with."""
    return spec_from_dict(run["spec"])


def curve_inputs(tree: xr.DataTree, label: str, h: str) -> CurveInputs:
    """The curve's data on the model's scale, rebuilt from `constant_data` and `observed_data`."""
    const = tree[f"{h}/constant_data"].dataset
    at = np.flatnonzero(const["obs_curve"].values == label)
    c = const.sel(curve=label)
    center = float(c["center"])
    x = const["x"].values[at] - center
    likelihood = str(tree["evidence"].dataset["likelihood"].sel(curve=label).values)
    return CurveInputs(
        likelihood=likelihood,  # type: ignore[arg-type]
        x=x,
        center=center,
        y=tree[f"{h}/observed_data"].dataset["y"].values[at],
        n=const["n"].values[at],
        y_loc=float(c["y_loc"]),
        y_scale=float(c["y_scale"]),
        floor=float(c["floor"]),
        range_lo=float(c["range_lo"]) - center,
        range_hi=float(c["range_hi"]) - center,
        x_ref=float(c["x_ref"]) - center,
    )


def _draws(tree: xr.DataTree, h: str, label: str, max_draws: int) -> dict[str, np.ndarray]:
    post = tree[f"{h}/posterior"].dataset.sel(curve=label)
    flat = {str(k): np.asarray(v.values, float).reshape(-1) for k, v in post.data_vars.items()}
    flat = {k: v for k, v in flat.items() if not np.isnan(v).all()}  # another likelihood's nuisance
    n = len(next(iter(flat.values())))
    keep = np.linspace(0, n - 1, min(n, max_draws)).round().astype(int)  # deterministic thinning
    return {k: v[keep] for k, v in flat.items()}


def binomial_interval(k: np.ndarray, n: np.ndarray, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson interval of k successes out of n (NaN where n is 0)."""
    a = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, stats.beta.ppf(1 - a, k + 1, n - k), 1.0)
    bad = ~(n > 0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def curve_plot(
    tree: xr.DataTree, verdicts: pd.DataFrame, label: str, *, spec: ModelSpec, max_draws: int = 400
) -> CurvePlot:
    """The plot data of the curve `label` ("task, family, metric [condition]") of a finished run."""
    row = verdicts.iloc[curve_labels(verdicts).index(label)]
    ev = tree["evidence"].dataset.sel(curve=label)
    h0 = spec.names[0]
    inputs = curve_inputs(tree, label, h0)
    const = tree[f"{h0}/constant_data"].dataset
    at = np.flatnonzero(const["obs_curve"].values == label)
    proportion = inputs.likelihood != "student_t"
    if inputs.likelihood == "beta_binomial":
        y = inputs.y / inputs.n
        lo, hi = binomial_interval(inputs.y, inputs.n)
    else:
        y = np.asarray(inputs.y, float)
        lo = hi = np.full(len(y), np.nan)
    x = inputs.x + inputs.center
    grid_c = np.linspace(inputs.x.min(), inputs.x.max(), GRID)
    bands = []
    probability = dict(zip(ev["hypothesis"].values.tolist(), ev["probability"].values.tolist(), strict=True))
    for h in spec.names:
        d = _draws(tree, h, label, max_draws)
        mu = mean_curve(h, d, inputs, grid_c, spec)
        q = np.quantile(mu, BAND, axis=0)
        bands.append(Band(hypothesis=h, probability=float(probability[h]), mean=mu.mean(0), lo=q[0], hi=q[1]))
    has_break = str(row["verdict"]) in ("emergent", "inconclusive")
    tau = onset = np.empty(0)
    if has_break:
        d = _draws(tree, EMERGENT, label, 4 * max_draws)
        tau = d["tau"]
        if proportion:
            o = onset_draws(d, inputs, spec, margin=spec.verdict.onset_margin)
            onset = o[np.isfinite(o)]
    other = "log10_params" if str(row["x_axis"]) == "flops" else "log10_flops"
    top = const[other].values[at] if other in const else np.full(len(at), np.nan)
    return CurvePlot(
        label=label,
        task=str(row["task"]),
        metric=str(row["metric"]),
        family=str(row["family"]),
        condition=str(row["condition"]) if pd.notna(row["condition"]) else "",
        x_axis=str(row["x_axis"]),
        verdict=str(row["verdict"]),
        p_emergent=float(row["p_emergent"]),
        proportion=proportion,
        floor=inputs.floor,
        x=x,
        y=y,
        y_lo=lo,
        y_hi=hi,
        models=tuple(str(m) for m in const["model"].values[at]),
        top_ticks=np.asarray(top, float),
        grid=grid_c + inputs.center,
        bands=tuple(bands),
        tau=tau,
        onset=onset,
        onset_margin=spec.verdict.onset_margin,
    )


def curve_labels(verdicts: pd.DataFrame) -> list[str]:
    """The labels of the verdict table's curves, as the posterior writes them."""
    cond = verdicts["condition"].fillna("").astype(str)
    return [
        curve_label(str(t), str(f), str(m), c)
        for t, f, m, c in zip(verdicts["task"], verdicts["family"], verdicts["metric"], cond, strict=True)
    ]
