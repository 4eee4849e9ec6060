"""Same data, spec and seed -> byte-identical tables, in fresh processes, with cold or warm
compilation caches and any PYTHONHASHSEED, and after a run killed with SIGKILL is resumed.

Each test starts several fresh processes that compile every model (3-7 minutes on 2 busy cores), so
they run in `make test-slow`; the default suite checks reproducibility and resuming in-process
(tests/test_pipeline.py, tests/test_intervention.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from _models import sim_frame

pytestmark = pytest.mark.slow

TABLES = ("verdicts.csv", "parameters.csv", "tasks.csv")


def _cmd(data, out):
    return [
        sys.executable,
        "-m",
        "phasefit.cli",
        "fit",
        str(data),
        "--out",
        str(out),
        "--chains",
        "2",
        "--draws",
        "200",
        "--tune",
        "200",
        "--seed",
        "11",
        "--no-progress",
    ]


def _env(compiledir, hashseed):
    return {**os.environ, "PYTHONHASHSEED": str(hashseed), "PYTENSOR_FLAGS": f"base_compiledir={compiledir}"}


def _fit(data, out, compiledir, hashseed):
    proc = subprocess.run(_cmd(data, out), env=_env(compiledir, hashseed), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _fit_killed_after_first_curve(data, out, compiledir, hashseed):
    """Start a fit and SIGKILL it as soon as its first curve is checkpointed."""
    proc = subprocess.Popen(
        _cmd(data, out), env=_env(compiledir, hashseed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 600
    while not list((out / ".phasefit-work").rglob("curve-*.npz")):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint after 600 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def test_two_processes_cold_then_warm_cache_give_identical_tables(tmp_path):
    data = tmp_path / "data.csv"
    sim_frame(("breakpoint", "smooth", "flat"), seed=8).to_csv(data, index=False)
    cache = tmp_path / "pytensor-cache"  # empty: the first run compiles everything (cold)
    _fit(data, tmp_path / "a", cache, 0)
    # warm cache, another hash seed, and killed with SIGKILL after its first curve, then resumed
    _fit_killed_after_first_curve(data, tmp_path / "b", cache, 12345)
    assert not any((tmp_path / "b" / name).exists() for name in (*TABLES, "posterior.nc", "run.json"))
    from phasefit.results import safe_store

    kept = list((tmp_path / "b" / ".phasefit-work").rglob("curve-*.npz"))
    assert 1 <= len(kept) < 3 and all(safe_store.loads(p.read_bytes()) is not None for p in kept)
    _fit(data, tmp_path / "b", cache, 12345)
    for name in TABLES:
        a, b = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        assert a == b, f"{name} differs between the two runs"
    assert (tmp_path / "a" / "tasks.csv").read_text().count("\n") >= 2  # the population stage ran


def test_intervention_in_two_processes_gives_identical_tables(tmp_path):
    from test_intervention import _table

    data = tmp_path / "arms.csv"
    _table().to_csv(data, index=False)
    cache = tmp_path / "pytensor-cache"
    outs = []
    for k, hashseed in enumerate((0, 4321)):
        out = tmp_path / f"iv{k}"
        cmd = [sys.executable, "-m", "phasefit.cli", "intervention", str(data), "--baseline", "direct"]
        cmd += ["--treatment", "cot", "--out", str(out), "--draws", "300", "--tune", "300", "--formats", "none"]
        proc = subprocess.run(cmd, env=_env(cache, hashseed), capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(out)
    for name in ("intervention.csv", "intervention_curves.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), f"{name} differs"
