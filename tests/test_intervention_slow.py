"""The intervention analysis on a small version of benchmarks/intervention.py: 20 pairs simulated by the
benchmark's generators (5 per kind: harm then benefit, benefit at a break, constant benefit, no effect;
4-8 models, so two padded sizes compile) with this test's own seed, fitted once by `phasefit.intervention`
(the hypotheses' weights learned from the 20 pairs; ~2-4 min).

The issue's targets (harm-then-benefit called emergent >= 70%, the onset's 90% interval covering the
truth in >= 85% of them, constant/no-effect called emergent <= 5%) are measured by the benchmark itself
on 120 pairs beside the Bayes-optimal reference (benchmarks/RESULTS.md). Here they are asserted with
the tolerances 20 pairs allow: harm-then-benefit called in at least half, no constant or no-effect pair
called, the onset's interval covering the truth in >= 60% of the called breaks when at least 5 are
called (an exactly calibrated 90% interval falls below that with probability 0.005 at 8 called, and
below 70% with 0.04), plus what a broken implementation would break: breaks ranked above the other
pairs, no harm claimed where there is none, onsets on the right axis.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

SEED = 11  # neither the benchmark's development seed (1) nor its reporting seed (2026)
PAIRS = 20
COLUMNS = ["pair", "kind", "true_onset", "pf_p_emergent", "pf_verdict", "pf_onset_q05", "pf_onset_q95"]


@pytest.mark.slow
def test_intervention_analysis_on_simulated_pairs(tmp_path):
    import intervention as bench

    sims = bench.simulate_suite(PAIRS, SEED, models=(4, 8))
    fits, run = bench.fit_suite(sims, work_dir=tmp_path, log=lambda s: None)
    assert run["hypothesis_weights"]["method"] == "learned" and run["hypothesis_weights"]["pairs"] >= PAIRS - 2
    table = pd.DataFrame([s.truth for s in sims]).merge(fits, on="pair")
    m = bench.score_method(table, "pf")
    shown = table[COLUMNS]
    assert m["n_failed"] <= 2, m["failures"]
    assert m["kinds"]["harm_then_benefit"]["called"]["share"] >= 0.5, shown
    assert m["breaks_called"]["k"] >= 5, shown  # of the 10 true breaks
    assert m["null_called"]["k"] == 0, shown  # no constant / no-effect pair called emergent
    assert m["auc"] >= 0.8, shown  # P(emergent) ranks the breaks above constant / none
    p = table["pf_p_emergent"].to_numpy(float)
    kind = table["kind"].to_numpy()
    breaks = np.isin(kind, bench.EMERGENT_KINDS)
    assert np.nanmedian(p[breaks]) > np.nanmedian(p[~breaks]) + 0.3, shown
    assert np.nanmedian(p[kind == "none"]) < 0.3, shown
    assert m["kinds"]["none"]["absent"]["k"] >= 3, shown  # most no-effect pairs called absent
    for k in ("benefit_at_break", "constant", "none"):  # no harm claimed where there is none
        assert m["kinds"][k]["harm_claimed"]["k"] == 0, table[["pair", "kind", "pf_p_harm_smallest"]]
    # where a break is called, its onset is on the right axis and near the truth (a decade at most) ...
    called = table[table["pf_called"].astype(bool) & breaks]
    err = (called["pf_onset_median"] - called["true_onset"]).abs()
    assert (err < 1.0).all(), called[COLUMNS]
    # ... and its 90% interval mostly covers the truth
    cov = m["onset"]["breaks"]["coverage"]
    if cov["n"] >= 5:
        assert cov["share"] >= 0.6, shown
    else:
        assert cov["k"] >= cov["n"] - 1, shown
