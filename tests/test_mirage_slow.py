"""The mirage stage on a small version of benchmarks/mirage.py: with the continuous metric beside exact
match, a smooth per-token skill is called a mirage and a breaking one is not (6 pairs, joint mode)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.mark.slow
def test_joint_mirage_evidence_tells_a_smooth_skill_from_a_breaking_one():
    import mirage as bench

    data, truth = bench.simulate_suite(6, bench.DEV_SEED)
    sampler = bench.make_sampler(draws=500, tune=500)
    table = bench.fit_suite(data, truth, sampler, modes=("joint",), log=lambda s: None)
    m = bench.score_mode(table, "joint")
    assert m["n_failed"] <= 1, m["failures"]
    smooth, brk = m["smooth"]["called"], m["break"]["called"]
    assert smooth["k"] >= 2, table[["pair", "kind", "joint_p_mirage"]]  # most of the 3 smooth skills: P >= 0.5
    assert brk["k"] >= 2, table[["pair", "kind", "joint_p_mirage"]]  # most of the 3 breaking skills: P < 0.5
    p = table["joint_p_mirage"].to_numpy(float)
    smooth_p, break_p = p[table["kind"] == "smooth"], p[table["kind"] == "break"]
    assert np.nanmedian(smooth_p) > np.nanmedian(break_p)
    ok = table["joint_ok"].to_numpy(bool) & (table["kind"] == "smooth").to_numpy()
    covered = table.loc[ok, "joint_tokens_covered"].astype(bool)
    assert covered.mean() >= 0.5  # L's 90% interval under the mirage, where the mirage is true
