"""A real Dask cluster: `dask scheduler` and two `dask worker` processes on 127.0.0.1.

A batch fitted through them gives byte-identical tables to a local run with the same seed, and
SIGKILL to a worker in the middle of the run loses no finished curve (the scheduler hands the dead
worker's shard to the other one). That test takes about 3 minutes on 2 cores and is in the slow
suite (`make test-slow`) to keep the default suite under 10 minutes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from _models import paired_frame, sim_frame

from phasefit.cli import main

TABLES = ("verdicts.csv", "parameters.csv", "tasks.csv")
SETTINGS = ["--chains", "2", "--draws", "100", "--tune", "100", "--seed", "5", "--no-progress"]


def _dask() -> str:
    exe = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    if exe is None:
        pytest.fail("the `dask` command is missing: pip install -e '.[dev]' installs dask[distributed]")
    return exe


def _wait_for(predicate, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers, torn down afterwards; yields (address, workers)."""
    dask = _dask()
    info = tmp_path / "scheduler.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        _wait_for(lambda: info.exists() and info.stat().st_size > 0, "the scheduler")
        import json

        address = json.loads(info.read_text())["address"]
        workers = [
            subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--name", f"w{i}"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i in range(2)
        ]
        procs += workers
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for p in procs[::-1]:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.slow  # about 3 minutes on 2 cores (two workers compile the models): `make test-slow`
def test_cluster_run_matches_local_and_survives_a_killed_worker(cluster, tmp_path):
    address, workers = cluster
    data = tmp_path / "data.csv"
    sim_frame(("breakpoint", "flat"), seed=8).to_csv(data, index=False)
    out = tmp_path / "cluster"
    fit = subprocess.Popen(
        [sys.executable, "-m", "phasefit.cli", "fit", str(data), "--out", str(out), "--scheduler", address, *SETTINGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(
        lambda: list((out / ".phasefit-work").rglob("curve-*.npz")) or fit.poll() is not None, "a first curve", 600
    )
    assert fit.poll() is None, "the run ended before a worker could be killed"
    finished = {p.name for p in (out / ".phasefit-work").rglob("curve-*.npz")}
    workers[0].send_signal(signal.SIGKILL)  # mid-run: at most its current shard is lost
    stdout, stderr = fit.communicate(timeout=900)
    assert fit.returncode == 0, stderr[-3000:]
    assert finished and "verdicts.csv" in stdout

    local = tmp_path / "local"
    assert main(["fit", str(data), "--out", str(local), *SETTINGS]) == 0
    for name in TABLES:
        assert (out / name).read_bytes() == (local / name).read_bytes(), f"{name}: cluster and local runs differ"


@pytest.mark.slow  # about 2 minutes on 2 cores (the workers compile the mirage models): `make test-slow`
def test_sensitivity_sends_the_mirage_stage_to_the_cluster(cluster, tmp_path, monkeypatch):
    """`phasefit sensitivity --scheduler`: the mirage fits run on the workers (the client's own
    mirage code is disabled) and the tables are byte-identical to a local run's."""
    import phasefit.runner.local as runner

    address, _ = cluster
    data = tmp_path / "pairs.csv"
    paired_frame(families=("A", "B"), seed=8).to_csv(data, index=False)
    real = runner.mirage_evidence

    def not_here(*a, **k):
        raise AssertionError("the mirage stage ran in the client, not on the cluster")

    monkeypatch.setattr(runner, "mirage_evidence", not_here)
    assert main(["sensitivity", str(data), "--out", str(tmp_path / "cluster"), "--scheduler", address, *SETTINGS]) == 0
    monkeypatch.setattr(runner, "mirage_evidence", real)
    assert main(["sensitivity", str(data), "--out", str(tmp_path / "local"), *SETTINGS]) == 0
    for name in ("sensitivity.csv", "sensitivity_tasks.csv", *TABLES):
        assert (tmp_path / "cluster" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    table = pd.read_csv(tmp_path / "local" / "sensitivity.csv")
    assert table["mirage_ok"].notna().sum() == 2  # both sharp curves got the mirage stage
    assert not (tmp_path / "cluster" / ".phasefit-work").exists()


def test_bad_scheduler_address_is_one_line(tmp_path, capsys):
    data = tmp_path / "data.csv"
    sim_frame(("flat",), seed=8).to_csv(data, index=False)
    assert main(["fit", str(data), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9", *SETTINGS]) == 2
    err = capsys.readouterr().err.strip()
    assert "--scheduler tcp://127.0.0.1:9: cannot connect" in err and len(err.splitlines()) == 1
