"""The posterior on disk: an ArviZ-native `xarray.DataTree`, one subtree per hypothesis.

Layout (every hypothesis of the spec, e.g. `/absent`, `/smooth`, `/breakpoint`):
- `posterior`: the hypothesis' parameters and derived quantities, dims (chain, draw, curve); a
  break `tau` is on the analysis axis (log10 FLOPs or parameters);
- `sample_stats`: `diverging` and `reached_max_treedepth` (bool), `energy`, `tree_depth`,
  `step_size`, `n_steps`, `lp`, dims (chain, draw, curve);
- `log_likelihood` and `posterior_predictive`: `y`, dims (chain, draw, obs);
- `observed_data`: `y` (obs): correct-item counts (beta-binomial curves), proportions (beta) or the
  standardised score (Student-t);
- `constant_data`: `x` (obs, analysis axis), `n` (obs), `log10_flops`, `log10_params` and `score`
  (obs: the model's scales and the score as given, NaN where unknown), and per curve `floor`, `center`, `x_ref`,
  `range_lo`, `range_hi` (the admissible break range, analysis axis), `y_loc`, `y_scale`;
- `prior`: draws from the priors (chain of 1).
The points of all curves are one `obs` dimension (curves have different lengths; nothing is
padded), with the coordinates `obs_curve` (the curve's label) and `model`. Curves are labelled
"task, family, metric [condition]", with `task`, `metric`, `family`, `condition` and `likelihood`
as coordinates. Beside the hypotheses: `/evidence` (log marginal likelihoods, their Monte Carlo SE,
importance k-hat, P(h | y); dims curve x hypothesis), `/diagnostics` (per curve and fit) and, when
pooling ran, `/population`. `select_curve` cuts one curve out for ArviZ's functions.
"""

from __future__ import annotations

import ctypes
import gc
import json
import shutil
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from phasefit.data.curves import CURVE_KEY, Curve
from phasefit.models.predictive import prior_draws
from phasefit.models.spec import ModelSpec
from phasefit.results.files import write_atomic

if TYPE_CHECKING:  # types only: reading a posterior (load_tree) must not import the analyses
    from phasefit.analyses.curve import CurveResult
    from phasefit.analyses.population import PopulationResult

