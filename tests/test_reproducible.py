"""Same data, spec and seed -> byte-identical tables, in fresh processes, with cold or warm
compilation caches and any PYTHONHASHSEED."""

from __future__ import annotations

import os
import subprocess
import sys

from _models import sim_frame

TABLES = ("verdicts.csv", "parameters.csv", "tasks.csv")


def _fit(data, out, compiledir, hashseed):
    env = {**os.environ, "PYTHONHASHSEED": str(hashseed), "PYTENSOR_FLAGS": f"compiledir={compiledir}"}
    cmd = [
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
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_two_processes_cold_then_warm_cache_give_identical_tables(tmp_path):
    data = tmp_path / "data.csv"
    sim_frame(("breakpoint", "smooth", "flat"), seed=8).to_csv(data, index=False)
    cache = tmp_path / "pytensor-cache"  # empty: the first run compiles everything (cold)
    _fit(data, tmp_path / "a", cache, 0)
    _fit(data, tmp_path / "b", cache, 12345)  # warm cache, another hash seed
    for name in TABLES:
        a, b = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        assert a == b, f"{name} differs between the two runs"
    assert (tmp_path / "a" / "tasks.csv").read_text().count("\n") >= 2  # the population stage ran
