"""The benchmark scripts' own helpers still work against the package (they run outside the suite)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from phasefit.models.spec import load_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_compile_once_summarises_a_fit():
    import compile_once

    rng = np.random.default_rng(0)
    draws = {"level": rng.normal(size=(4, 500)), "tau_fraction": rng.uniform(size=(4, 500))}
    stats = {"diverging": np.zeros((4, 500), bool), "reached_max_treedepth": np.zeros((4, 500), bool)}
    out = compile_once.summarise_fit(None, draws, stats, load_spec())
    assert out["ok"] and out["divergences"] == 0 and out["treedepth_share"] == 0
    assert set(out["mean"]) == {"level"}  # the break's fraction duplicates tau and is left out


@pytest.mark.parametrize("name", ["compile_once", "convergence", "profile_sampling", "simulation"])
def test_benchmark_modules_import(name):
    __import__(name)
