"""Intervention analysis: the gain plug-ins, the two-arm model, pairing, onset, the CLI and its files.

Plumbing with few draws and real sampling (the gain hypotheses compiled once per module); accuracy
is measured by `benchmarks/intervention.py` and `tests/test_intervention_slow.py`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import phasefit as pf
from phasefit.analyses.intervention import (
    BREAKPOINT_GAIN,
    COLUMNS,
    EMERGENT,
    HINGE_GAIN,
    HYPOTHESES,
    PairFit,
    analyse_pair,
    decide_pair,
    intervention_pairs,
    intervention_spec,
    onset_draws,
    pair_probabilities,
)
from phasefit.cli import main
from phasefit.inference.diagnostics import Diagnostics
from phasefit.inference.sampler import Sampler
from phasefit.models.arms import arms_inputs, arms_loglik, arms_names, arms_priors, build_arms_model
from phasefit.models.hypotheses import NUMPY, registered
from phasefit.models.priors import log_prior, sample, to_unconstrained
from phasefit.models.spec import DiagnosticsSpec, load_spec

FLOPS = np.array([1e20, 4e20, 3e21, 2e22])
CHANCE = 0.25


def _table() -> pd.DataFrame:
    """Two families under `direct` and `cot` (4 models), one family with `direct` only, and an
    unbounded metric under both arms (skipped: the gain needs proportions)."""
    rng = np.random.default_rng(5)
    rows = []
    shapes = {
        "Alpha": (np.array([-3.0, -3.0, -2.8, -2.5]), np.array([-0.8, -0.5, 1.5, 3.0])),  # harm, then benefit
        "Beta": (np.array([-2.0, -1.0, 0.0, 1.0]), np.array([-2.0, -1.0, 0.0, 1.0])),  # no effect
    }
    for family, (direct, gain) in shapes.items():
        for cond, eta in (("direct", direct), ("cot", direct + gain)):
            p = CHANCE + (1 - CHANCE) / (1 + np.exp(-eta))
            k = rng.binomial(400, p)
            for j in range(4):
                rows.append(
                    dict(task="arith", metric="exact_match", family=family, condition=cond, model=f"{family}-{j}",
                         train_flops=FLOPS[j], score=k[j] / 400, n_items=400, chance=CHANCE)
                )  # fmt: skip
    for j in range(4):
        rows.append(
            dict(task="arith", metric="exact_match", family="Gamma", condition="direct", model=f"G-{j}",
                 train_flops=FLOPS[j], score=0.3, n_items=400, chance=CHANCE)
        )  # fmt: skip
        for cond in ("direct", "cot"):
            rows.append(
                dict(task="arith", metric="log_likelihood", family="Alpha", condition=cond, model=f"Alpha-{j}",
                     train_flops=FLOPS[j], score=-3.0 + j + (cond == "cot"), higher_is_better=1)
            )  # fmt: skip
    return pd.DataFrame(rows)


@lru_cache(maxsize=1)
def _spec():
    spec = intervention_spec(load_spec()).with_sampler(chains=2, draws=300, tune=300)
    return replace(
        spec,
        diagnostics=DiagnosticsSpec(rhat_max=1.1, ess_bulk_min=20, ess_tail_min=20, max_divergences=20, retries=()),
    )


@lru_cache(maxsize=1)
def _sampler() -> Sampler:
    return Sampler(_spec())


@pytest.fixture
def curves():
    return pf.load_curves(_table(), name="arms.csv")


def test_gain_hypotheses_are_registered_plugins():
    assert set(HYPOTHESES) <= set(registered())
    spec = _spec()
    x = np.linspace(-1, 1, 9)
    data = {"range_lo": -0.5, "range_hi": 0.5, "x_ref": 1.0, "center": 0.0}
    p = {"level": -1.0, "jump": 3.0, "tau_fraction": 0.5, "width": 0.05}
    p |= spec.plugin(BREAKPOINT_GAIN).deterministics(p, data, NUMPY)
    g = spec.plugin(BREAKPOINT_GAIN).eta(x, p, data, NUMPY)
    assert g[0] == pytest.approx(-1.0, abs=1e-3)  # harm before the break
    assert g[-1] == pytest.approx(-1.0 + 3.0, abs=1e-3)  # a benefit past it: level + jump
    assert g[4] == pytest.approx(-1.0 + 1.5)  # half-way at the break (tau = 0, the middle of the range)
    assert np.all(spec.plugin("no_gain").eta(x, {}, data, NUMPY) == 0)


def test_pairs_match_arms_and_say_what_is_left_out(curves):
    pairs, skipped = intervention_pairs(curves, baseline="direct", treatment="cot")
    labels = {curves.curve(b).family for b, _ in pairs}
    assert labels == {"Alpha", "Beta"}
    for b, t in pairs:
        assert (curves.curve(b).condition, curves.curve(t).condition) == ("direct", "cot")
    reasons = dict(skipped)
    assert "only the baseline arm" in reasons["arith, exact_match, Gamma"]
    assert "proportions" in reasons["arith, log_likelihood, Alpha"]
    with pytest.raises(
        ValueError, match=r"no curve has condition 'zero-shot' \(the treatment arm\); conditions: cot, direct"
    ):
        intervention_pairs(curves, baseline="direct", treatment="zero-shot")
    with pytest.raises(ValueError, match="same condition"):
        intervention_pairs(curves, baseline="cot", treatment="cot")


def test_arms_inputs_pad_counts_and_need_four_shared_models(curves):
    pairs, _ = intervention_pairs(curves, baseline="direct", treatment="cot")
    b, t = (curves.curve(i) for i in pairs[0])
    inputs = arms_inputs(b, t, _spec(), hypothesis=BREAKPOINT_GAIN)
    assert inputs.m == 4 and inputs.slots == 4
    short = replace(t, models=t.models[:3] + ("other",))
    with pytest.raises(ValueError, match="3 models in both arms, at least 4 needed"):
        arms_inputs(b, short, _spec(), hypothesis=BREAKPOINT_GAIN)
    five = replace(inputs, x=np.append(inputs.x, 2.0), y_base=np.append(inputs.y_base, 1),
                   n_base=np.append(inputs.n_base, 10), y_treat=np.append(inputs.y_treat, 1),
                   n_treat=np.append(inputs.n_treat, 10))  # fmt: skip
    data = five.data()
    assert five.slots == 8 and len(data["x"]) == 8 and np.all(data["n_base"][5:] == 0)


@pytest.mark.parametrize("hypothesis", HYPOTHESES)
def test_numpy_likelihood_equals_the_pymc_model(curves, hypothesis):
    """The NumPy log likelihood (used for the marginal likelihood) is the PyMC model's observed logp."""
    pairs, _ = intervention_pairs(curves, baseline="direct", treatment="cot")
    b, t = (curves.curve(i) for i in pairs[0])
    spec = _spec()
    inputs = arms_inputs(b, t, spec, hypothesis=BREAKPOINT_GAIN)
    model = build_arms_model(hypothesis, spec, template=inputs)
    rng = np.random.default_rng(1)
    priors = arms_priors(hypothesis, spec, inputs, all_slots=True)
    values = {name: sample(prior, 1, rng)[0] for name, prior in priors}
    point = {}
    for rv in model.free_RVs:
        value_var = model.rvs_to_values[rv]
        prior = dict(priors)[rv.name]
        point[value_var.name] = to_unconstrained(np.asarray(values[rv.name]), prior)
    observed = model.compile_fn(
        model.logp(vars=model.observed_RVs), inputs=list(point_vars(model)), on_unused_input="ignore"
    )
    want = float(observed(point))
    got = float(arms_loglik(hypothesis, {k: np.asarray([v]) for k, v in values.items()}, inputs, spec)[0])
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)
    assert set(arms_names(hypothesis, spec, inputs)) >= {n for n, _ in priors}
    assert np.isfinite(sum(log_prior(np.asarray(values[n]), p) for n, p in priors))


