"""Metric-choice sensitivity and the mirage hypotheses: mean functions, the joint model, the tables, the run."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from _models import paired_frame as _frame
from _models import tiny_spec
from scipy import special, stats

import phasefit.runner.local as pipeline
from phasefit.analyses.metrics import metric_groups, mirage_pairs, sensitivity_table, task_table
from phasefit.analyses.mirage import MirageResult, mirage_evidence, mirage_spec
from phasefit.cli import main
from phasefit.data.curves import load_curves
from phasefit.inference.sampler import Sampler
from phasefit.models.curve_model import curve_inputs, mean_curve, pointwise_loglik
from phasefit.models.hypotheses import NUMPY
from phasefit.models.paired import build_paired_model, paired_inputs, paired_loglik, paired_priors
from phasefit.models.priors import log_prior

SPEC = mirage_spec(tiny_spec())


# ------------------------------------------------------------------------------ mean functions


@pytest.mark.parametrize("given", [0.0, 3.0])
def test_mirage_is_exact_match_of_a_logit_linear_skill(given):
    plugin = SPEC.plugin("mirage")
    x = np.linspace(-2, 2, 9)
    p = {"intercept": np.array([0.4]), "slope": np.array([1.3]), "extra_tokens": np.array([4.5])}
    data = {"answer_tokens": np.asarray(given)}
    p |= plugin.deterministics(p, data, NUMPY)
    em = special.expit(plugin.eta(x, p, data, NUMPY))
    length = given if given > 0 else 5.5
    np.testing.assert_allclose(em, special.expit(0.4 + 1.3 * x) ** length, rtol=1e-10)


def test_latent_break_is_flat_then_rises_on_the_skill_scale():
    curves = load_curves(_frame(families=("A",), shape="break"))
    inputs = curve_inputs(curves.curve(0), SPEC)
    draws = {
        "level": np.array([-0.5]),
        "slope_before": np.array([0.0]),
        "gain": np.array([4.0]),
        "tau_fraction": np.array([0.5]),
        "extra_tokens": np.array([3.0]),
    }
    em = mean_curve("latent_break", draws, inputs, inputs.x, SPEC)[0]
    tau = SPEC.plugin("latent_break").deterministics(draws, inputs.data(), NUMPY)["tau"][0] - inputs.center
    before = inputs.x < tau - 0.5  # the softplus joint reaches about 2 widths ahead of the break
    np.testing.assert_allclose(em[before], special.expit(-0.5) ** 4, rtol=5e-3)
    assert em[-1] == pytest.approx(special.expit(-0.5 + 4.0) ** 4, rel=1e-6)


def test_sharp_eta_stays_finite_for_extreme_skills():
    plugin = SPEC.plugin("mirage")
    p = {"intercept": np.array([0.0]), "slope": np.array([1.0]), "tokens": np.array([8.0])}
    eta = plugin.eta(np.array([-60.0, 0.0, 30.0]), p, {"answer_tokens": np.asarray(0.0)}, NUMPY)
    assert np.all(np.isfinite(eta)) and eta[0] < -400 and eta[2] > 5


def test_joint_model_logp_is_prior_plus_both_likelihoods():
    """The PyMC joint model and the NumPy log likelihood used for its evidence agree at any point."""
    curves = load_curves(_frame(families=("A",)))
    sharp = curves.curve(int(np.flatnonzero(curves.curves["metric"] == "exact_match")[0]))
    other = curves.curve(int(np.flatnonzero(curves.curves["metric"] == "token_accuracy")[0]))
    pair = paired_inputs(curve_inputs(sharp, SPEC), other)
    for h in ("mirage", "latent_break"):
        model = build_paired_model(h, SPEC, template=pair)
        point = model.initial_point()
        values = {}
        for rv in model.free_RVs:
            u = point[model.rvs_to_values[rv].name]
            values[rv.name] = (
                float(model.rvs_to_transforms[rv].backward(u).eval())
                if rv in model.rvs_to_transforms and model.rvs_to_transforms[rv] is not None
                else float(u)
            )
        logp = model.compile_logp(jacobian=False)(point)
        expected = sum(float(log_prior(values[n], pr)) for n, pr in paired_priors(h, SPEC))
        expected += float(paired_loglik(h, {k: np.array([v]) for k, v in values.items()}, pair, SPEC)[0])
        assert logp == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_paired_loglik_adds_the_other_metric_to_the_sharp_one():
    curves = load_curves(_frame(families=("A",)))
    sharp, other = curves.curve(0), curves.curve(1)
    assert (sharp.metric, other.metric) == ("exact_match", "token_accuracy")
    inputs = curve_inputs(sharp, SPEC)
    pair = paired_inputs(inputs, other)
    d = {
        "intercept": np.array([0.2, -0.1]),
        "slope": np.array([1.5, 1.2]),
        "extra_tokens": np.array([5.0, 3.0]),
        "concentration": np.array([300.0, 900.0]),
        "link": np.array([1.0, 1.4]),
        "precision": np.array([200.0, 50.0]),
    }
    q = special.expit(d["intercept"][:, None] + d["slope"][:, None] * pair.x_other)
    mu = q ** d["link"][:, None]
    assert paired_loglik("mirage", d, pair, SPEC).shape == (2,)
    other_ll = stats.beta.logpdf(pair.y_other, mu * d["precision"][:, None], (1 - mu) * d["precision"][:, None])
    expected = pointwise_loglik("mirage", d, inputs, SPEC).sum(-1) + other_ll.sum(-1)
    np.testing.assert_allclose(paired_loglik("mirage", d, pair, SPEC), expected, rtol=1e-10)


def test_a_continuous_metric_with_counts_cannot_be_the_pair():
    curves = load_curves(_frame(families=("A",)))
    with pytest.raises(ValueError, match="bounded continuous"):
        paired_inputs(curve_inputs(curves.curve(0), SPEC), curves.curve(0))


# ---------------------------------------------------------------------------------- the tables


def _fake_mirage(index: int, label: str, p: float, *, other: str = "", hidden: int = 0) -> MirageResult:
    return MirageResult(
        index=index,
        label=label,
        other_metric=other,
        p_mirage=p,
        log_z_mirage=0.0,
        log_z_latent_break=math.log(1 / p - 1) if 0 < p < 1 else 0.0,
        log_z_se=0.01,
        tokens_given=False,
        tokens_q05=2.0,
        tokens_median=5.0,
        tokens_q95=9.0,
        link_median=1.1 if other else math.nan,
        resolution=1 / 800,
        token_resolution=1 / 4000,
        hidden_models=hidden,
        ok=True,
        reason="",
        seconds=1.0,
    )


def _verdicts(curves, verdict: dict[tuple[str, str], str], p: dict[tuple[str, str], float]) -> pd.DataFrame:
    c = curves.curves.reset_index(drop=True)
    return pd.DataFrame(
        {
            "task": c["task"],
            "metric": c["metric"],
            "family": c["family"],
            "condition": c["condition"],
            "likelihood": c["likelihood"],
            "n_points": 7,
            "p_emergent": [p[(f, m)] for f, m in zip(c["family"], c["metric"], strict=True)],
            "verdict": [verdict[(f, m)] for f, m in zip(c["family"], c["metric"], strict=True)],
            "break_flops_median": 1e22,
        }
    )


def test_tables_flag_flips_and_carry_the_verdicts_unchanged():
    frame = pd.concat([_frame(), _frame(families=("C",)).query("metric == 'exact_match'")], ignore_index=True)
    curves = load_curves(frame)
    groups = metric_groups(curves)
    assert [k[1] for k in groups] == ["A", "B"]  # C has one metric only
    assert [k[1] for k in metric_groups(curves, sharp_alone=True)] == ["A", "B", "C"]  # C's is sharp
    verdict = {
        ("A", "exact_match"): "emergent",
        ("A", "token_accuracy"): "smooth",
        ("B", "exact_match"): "emergent",
        ("B", "token_accuracy"): "emergent",
        ("C", "exact_match"): "smooth",
    }
    p = {
        ("A", "exact_match"): 0.95,
        ("A", "token_accuracy"): 0.05,
        ("B", "exact_match"): 0.97,
        ("B", "token_accuracy"): 0.92,
        ("C", "exact_match"): 0.02,
    }
    v = _verdicts(curves, verdict, p)
    pairs = mirage_pairs(curves)
    assert len(pairs) == 3 and [o is None for _, o in pairs] == [False, False, True]  # C: alone
    assert len(mirage_pairs(curves, metrics=["token_accuracy"])) == 0
    pairs = pairs[:2]
    mirage = [
        (_fake_mirage(i, curves.curve(i).label, 0.6), _fake_mirage(i, curves.curve(i).label, 0.8, other="t", hidden=3))
        for i, _ in pairs
    ]
    table = sensitivity_table(curves, v, mirage, sharp_alone=False)
    assert len(table) == 4
    a = table[table["family"] == "A"].set_index("metric")
    assert a["flip"].all() and a["flip_decisive"].all() and a["p_emergent_spread"].iloc[0] == pytest.approx(0.90)
    assert a.at["exact_match", "emergent_under"] == "exact_match"
    assert a.at["exact_match", "p_mirage"] == 0.8 and a.at["exact_match", "p_mirage_alone"] == 0.6
    assert bool(a.at["exact_match", "mirage_attributed"]) and bool(a.at["exact_match", "flat_below_resolution"])
    assert pd.isna(a.at["token_accuracy", "p_mirage"])  # the mirage applies to the sharp metric only
    b = table[table["family"] == "B"]
    assert not b["flip"].any() and b["emergent_under"].iloc[0] == "exact_match;token_accuracy"
    # where they overlap, the sensitivity table is the verdict table
    merged = table.merge(v, on=["task", "family", "condition", "metric"], suffixes=("", "_v"))
    assert (merged["p_emergent"] == merged["p_emergent_v"]).all() and (merged["verdict"] == merged["verdict_v"]).all()
    c_index = int(np.flatnonzero(curves.curves["family"] == "C")[0])
    alone_c = (_fake_mirage(c_index, curves.curve(c_index).label, 0.3), None)
    with_c = sensitivity_table(curves, v, [*mirage, alone_c]).set_index("family")
    assert with_c.at["C", "n_metrics"] == 1 and not with_c.at["C", "flip"]
    assert with_c.at["C", "p_mirage"] == 0.3 and with_c.at["C", "paired_metric"] == ""
    tasks = task_table(table)
    row = tasks.iloc[0]
    assert (row["n_families"], row["families_flip"], row["families_flip_decisive"]) == (2, 1, 1)
    assert row["emergent_under"] == "exact_match;token_accuracy" and row["families_mirage"] == 2


def test_explicit_pairs_choose_the_other_metric():
    frame = _frame(families=("A",))
    extra = frame[frame["metric"] == "token_accuracy"].assign(metric="bleu")
    curves = load_curves(pd.concat([frame, extra], ignore_index=True))
    by_name = {curves.curve(i).metric: i for i in range(len(curves))}
    assert mirage_pairs(curves) == [(by_name["exact_match"], by_name["bleu"])]  # first by name
    assert mirage_pairs(curves, {"exact_match": "token_accuracy"}) == [
        (by_name["exact_match"], by_name["token_accuracy"])
    ]


# ------------------------------------------------------------------------------------ sampling


@pytest.fixture()
def mirage_sampler():
    return Sampler(SPEC.with_sampler(draws=400, tune=400))  # tiny_spec's 150 draws: R-hat too noisy for both fits


def test_mirage_evidence_alone_and_joint(mirage_sampler):
    curves = load_curves(_frame(families=("A",), seed=2))
    sharp, other = curves.curve(0), curves.curve(1)
    alone = mirage_evidence(sharp, None, mirage_sampler)
    joint = mirage_evidence(sharp, other, mirage_sampler)
    for r in (alone, joint):
        assert 0.0 <= r.p_mirage <= 1.0 and r.tokens_q05 < r.tokens_median < r.tokens_q95
        assert r.resolution == pytest.approx(1 / 800) and r.token_resolution < r.resolution
    assert joint.other_metric == "token_accuracy" and math.isfinite(joint.link_median)
    assert joint.p_mirage > 0.5  # a smooth skill, and the token metric shows it
    given = mirage_evidence(load_curves(_frame(families=("A",), seed=2, tokens=6)).curve(0), None, mirage_sampler)
    assert given.tokens_given and given.tokens_median == given.tokens_q05 == 6.0


def test_sensitivity_run_reuses_the_fit_and_agrees_with_it(tmp_path, monkeypatch):
    curves = load_curves(_frame(families=("A",), seed=5))
    fits = tmp_path / "fits"
    pipeline.fit_to_directory(curves, out=fits, models=tiny_spec(), progress=False)
    import phasefit.analyses.fit as fit_stage

    def no_refit(*a, **k):
        raise AssertionError("a sensitivity run on a fit directory must not refit the curves")

    monkeypatch.setattr(fit_stage, "analyse_curve", no_refit)
    out = tmp_path / "sens"
    table, tasks = pipeline.sensitivity_to_directory(curves, out=out, fits=fits, models=tiny_spec(), progress=False)
    written = pd.read_csv(out / "sensitivity.csv")
    assert len(written) == len(table) == 2 and len(tasks) == 1
    verdicts = pd.read_csv(fits / "verdicts.csv")
    merged = written.merge(verdicts, on=["task", "family", "metric"], suffixes=("", "_v"))
    assert len(merged) == 2
    np.testing.assert_allclose(merged["p_emergent"], merged["p_emergent_v"])
    assert (merged["verdict"] == merged["verdict_v"]).all()
    em = written.set_index("metric").loc["exact_match"]
    assert em["paired_metric"] == "token_accuracy" and 0 <= em["p_mirage"] <= 1
    assert (out / "sensitivity_tasks.csv").is_file() and not (out / ".phasefit-work").exists()
    record = json.loads((out / "sensitivity.json").read_text())
    assert record["data_hash"] == curves.data_hash and record["n_mirage"] == 1 and record["fits"] == str(fits)
    assert [h["name"] for h in record["mirage_hypotheses"]] == ["mirage", "latent_break"]
    # fitted on other data: refused, nothing written
    other = load_curves(_frame(families=("A",), seed=6))
    with pytest.raises(pipeline.PhasefitError, match="other data"):
        pipeline.sensitivity_to_directory(other, out=tmp_path / "x", fits=fits, models=tiny_spec(), progress=False)
    assert not (tmp_path / "x" / "sensitivity.csv").exists()


def test_interrupted_mirage_stage_resumes(tmp_path, monkeypatch):
    import phasefit.runner.local as runner

    curves = load_curves(_frame(families=("A", "B"), seed=8))
    out = tmp_path / "sens"
    pipeline.fit_to_directory(curves, out=out, models=tiny_spec(), progress=False)
    real, calls = runner.mirage_evidence, []

    def flaky(sharp, other, sampler):
        calls.append(sharp.index)
        if len(calls) == 3:  # the second sharp curve, alone
            raise KeyboardInterrupt
        return real(sharp, other, sampler)

    monkeypatch.setattr(runner, "mirage_evidence", flaky)
    with pytest.raises(KeyboardInterrupt):
        pipeline.sensitivity_to_directory(curves, out=out, models=tiny_spec(), progress=False)
    assert not (out / "sensitivity.csv").exists()
    assert len(list((out / ".phasefit-work").rglob("sharp-*.npz"))) == 1
    calls.clear()
    monkeypatch.setattr(runner, "mirage_evidence", lambda s, o, sm: (calls.append(s.index), real(s, o, sm))[1])
    table, _ = pipeline.sensitivity_to_directory(curves, out=out, models=tiny_spec(), progress=False)
    assert len(calls) == 2 and len(set(calls)) == 1  # only the unfinished sharp curve, alone and joint
    assert table["mirage_ok"].notna().sum() == 2  # both sharp curves have their mirage row (p_mirage may be
    # empty where a fit at these tiny test settings failed its checks)


def test_sensitivity_errors_are_one_line(tmp_path, capsys):
    data = tmp_path / "pairs.csv"
    _frame(families=("A",)).to_csv(data, index=False)
    out = tmp_path / "sens"
    assert main(["sensitivity", str(data), "--out", str(out), "--pair", "exact_match"]) == 2
    assert "SHARP=OTHER" in capsys.readouterr().err
    assert main(["sensitivity", str(data), "--out", str(out), "--pair", "exact_match=bleu"]) == 2
    assert "bleu" in capsys.readouterr().err
    assert main(["sensitivity", str(data), "--out", str(out), "--fits", str(tmp_path / "nowhere")]) == 2
    assert "not a finished fit directory" in capsys.readouterr().err
    one = tmp_path / "one.csv"
    _frame(families=("A",)).query("metric == 'exact_match'").to_csv(one, index=False)
    assert main(["sensitivity", str(one), "--out", str(out), "--no-mirage"]) == 2
    assert "two or more metrics" in capsys.readouterr().err
    tok = tmp_path / "tok.csv"
    _frame(families=("A",)).query("metric == 'token_accuracy'").to_csv(tok, index=False)
    assert main(["sensitivity", str(tok), "--out", str(out)]) == 2
    assert "no metric is sharp" in capsys.readouterr().err
    assert main(["sensitivity", str(data), "--out", str(out), "--mirage-metric", "em"]) == 2
    assert "em" in capsys.readouterr().err
    assert not out.exists()


def test_tokens_are_averaged_over_the_two_hypotheses():
    from types import SimpleNamespace

    from phasefit.analyses.mirage import _averaged_tokens

    fits = {
        "mirage": SimpleNamespace(draws={"tokens": np.full((2, 50), 3.0)}),
        "latent_break": SimpleNamespace(draws={"tokens": np.full((2, 50), 9.0)}),
    }
    assert set(_averaged_tokens(fits, 1.0)) == {3.0} and set(_averaged_tokens(fits, 0.0)) == {9.0}
    mixed = _averaged_tokens(fits, 0.25)
    assert len(mixed) == 100 and np.mean(mixed == 3.0) == 0.25
    assert set(_averaged_tokens(fits, math.nan)) == {3.0}  # evidence failed: the mirage's


def test_sensitivity_in_memory_reuses_an_analysis(monkeypatch):
    import phasefit

    curves = load_curves(_frame(families=("A",), seed=11))
    analysis = pipeline.fit(curves, models=tiny_spec(), progress=False)
    import phasefit.analyses.fit as fit_stage

    monkeypatch.setattr(fit_stage, "analyse_curve", lambda *a, **k: pytest.fail("refitted"))
    table, tasks = phasefit.sensitivity(curves, analysis=analysis, models=tiny_spec(), progress=False)
    merged = table.merge(analysis.verdicts, on=["task", "family", "condition", "metric"], suffixes=("", "_v"))
    assert len(merged) == 2 and (merged["p_emergent"] == merged["p_emergent_v"]).all()
    assert table.set_index("metric").at["exact_match", "paired_metric"] == "token_accuracy"
    assert list(tasks["n_families"]) == [1]
    other = load_curves(_frame(families=("A",), seed=12))
    with pytest.raises(phasefit.PhasefitError, match="other data"):
        phasefit.sensitivity(other, analysis=analysis, progress=False)


def test_summary_counts_only_groups_under_two_metrics_as_compared():
    row = dict(task="t", condition="c", paired_metric=None, verdict="smooth", mirage_attributed=False,
               flat_below_resolution=False)  # fmt: skip
    table = pd.DataFrame(
        [
            row | dict(family="A", metric="exact_match", flip=True, flip_decisive=True),
            row | dict(family="A", metric="bleu", flip=True, flip_decisive=True),
            row | dict(family="B", metric="exact_match", flip=False, flip_decisive=False),
        ]
    )
    tasks = pd.DataFrame(
        [dict(task="t", condition="c", n_families=1, families_flip=1, emergent_under="", not_emergent_under="")]
    )
    text = pipeline._sensitivity_summary(table, tasks)
    assert "1 task x family x condition groups under 2+ metrics (2 curves)" in text
    assert "changes with the metric in 1, from emergent to smooth/absent in 1" in text
    assert "1 more scored by one sharp metric alone" in text
