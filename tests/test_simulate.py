"""The simulation suite draws from the spec's priors (what its calibration check relies on)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from phasefit.data.curves import load_curves
from phasefit.models.simulate import FLAT_MAX_LEVEL, simulate_curve, simulation_suite
from phasefit.models.spec import load_spec


@pytest.fixture(scope="module")
def suite():
    return simulation_suite(600, seed=11)


def test_kinds_follow_the_prior_weights_and_the_data_load(suite):
    data, truth = suite
    assert truth["kind"].value_counts().to_dict() == {"breakpoint": 200, "smooth": 200, "flat": 200}
    curves = load_curves(data)
    assert len(curves) == 600 and curves.dropped.empty
    assert set(data.groupby("task")["n_items"].first()) <= {100, 250, 500, 1000, 2000}
    assert set(truth["floor"]) == {0.0, 0.25, 0.5}


def test_parameters_are_draws_from_the_priors(suite):
    _, truth = suite
    spec = load_spec()
    bp = truth[truth["kind"] == "breakpoint"]
    gain = spec.hypothesis("breakpoint").prior("gain")
    level = spec.hypothesis("breakpoint").prior("level")
    # a Kolmogorov-Smirnov test against the prior: a generator that drifts from the priors fails it
    assert stats.kstest(np.log(bp["gain"]), stats.norm(gain["mu"], gain["sigma"]).cdf).pvalue > 0.01
    assert stats.kstest(bp["level"], stats.norm(level["mu"], level["sigma"]).cdf).pvalue > 0.01
    slope = spec.hypothesis("smooth").prior("slope")
    sm = truth[truth["kind"] == "smooth"]
    assert stats.kstest(sm["slope"], stats.norm(slope["mu"], slope["sigma"]).cdf).pvalue > 0.01
    conc = spec.shared_prior("concentration")
    assert stats.kstest(np.log(truth["concentration"]), stats.norm(conc["mu"], conc["sigma"]).cdf).pvalue > 0.01
    assert (truth.loc[truth["kind"] == "flat", "level"] <= FLAT_MAX_LEVEL).all()


def test_breaks_lie_between_the_second_smallest_and_second_largest_model(suite):
    data, truth = suite
    for row in truth[truth["kind"] == "breakpoint"].itertuples():
        x = np.sort(np.log10(data.loc[data["task"] == row.task, "train_flops"].to_numpy()))
        assert x[1] <= row.tau <= x[-2]


def test_a_breakpoint_curve_is_flat_then_gains_what_its_truth_says():
    rng = np.random.default_rng(3)
    df, t = simulate_curve("breakpoint", rng=rng, n_points=10, n_items=10**7, floor=0.25)
    x = np.log10(df["train_flops"].to_numpy())
    eta = special.logit((df["score"].to_numpy() - t["floor"]) / (t["ceiling"] - t["floor"]))
    expected = (
        t["level"]
        + t["slope_before"] * (x - t["tau"])
        + (t["slope_after"] - t["slope_before"]) * np.maximum(x - t["tau"], 0)
    )
    assert eta == pytest.approx(expected, abs=0.05)  # 10^7 items: binomial noise is negligible
    assert expected[-1] - (t["level"] + t["slope_before"] * (x[-1] - t["tau"])) == pytest.approx(t["gain"])
