"""The posterior on disk: an `xarray.DataTree` (ArviZ 1.x layout) with labelled curve coordinates.

Groups: `posterior` (each hypothesis' own parameters, from its own fit), `posterior_absent`,
`posterior_smooth`, `posterior_breakpoint` (every parameter of each fit, nuisance included),
`evidence` (log marginal likelihoods, their Monte Carlo SE and importance k-hat, P(h | y); dims
curve x hypothesis), `prior`, `log_likelihood` (pointwise, for smooth and breakpoint, the hypotheses LOO compares;
NaN-padded to the longest curve), `observed_data`, `sample_stats` (per hypothesis), `diagnostics` (per curve and
fit) and, when pooling ran, `population`. Written to netCDF (h5netcdf).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from phasefit.analyses.curve import CurveResult
from phasefit.data.curves import CurveSet
from phasefit.models.hypotheses import PARAMS, curve_inputs
from phasefit.results.files import write_atomic
from phasefit.analyses.population import PopulationResult
from phasefit.models.predictive import prior_draws
from phasefit.models.spec import HYPOTHESES, ModelSpec

FITS = HYPOTHESES
PRIOR_DRAWS = 500


def _stack(per_curve: Sequence[dict[str, np.ndarray]], extra_dims: tuple[str, ...] = ()) -> xr.Dataset:
    """Stack (chain, draw[, ...]) arrays of each curve along a `curve` dim, NaN where a curve lacks a name."""
    names = sorted({k for d in per_curve for k in d})
    out = {}
    for name in names:
        shape = next(d[name].shape for d in per_curve if name in d)
        arr = np.full((len(per_curve), *shape), np.nan)
        for i, d in enumerate(per_curve):
            if name in d:
                arr[i] = d[name]
        out[name] = (("curve", "chain", "draw", *extra_dims), arr)
    ds = xr.Dataset(out)
    return ds.transpose("chain", "draw", "curve", ...)


def _pad_points(arrays: Sequence[np.ndarray], n_point: int) -> np.ndarray:
    chain, draw = arrays[0].shape[:2]
    out = np.full((chain, draw, len(arrays), n_point), np.nan)
    for i, a in enumerate(arrays):
        out[:, :, i, : a.shape[-1]] = a
    return out


def build_tree(curves: CurveSet, results: Sequence[CurveResult], spec: ModelSpec, *, attrs: dict,
               population: PopulationResult | None = None) -> xr.DataTree:
    """Assemble per-curve results (in curve order) into one labelled DataTree."""
    results = sorted(results, key=lambda r: r.index)
    obs = curves.to_xarray()
    coords = {"curve": obs["curve"].values, **{c: ("curve", obs[c].values) for c in
                                                 ("task", "metric", "family", "condition", "likelihood")}}
    n_point = obs.sizes["point"]
    groups = {}
    own = {"absent": PARAMS["absent"], "smooth": PARAMS["smooth"], "breakpoint": PARAMS["breakpoint"]}
    groups["posterior"] = _stack([{k: r.fits[h].draws[k] for h in HYPOTHESES for k in own[h]} for r in results])
    for fit in HYPOTHESES:
        groups[f"posterior_{fit}"] = _stack([r.fits[fit].draws for r in results])
    evidence = {}
    for name, col in (("log_marginal_likelihood", "log_z_{}"), ("log_marginal_likelihood_se", "log_z_se_{}"),
                      ("importance_k_hat", "k_hat_{}")):
        evidence[name] = (("curve", "hypothesis"), np.array([[r.row[col.format(h)] for h in HYPOTHESES]
                                                             for r in results], float))
    evidence["probability"] = (("curve", "hypothesis"), np.array(
        [[r.row["p_absent"], r.row["p_smooth"], r.row["p_emergent"]] for r in results], float))
    groups["evidence"] = xr.Dataset(evidence, coords={"hypothesis": list(HYPOTHESES)})
    groups["log_likelihood"] = xr.Dataset({
        h: (("chain", "draw", "curve", "point"), _pad_points([r.loglik[h] for r in results], n_point))
        for h in ("smooth", "breakpoint")
    })
    groups["prior"] = _stack([
        prior_draws(spec, curve_inputs(curves.curve(r.index), spec), draws=PRIOR_DRAWS, seed=spec.sampler.seed + r.index)
        for r in results
    ])
    groups["sample_stats"] = xr.concat(
        [_stack([{k: v.astype(float) for k, v in r.fits[h].stats.items()} for r in results]) for h in HYPOTHESES],
        dim=xr.DataArray(list(HYPOTHESES), dims="hypothesis", name="hypothesis"))
    diag = {}
    for field in ("rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "treedepth_share", "attempts"):
        diag[field] = (("curve", "fit"), np.array([[getattr(r.fits[f].diagnostics, field) for f in FITS]
                                                   for r in results], float))
    diag["ok"] = (("curve", "fit"), np.array([[r.fits[f].diagnostics.ok for f in FITS] for r in results]))
    groups["diagnostics"] = xr.Dataset(diag, coords={"fit": list(FITS)})
    groups["observed_data"] = obs.drop_vars([c for c in obs.coords if c not in ("curve", "point")])
    for name, ds in groups.items():
        groups[name] = ds.assign_coords({k: v for k, v in coords.items()})
    if population is not None:
        groups["population"] = _population_group(population)
    tree = xr.DataTree.from_dict({f"/{k}": v for k, v in groups.items()})
    tree.attrs.update({k: (v if isinstance(v, str | int | float) else str(v)) for k, v in attrs.items()})
    return tree


def _population_group(pop: PopulationResult) -> xr.Dataset:
    """Hyper-posterior draws with task / family / hypothesis coordinates."""
    dims = {"task_break": "task", "task_log_rise": "task", "family_offset": "family", "rates": "hypothesis"}
    data = {k: (("chain", "draw", dims[k]) if k in dims else ("chain", "draw"), v) for k, v in pop.draws.items()}
    return xr.Dataset(data, coords={"task": pop.tasks["task"].to_numpy(str), "family": pop.families["family"].to_numpy(str),
                                    "hypothesis": list(HYPOTHESES)})


def save_tree(tree: xr.DataTree, path: Path) -> Path:
    """Write the DataTree atomically as netCDF4 (h5netcdf engine, compressed)."""
    def writer(tmp: Path) -> None:
        encoding = {}
        for node in tree.subtree:
            enc = {v: {"compression": "gzip", "compression_opts": 4} for v, da in node.dataset.data_vars.items()
                   if da.dtype.kind in "fiub"}
            if enc:
                encoding[node.path] = enc
        tree.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)

    return write_atomic(path, writer)


def load_tree(path: str | Path) -> xr.DataTree:
    """Load a posterior written by `save_tree` (fully into memory; the file is closed)."""
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        return tree.load()
