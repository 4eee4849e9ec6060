"""benchmarks/mirage.py: its generators and scoring (no sampling; the fits are in test_mirage_slow.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import mirage as bench  # noqa: E402


def test_a_pair_is_deterministic_for_its_seed_and_a_prefix_of_larger_suites():
    rows_a, truth_a = bench.simulate_pair(1, 3)
    rows_b, truth_b = bench.simulate_pair(1, 3)
    pd.testing.assert_frame_equal(rows_a, rows_b)
    assert truth_a == truth_b
    rows_c, _ = bench.simulate_pair(2, 3)
    assert not np.array_equal(rows_a["score"].to_numpy(), rows_c["score"].to_numpy())
    small, _ = bench.simulate_suite(4, 1)
    large, _ = bench.simulate_suite(8, 1)
    pd.testing.assert_frame_equal(small, large[large["task"].isin(small["task"].unique())].reset_index(drop=True))


def test_designs_and_truth_are_in_their_ranges():
    data, truth = bench.simulate_suite(40, 5)
    assert list(truth["kind"]) == ["smooth", "break"] * 20  # in rotation
    assert set(truth["generator"]) == {"logit_linear", "power_law", "hinge"}
    assert set(truth["other_metric"]) == {"token_accuracy", "bleu_like"}
    assert truth["tokens"].between(*bench.TOKENS).all() and truth["tokens"].dtype.kind == "i"
    assert truth["n_items"].between(*bench.N_ITEMS).all()
    assert truth["n_models"].between(*bench.MODELS).all()
    assert (np.isinf(truth["kappa"]) | truth["kappa"].between(*bench.KAPPA)).all()
    assert np.isinf(truth["kappa"]).any() and np.isfinite(truth["kappa"]).any()
    tok = truth["other_metric"] == "token_accuracy"
    assert (truth.loc[tok, "gamma"] == 1).all() and truth.loc[~tok, "gamma"].between(*bench.GAMMA).all()
    span = truth["x_max"] - truth["x_min"]
    assert truth["x_min"].between(*bench.X_START).all() and span.between(bench.SPAN[0] - 1e-9, bench.SPAN[1]).all()
    brk = truth[truth["kind"] == "break"]
    inner = brk["x_min"] + bench.BREAK_INSET * (brk["x_max"] - brk["x_min"])
    outer = brk["x_max"] - bench.BREAK_INSET * (brk["x_max"] - brk["x_min"])
    assert ((brk["tau"] >= inner) & (brk["tau"] <= outer)).all()
    assert brk["q0"].between(*bench.BREAK_Q0).all() and brk["width"].between(*bench.BREAK_WIDTH).all()
    for _, g in data.groupby(["task", "metric"]):
        x = np.log10(g["train_flops"].to_numpy())
        assert np.all(np.diff(x) >= bench.MIN_GAP - 1e-9)
    em = data[data["metric"] == bench.SHARP]
    assert (em["n_correct"] == np.round(em["score"] * em["n_items"])).all()
    assert (em["n_correct"] <= em["n_items"]).all()
    other = data[data["metric"] == bench.OTHER]
    assert other["score"].between(*bench.Y_CLIP).all() and other["n_items"].isna().all()
    assert "answer_tokens" not in data.columns  # L is unknown to the model


def test_skills_are_probabilities_and_exact_match_is_q_to_the_L():
    rng = np.random.default_rng(0)
    x = np.linspace(19.5, 23.0, 7)
    for draw in (bench.smooth_skill, bench.break_skill):
        for _ in range(200):
            q, info = draw(x, rng)
            assert q.shape == x.shape and np.all((q >= 0) & (q <= 1))
            if info["generator"] in ("hinge", "logit_linear", "power_law"):
                assert np.all(np.diff(q) >= -1e-12)  # every skill improves with compute
    _, truth = bench.simulate_suite(20, 3)
    for t in truth.to_dict("records"):
        q = bench.true_skill(t, np.array([t["x_min"], t["x_max"]]))
        np.testing.assert_allclose([t["q_min"], t["q_max"]], q, rtol=1e-10)
        np.testing.assert_allclose([t["em_min"], t["em_max"]], q ** t["tokens"], rtol=1e-10)
    brk = truth[truth["kind"] == "break"].iloc[0]
    q = bench.true_skill(brk, np.array([brk["x_min"], brk["x_max"]]))
    assert q[0] == pytest.approx(brk["q0"], rel=1e-3)  # flat at q0 before the break
    assert bench._logit(q[1]) - bench._logit(q[0]) == pytest.approx(brk["gain"], rel=1e-3)


def test_counts_without_overdispersion_follow_the_binomial():
    rng = np.random.default_rng(1)
    p = np.array([0.02, 0.3, 0.9])
    k = np.stack([bench.exact_match_counts(p, 1000, math.inf, rng) for _ in range(400)])
    np.testing.assert_allclose(k.mean(0) / 1000, p, atol=0.005)
    kd = np.stack([bench.exact_match_counts(p, 1000, 50.0, rng) for _ in range(400)])
    assert (kd.var(0) > 1.5 * k.var(0)).all()  # beta over-dispersion widens the spread


def test_tokens_are_log_uniform_integers():
    u = np.linspace(0, 1, 10001)[:-1]
    L = np.array([bench.draw_tokens(v) for v in u])
    assert L.min() == 2 and L.max() == 15
    share = np.bincount(L, minlength=16)[2:] / len(L)
    np.testing.assert_allclose(share, np.log(np.arange(3, 17) / np.arange(2, 16)) / np.log(8), atol=2e-3)


def test_the_suite_loads_as_a_sharp_and_a_continuous_curve_per_pair():
    import phasefit

    data, _ = bench.simulate_suite(2, 1)
    cs = phasefit.load_curves(data)
    lik = dict(zip(cs.curves["metric"], cs.curves["likelihood"], strict=False))
    assert len(cs) == 4 and lik == {bench.SHARP: "beta_binomial", bench.OTHER: "beta"}


def test_scores_on_a_made_up_table():
    truth = pd.DataFrame(
        {
            "pair": range(6),
            "kind": ["smooth", "break"] * 3,
            "generator": ["logit_linear", "hinge", "power_law", "hinge", "logit_linear", "hinge"],
            "other_metric": ["token_accuracy", "bleu_like"] * 3,
            "tokens": [3, 5, 8, 10, 4, 2],
            "gamma": [1.0, 2.0] * 3,
        }
    )
    p = [0.95, 0.02, 0.6, 0.7, np.nan, 0.3]
    table = truth.assign(
        joint_p_mirage=p,
        joint_ok=[True, True, True, True, False, True],
        joint_reason=["", "", "", "", "mirage: r-hat", ""],
        joint_tokens_q05=[2.0, 4.0, 1.0, 11.0, np.nan, 1.0],
        joint_tokens_median=[3.0, 5.0, 2.0, 12.0, np.nan, 2.0],
        joint_tokens_q95=[4.0, 6.0, 3.0, 14.0, np.nan, 3.0],
        joint_tokens_covered=[True, True, False, False, None, True],
        joint_link_median=[1.0, 2.0] * 3,
        joint_seconds=[1.0] * 6,
        joint_wall_seconds=[1.5] * 6,
    )
    m = bench.score_mode(table, "joint")
    assert (m["n_ok"], m["n_failed"]) == (5, 1) and m["failures"][0]["pair"] == 4
    assert m["smooth"]["called"]["k"] == 2 and m["smooth"]["called"]["n"] == 2
    assert m["break"]["called"]["k"] == 2 and m["break"]["called"]["n"] == 3
    assert m["smooth"]["inconclusive"]["k"] == 1 and m["break"]["inconclusive"]["k"] == 2
    assert m["tokens"]["coverage"]["k"] == 3 and m["tokens"]["coverage"]["n"] == 5
    assert (m["tokens"]["below"], m["tokens"]["above"]) == (1, 1)
    t = bench.targets({"joint": m})
    assert [r["joint_pass"] for r in t] == [True, False, False]
