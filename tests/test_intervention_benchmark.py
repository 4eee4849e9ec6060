"""benchmarks/intervention.py: its generators, truth and Bayes-optimal reference (no sampling; the fits
are in test_intervention_slow.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import intervention as bench  # noqa: E402


def _design(m: int = 8, n: int = 4000, floor: float = 0.0) -> bench.PairDesign:
    return bench.PairDesign(x=np.linspace(19.0, 22.5, m), n_items=np.full(m, n), floor=floor)


def test_a_pair_is_deterministic_for_its_seed_and_a_prefix_of_larger_suites():
    a, b = bench.simulate_pair(1, 5), bench.simulate_pair(1, 5)
    assert a.truth == b.truth and np.array_equal(a.k, b.k)
    assert not np.array_equal(a.k, bench.simulate_pair(2, 5).k)
    small = bench.suite_table(bench.simulate_suite(4, 1))
    large = bench.suite_table(bench.simulate_suite(8, 1))
    pd.testing.assert_frame_equal(small, large[large["task"].isin(small["task"].unique())].reset_index(drop=True))


def test_designs_kinds_and_truth_are_in_their_ranges():
    sims = bench.simulate_suite(80, 5)
    truth = pd.DataFrame([s.truth for s in sims])
    assert list(truth["kind"]) == list(bench.KINDS) * 20  # in rotation
    assert set(truth["baseline_shape"]) == set(bench.BASELINES)
    assert set(truth["floor"]) == set(bench.FLOORS)
    assert truth["n_models"].between(*bench.MODELS).all() and truth["n_items"].between(*bench.N_ITEMS).all()
    assert (np.isinf(truth["kappa"]) | truth["kappa"].between(*bench.KAPPA_RANGE)).all()
    assert np.isinf(truth["kappa"]).any() and np.isfinite(truth["kappa"]).any()
    span = truth["x_max"] - truth["x_min"]
    assert truth["x_min"].between(*bench.X_START).all() and span.between(bench.SPAN[0] - 1e-9, bench.SPAN[1]).all()
    for s in sims:
        assert np.all(np.diff(s.design.x) >= bench.MIN_GAP - 1e-9)
        assert np.all((s.k >= 0) & (s.k <= s.design.n))
        t = s.truth
        if s.kind in bench.EMERGENT_KINDS:
            lo, hi = s.design.tau_range
            assert lo <= t["tau"] <= hi and (s.design.x < t["tau"]).sum() >= 2 and (s.design.x > t["tau"]).sum() >= 2
            assert bench.BENEFIT[0] <= t["gain_largest"] <= bench.BENEFIT[1] and t["gain_largest"] == pytest.approx(
                t["benefit"]
            )
            assert t["x_min"] <= t["true_onset"] <= t["x_max"]  # the benefit at the largest model is >= 1
            assert bench.WIDTH[0] <= t["width"] <= bench.WIDTH[1]
        if s.kind == "harm_then_benefit":
            assert bench.HARM[0] <= t["harm"] <= bench.HARM[1] and t["gain_min"] >= -t["harm"] - 1e-12
        if s.kind == "benefit_at_break":
            assert t["gain_min"] >= 0.0
        if s.kind == "constant":
            assert t["gain_smallest"] == t["gain_largest"] == t["effect"]
            assert t["true_onset"] == (t["x_min"] if t["effect"] >= bench.MARGIN else math.inf)
        if s.kind == "none":
            assert t["gain_smallest"] == t["gain_largest"] == 0.0 and math.isinf(t["true_onset"])
            assert np.allclose([t["base_min"], t["base_max"]], [t["treat_min"], t["treat_max"]])


def test_the_gains_have_logistic_transitions_and_the_onset_is_where_the_gain_reaches_the_margin():
    d = _design()
    x = d.onset_grid()
    par = {"harm": np.array([1.0]), "benefit": np.array([3.0]), "tau": np.array([20.5]), "width": np.array([0.05])}
    g = bench.gain_curve("harm_then_benefit", par, d, x, 1)[0]
    assert g[0] == pytest.approx(-1.0, abs=1e-6) and g[-1] == pytest.approx(3.0)
    assert np.all(np.diff(g) >= 0)
    mid = np.interp(20.5, x, g)  # the logistic's midpoint: halfway from -h to B (up to the normalisation)
    assert mid == pytest.approx(1.0, abs=1e-6)
    onset = bench.onsets(g[None, :], x)[0]
    assert np.interp(onset, x, g) >= bench.MARGIN > np.interp(onset - bench.ONSET_STEP, x, g)
    # the true onset solves -h + (h + B) logistic((x - tau) / w) = 0.5
    exact = 20.5 + 0.05 * special.logit(1.5 / 4.0)
    assert onset == pytest.approx(exact, abs=bench.ONSET_STEP + 1e-9)
    # an onset is +inf where the gain ends below the margin, the grid's start where it is above throughout
    assert np.isinf(bench.onsets(np.full((1, 5), 0.4), np.arange(5.0))[0])
    assert bench.onsets(np.array([[0.6, 0.2, 0.7, 0.8]]), np.arange(4.0))[0] == 2.0
    assert bench.onsets(np.full((1, 4), 0.6), np.arange(4.0))[0] == 0.0


def test_the_ramp_transition_keeps_rising_and_changes_only_the_gain():
    d = _design()
    x = d.onset_grid()
    par = {"harm": np.array([1.0]), "benefit": np.array([3.0]), "tau": np.array([20.5]), "width": np.array([0.05])}
    step = bench.gain_curve("harm_then_benefit", par, d, x, 1)[0]
    ramp = bench.gain_curve("harm_then_benefit", par, d, x, 1, "ramp")[0]
    assert ramp[0] == pytest.approx(-1.0, abs=1e-6) and ramp[-1] == pytest.approx(3.0)
    after = x > 20.5 + 10 * 0.05
    slope = np.diff(ramp[after]) / np.diff(x[after])
    np.testing.assert_allclose(slope, 4.0 / (d.x_hi - 20.5), rtol=1e-3)  # linear from the break to B at x_max
    assert np.all(ramp <= step + 1e-12)  # the ramp reaches the benefit later: its onset is later
    assert bench.onsets(ramp[None], x)[0] > bench.onsets(step[None], x)[0]
    a, b = bench.simulate_pair(1, 4), bench.simulate_pair(1, 4, transition="ramp")
    assert np.array_equal(a.u, b.u) and np.array_equal(a.design.x, b.design.x) and np.array_equal(a.k_base, b.k_base)
    assert a.truth["true_onset"] < b.truth["true_onset"] and b.truth["transition"] == "ramp"
    assert bench.simulate_pair(1, 2, transition="ramp").truth == bench.simulate_pair(1, 2).truth  # constant: no break


def test_counts_follow_the_binomial_without_overdispersion_and_spread_more_with_it():
    d = _design(m=4, n=1000, floor=0.25)
    u = np.array([0.5, 0.5, 0.5, 0.99])  # constant gain, power-law baseline, binomial (u_kappa >= 0.75)
    p, kappa, _, _ = bench.arms_p("constant", "powerlaw", u[None, :], d, d.x)
    assert np.isinf(kappa[0]) and np.all(p >= 0.25)
    rng = np.random.default_rng(0)
    k = np.stack([bench.make_sim("constant", "powerlaw", u, d, rng).k for _ in range(400)])
    np.testing.assert_allclose(k.mean(0) / 1000, p[0], atol=0.005)
    u_disp = np.array([0.5, 0.5, 0.5, 0.0])  # kappa = 20: strong over-dispersion
    kd = np.stack([bench.make_sim("constant", "powerlaw", u_disp, d, rng).k for _ in range(400)])
    assert (kd.var(0) > 5 * k.var(0)).all()


def test_the_suite_loads_as_one_intervention_pair_per_simulated_pair():
    import phasefit
    from phasefit.analyses.intervention import intervention_pairs

    sims = bench.simulate_suite(6, 1)
    cs = phasefit.load_curves(bench.suite_table(sims))
    pairs, skipped = intervention_pairs(cs, baseline=bench.BASELINE_ARM, treatment=bench.TREATMENT_ARM)
    assert not skipped and len(pairs) == 6
    for ib, it in pairs:
        base, treat = cs.curve(ib), cs.curve(it)
        sim = sims[int(base.task.split("-")[1])]
        assert base.likelihood == treat.likelihood == "beta_binomial"
        assert base.floor == sim.design.floor
        np.testing.assert_array_equal(base.k, sim.k_base)
        np.testing.assert_array_equal(treat.k, sim.k_treat)
        np.testing.assert_allclose(base.x, sim.design.x)


def _ref(sim, seed=0, **opts):
    return bench.reference_pair(sim, np.random.default_rng(seed), **opts)


def test_the_reference_is_sure_of_an_obvious_harm_then_benefit_and_finds_its_onset():
    d = _design(m=8, n=2000)
    # harm 1.5, benefit 4, break in the middle (u 0.5 of [x_2, x_7]), width ~0.045; power-law baseline
    # around q = 0.4-0.7 (harm visible); binomial counts
    u = np.array([(1.5 - 0.3) / 1.7, 0.75, 0.5, 0.4, 0.5, 0.3, 0.99])
    sim = bench.make_sim("harm_then_benefit", "powerlaw", u, d, np.random.default_rng(3))
    r = _ref(sim)
    assert r["ref_p_emergent"] > 0.99 and r["ref_p_harm_then_benefit"] > 0.9 and r["ref_called"]
    assert r["ref_p_harm_smallest"] > 0.9
    assert r["ref_onset_q05"] <= sim.truth["true_onset"] <= r["ref_onset_q95"]
    assert r["ref_onset_q95"] - r["ref_onset_q05"] < 0.6
    assert r["ref_ess_min_relevant"] > 500 and r["ref_p_emergent_se"] < 0.01


def test_the_reference_rules_out_a_break_on_a_pair_without_effect():
    d = _design(m=8, n=2000, floor=0.25)
    u = np.array([0.5, 0.3, 0.99])  # no gain, power-law baseline, binomial
    sim = bench.make_sim("none", "powerlaw", u, d, np.random.default_rng(4))
    r = _ref(sim)
    assert r["ref_p_emergent"] < 0.01 and not r["ref_called"]
    assert r["ref_p_none"] > 0.9 and r["ref_p_harm_smallest"] < 0.01


def test_the_reference_marginal_likelihood_agrees_with_quadrature():
    """log Z of the two-parameter part (no gain, flat baseline: level and kappa) by the importance
    sampler and by a midpoint rule on the unit square."""
    d = _design(m=5, n=300, floor=0.0)
    sim = bench.make_sim("none", "flat", np.array([0.6, 0.3]), d, np.random.default_rng(5))
    from accuracy_reference import kind_evidence, loglik

    kind = bench.sub_kind("none", "flat")
    ev = kind_evidence(kind, d, sim.k, np.random.default_rng(6))
    n0, n1 = 4000, 400
    u0, u1 = (np.arange(n0) + 0.5) / n0, (np.arange(n1) + 0.5) / n1
    uu = np.stack(np.meshgrid(u0, u1, indexing="ij"), axis=-1).reshape(-1, 2)
    ll = np.concatenate(
        [loglik(*(lambda s: (s.p, s.kappa))(kind.shape(c, d, d.x)), sim.k, d.n) for c in np.array_split(uu, 40)]
    )
    log_z_quad = special.logsumexp(ll) - math.log(len(ll))
    assert ev.log_z == pytest.approx(log_z_quad, abs=max(0.03, 3 * ev.log_z_se))


def test_scores_on_a_made_up_table():
    kinds = list(bench.KINDS) * 2
    table = pd.DataFrame(
        {
            "pair": range(8),
            "kind": kinds,
            "true_onset": [20.0, 21.0, 19.0, np.inf, 20.5, 21.5, np.inf, np.inf],
            "n_models": [6, 6, 6, 6, 8, 8, 8, 8],
            "models_before_onset": [4, 1, 0, 6, 5, 2, 8, 8],  # 2, 5, ..., 3, 6 models at or past the onset
            "gain_largest": [2.0, 3.0, 1.0, 0.0, 2.0, 4.0, 1.5, 0.0],
            "pf_gain_largest_median": [2.5, 3.5, 1.2, 0.0, 1.0, np.nan, 1.5, 0.1],
            "pf_p_smooth": [0.05, 0.08, 0.7, 0.1, 0.35, np.nan, 0.05, 0.2],
            "pf_p_emergent": [0.95, 0.92, 0.3, 0.01, 0.6, np.nan, 0.95, 0.2],
            "pf_verdict": ["emergent", "emergent", "smooth", "absent", "inconclusive", "failed", "emergent", "smooth"],
            "pf_called": [True, True, False, False, False, False, True, False],
            "pf_onset_q05": [19.8, 21.2, np.nan, np.nan, 20.0, np.nan, 19.0, np.nan],
            "pf_onset_median": [20.1, 21.3, np.nan, np.nan, 20.4, np.nan, 19.5, np.nan],
            "pf_onset_q95": [20.3, np.inf, np.nan, np.nan, 21.0, np.nan, 20.0, np.nan],
            "pf_p_harm_smallest": [0.95, 0.1, 0.0, 0.0, 0.5, np.nan, 0.0, 0.0],
            "pf_failure_reason": ["", "", "", "", "", "breakpoint_gain: 1 divergences", "", ""],
            "pf_divergences": [0, 0, 0, 0, 0, 1, 0, 0],
            "pf_attempts": [1, 1, 2, 1, 1, 3, 1, 2],
            "pf_log_z_no_gain": [-60.0, -60.0, -50.0, -40.0, -55.0, -70.0, -60.0, -40.0],
            "pf_log_z_smooth_gain": [-58.0, -58.0, -49.0, -43.0, -54.0, -66.0, -58.0, -42.0],
            "pf_log_z_breakpoint_gain": [-55.0, -55.0, -50.0, -45.0, -54.0, -60.0, -55.0, -44.0],
            "pf_log_z_hinge_gain": [-70.0] * 8,
            "ref_p_emergent": [0.99, 0.5, 0.1, 0.0, 0.95, 0.97, 0.2, 0.0],
            "ref_called": [True, False, False, False, True, True, False, False],
            "ref_p_none": [0.0, 0.1, 0.1, 0.9, 0.0, 0.0, 0.2, 0.95],
            "ref_p_harm_smallest": [0.99, 0.0, 0.0, 0.0, 0.95, 0.0, 0.0, 0.0],
            "ref_onset_q05": [19.9, 20.5, 19.0, 19.5, 20.6, 21.0, 19.0, 20.0],
            "ref_onset_median": [20.0, 21.0, 19.5, 20.0, 20.8, 21.4, 19.5, 20.5],
            "ref_onset_q95": [20.1, 21.5, 20.0, 20.5, 21.0, 21.8, 20.0, 21.0],
        }
    )
    m = bench.score(table)
    pf, ref = m["pf"], m["ref"]
    assert pf["n_failed"] == 1 and pf["failures"][0]["pair"] == 5
    assert pf["kinds"]["harm_then_benefit"]["called"]["k"] == 1 and pf["kinds"]["harm_then_benefit"]["called"]["n"] == 2
    assert pf["null_called"]["k"] == 1 and pf["null_called"]["n"] == 4  # the constant pair 6
    assert pf["onset"]["harm_then_benefit"]["coverage"]["k"] == 1  # pair 0: 20.0 in [19.8, 20.3]
    assert pf["onset"]["breaks"]["coverage"]["n"] == 2 and pf["onset"]["breaks"]["truth_below"] == 1  # pair 1
    assert pf["onset"]["breaks"]["median_width"] == np.inf
    assert pf["kinds"]["none"]["absent"]["k"] == 1 and pf["kinds"]["harm_then_benefit"]["harm_claimed"]["k"] == 1
    assert ref["kinds"]["harm_then_benefit"]["called"]["k"] == 2
    assert ref["onset"]["harm_then_benefit"]["coverage"]["k"] == 1  # pair 4: 20.5 below [20.6, 21.0]
    assert ref["onset"]["harm_then_benefit"]["truth_below"] == 1
    assert ref["null_called"]["k"] == 0 and ref["auc"] == pytest.approx(1.0)
    assert pf["auc"] == pytest.approx(9.5 / 12)  # 3 breaks (one failed left out) vs 4 others; 0.95 ties 0.95
    assert m["both_called"]["harm_then_benefit"]["pf"]["coverage"]["n"] == 1
    dg = m["diagnostics"]
    assert dg["called_by_models_after_onset"]["1-2"]["pf"]["k"] == 1  # pair 0 (2 after), called
    assert dg["called_by_models_after_onset"]["3-4"]["ref"]["k"] == 1  # pair 4 (3 after)
    assert dg["called_by_models_after_onset"]["5+"]["pf"]["n"] == 2  # pairs 1 and 5
    assert dg["missed_breaks"]["n"] == 1 and dg["missed_breaks"]["smooth_favoured"] == 0  # pair 4: 0.35 < 0.6
    assert dg["pf_onset_median_minus_truth"] == pytest.approx(0.2)  # pairs 0 (+0.1) and 1 (+0.3)
    assert dg["pf_gain_largest_minus_truth"]["breaks_called"] == pytest.approx(0.5)
    assert dg["failed"] == {
        "n": 1,
        "divergences": 1,
        "breaks": 1,
        "breaks_log_z_favours_break": 1,  # pair 5: P = (1 + e^-10) / (1 + e^-6 + 2 e^-10) from its log Z
        "others_log_z_favours_break": 0,
    }
    assert dg["attempts"] == {"1": 5, "2": 2, "3": 1}
    t = {r["target"]: r for r in bench.targets(m)}
    assert t["htb_called"]["pf_pass"] is False and t["htb_called"]["ref_pass"] is True
    assert t["null_called_max"]["pf_pass"] is False and t["null_called_max"]["ref_pass"] is True
