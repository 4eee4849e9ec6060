"""The accuracy benchmark's generators, Bayes-optimal reference and scores (benchmarks/accuracy*.py).

Fast and without sampling: the generators give valid phasefit input in the documented ranges, the
reference is right where it must be (clear cases, brute-force integrals, exact quantiles) and the
scores are right on hand-made tables.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import accuracy_reference as R  # noqa: E402
import accuracy_scoring as S  # noqa: E402
import accuracy_worlds as W  # noqa: E402

import phasefit  # noqa: E402

FAST = {"n_prior": 6000, "n_round": 6000, "max_rounds": 6, "ess_target": 800.0}


@pytest.fixture(scope="module")
def suite():
    return W.simulate_suite(32, seed=1)


# ------------------------------------------------------------------------------------ generators


def test_suite_is_valid_phasefit_input(suite):
    data, truth = suite
    curves = phasefit.load_curves(data, x_axis="flops", min_points=4, name="accuracy-test")
    assert len(curves) == len(truth) == 32
    assert list(truth["world"][:4]) == list(W.WORLD_ORDER)
    assert list(truth["kind"][::4][:3]) == ["break", "smooth", "flat"]
    assert set(truth["kind"]) == {"break", "smooth", "flat"}
    for t in truth.itertuples():
        df = data[data["task"] == t.task]
        d = W.design_of(df)
        k = W.counts_of(df)
        assert np.all((k >= 0) & (k <= d.n)) and np.all(np.diff(d.x) > 0)
        assert d.floor in W.FLOORS and len(set(d.n)) == 1
        if t.world != "prior_predictive":
            assert W.GRID_POINTS[0] <= len(d.x) <= W.GRID_POINTS[1]
            assert W.N_ITEMS[0] <= d.n[0] <= W.N_ITEMS[1]
            assert W.GRID_START[0] <= d.x_lo <= W.GRID_START[1]
            assert W.GRID_SPAN[0] - 1e-9 <= d.span <= W.GRID_SPAN[1] + 1e-9
            assert np.min(np.diff(d.x)) >= W.GRID_MIN_GAP - 1e-9
        if t.kind == "break":
            assert d.x_lo < t.tau < d.x_hi
        else:
            assert math.isnan(t.tau)
        if np.isfinite(t.onset):
            assert d.x_lo - W.ONSET_PAD <= t.onset <= d.x_hi + W.ONSET_PAD


def test_suite_is_reproducible_and_prefix_stable(suite):
    data, truth = suite
    data2, truth2 = W.simulate_suite(12, seed=1)
    pd.testing.assert_frame_equal(truth.iloc[:12].reset_index(drop=True), truth2, check_dtype=False)
    assert data[data["task"].isin(truth2["task"])].reset_index(drop=True).equals(data2.reset_index(drop=True))
    _, other = W.simulate_suite(12, seed=2)
    assert not np.allclose(other["x_min"], truth2["x_min"])


def test_world_priors_stay_in_their_documented_ranges():
    rng = np.random.default_rng(0)
    design = W.Design(x=np.array([19.5, 20.0, 20.8, 21.5, 22.0, 22.9]), n=np.full(6, 500), floor=0.25)
    u = rng.uniform(size=(20000, 6))
    for name in ("hinge", "logistic", "powerlaw"):
        world = W.WORLDS[name]
        b = world.kinds["break"].shape(u[:, : world.kinds["break"].dim], design, design.x)
        # the logistic rise's gain is k (x_max - tau) up to the plateau's share: within 5% of the cap
        assert np.all(b.info["gain"] <= W.GAIN[1] * (1.05 if name == "logistic" else 1.0) + 1e-6)
        assert np.all(b.info["slope_after"] <= W.MAX_SLOPE + 1e-9)
        assert np.all((b.info["plateau"] >= W.PLATEAU[0]) & (b.info["plateau"] <= W.PLATEAU[1]))
        lo, hi = design.x_lo + W.TAU_INSET * design.span, design.x_hi - W.TAU_INSET * design.span
        assert np.all((b.tau >= lo) & (b.tau <= hi))
        assert np.all((b.p >= design.floor) & (b.p <= 1))
        assert abs(np.mean(np.isinf(b.kappa)) - (1 - W.KAPPA_SHARE)) < 0.02
        fin = b.kappa[np.isfinite(b.kappa)]
        assert fin.min() >= W.KAPPA[0] and fin.max() <= W.KAPPA[1]
        # the curve is at its plateau well before the break and has risen by the largest model
        assert np.all(b.p[:, -1] > b.base[:, -1])
    hinge = W.WORLDS["hinge"].kinds["break"].shape(u, design, design.x)
    assert hinge.info["width"].min() >= W.HINGE_WIDTH[0] and hinge.info["width"].max() <= W.HINGE_WIDTH[1]
    smooth = W.WORLDS["hinge"].kinds["smooth"].shape(u[:, :4], design, design.x)
    assert smooth.info["slope"].min() >= W.SMOOTH_SLOPE[0] and smooth.info["slope"].max() <= W.SMOOTH_SLOPE[1]
    flat = W.WORLDS["hinge"].kinds["flat"].shape(u[:, :2], design, design.x)
    assert np.all(np.ptp(flat.p, axis=1) == 0)
    level = (flat.p[:, 0] - design.floor) / (1 - design.floor)
    assert level.min() >= W.FLAT_LEVEL[0] * (1 - 1e-9) and level.max() <= W.FLAT_LEVEL[1] * (1 + 1e-9)


def test_prior_predictive_world_reproduces_its_generator():
    """The reference's curves of the prior-predictive world are the frozen generator's expected scores
    (10^7 items and kappa 10^12: the scores are the expected scores to ~1e-3)."""
    pp = W.PriorPredictive()
    one = lambda v: np.array([float(v)])  # noqa: E731
    for kind in ("breakpoint", "smooth", "flat"):
        df, t = W._frozen_curve(
            kind, np.random.default_rng(5), n_points=8, n_items=10**7, floor=0.25, concentration=1e12, name="c"
        )
        d = W.design_of(df)
        f = (t["ceiling"] - t["floor"]) / (1 - t["floor"])
        common = {"ceiling_fraction": one(f), "concentration": one(np.inf)}
        if kind == "breakpoint":
            par = {
                "tau": one(t["tau"]),
                "level": one(t["level"]),
                "slope_before": one(t["slope_before"]),
                "gain": one(t["gain"]),
            }
            shape = pp.break_curve(par | common, d, d.x)
        elif kind == "smooth":
            shape = pp.smooth_curve({"intercept": one(t["intercept"]), "slope": one(t["slope"])} | common, d, d.x)
        else:
            shape = pp.flat_curve({"level": one(t["level"])} | common, d, d.x)
        np.testing.assert_allclose(shape.p[0], df.sort_values("train_flops")["score"].to_numpy(), atol=2e-3)


def test_frozen_prior_predictive_suite_is_phasefits_while_its_priors_are_unchanged():
    from phasefit.models.simulate import simulation_suite

    spec = phasefit.load_spec()
    try:
        live = {
            "tau_fraction": spec.hypothesis("breakpoint").prior("tau_fraction"),
            "bp_level": spec.hypothesis("breakpoint").prior("level"),
            "slope_before": spec.hypothesis("breakpoint").prior("slope_before"),
            "gain": spec.hypothesis("breakpoint").prior("gain"),
            "intercept": spec.hypothesis("smooth").prior("intercept"),
            "slope": spec.hypothesis("smooth").prior("slope"),
            "flat_level": spec.hypothesis("absent").prior("level"),
            "ceiling_fraction": spec.shared_prior("ceiling_fraction"),
            "concentration": spec.shared_prior("concentration"),
        }
        same = all(
            live[k].dist == v.dist and dict(live[k].params) == dict(v.params) for k, v in W.FROZEN_PRIORS.items()
        )
    except (AttributeError, KeyError, TypeError):
        same = False
    if not same:
        pytest.skip("phasefit's priors are no longer 0.1's: the frozen prior-predictive world is the yardstick")
    ours, ours_truth = W.frozen_simulation_suite(9, seed=3)
    theirs, theirs_truth = simulation_suite(9, seed=3)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
    pd.testing.assert_frame_equal(ours_truth, theirs_truth[ours_truth.columns], check_dtype=False)


def test_onset_and_visible_rise():
    design = W.Design(x=np.array([20.0, 20.5, 21.0, 21.5, 22.0, 22.5]), n=np.full(6, 1000), floor=0.5)
    grid = design.onset_grid()
    # p crosses floor + 0.05 (1 - floor) = 0.525 where the line 0.5 + 0.05 (x - 20) does: at x = 20.5
    p = 0.5 + 0.05 * (grid - 20.0).clip(0)
    shape = W.Shape(p=np.stack([p, np.full_like(grid, 0.6), np.full_like(grid, 0.51)]), kappa=np.full(3, np.inf))
    on = W.onset(shape, design, grid)
    assert on[0] == pytest.approx(20.5, abs=1e-6) and on[1] == -np.inf and on[2] == np.inf
    # a hinge from 0.52 to 0.9 with three models after the break: visible; one model after it: not
    tau = 21.2
    p_m = np.where(design.x > tau, 0.9, 0.52)
    s = W.Shape(p=p_m[None], kappa=np.array([np.inf]), tau=np.array([tau]), base=np.full((1, 6), 0.52))
    assert W.visible_rise(s, design) == (True, 3, 3)
    s.tau = np.array([22.2])
    s.p = np.where(design.x > 22.2, 0.9, 0.52)[None]
    assert W.visible_rise(s, design)[0] is False


# ------------------------------------------------------------------------------------- reference


def test_loglik_is_the_beta_binomial_and_binomial_pmf():
    k, n = np.array([3, 50, 97]), np.array([100, 100, 100])
    p = np.array([[0.05, 0.4, 0.9], [0.2, 0.5, 0.95]])
    coef = R.log_binom_coef(k, n)
    for kappa in (30.0, 400.0):
        got = R.loglik(p, np.full(2, kappa), k, n) + coef
        want = stats.betabinom.logpmf(k, n, p * kappa, (1 - p) * kappa).sum(axis=1)
        np.testing.assert_allclose(got, want, rtol=1e-10)
    got = R.loglik(p, np.full(2, np.inf), k, n) + coef
    np.testing.assert_allclose(got, stats.binom.logpmf(k, n, p).sum(axis=1), rtol=1e-10)
    np.testing.assert_allclose(R.loglik(p, np.full(2, 1e9), k, n), R.loglik(p, np.full(2, np.inf), k, n), rtol=1e-5)


def test_weighted_quantile():
    rng = np.random.default_rng(1)
    v = rng.normal(size=501)
    np.testing.assert_allclose(
        R.weighted_quantile(v, np.ones(501), [0.05, 0.5, 0.95]),
        np.quantile(v, [0.05, 0.5, 0.95], method="hazen"),
        atol=1e-12,
    )
    # integer weights = repeated values
    vals, w = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 1.0])
    assert R.weighted_quantile(vals, w, 0.5)[0] == pytest.approx(2.0)
    np.testing.assert_allclose(
        R.weighted_quantile(vals, w, [0.05, 0.95]),
        np.quantile(np.repeat(vals, [100, 200, 100]), [0.05, 0.95], method="hazen"),
        atol=0.02,
    )
    # a density on a grid: the quantiles of a normal
    grid = np.linspace(-6, 6, 24001)
    q = R.weighted_quantile(grid, stats.norm.pdf(grid), [0.05, 0.5, 0.95])
    np.testing.assert_allclose(q, stats.norm.ppf([0.05, 0.5, 0.95]), atol=1e-3)
    # +-inf values and NaN
    q = R.weighted_quantile(np.array([-np.inf, 0.0, 1.0, np.inf, np.nan]), np.ones(5), [0.01, 0.5, 0.99])
    assert q[0] == -np.inf and 0.0 <= q[1] <= 1.0 and q[2] == np.inf


def _clear_curve(kind: str):
    design = W.Design(x=np.linspace(19.5, 23.0, 10), n=np.full(10, 2000), floor=0.0)
    if kind == "break":  # 2% up to 21.25, then a rise of 5 log-odds per decade
        eta = special.logit(0.02) + 5.0 * np.maximum(design.x - 21.25, 0.0)
        p = 0.9 * special.expit(eta)
    else:
        p = np.full(10, 0.01)
    return design, np.round(p * design.n).astype(int)


def test_reference_on_clear_cases():
    world = W.WORLDS["hinge"]
    design, k = _clear_curve("break")
    out = R.reference_curve(world, design, k, np.random.default_rng(0), n_resample=500, **FAST)
    assert out["ref_p_break"] > 0.99
    assert out["ref_tau_q05"] < 21.25 < out["ref_tau_q95"] and out["ref_tau_q95"] - out["ref_tau_q05"] < 1.0
    assert out["ref_onset_q05"] < out["ref_onset_median"] < out["ref_onset_q95"]
    design, k = _clear_curve("flat")
    out = R.reference_curve(world, design, k, np.random.default_rng(0), n_resample=200, **FAST)
    assert out["ref_p_break"] < 0.01 and out["ref_p_flat"] > 0.9


def test_importance_sampling_matches_quadrature_on_a_two_parameter_kind():
    """Flat kind (level, kappa): log Z by adaptive IS against a 2-D midpoint rule over the uniforms."""
    design = W.Design(x=np.array([20.0, 20.7, 21.5, 22.6]), n=np.full(4, 300), floor=0.25)
    k = np.array([80, 84, 79, 86])
    kind = W.WORLDS["hinge"].kinds["flat"]
    g1 = (np.arange(4000) + 0.5) / 4000
    g2 = (np.arange(600) + 0.5) / 600
    u = np.stack(np.meshgrid(g1, g2, indexing="ij"), axis=-1).reshape(-1, 2)
    shape = kind.shape(u, design, design.x)
    exact = float(special.logsumexp(R.loglik(shape.p, shape.kappa, k, design.n)) - math.log(len(u)))
    ev = R.kind_evidence(kind, design, k, np.random.default_rng(3), **FAST)
    assert ev.ess >= 500
    assert abs(ev.log_z - exact) < 0.02


def test_importance_sampling_matches_a_large_prior_monte_carlo():
    """Break kind of the hinge world (6 parameters) on a weakly informative curve: adaptive IS against
    plain Monte Carlo over 400,000 prior draws, and P(break) of both."""
    design = W.Design(x=np.array([19.8, 20.6, 21.9, 22.5]), n=np.full(4, 100), floor=0.25)
    k = np.array([27, 25, 31, 52])
    world = W.WORLDS["hinge"]
    rng = np.random.default_rng(11)
    brute, ours = {}, {}
    for h in W.KINDS:
        kind = world.kinds[h]
        ll = np.concatenate(
            [
                R.loglik(s.p, s.kappa, k, design.n)
                for s in (kind.shape(rng.uniform(size=(100000, kind.dim)), design, design.x) for _ in range(4))
            ]
        )
        brute[h] = float(special.logsumexp(ll) - math.log(len(ll)))
        se = math.sqrt(max(len(ll) / R.kish_ess(ll) - 1, 0) / len(ll))
        ev = R.kind_evidence(kind, design, k, np.random.default_rng(4), **FAST)
        ours[h] = ev.log_z
        assert abs(ev.log_z - brute[h]) < 0.03 + 3 * math.hypot(se, ev.log_z_se), h
    pb, po = R.posterior_probabilities(brute)["break"], R.posterior_probabilities(ours)["break"]
    assert 0.05 < pb < 0.95 and abs(pb - po) < 0.02


def test_posterior_probabilities_use_the_kind_weights():
    p = R.posterior_probabilities({"break": 0.0, "smooth": 0.0, "flat": 0.0})
    assert p == pytest.approx({"break": 1 / 3, "smooth": 1 / 3, "flat": 1 / 3})
    p = R.posterior_probabilities({"break": math.log(18.0), "smooth": 0.0, "flat": 0.0})
    assert p["break"] == pytest.approx(0.9)


# --------------------------------------------------------------------------------------- scoring


def test_auc():
    pos = np.array([0, 0, 1, 1, 0, 1], bool)
    assert S.auc(np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7]), pos) == 1.0
    assert S.auc(np.array([0.9, 0.8, 0.1, 0.2, 0.7, 0.3]), pos) == 0.0
    assert S.auc(np.full(6, 0.5), pos) == 0.5
    assert S.auc(np.array([0.1, 0.2, 0.8, np.nan, 0.3, 0.7]), pos) == 1.0  # NaN dropped
    assert S.auc(np.array([0.1, 0.6, 0.5, 0.9]), np.array([0, 0, 1, 1], bool)) == 0.75


def test_coverage_and_calibration():
    c = S.coverage(
        [1.0, 2.0, 3.0, 4.0, np.nan], [0.5, 2.5, 2.0, 3.0, 0.0], [1.0, 3.0, 3.0, 4.0, 0.0], [1.5, 3.5, 4.0, 5.0, 1.0]
    )
    assert (c["n"], c["covered"], c["below"], c["above"]) == (4, 3, 1, 0)
    assert c["share"] == 0.75 and c["median_width"] == pytest.approx(1.5)
    p = np.array([0.05, 0.05, 0.08, 0.95, 0.97, 1.0, 0.55, 0.45])
    y = np.array([0, 0, 1, 1, 1, 1, 1, 0], bool)
    cal = S.calibration(p, y)
    assert len(cal) == 10 and [r["count"] for r in cal] == [3, 0, 0, 0, 1, 1, 0, 0, 0, 3]
    assert cal[0]["observed"] == pytest.approx(1 / 3) and cal[0]["mean_p"] == pytest.approx(0.06)
    assert cal[0]["abs_diff"] == pytest.approx(1 / 3 - 0.06) and cal[0]["within_tol"] is False
    assert cal[9]["bin"] == "[0.9, 1.0]" and cal[9]["observed"] == 1.0 and cal[9]["within_tol"] is True
    assert cal[1]["within_tol"] is None


def _table():
    kind = ["break"] * 4 + ["smooth"] * 3 + ["flat"] * 3
    t = pd.DataFrame(
        {
            "task": [f"c{i}" for i in range(10)],
            "world": ["a"] * 5 + ["b"] * 5,
            "kind": kind,
            "tau": [21.0, 21.5, 22.0, 20.5] + [np.nan] * 6,
            "onset": [21.2, 21.7, np.nan, 20.8] + [np.nan] * 6,
            "rising": [True, True, True, False] + [False] * 6,
            "ref_p": [0.99, 0.95, 0.6, 0.2, 0.05, 0.3, 0.92, 0.01, 0.02, 0.0],
            "pf_p": [0.97, 0.5, 0.93, 0.1, 0.02, 0.2, 0.4, 0.0, 0.95, 0.01],
            "pf_tau_q05": [20.8, np.nan, 22.3, np.nan] + [np.nan] * 6,
            "pf_tau_median": [21.0, np.nan, 22.5, np.nan] + [np.nan] * 6,
            "pf_tau_q95": [21.3, np.nan, 22.8, np.nan] + [np.nan] * 6,
            "ref_tau_q05": [20.7, 21.0, 21.5, 19.0] + [np.nan] * 6,
            "ref_tau_median": [21.0, 21.4, 22.0, 20.0] + [np.nan] * 6,
            "ref_tau_q95": [21.4, 22.0, 22.6, 21.0] + [np.nan] * 6,
        }
    )
    t["pf_called"] = t["pf_p"] >= 0.9
    t["ref_called"] = t["ref_p"] >= 0.9
    return t


def test_score_and_targets_on_a_hand_made_table():
    t = _table()
    pf, ref = S.score(t, "pf"), S.score(t, "ref")
    assert (pf["n_break"], pf["n_smooth"], pf["n_flat"]) == (4, 3, 3)
    assert pf["n_called"] == 3 and pf["tpr"] == 0.5 and pf["precision"] == pytest.approx(2 / 3)
    assert pf["fpr"] == pytest.approx(1 / 6) and pf["flat_called"] == 1
    assert ref["n_called"] == 3 and ref["tpr"] == 0.5 and ref["fpr"] == pytest.approx(1 / 6)
    assert ref["flat_called"] == 0 and ref["auc"] == pytest.approx(21 / 24)
    # break coverage among called breaks: pf calls c0 (covered) and c2 (22.0 below [22.3, 22.8])
    bc = pf["break_coverage"]
    assert (bc["n"], bc["covered"], bc["below"]) == (2, 1, 1) and bc["median_width"] == pytest.approx(0.5)
    assert pf["onset_coverage"]["reported"] is False and pf["onset_coverage"]["n"] == 0
    assert ref["break_coverage"]["n"] == 2 and ref["break_coverage"]["share"] == 1.0
    assert pf["smooth_median_p"] == pytest.approx(0.2) and ref["smooth_median_p"] == pytest.approx(0.3)
    rows = {r["target"]: r for r in S.targets(t, pf, ref)}
    flat = next(r for name, r in rows.items() if name.startswith("flat curves"))
    assert flat["pass"] is False and flat["reference_meets"] is True
    width = next(r for name, r in rows.items() if name.startswith("break: median"))
    assert width["reference"] == pytest.approx(np.median([0.7, 1.1]))  # the reference on phasefit's calls
    onset = next(r for name, r in rows.items() if name.startswith("onset: 90%"))
    assert onset["pass"] is None  # phasefit reports no onset: not scored
    subsets = S.subsets(t)
    assert subsets["identifiable"].sum() == 9  # c3 (ref P 0.2) is left out
    assert subsets["rising"].sum() == 9 and set(subsets) == {"all", "identifiable", "rising", "world:a", "world:b"}
