"""A curve's numbers do not depend on how many BLAS threads the process has (inference/threads.py).

A Dask worker runs with one BLAS thread (its nanny sets OMP_NUM_THREADS=1), a local run with one per
core; OpenBLAS sums a product's parts in an order that depends on the number, so without the limit
the `--workers` and local tables differed in the last digits of a stacking weight on this curve.
"""

from __future__ import annotations

import os
import threading

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import phasefit
from phasefit import datasets
from phasefit.analyses.curve import analyse_curve
from phasefit.inference.sampler import Sampler
from phasefit.inference.threads import single_blas_thread
from phasefit.models.spec import load_spec


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def _text(row: dict) -> dict[str, str]:
    """A verdict row as its printed values (NaN equals NaN; floats to the last digit)."""
    return {k: repr(v) for k, v in row.items()}


@pytest.fixture(scope="module")
def sampler():
    return Sampler(load_spec())


@pytest.fixture(scope="module")
def curve():
    """A Pythia checkpoint curve on which the BLAS thread count changes a stacking weight (it was the
    160m-deduped curve until its breakpoint fit changed path, 2026-12-02; five of the first 35
    accuracy curves tried, every 7th, show it)."""
    df = datasets.load("pythia_checkpoints")
    df = df[
        (df.task == "mmlu_college_physics")
        & (df.metric == "acc")
        & (df.family == "pythia-12b-deduped")
        & (df.condition == "5-shot")
    ]
    curves = phasefit.load_curves(df, x_axis="flops")
    assert len(curves) == 1
    return curves.curve(0)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS runs one thread anyway")
def test_a_curve_is_the_same_with_one_or_two_blas_threads(curve, sampler):
    rows = {}
    for analyse in (analyse_curve.__wrapped__, analyse_curve):  # without the limit, then with it
        for n in (1, 2):
            with threadpool_limits(limits=n, user_api="blas"):
                rows[analyse, n] = analyse(curve, sampler, x_axis="flops").row
    raw = analyse_curve.__wrapped__
    # the test can fail: unlimited, this curve's stacking weight depends on the thread count
    assert repr(rows[raw, 1]["stacking_weight_breakpoint"]) != repr(rows[raw, 2]["stacking_weight_breakpoint"])
    text = {key: _text(row) for key, row in rows.items()}
    assert text[analyse_curve, 1] == text[analyse_curve, 2] == text[raw, 1]  # limited: the one-thread run


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS runs one thread anyway")
def test_a_curve_analysed_in_a_worker_thread_is_the_one_thread_result(curve, sampler):
    """Dask runs tasks in a worker thread; the limit must hold there too."""
    with threadpool_limits(limits=1, user_api="blas"):
        expected = analyse_curve(curve, sampler, x_axis="flops").row
    got = {}
    thread = threading.Thread(target=lambda: got.update(analyse_curve(curve, sampler, x_axis="flops").row))
    thread.start()
    thread.join()
    assert _text(got) == _text(expected)


def test_nested_calls_restore_the_threads_when_the_outermost_returns():
    before = _blas_threads()

    @single_blas_thread
    def inner():
        assert _blas_threads() == {1}

    @single_blas_thread
    def outer():
        inner()
        assert _blas_threads() == {1}  # the inner call's return did not lift the outer's limit

    outer()
    assert _blas_threads() == before


def test_an_exception_restores_the_callers_threads():
    @single_blas_thread
    def fails():
        assert _blas_threads() == {1}
        raise ValueError("boom")

    before = _blas_threads()
    with pytest.raises(ValueError, match="boom"):
        fails()
    assert _blas_threads() == before
