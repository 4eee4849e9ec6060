"""Curves fitted on a Dask cluster: a scheduler address, or N local worker processes.

The curves still to fit (or the sharp curves still to get the mirage stage) are cut into shards and
submitted to Dask's distributed scheduler; each worker process keeps its compiled models
(`inference.sampler`), so it compiles each hypothesis once however many shards it runs. As shards
finish, the client writes their curves to the run's checkpoint store, so a worker that dies loses
at most the shard it was running (the scheduler gives it to another worker) and a killed client
resumes from the store. The population stage and the tables then run on the client exactly as in a
local run: every curve is read back from the store, and since a curve's seed depends only on its
identity, the results are byte-identical to a local run's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from phasefit.analyses.curve import CurveResult, analyse_curve
from phasefit.analyses.fit import CheckpointStore
from phasefit.analyses.mirage import MirageResult, mirage_evidence
from phasefit.data.curves import Curve, CurveSet
from phasefit.errors import PhasefitError
from phasefit.inference.sampler import Sampler
from phasefit.models.spec import ModelSpec


def fit_shard(curves: list[Curve], spec: ModelSpec, x_axis: str, lfo_cutoff: float | None) -> list[CurveResult]:
    """Run on a worker: analyse each curve of the shard with the worker's compiled models."""
    sampler = Sampler(spec)  # the worker process keeps its compiled models (inference.sampler)
    return [analyse_curve(c, sampler, x_axis=x_axis, lfo_cutoff=lfo_cutoff) for c in curves]


def mirage_shard(
    pairs: list[tuple[Curve, Curve | None]], spec: ModelSpec
) -> list[tuple[int, tuple[MirageResult, MirageResult | None]]]:
    """Run on a worker: the mirage evidence (alone, joint) of each sharp curve of the shard."""
    sampler = Sampler(spec)  # the worker process keeps its compiled models (inference.sampler)
    out = []
    for sharp, other in pairs:
        alone = mirage_evidence(sharp, None, sampler)
        joint = mirage_evidence(sharp, other, sampler) if other is not None else None
        out.append((sharp.index, (alone, joint)))
    return out


class MemoryStore:
    """A `CheckpointStore` in memory, for an analysis without a work directory."""

    def __init__(self) -> None:
        self.results: dict[int, CurveResult] = {}

    def has(self, curve: Curve) -> bool:
        return curve.index in self.results

    def load(self, curve: Curve) -> CurveResult | None:
        return self.results.get(curve.index)

    def save(self, result: CurveResult) -> None:
        self.results[result.index] = result


def connect(*, scheduler: str | None, workers: int | None):
    """A `distributed.Client`: to the scheduler at `scheduler`, or to `workers` local processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise PhasefitError("--scheduler/--workers need dask.distributed (pip install 'dask[distributed]')") from None
    if scheduler is not None:
        try:
            return Client(scheduler, timeout="10s")
        except OSError as exc:
            raise PhasefitError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    if workers is None or workers < 1:
        raise PhasefitError(f"--workers must be at least 1, got {workers}")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster)


@contextmanager
def cluster_client(*, scheduler: str | None, workers: int | None) -> Iterator:
    """`connect`, closed on exit (with the local cluster it started, if any)."""
    client = connect(scheduler=scheduler, workers=workers)
    try:
        yield client
    finally:
        cluster = client.cluster if scheduler is None else None
        client.close()
        if cluster is not None:
            cluster.close()


def run_shards(client, func: Callable, todo: Sequence, *args, shard_size: int | None = None) -> Iterator:
    """Submit `func(shard, *args)` for shards of `todo`; yield each item of each shard's result as
    shards finish. Shards default to about four per worker, at most 16 items each, so that a lost
    worker costs little; a shard whose worker dies is retried (twice) on another."""
    from distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    size = shard_size or max(1, min(16, math.ceil(len(todo) / (4 * n_workers))))
    shards = [list(todo[i : i + size]) for i in range(0, len(todo), size)]
    futures = [client.submit(func, shard, *args, pure=False, retries=2) for shard in shards]
    for future in as_completed(futures):
        yield from future.result()


def fit_on_cluster(
    curves: CurveSet,
    spec: ModelSpec,
    *,
    client,
    store: CheckpointStore,
    lfo_cutoff: float | None,
    progress: Callable[..., None] | None = None,
    shard_size: int | None = None,
) -> int:
    """Fit every curve that `store` does not hold on the cluster behind `client`; return how many.

    `lfo_cutoff` is log10 of the scale (as `analyse_curve` takes it); shards as in `run_shards`.
    """
    todo = [c for c in curves if not store.has(c)]  # a damaged file: `analyse_curves` refits it locally
    if not todo:
        return 0
    done = len(curves) - len(todo)
    for result in run_shards(client, fit_shard, todo, spec, curves.x_axis, lfo_cutoff, shard_size=shard_size):
        store.save(result)
        done += 1
        if progress is not None:
            progress("curve", label=result.label, done=done, total=len(curves))
    return len(todo)