def point_vars(model):
    return [model.rvs_to_values[rv] for rv in model.free_RVs]


def test_onset_is_where_the_gain_reaches_the_margin_and_stays():
    grid = np.linspace(20.0, 23.0, 7)
    draws = np.array(
        [
            [-1.0, -1.0, -0.5, 0.2, 0.6, 1.5, 2.0],  # crosses 0.5 between 21.5 and 22.0
            [0.8, 0.9, 0.2, 0.1, 0.7, 0.9, 1.0],  # above early, dips, then above from 22.0
            [0.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.45],  # never reaches it: beyond the data
            [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # helps from the smallest model
        ]
    )
    onset = onset_draws(draws, grid, margin=0.5)
    assert onset[0] == 22.0 and onset[1] == 22.0 and np.isinf(onset[2]) and onset[3] == 20.0


def test_hinge_rises_from_the_break_to_level_plus_jump_at_the_largest_model():
    spec = _spec()
    data = {
        "center": np.asarray(20.0),
        "x_ref": np.asarray(1.5),
        "range_lo": np.asarray(-1.0),
        "range_hi": np.asarray(1.0),
    }
    p = {"level": np.asarray(-1.0), "jump": np.asarray(3.0), "tau_fraction": np.asarray(0.5), "width": np.asarray(0.0)}
    p |= spec.plugin(HINGE_GAIN).deterministics(p, data, NUMPY)
    x = np.array([-1.5, -0.5, 0.5, 1.0, 1.5])  # the break at 0 (centred)
    g = spec.plugin(HINGE_GAIN).eta(x, p, data, NUMPY)
    assert g[0] == pytest.approx(-1.0, abs=1e-6) and g[1] == pytest.approx(-1.0, abs=1e-3)
    assert g[-1] == pytest.approx(2.0)  # level + jump at x_ref
    assert g[3] - g[2] == pytest.approx(g[4] - g[3], rel=1e-3)  # linear past the break, unlike the step
    step = spec.plugin(BREAKPOINT_GAIN).eta(x, p, data, NUMPY)
    assert step[2] == pytest.approx(step[4], abs=1e-3)


def test_even_weights_are_each_pair_alone_and_learned_weights_share_strength():
    lz = np.array([[-10.0, -10.0, -10.0, -10.0]])
    k = np.zeros_like(lz)
    even, rec = pair_probabilities(lz, k, weights="even")
    assert even[0] == pytest.approx(0.25) and rec["method"] == "even"
    alone, _ = pair_probabilities(lz, k, weights="learned", seed=3)
    assert alone[0] == pytest.approx(0.25, abs=0.01)  # one pair: even prior odds, in expectation
    # 40 pairs that clearly favour the step, one that cannot tell, one with an unreliable estimate
    many = np.vstack([np.tile([-20.0, -20.0, -10.0, -20.0], (40, 1)), lz, [[-10.0, -10.0, np.nan, -10.0]]])
    kh = np.zeros_like(many)
    p, rec = pair_probabilities(many, kh, weights="learned", seed=3)
    again, _ = pair_probabilities(many, kh, weights="learned", seed=3)
    assert np.array_equal(p, again, equal_nan=True)
    assert rec["pairs"] == 41 and rec["prior"][BREAKPOINT_GAIN] > 0.85
    assert p[40, HYPOTHESES.index(BREAKPOINT_GAIN)] > 0.8  # the run's pairs lend it their shape
    assert np.isnan(p[41]).all()
    assert np.allclose(p[:41].sum(axis=1), 1.0)
    bad_k = kh.copy()
    bad_k[0, 1] = 0.9
    assert np.isnan(pair_probabilities(many, bad_k, weights="even")[0][0]).all()
    with pytest.raises(ValueError, match="weights must be one of"):
        pair_probabilities(lz, k, weights="flat")


def _fake_fit(onset: float, *, grid=(20.0, 22.0)) -> PairFit:
    """A pair whose emergent draws all have the onset `onset` (inf: beyond the data)."""
    h, r, m = len(HYPOTHESES), 200, 4
    g = np.linspace(*grid, 121)
    return PairFit(
        label="t, F, em [cot vs direct]",
        info=dict(
            task="t",
            metric="em",
            family="F",
            baseline="direct",
            treatment="cot",
            n_points=m,
            x_axis="flops",
            likelihood="beta_binomial",
            models="a;b;c;d",
        ),  # fmt: skip
        log_z=np.array([-30.0, -30.0, -20.0, -30.0]),
        k_hat=np.zeros(h),
        diagnostics=(
            Diagnostics(
                rhat_max=1.0,
                ess_bulk_min=1000.0,
                ess_tail_min=1000.0,
                divergences=0,
                treedepth_share=0.0,
                attempts=1,
                ok=True,
                reason="",
            ),
        )
        * h,  # fmt: skip
        onset=np.full((len(EMERGENT), r), onset),
        tau=np.full((len(EMERGENT), r), 21.0),
        ends=np.tile([-1.0, 2.0], (h, r, 1)),
        gain_rows=np.zeros((h, 50, 121), np.float32),
        arm_rows=np.full((h, 50, 2, m), 0.5, np.float32),
        x=np.linspace(*grid, m),
        axis_x=np.linspace(*grid, m),
        axis_other=np.linspace(9.0, 11.0, m),
        grid=g,
        observed=np.full((2, m), 0.5),
        n_items=np.full((2, m), 100.0),
        floor=0.0,
        margin=0.5,
        seconds=1.0,
    )


@pytest.mark.parametrize(
    ("onset", "verdict", "note"),
    [(21.0, "emergent", ""), (20.0, "inconclusive", "already >= 0.5"), (np.inf, "inconclusive", "stays below")],
)
def test_an_emergent_benefit_must_start_within_the_data(onset, verdict, note):
    fit = _fake_fit(onset)
    p, _ = pair_probabilities(fit.log_z, fit.k_hat, weights="even")
    r = decide_pair(fit, p[0], thresholds=_spec().verdict)
    assert r.row["p_emergent"] > 0.99 and r.row["verdict"] == verdict and note in r.row["notes"]
    assert r.row["p_step"] + r.row["p_ramp"] == pytest.approx(r.row["p_emergent"])
    if verdict == "emergent":
        assert r.row["onset_flops_median"] == pytest.approx(1e21) and r.row["onset_params_median"] == pytest.approx(
            1e10
        )
        assert r.row["p_harm_smallest"] == 1.0 and r.row["break_flops_median"] == pytest.approx(1e21)


def test_analyse_pair_is_reproducible_and_reads_the_gain(curves):
    pairs, _ = intervention_pairs(curves, baseline="direct", treatment="cot")
    by_family = {curves.curve(b).family: (curves.curve(b), curves.curve(t)) for b, t in pairs}
    alpha = analyse_pair(*by_family["Alpha"], _sampler(), x_axis="flops")
    again = analyse_pair(*by_family["Alpha"], _sampler(), x_axis="flops")
    assert pd.DataFrame([alpha.row]).to_csv() == pd.DataFrame([again.row]).to_csv()
    row = alpha.row
    assert row["verdict"] != "failed", row["failure_reason"]
    assert row["p_emergent"] + row["p_smooth"] + row["p_absent"] == pytest.approx(1.0)
    assert row["gain_largest_median"] > 1.0  # +3 log-odds simulated at the largest model
    assert row["p_absent"] < 0.05
    assert alpha.gain_q.shape == (3, len(alpha.grid)) and alpha.arms_q.shape == (2, 3, 4)
    beta = analyse_pair(*by_family["Beta"], _sampler(), x_axis="flops").row
    assert beta["verdict"] != "emergent" and beta["p_emergent"] < 0.5  # no effect simulated
    assert abs(beta["gain_largest_median"]) < 0.5


def test_cli_writes_table_curves_record_and_figures_and_resumes(tmp_path):
    data = tmp_path / "arms.csv"
    _table().to_csv(data, index=False)
    out = tmp_path / "iv"
    args = ["intervention", str(data), "--baseline", "direct", "--treatment", "cot", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    table = pd.read_csv(out / "intervention.csv")
    assert list(table.columns) == list(COLUMNS)
    assert sorted(table["family"]) == ["Alpha", "Beta"]
    assert set(table["baseline"]) == {"direct"} and set(table["treatment"]) == {"cot"}
    run = json.loads((out / "intervention.json").read_text())
    assert run["hypothesis_weights"]["method"] == "learned" and run["hypothesis_weights"]["pairs"] == 2
    assert run["n_pairs"] == 2 and {s["pair"] for s in run["skipped"]} == {
        "arith, exact_match, Gamma",
        "arith, log_likelihood, Alpha",
    }
    curves_long = pd.read_csv(out / "intervention_curves.csv")
    assert set(curves_long["series"]) == {"gain", "gain_breakpoint", "baseline", "treatment"}
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert "onsets.png" in figures and "onsets.pdf" in figures
    assert sum(n.endswith(".png") for n in figures) == 3  # two pairs + onsets
    assert not (out / ".phasefit-work").exists()
    first = (out / "intervention.csv").read_bytes()

    # an interrupted run: the checkpoint of the first pair is reused, the table comes out the same
    import phasefit.runner.intervention as runner

    calls = []
    original = runner.fit_pair

    def once_then_stop(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*a, **k)

    runner.fit_pair = once_then_stop
    try:
        out2 = tmp_path / "iv2"
        assert main([*args[:-3], "--out", str(out2), "--no-progress", "--formats", "none"]) == 130
        assert not (out2 / "intervention.csv").exists()
        assert len(list((out2 / ".phasefit-work").rglob("pair-*.npz"))) == 1
    finally:
        runner.fit_pair = original
    counted = []
    runner.fit_pair = lambda *a, **k: counted.append(1) or original(*a, **k)
    try:
        assert main([*args[:-3], "--out", str(out2), "--no-progress", "--formats", "none"]) == 0
    finally:
        runner.fit_pair = original
    assert len(counted) == 1  # the finished pair was not fitted again
    assert (out2 / "intervention.csv").read_bytes() == first
    assert not (out2 / "figures").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--baseline", "direct", "--treatment", "zero-shot"], "no curve has condition 'zero-shot'"),
        (["--baseline", "cot", "--treatment", "cot"], "same condition"),
        (["--baseline", "direct", "--treatment", "cot", "--formats", "svg"], "--formats: unknown format 'svg'"),
        (["--baseline", "direct", "--treatment", "cot", "--margin", "0"], "--margin must be positive"),
        (["--baseline", "direct", "--treatment", "cot", "--metric", "log_likelihood"], "no task, metric and family"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    data = tmp_path / "arms.csv"
    _table().to_csv(data, index=False)
    out = tmp_path / "iv"
    assert main(["intervention", str(data), "--out", str(out), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("phasefit: error:") and message in err and "\n" not in err
    assert not (out / "intervention.csv").exists()


def test_summary_gives_counts_and_the_learned_weights():
    from phasefit.runner.intervention import summary_text

    fit = _fake_fit(21.0)
    p, rec = pair_probabilities(np.vstack([fit.log_z] * 3), np.zeros((3, 4)), weights="learned", seed=1)
    table = pd.DataFrame([decide_pair(fit, p[0], thresholds=_spec().verdict).row])
    text = summary_text(table, weights=rec).splitlines()
    assert text[0] == "1 pairs: 1 emergent, 0 inconclusive, 0 smooth, 0 absent, 0 failed."
    assert text[1].startswith("Prior weights of the gain hypotheses, learned from the 3 weighed pairs: no_gain 0.")
    assert "helps from 1.0e21 FLOPs" in text[2]
    even = summary_text(table, weights=pair_probabilities(fit.log_z, fit.k_hat, weights="even")[1])
    assert "Prior weights" not in even