PRIOR_DRAWS = 500
DIAGNOSTIC_FIELDS = ("rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "treedepth_share", "attempts")


def _per_curve(arrays: Sequence[dict[str, np.ndarray]], curve_coords: dict) -> xr.Dataset:
    """(chain, draw) arrays of each curve stacked along `curve`. Curves of different likelihoods have
    different nuisance parameters (a beta-binomial's concentration, a beta's precision): a variable
    a curve does not have is NaN there."""
    names = list(dict.fromkeys(k for a in arrays for k in a))
    shape = next(iter(arrays[0].values())).shape
    nan = np.full(shape, np.nan)
    data = {k: (("chain", "draw", "curve"), np.stack([a.get(k, nan) for a in arrays], axis=-1)) for k in names}
    chain, draw = shape
    return xr.Dataset(data, coords={"chain": np.arange(chain), "draw": np.arange(draw), **curve_coords})


def _per_obs(arrays: Sequence[np.ndarray], obs_coords: dict, *, dtype=float) -> xr.DataArray:
    """(chain, draw, point) arrays of each curve concatenated along `obs`."""
    arr = np.concatenate(arrays, axis=-1).astype(dtype)
    chain, draw = arr.shape[:2]
    return xr.DataArray(
        arr, dims=("chain", "draw", "obs"), coords={"chain": np.arange(chain), "draw": np.arange(draw), **obs_coords}
    )


def build_tree(
    results: Sequence[CurveResult],
    spec: ModelSpec,
    *,
    attrs: dict,
    population: PopulationResult | None = None,
    curves: Mapping[int, Curve] | None = None,
    obs_start: int = 0,
) -> xr.DataTree:
    """Assemble per-curve results (sorted by curve index) into one labelled DataTree.

    `curves` maps a curve index to its `Curve`: its model names (the `model` coordinate of its
    points), FLOPs, parameters and score as given (in `constant_data`, for reports). `obs_start`
    numbers the first point (a shard of a larger tree continues its `obs`).
    """
    results = sorted(results, key=lambda r: r.index)
    labels = np.array([r.label for r in results], dtype=str)
    curve_coords = {
        "curve": labels,
        **{c: ("curve", np.array([str(r.row[c]) for r in results], dtype=str)) for c in (*CURVE_KEY, "likelihood")},
    }
    sizes = [len(r.inputs.x) for r in results]
    obs_curve = np.repeat(labels, sizes)
    curves = curves or {}
    model_names = [
        str(m) for r in results for m in (curves[r.index].models if r.index in curves else [""] * len(r.inputs.x))
    ]

    def per_point(attr: str) -> np.ndarray:
        return np.concatenate(
            [
                np.asarray(getattr(curves[r.index], attr), float)
                if r.index in curves
                else np.full(len(r.inputs.x), np.nan)
                for r in results
            ]
        )

    obs_coords = {
        "obs": obs_start + np.arange(sum(sizes)),
        "obs_curve": ("obs", obs_curve),
        "model": ("obs", np.array(model_names, dtype=str)),
    }
    y = np.concatenate([np.asarray(r.inputs.y, float) for r in results])
    constant = xr.Dataset(
        {
            "x": ("obs", np.concatenate([r.inputs.x + r.inputs.center for r in results])),
            "n": ("obs", np.concatenate([np.asarray(r.inputs.n, float) for r in results])),
            "log10_flops": ("obs", per_point("log10_flops")),
            "log10_params": ("obs", per_point("log10_params")),
            "score": ("obs", per_point("score")),
            **{
                name: ("curve", np.array([getattr(r.inputs, name) for r in results], float))
                for name in ("floor", "center", "y_loc", "y_scale")
            },
            "x_ref": ("curve", np.array([r.inputs.x_ref + r.inputs.center for r in results])),
            "range_lo": ("curve", np.array([r.inputs.range_lo + r.inputs.center for r in results])),
            "range_hi": ("curve", np.array([r.inputs.range_hi + r.inputs.center for r in results])),
        },
        coords={**obs_coords, **curve_coords},
    )
    observed = xr.Dataset({"y": ("obs", y)}, coords=obs_coords)
    nodes: dict[str, xr.Dataset] = {}
    # prior draws from a stream per curve (its label, the seed): a curve's draws do not depend on the
    # curves before it, so a tree built shard by shard is the tree built at once
    rngs = {r.index: np.random.default_rng([spec.sampler.seed, zlib.crc32(r.label.encode())]) for r in results}
    for h in spec.names:
        nodes[f"{h}/posterior"] = _per_curve([r.fits[h].draws for r in results], curve_coords)
        nodes[f"{h}/sample_stats"] = _per_curve([r.fits[h].stats for r in results], curve_coords)
        nodes[f"{h}/log_likelihood"] = _per_obs([r.loglik[h] for r in results], obs_coords).to_dataset(name="y")
        nodes[f"{h}/posterior_predictive"] = _per_obs(
            [r.predictive[h] for r in results], obs_coords, dtype=np.float32
        ).to_dataset(name="y")
        nodes[f"{h}/observed_data"] = observed
        nodes[f"{h}/constant_data"] = constant
        nodes[f"{h}/prior"] = _per_curve(
            [prior_draws(h, r.inputs, spec, draws=PRIOR_DRAWS, rng=rngs[r.index]) for r in results], curve_coords
        )
    hyp = {"hypothesis": list(spec.names)}
    evidence = {}
    for name, col in (
        ("log_marginal_likelihood", "log_z_{}"),
        ("log_marginal_likelihood_se", "log_z_se_{}"),
        ("importance_k_hat", "k_hat_{}"),
        ("probability", "p_{}"),
    ):
        evidence[name] = (
            ("curve", "hypothesis"),
            np.array([[r.row[col.format(h)] for h in spec.names] for r in results], float),
        )
    nodes["evidence"] = xr.Dataset(evidence, coords={**hyp, **curve_coords})
    diag = {
        f: (
            ("curve", "hypothesis"),
            np.array([[getattr(r.fits[h].diagnostics, f) for h in spec.names] for r in results], float),
        )
        for f in DIAGNOSTIC_FIELDS
    }
    diag["ok"] = (("curve", "hypothesis"), np.array([[r.fits[h].diagnostics.ok for h in spec.names] for r in results]))
    nodes["diagnostics"] = xr.Dataset(diag, coords={**hyp, **curve_coords})
    if population is not None:
        nodes["population"] = _population_group(population, spec)
    tree = xr.DataTree.from_dict({f"/{k}": v for k, v in nodes.items()})
    tree.attrs.update({k: (v if isinstance(v, str | int | float) else str(v)) for k, v in attrs.items()})
    return tree


def _population_group(pop: PopulationResult, spec: ModelSpec) -> xr.Dataset:
    """Hyper-posterior draws with task / family / hypothesis coordinates."""
    dims = {"task_break": "task", "family_offset": "family", "rates": "hypothesis"}
    data = {k: (("chain", "draw", dims[k]) if k in dims else ("chain", "draw"), v) for k, v in pop.draws.items()}
    chain, draw = next(iter(pop.draws.values())).shape[:2]
    return xr.Dataset(
        data,
        coords={
            "chain": np.arange(chain),
            "draw": np.arange(draw),
            "task": pop.tasks["task"].to_numpy(str),
            "family": pop.families["family"].to_numpy(str),
            "hypothesis": list(spec.names),
        },
    )


def select_curve(tree: xr.DataTree, curve: str | int) -> xr.DataTree:
    """The tree cut to one curve (by label or position): every group with its points only.

    `arviz_stats.loo(select_curve(tree, label)["breakpoint"])` is that curve's PSIS-LOO.
    """
    labels = list(tree["evidence"].dataset["curve"].values)
    label = labels[curve] if isinstance(curve, int) else curve
    if label not in labels:
        raise KeyError(f"no curve {curve!r} in the posterior (curves: {', '.join(labels[:5])}, ...)")

    def cut(ds: xr.Dataset) -> xr.Dataset:
        if "obs" in ds.dims:
            ds = ds.isel(obs=np.flatnonzero(ds["obs_curve"].values == label))
        if "curve" in ds.dims:
            ds = ds.sel(curve=label)
        return ds

    return tree.map_over_datasets(cut)


COMPACT_DRAWS_PER_CHAIN = 500


def compact(tree: xr.DataTree, *, draws_per_chain: int = COMPACT_DRAWS_PER_CHAIN) -> tuple[xr.DataTree, dict]:
    """The tree as `posterior.nc` stores it by default: every group with a `draw` dimension thinned
    to at most `draws_per_chain` draws per chain (every k-th draw) and its numbers as float32 /
    int32; data, evidence and diagnostics untouched. About a quarter of the full size. Returns the
    tree and what was done (for run.json; `thin` is the hypotheses' posterior's step)."""

    def shrink(ds: xr.Dataset) -> xr.Dataset:
        if "draw" not in ds.dims:
            return ds
        step = max(1, -(-ds.sizes["draw"] // draws_per_chain))  # each group by its own draws
        ds = ds.isel(draw=slice(None, None, step))
        ds = ds.assign_coords(draw=np.arange(ds.sizes["draw"]))

        def cast(a: xr.DataArray) -> xr.DataArray:
            if "draw" not in a.dims:
                return a
            if a.dtype.kind == "f" and a.dtype.itemsize > 4:
                return a.astype(np.float32)
            if a.dtype.kind in "iu" and a.dtype.itemsize > 4:
                return a.astype(np.int32)
            return a

        return ds.map(cast, keep_attrs=True)

    out = tree.map_over_datasets(shrink)
    out.attrs.update(tree.attrs)
    posterior = [n.dataset.sizes["draw"] for n in tree.subtree if n.name == "posterior" and "draw" in n.dataset.sizes]
    step = max(1, -(-max(posterior, default=1) // draws_per_chain))
    return out, {"full": False, "thin": step, "draws_per_chain_max": draws_per_chain, "float": "float32"}


# the extent of an HDF5 chunk along the dimension a variable grows with (others whole): one curve
# is read from a chunk of about 1 MB (compact), and a chunk compresses well
CHUNK = {"curve": 128, "obs": 512}


def _encoding(ds: xr.Dataset, level: int) -> dict:
    """The netCDF encoding of `ds`'s numeric variables: gzip at `level` after HDF5's byte shuffle
    (float32 draws: ~10% smaller and faster than gzip alone), in chunks of `CHUNK` along `curve` or
    `obs`. HDF5's automatic chunks are ~10x smaller, and each costs time to write and read."""
    out = {}
    for v, da in ds.data_vars.items():
        if da.dtype.kind not in "fiub":
            continue
        enc: dict = {"compression": "gzip", "compression_opts": level, "shuffle": True}
        if da.ndim and da.size:
            enc["chunksizes"] = tuple(min(n, CHUNK.get(d, n)) for d, n in zip(da.dims, da.shape, strict=True))
        out[v] = enc
    return out


def save_tree(tree: xr.DataTree, path: Path, *, level: int = 1) -> Path:
    """Write the DataTree atomically as netCDF4 (h5netcdf engine; `_encoding` at gzip `level`).
    Variables backed by dask are computed one chunk at a time, in this process."""
    import dask

    def writer(tmp: Path) -> None:
        encoding = {n.path: e for n in tree.subtree if (e := _encoding(n.dataset, level))}
        with dask.config.set(scheduler="synchronous"):  # never a cluster's workers, one chunk at a time
            tree.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)

    return write_atomic(path, writer)


def load_tree(path: str | Path) -> xr.DataTree:
    """Load a posterior written by `save_tree` (fully into memory; the file is closed)."""
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        return tree.load()


# ------------------------------------------------------------------------------- shards

SHARD_CURVES = 128  # curves per posterior shard: bounds the memory of a run, whatever its size
ALONG = ("curve", "obs")  # the dimensions shards are stacked along


def _stack(datasets: Sequence[xr.Dataset]) -> xr.Dataset:
    """Datasets of consecutive shards as one: each variable stacked along its `curve` or `obs`
    dimension; the others (chain, draw, hypothesis) are the same in every shard. A variable a shard
    lacks (a nuisance parameter none of its curves has) is NaN there, as `build_tree` makes it within
    a shard."""
    names = list(dict.fromkeys(n for ds in datasets for n in ds.variables))
    variables = {}
    for name in names:
        have = next(ds.variables[name] for ds in datasets if name in ds.variables)
        along = next((d for d in ALONG if d in have.dims), None)
        if along is None:
            variables[name] = have
            continue
        parts = []
        for ds in datasets:
            if name in ds.variables:
                parts.append(ds.variables[name])
            else:
                shape = tuple(ds.sizes[d] for d in have.dims)
                parts.append(xr.Variable(have.dims, np.full(shape, np.nan, dtype=have.dtype)))
        if all(v.dtype.kind == "U" for v in parts):  # labels of different lengths: the widest fits all
            width = max(v.dtype.itemsize for v in parts) // 4
            parts = [v.astype(f"<U{width}") for v in parts]
        variables[name] = xr.Variable.concat(parts, dim=along)
    coords = {n for ds in datasets for n in ds.coords}
    return xr.Dataset(
        {n: v for n, v in variables.items() if n not in coords},
        coords={n: v for n, v in variables.items() if n in coords},
    )


def stack_trees(trees: Sequence[xr.DataTree]) -> xr.DataTree:
    """The trees of consecutive shards (as `build_tree` makes them, without `/population`) as one."""
    if len(trees) == 1:
        return trees[0]
    paths = [n.path for n in trees[0].subtree if n.has_data]
    return xr.DataTree.from_dict({p: _stack([t[p].to_dataset() for t in trees]) for p in paths})


def release_memory() -> None:
    """Return freed heap memory to the operating system (glibc's `malloc_trim`; nothing elsewhere).
    A shard's arrays are freed once it is written, but glibc keeps its fragmented heap: without
    this, a 1,500-curve run's resident memory grew by ~130 MB a shard instead of ~30 MB."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): the allocator decides
        pass


def _spill(tree: xr.DataTree, path: Path) -> Path:
    """A shard's tree written atomically as one uncompressed `.npz`: every variable under
    "group|name", and the layout (dims, shapes, dtypes, which are coordinates) as JSON. Writing and
    reading it cost a fraction of netCDF's, and loading it executes nothing (no pickle: numbers,
    booleans and fixed-width text only)."""
    arrays: dict[str, np.ndarray] = {}
    layout: dict[str, dict] = {}
    for node in tree.subtree:
        if not node.has_data:
            continue
        ds = node.to_dataset()
        layout[node.path] = {
            "coords": list(ds.coords),
            "vars": {n: [list(v.dims), list(v.shape), v.dtype.str] for n, v in ds.variables.items()},
        }
        for n, v in ds.variables.items():
            arrays[f"{node.path}|{n}"] = np.asarray(v.values)
    arrays[LAYOUT] = np.array(json.dumps(layout))

    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    return write_atomic(path, writer)


LAYOUT = "__layout__"


def _member(path: Path, key: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        return z[key]


def _spilled(path: Path) -> dict[str, xr.Dataset]:
    """A spilled shard's groups, the file opened once for its layout and coordinates (labels,
    small); data variables as dask arrays, each read when it is written."""
    import dask
    import dask.array as da

    groups = {}
    with np.load(path, allow_pickle=False) as z:
        for group, entry in json.loads(str(z[LAYOUT])).items():
            coords, data = {}, {}
            for name, (dims, shape, dtype) in entry["vars"].items():
                key = f"{group}|{name}"
                if name in entry["coords"]:
                    coords[name] = (tuple(dims), z[key])
                else:
                    lazy = da.from_delayed(dask.delayed(_member)(path, key), tuple(shape), dtype=np.dtype(dtype))
                    data[name] = (tuple(dims), lazy)
            groups[group] = xr.Dataset(data, coords=coords)
    return groups


def _rechunked(ds: xr.Dataset) -> xr.Dataset:
    """Dask-backed variables in `CHUNK`-sized pieces along `curve` / `obs` (as `_encoding` stores
    them): each HDF5 chunk is written once, whole."""
    return ds.map(lambda a: a.chunk({d: CHUNK.get(d, -1) for d in a.dims}) if a.chunks else a, keep_attrs=True)


class PosteriorShards:
    """A `PosteriorSink`: curves' results built into a DataTree every `size` curves (a shard), so
    that no more than one shard's draws are held at once.

    Without `target`, the shards stay in memory and `tree()` stacks them. With `target` (a file
    name), each shard is spilled beside it (`<target>.shards/`, `.npz`: `_spill`; compact unless
    `full`: `compact`), and `tree()` writes `target` from them in one pass, a chunk at a time (a
    shard's variable at most in memory), removes the shards and returns an empty tree (`streamed`:
    the file is the tree; read it with `load_tree`, or lazily with `xarray.open_datatree`). A run
    of at most `size` curves never spills: its tree is written to `target` and returned as it is.
    """

    def __init__(
        self,
        curves: Mapping[int, Curve],
        spec: ModelSpec,
        *,
        target: Path | None = None,
        full: bool = True,
        size: int | None = None,
    ):
        self.curves, self.spec, self.target, self.full = curves, spec, target, full
        self.size = SHARD_CURVES if size is None else size
        self.folder = None if target is None else Path(f"{target}.shards")
        self.pending: list[CurveResult] = []
        self.shards: list[xr.DataTree | Path] = []
        self.obs = 0
        self.storage: dict = {"full": True, "thin": 1, "float": "float64"}
        self.streamed = False  # whether `tree()` wrote `target` from spilled shards (then only the file holds it)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)  # left by an interrupted run: rebuilt

    def add(self, result: CurveResult) -> None:
        self.pending.append(result)
        if len(self.pending) >= self.size:
            self._flush()

    def _build(self) -> xr.DataTree:
        """The pending curves' tree (compact unless `full`); they are no longer pending."""
        results, self.pending = self.pending, []
        tree = build_tree(results, self.spec, attrs={}, curves=self.curves, obs_start=self.obs)
        self.obs += sum(len(r.inputs.x) for r in results)
        if not self.full:
            tree, self.storage = compact(tree)
        return tree

    def _flush(self) -> None:
        """The pending curves as a shard: in memory, or spilled to a file (then freed)."""
        if not self.pending:
            return
        if self.folder is None:
            self.shards.append(self._build())
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shards.append(_spill(self._build(), self.folder / f"posterior-{len(self.shards):06d}.npz"))
        release_memory()

    def tree(self, *, attrs: dict, population: PopulationResult | None = None) -> xr.DataTree:
        """The whole tree: every shard stacked, the population group, `attrs` on the root (with a
        `target`: written there; after spilled shards, only the file holds it and an empty tree is
        returned)."""
        attrs = {k: (v if isinstance(v, str | int | float) else str(v)) for k, v in attrs.items()}
        extra = {} if population is None else {"/population": _population_group(population, self.spec)}
        if self.target is None or not self.shards:  # in memory, or one shard (most runs): nothing spilled
            trees = [t for t in self.shards if isinstance(t, xr.DataTree)]
            stacked = stack_trees(trees + [self._build()] if self.pending else trees)
            tree = xr.DataTree.from_dict({**{n.path: n.to_dataset() for n in stacked.subtree if n.has_data}, **extra})
            tree.attrs.update(attrs)
            if self.target is not None:
                save_tree(tree, self.target)
            return tree
        self._flush()
        files = [p for p in self.shards if isinstance(p, Path)]
        shards = [_spilled(f) for f in files]
        groups = {g: _rechunked(_stack([shard[g] for shard in shards])) for g in shards[0]}
        tree = xr.DataTree.from_dict({**groups, **extra})
        tree.attrs.update(attrs)
        save_tree(tree, self.target)
        self.streamed = True
        shutil.rmtree(self.folder, ignore_errors=True)
        # not read back here: opening a file of 27 groups costs seconds, and its reader opens it
        # where it lands (`fit_to_directory`); the root's attrs say what it is
        empty = xr.DataTree()
        empty.attrs.update(attrs)
        return empty
