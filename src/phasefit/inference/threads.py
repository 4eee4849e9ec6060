"""One BLAS thread for every number phasefit computes, so that a result does not depend on where it ran.

OpenBLAS splits a matrix product across its threads and sums the parts in an order that depends on
their number. The same curve then gave a stacking weight of 0.5751341344558808 in one process (two
BLAS threads on two cores) and 0.5751341344559389 on a Dask worker, whose nanny starts it with
`OMP_NUM_THREADS=1`: a table that is not byte-identical between `--workers` and a local run, or
between machines with different core counts. The matrices here are small (a few parameters, a few
thousand draws), and one thread is also faster: two BLAS threads competed with nutpie's chain threads
for the cores (`benchmarks/thousand.py`, 2 cores: 1,000 curves in 455 s before, 356 s after).

`single_blas_thread` wraps the analyses' entry points (one curve, the population stage, a mirage
pair, an intervention pair): the caller's own BLAS settings are restored when the last of them
returns. threadpoolctl sets the limit for the process, so concurrent calls (a Dask worker with
several threads) share one: the first sets it, the last restores it. `tests/test_threads.py` checks
the numbers, not only the setting, in the main thread and in a worker thread.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

_CONTROLLER = None
_LOCK = threading.Lock()
_ACTIVE = 0  # calls inside single_blas_thread now, in any thread
_LIMIT = None  # threadpoolctl's limiter while _ACTIVE > 0


def _enter() -> None:
    """Limit BLAS to one thread if no other call has. threadpoolctl's view of the loaded libraries is
    built once (inspecting them costs ~1 ms; a limit through it ~15 µs); numpy and scipy each bring
    their own OpenBLAS, and both are imported first, so both are seen."""
    global _CONTROLLER, _ACTIVE, _LIMIT
    with _LOCK:
        if _CONTROLLER is None:
            import numpy  # noqa: F401
            import scipy.linalg  # noqa: F401
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        if _ACTIVE == 0:
            _LIMIT = _CONTROLLER.limit(limits=1, user_api="blas")
        _ACTIVE += 1


def _exit() -> None:
    """Restore the BLAS threads when the last call returns."""
    global _ACTIVE, _LIMIT
    with _LOCK:
        _ACTIVE -= 1
        if _ACTIVE == 0 and _LIMIT is not None:
            _LIMIT.restore_original_limits()
            _LIMIT = None


def single_blas_thread[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` with every BLAS library limited to one thread (restored afterwards)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        _enter()
        try:
            return func(*args, **kwargs)
        finally:
            _exit()

    return wrapper
