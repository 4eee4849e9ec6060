"""End to end with tiny draws: verdict table contract, DataTree on disk, resumability, CLI fit."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from _models import sampler, sim_curves, sim_frame, tiny_spec

import phasefit.runner.local as pipeline
from phasefit.cli import main
from phasefit.evidence.verdicts import VERDICT_COLUMNS
from phasefit.results.posterior import load_tree, save_tree

CONTRACT_COLUMNS = (
    "task, metric, family, condition, n_points, x_axis, p_emergent, elpd_diff, elpd_diff_se, "
    "stacking_weight_breakpoint, lfo_elpd_diff, verdict, break_flops_median, break_flops_q05, "
    "break_flops_q95, break_params_median, break_params_q05, break_params_q95, "
    "onset_flops_median, onset_flops_q05, onset_flops_q95, onset_params_median, onset_params_q05, "
    "onset_params_q95, rhat_max, "
    "ess_bulk_min, divergences, breakthroughness, linearity"
).split(", ")


@pytest.fixture(scope="module")
def analysis():
    return pipeline.fit(sim_curves(("breakpoint", "flat")), models=tiny_spec(), progress=False)


def test_verdict_table_follows_the_contract(analysis):
    v = analysis.verdicts
    assert list(v.columns[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    assert tuple(v.columns) == VERDICT_COLUMNS
    assert len(v) == 2
    assert set(v["verdict"]) <= {"failed", "absent", "emergent", "smooth", "inconclusive"}
    p = v[["p_absent", "p_smooth", "p_emergent"]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-9)
    assert ((0 <= v["stacking_weight_breakpoint"]) & (v["stacking_weight_breakpoint"] <= 1)).all()
    assert (v["x_axis"] == "flops").all()


def test_break_columns_only_where_a_break_applies(analysis):
    v = analysis.verdicts
    has_break = v["verdict"].isin(["emergent", "inconclusive"])
    assert v.loc[~has_break, "break_flops_median"].isna().all()
    b = v[has_break]
    assert (b["break_flops_q05"] <= b["break_flops_median"]).all()
    assert (b["break_flops_median"] <= b["break_flops_q95"]).all()
    p = analysis.parameters  # the conditional break is in parameters.csv whenever the breakpoint fit converged
    converged = ~v["notes"].fillna("").str.contains("breakpoint fit not converged").to_numpy()
    assert (
        p.loc[converged, "break_flops_median"].notna().all() and p.loc[converged, "break_params_median"].notna().all()
    )
    assert p.loc[~converged, "break_flops_median"].isna().all()


def test_flat_curve_is_not_emergent(analysis):
    flat = analysis.verdicts.iloc[1]
    assert flat["verdict"] != "emergent"
    assert flat["p_emergent"] < 0.5


def test_posterior_tree_groups_and_labels(analysis, tmp_path):
    """One subtree per hypothesis with ArviZ's groups; the points of all curves on one `obs` dim, no padding."""
    import arviz_stats as azs

    from phasefit.results.posterior import select_curve

    tree = analysis.posterior
    spec = tiny_spec()
    assert set(tree.children) >= {*spec.names, "evidence", "diagnostics"}
    groups = {
        "posterior",
        "sample_stats",
        "log_likelihood",
        "posterior_predictive",
        "observed_data",
        "constant_data",
        "prior",
    }
    v, params = analysis.verdicts, analysis.parameters
    labels = [
        f"{r.task}, {r.family}, {r.metric}" + (f" [{r.condition}]" if r.condition else "") for r in v.itertuples()
    ]
    own = {
        "absent": {"level", "concentration"},
        "smooth": {"intercept", "slope", "ceiling_fraction", "concentration"},
        "breakpoint": {
            "level",
            "slope_before",
            "gain",
            "tau_fraction",
            "tau",
            "rise",
            "ceiling_fraction",
            "concentration",
        },
    }
    const = tree["breakpoint"]["constant_data"].dataset
    n_points = v["n_points"].to_numpy()
    for h in spec.names:
        assert set(tree[h].children) == groups, h
        post = tree[h]["posterior"].dataset
        assert set(post.data_vars) == own[h], h
        assert list(post["curve"].values) == labels
        assert list(post["task"].values) == list(v["task"])
        assert post["level" if h != "smooth" else "slope"].dims == ("chain", "draw", "curve")
        assert dict(post.sizes) == {"chain": 2, "draw": 150, "curve": 2}
        stats = tree[h]["sample_stats"].dataset
        assert {"diverging", "reached_max_treedepth", "energy", "tree_depth", "step_size", "n_steps", "lp"} <= set(
            stats.data_vars
        )
        assert stats["diverging"].dtype == bool
        ll = tree[h]["log_likelihood"].dataset["y"]
        assert ll.dims == ("chain", "draw", "obs") and ll.sizes["obs"] == n_points.sum()
        assert np.isfinite(ll).all()  # every point of every curve, nothing padded
        pp = tree[h]["posterior_predictive"].dataset["y"]
        assert pp.sizes == ll.sizes and np.isfinite(pp).all()
        assert set(tree[h]["prior"].dataset.data_vars) == own[h]
        assert tree[h]["prior"].dataset.sizes["chain"] == 1
    obs = tree["breakpoint"]["observed_data"].dataset
    np.testing.assert_array_equal(obs["obs_curve"].values, np.repeat(labels, n_points))
    assert ((obs["y"] >= 0) & (obs["y"] <= const["n"])).all()  # beta-binomial curves: counts out of n items
    # the break on the analysis axis (log10 FLOPs), inside each curve's admissible range, as in parameters.csv
    tau = tree["breakpoint"]["posterior"].dataset["tau"]
    assert ((tau >= const["range_lo"] - 1e-9) & (tau <= const["range_hi"] + 1e-9)).all()
    assert (const["range_lo"] > 15).all()  # not centred
    median = tau.quantile(0.5, dim=("chain", "draw")).values
    has_tau = params["tau_median"].notna().to_numpy()
    assert has_tau.any()
    np.testing.assert_allclose(median[has_tau], params["tau_median"].to_numpy()[has_tau])
    ev = tree["evidence"].dataset
    assert ev["probability"].dims == ("curve", "hypothesis") and list(ev["hypothesis"].values) == list(spec.names)
    np.testing.assert_allclose(ev["probability"].sum("hypothesis"), 1)
    np.testing.assert_allclose(ev["probability"].sel(hypothesis="breakpoint"), v["p_emergent"])
    diag = tree["diagnostics"].dataset
    assert diag["ok"].dims == ("curve", "hypothesis") and diag["rhat_max"].sizes == {"curve": 2, "hypothesis": 3}
    # one curve cut out for ArviZ
    one = select_curve(tree, labels[1])
    assert one["breakpoint"]["log_likelihood"].dataset.sizes["obs"] == n_points[1]
    assert "curve" not in one["breakpoint"]["posterior"].dataset.dims
    with warnings.catch_warnings():  # 300 draws of a flat curve: ArviZ may warn about a Pareto k > 0.6
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto", category=UserWarning)
        elpd = azs.loo(one["breakpoint"], pointwise=True, var_name="y")
    assert np.isfinite(elpd.elpd) and elpd.elpd_i.size == n_points[1]
    with pytest.raises(KeyError):
        select_curve(tree, "no such curve")
    path = save_tree(tree, tmp_path / "posterior.nc")
    back = load_tree(path)
    assert {node.path for node in back.subtree} == {node.path for node in tree.subtree}
    for node in tree.subtree:
        assert back[node.path].dataset.equals(node.dataset), node.path


def test_summary_prose(analysis):
    text = analysis.summary()
    assert text.startswith("2 curves:")
    assert "t0_breakpoint, sim, acc:" in text


def _interrupt_after_first_curve(curves, out, monkeypatch) -> list[int]:
    """Run a fit into `out` that is interrupted (Ctrl-C) while fitting its second curve, then count
    the curves any later fit analyses: the returned list collects their indices."""
    import phasefit.analyses.fit as fit_stage

    real = fit_stage.analyse_curve
    calls: list[int] = []

    def flaky(curve, *a, **k):
        calls.append(curve.index)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(curve, *a, **k)

    monkeypatch.setattr(fit_stage, "analyse_curve", flaky)
    with pytest.raises(KeyboardInterrupt):
        pipeline.fit_to_directory(curves, out=out, models=tiny_spec(), progress=False)
    assert not (out / "verdicts.csv").exists()
    assert len(list((out / ".phasefit-work").rglob("curve-*.npz"))) == 1
    calls.clear()
    monkeypatch.setattr(fit_stage, "analyse_curve", lambda c, *a, **k: (calls.append(c.index), real(c, *a, **k))[1])
    return calls


def test_interrupted_run_resumes_without_refitting(tmp_path, monkeypatch):
    curves = sim_curves(("smooth", "flat"), seed=9)
    out = tmp_path / "run"
    calls = _interrupt_after_first_curve(curves, out, monkeypatch)
    pipeline.fit_to_directory(curves, out=out, models=tiny_spec(), progress=False)
    assert calls == [1]  # only the unfinished curve
    assert (out / "verdicts.csv").exists()
    v = pd.read_csv(out / "verdicts.csv")
    assert len(v) == 2
    run = json.loads((out / "run.json").read_text())
    assert run["data_hash"] == curves.data_hash and run["spec"]["sampler"]["draws"] == 150
    assert run["versions"]["pymc"] and run["versions"]["nutpie"]
    assert not (out / ".phasefit-work").exists()
    assert run["posterior_storage"] == {"draws_per_chain_max": 500, "float": "float32", "full": False, "thin": 1}


def test_checkpoints_of_other_code_are_not_reused(tmp_path, monkeypatch):
    """The same version number with edited source (an editable install, a patched release) is other
    code: its checkpoints are ignored, and the finished curve is fitted again."""
    import phasefit._version as version

    curves = sim_curves(("smooth", "flat"), seed=9)
    out = tmp_path / "run"
    calls = _interrupt_after_first_curve(curves, out, monkeypatch)
    monkeypatch.setattr(version, "code_stamp", lambda: "0.1.0+edited")
    pipeline.fit_to_directory(curves, out=out, models=tiny_spec(), progress=False)
    assert calls == [0, 1]
    run = json.loads((out / "run.json").read_text())
    assert run["versions"]["phasefit_code"] == "0.1.0+edited"


def test_code_stamp_hashes_the_source(tmp_path, monkeypatch):
    import phasefit._version as version

    stamp = version.code_stamp()
    assert stamp.startswith(version.__version__ + "+") and stamp == version.code_stamp.__wrapped__()
    fake = tmp_path / "phasefit"
    fake.mkdir()
    (fake / "_version.py").write_text("x = 1\n")
    monkeypatch.setattr(version, "__file__", str(fake / "_version.py"))
    one = version.code_stamp.__wrapped__()
    (fake / "models.toml").write_text("a = 2\n")
    assert version.code_stamp.__wrapped__() != one != stamp


def test_a_finished_fit_removes_only_its_own_checkpoints(tmp_path):
    """The work folder is shared with a sensitivity run's mirage stage: a fit that finishes while a
    mirage process is writing there must not delete that work."""
    curves = sim_curves(("flat",), seed=9)
    out = tmp_path / "run"
    other = out / ".phasefit-work" / "mirage-0123" / "sharp-000000.npz"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"someone else's finished work")
    pipeline.fit_to_directory(curves, out=out, models=tiny_spec(), progress=False)
    assert (out / "verdicts.csv").exists() and other.read_bytes() == b"someone else's finished work"
    assert [p.name for p in (out / ".phasefit-work").iterdir()] == ["mirage-0123"]


def test_force_discards_the_checkpoints(tmp_path, monkeypatch):
    curves = sim_curves(("smooth", "flat"), seed=9)
    out = tmp_path / "run"
    calls = _interrupt_after_first_curve(curves, out, monkeypatch)
    pipeline.fit_to_directory(curves, out=out, models=tiny_spec(), progress=False, force=True)
    assert calls == [0, 1]  # the finished curve is fitted again
    assert (out / "verdicts.csv").exists() and not (out / ".phasefit-work").exists()


def test_cli_fit_writes_outputs(tmp_path, monkeypatch):
    data = tmp_path / "curves.csv"
    sim_frame(("breakpoint",), seed=4).to_csv(data, index=False)
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(SPEC_TOML)
    out = tmp_path / "out"
    rc = main(
        [
            "fit",
            str(data),
            "--out",
            str(out),
            "--models",
            str(spec_file),
            "--draws",
            "100",
            "--tune",
            "100",
            "--chains",
            "2",
            "--seed",
            "7",
            "--no-progress",
        ]
    )
    assert rc == 0
    for name in ("verdicts.csv", "parameters.csv", "posterior.nc", "run.json"):
        assert (out / name).is_file(), name
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 7 and run["spec"]["sampler"]["draws"] == 100


def test_cli_fit_bad_input_writes_nothing(tmp_path, capsys):
    data = tmp_path / "bad.csv"
    data.write_text("task,metric,family,model,score,train_flops\nt,acc,f,m,1.5,1e20\n")
    out = tmp_path / "out"
    assert main(["fit", str(data), "--out", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err.strip()
    assert err.startswith("phasefit: error:") and "\n" not in err
    bad_spec = tmp_path / "bad.toml"
    bad_spec.write_text("hypotheses = 3\n")
    sim_frame(("smooth",)).to_csv(tmp_path / "ok.csv", index=False)
    assert main(["fit", str(tmp_path / "ok.csv"), "--out", str(out), "--models", str(bad_spec)]) == 2
    assert not (out / "verdicts.csv").exists()


SPEC_TOML = """
hypotheses = ["absent.toml", "smooth.toml", "breakpoint.toml"]
[shared]
ceiling_fraction = { dist = "beta", alpha = 3.0, beta = 1.0 }
concentration = { dist = "lognormal", mu = 5.3, sigma = 1.2 }
beta_precision = { dist = "lognormal", mu = 4.0, sigma = 1.2 }
t_sigma = { dist = "halfnormal", sigma = 0.5 }
[diagnostics]
rhat_max = 1.2
ess_bulk_min = 10
ess_tail_min = 10
max_divergences = 20
retries = []
"""


@pytest.fixture(autouse=True)
def _spec_files(tmp_path):
    """Custom spec files name hypothesis TOMLs relative to themselves: copy the bundled ones."""
    from phasefit.models.spec import default_spec_path

    for name in ("absent.toml", "smooth.toml", "breakpoint.toml"):
        (tmp_path / name).write_text((default_spec_path().parent / name).read_text())


def test_population_stage_pools_curves(analysis):
    tree = analysis.posterior
    assert "population" in tree.children
    pop = tree["population"].dataset
    assert pop["rates"].sizes["hypothesis"] == 3
    np.testing.assert_allclose(pop["rates"].sum("hypothesis"), 1, atol=1e-9)
    run_pop = analysis.run["population"]
    assert run_pop is not None and run_pop["method"] == "laplace"
    assert {r["parameter"] for r in run_pop["learned"]} == set(tiny_spec().population.learn)
    v = analysis.verdicts
    assert v["p_emergent_unpooled"].between(0, 1).all()
    if run_pop["used"]:
        assert v.loc[v["pooled"], "p_emergent"].between(0, 1).all()
    else:  # fewer curves than min_curves (or no convergence): the verdicts rest on the curves alone
        assert not v["pooled"].any()
        np.testing.assert_array_equal(v["p_emergent"], v["p_emergent_unpooled"])
    # tasks.csv (docs/verdicts.md): one row per task x metric x condition, whether or not the pooling passed
    tasks = analysis.tasks
    assert list(tasks.columns) == [
        "task",
        "metric",
        "condition",
        "n_curves",
        "n_failed",
        "p_any_emergent",
        "expected_emergent_families",
        "n_emergent",
        "onset_flops_median",
        "onset_flops_q05",
        "onset_flops_q95",
        "break_flops_median",
        "break_flops_q05",
        "break_flops_q95",
    ]
    assert sorted(tasks["task"]) == sorted(v["task"])  # one curve (family) per task here
    by_task = v.set_index("task")
    for t in tasks.itertuples():
        decided = by_task.loc[t.task, "verdict"] != "failed"
        assert (t.n_curves, t.n_failed) == ((1, 0) if decided else (0, 1))
        if decided:  # with one family, P(emergent in any family) is that family's P(risen break)
            row = by_task.loc[t.task]
            assert 0 <= row["p_emergent_above_floor"] <= row["p_emergent"] + 1e-12
            if not row["pooled"]:  # P(break and risen) >= P(break) - P(not risen), one set of probabilities
                assert row["p_emergent_above_floor"] >= row["p_emergent"] - (1 - row["p_above_floor"]) - 1e-12
            assert t.p_any_emergent == pytest.approx(row["p_emergent_above_floor"])
            assert t.expected_emergent_families == pytest.approx(row["p_emergent_above_floor"])
        assert t.n_emergent == int(by_task.loc[t.task, "verdict"] == "emergent")
        if t.n_emergent == 0:  # a task that never rises has no onset and no break
            assert np.isnan(t.break_flops_median) and np.isnan(t.onset_flops_median)


def test_population_rates_learn_from_a_suite(monkeypatch):
    """Five curves whose evidence favours smooth, one breakpoint: the learned rates follow."""
    from dataclasses import replace as dc_replace

    from phasefit.analyses.curve import analyse_curve
    from phasefit.analyses.population import fit_population

    curves = sim_curves(("smooth",) * 5 + ("breakpoint",), seed=21)
    s = sampler()
    results = []
    for c in curves:
        r = analyse_curve(c, s, x_axis="flops")
        favoured = "breakpoint" if c.index == 5 else "smooth"
        log_z = {f"log_z_{h}": (0.0 if h == favoured else -8.0) for h in ("absent", "smooth", "breakpoint")}
        results.append(dc_replace(r, row=r.row | log_z | {"verdict": "smooth"}))
    pop = fit_population(curves, results, tiny_spec(), seed=1)
    assert pop is not None and len(pop.curves) == 6
    assert pop.diagnostics.ok and not pop.used  # 6 curves < min_curves: reported, but no verdict rests on it
    rates = pop.rates.mean(0)
    assert rates[1] > 0.5 and rates[2] < 1 / 3 and rates[0] < 0.2
    # (the learned priors can raise a curve's breakpoint evidence by R_c(psi), so not ~e^-8)
    assert (pop.curves["p_breakpoint"].iloc[:5] < 0.2).all() and pop.curves["p_breakpoint"].iloc[5] > 0.9
    kept = 2 * tiny_spec().sampler.draws
    assert np.all((pop.curves["importance_ess"] > 1) & (pop.curves["importance_ess"] <= kept + 1e-6))
    assert (pop.curves["tau_q05"] <= pop.curves["tau_q95"]).all()
    assert set(pop.onsets) == set(pop.curves["curve"])
    assert np.isfinite(pop.diagnostics.laplace_k_hat) and pop.diagnostics.seconds > 0
    # learned parameter populations: one row each, finite, the sd above its floor
    spec = tiny_spec()
    learning = dc_replace(spec, population=dc_replace(spec.population, learn=("smooth.slope", "breakpoint.gain")))
    pop2 = fit_population(curves, results, learning, seed=1)
    assert list(pop2.learned["parameter"]) == ["smooth.slope", "breakpoint.gain"]
    assert np.isfinite(pop2.learned[["mean", "sd"]].to_numpy()).all()
    assert (pop2.learned["sd"] >= 0.1 * pop2.learned["fixed_sd"] - 1e-12).all()
    assert {"mean_smooth_slope", "sd_breakpoint_gain"} <= set(pop2.draws)
    # the same inputs and seed give the same numbers (fresh compile not needed: cached per structure)
    again = fit_population(curves, results, learning, seed=1)
    pd.testing.assert_frame_equal(again.curves, pop2.curves)
    # a first proposal far too wide fails its k-hat: the adaptive rounds find the same hyper-posterior
    import phasefit.analyses.population as population

    monkeypatch.setattr(population, "PROPOSAL_SCALES", (30.0, 1.0, 1.0, 1.0))
    adapted = fit_population(curves, results, tiny_spec(), seed=1)
    assert adapted.diagnostics.method.startswith("adaptive importance (k-hat "), adapted.diagnostics.method
    assert adapted.diagnostics.ok and adapted.diagnostics.laplace_k_hat <= 0.7
    np.testing.assert_allclose(adapted.rates.mean(0), rates, atol=0.05)
    assert np.abs(adapted.curves["p_breakpoint"] - pop.curves["p_breakpoint"]).max() < 0.05
    # every round failing on an analysis too large for NUTS: the stage says so and pools nothing
    monkeypatch.setattr(population, "K_HAT_MAX", -np.inf)
    monkeypatch.setattr(population, "NUTS_MAX_CURVES", 5)
    monkeypatch.setattr(population, "_nuts", lambda *a, **k: pytest.fail("NUTS ran on too many curves"))
    failed = fit_population(curves, results, tiny_spec(), seed=1)
    assert not failed.diagnostics.ok and not failed.used
    assert "6 curves are too many for the NUTS fallback (at most 5)" in failed.diagnostics.reason


def test_pooled_values_decide_only_when_asked():
    """`[population] decide = true` (and enough curves): the verdict rows carry the pooled values."""
    from dataclasses import replace as dc_replace

    spec = tiny_spec()
    deciding = dc_replace(spec, population=dc_replace(spec.population, decide=True, min_curves=2))
    a = pipeline.fit(sim_curves(("breakpoint", "smooth", "flat"), seed=5), models=deciding, progress=False)
    v, run_pop = a.verdicts, a.run["population"]
    if not run_pop["ok"]:
        pytest.skip(f"population stage not ok here: {run_pop['reason']}")
    assert run_pop["used"] and v["pooled"].all()
    np.testing.assert_allclose(v["p_emergent"], v["p_emergent_pooled"])
    np.testing.assert_allclose(v[["p_absent", "p_smooth", "p_emergent"]].sum(axis=1), 1, atol=1e-9)
    params = a.parameters
    enough = params["importance_ess"] >= 20  # else the curve keeps its own break, with a note
    np.testing.assert_allclose(params.loc[enough, "tau_median"], params.loc[enough, "tau_median_pooled"])
    assert v.loc[~enough.to_numpy(), "notes"].str.contains("break and onset from the curve alone").all()


def test_cli_fit_bundled_dataset_with_filters(tmp_path):
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(SPEC_TOML)
    out = tmp_path / "out"
    rc = main(
        [
            "fit",
            "dataset:obsscaling_emergent",
            "--task",
            "arithmetic_3ds",
            "--family",
            "OPT",
            "--family",
            "Pythia",
            "--out",
            str(out),
            "--models",
            str(spec_file),
            "--draws",
            "100",
            "--tune",
            "100",
            "--chains",
            "2",
            "--no-progress",
        ]
    )
    assert rc == 0
    v = pd.read_csv(out / "verdicts.csv", keep_default_na=False, na_values=[""])
    assert sorted(v["family"]) == ["OPT", "Pythia"] and set(v["task"]) == {"arithmetic_3ds"}
    run = json.loads((out / "run.json").read_text())
    assert run["source"] == "dataset:obsscaling_emergent" and run["n_curves"] == 2


def test_cli_fit_unknown_filter_value_is_an_error(tmp_path, capsys):
    rc = main(["fit", "dataset:obsscaling_emergent", "--task", "no_such_task", "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "no curves with task 'no_such_task'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_curves_of_different_likelihoods_share_one_tree(tmp_path):
    """A beta (BLEU) and a beta-binomial (accuracy) curve: their nuisance parameters differ, and the
    posterior tree holds both, NaN where a curve has no such parameter; it round-trips through netCDF."""
    import phasefit
    from phasefit import datasets as ds

    curves = phasefit.load_curves(ds.load("obsscaling_emergent"), name="dataset:obsscaling_emergent")
    c = curves.curves
    pick = (c["task"] == "ipa_transliterate") & (c["family"] == "OPT") & c["metric"].isin(["bleu", "exact_match"])
    sub = curves.subset(pick)
    assert sorted(sub.curves["likelihood"]) == ["beta", "beta_binomial"]
    analysis = pipeline.fit(sub, models=tiny_spec(), progress=False)
    post = analysis.posterior["breakpoint"]["posterior"].dataset
    labels = list(post["curve"].values)
    kinds = {cv.label: cv.likelihood for cv in sub}
    for name, has in (("concentration", "beta_binomial"), ("precision", "beta")):
        for label in labels:
            values = post[name].sel(curve=label).values
            assert np.isfinite(values).all() if kinds[label] == has else np.isnan(values).all()
    back = load_tree(save_tree(analysis.posterior, tmp_path / "posterior.nc"))
    assert back["breakpoint"]["posterior"].dataset.equals(post)


def test_a_finished_run_reloads_as_the_analysis(tmp_path):
    import phasefit

    out = tmp_path / "run"
    fitted = pipeline.fit_to_directory(sim_curves(("breakpoint", "flat")), out=out, models=tiny_spec(), progress=False)
    again = phasefit.load_run(out)
    for name in ("verdicts", "parameters", "tasks"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(fitted, name), check_dtype=False, obj=name)
    assert again.summary() == fitted.summary() and again.run == json.loads((out / "run.json").read_text())
    assert set(again.posterior.children) == set(fitted.posterior.children)
    (out / "tasks.csv").unlink()
    with pytest.raises(phasefit.PhasefitError, match=r"tasks\.csv is missing"):
        phasefit.load_run(out)
    with pytest.raises(phasefit.PhasefitError, match="no such fit directory"):
        phasefit.load_run(tmp_path / "nowhere")


def test_progress_in_a_log_file_is_plain_lines_with_rate_and_eta():
    """Not a terminal (a log file, a pipe): periodic lines with curves done, rate and time left."""
    import io

    from rich.console import Console

    buf = io.StringIO()
    bar = pipeline._RichProgress(Console(file=buf, force_terminal=False, width=200), enabled=True)
    for i in range(41):
        bar("curve", label=f"task{i}, fam, acc", done=i, total=40)
    bar("population", label="", done=40, total=40)
    lines = buf.getvalue().splitlines()
    counts = [ln for ln in lines if ln.startswith("fitting: ")]
    assert 15 <= len(counts) <= 21  # every 5% of the curves
    assert counts[-1].startswith("fitting: 40/40 curves") and "curves/s" in counts[-1]
    assert "eta" in counts[0] and "(task" in counts[0]
    assert lines[-1].startswith("population stage")
    assert "\x1b[" not in buf.getvalue()  # no terminal control codes in a log
    # curves read back from checkpoints (a resumed run's, or all of them after a cluster's fits) are
    # "collecting" at their own rate; fitting's rate counts only the curves fitted
    buf = io.StringIO()
    bar = pipeline._RichProgress(Console(file=buf, force_terminal=False, width=200), enabled=True)
    clock = iter(np.arange(0.0, 1000.0, 0.5))
    with mock.patch.object(pipeline, "time", SimpleNamespace(perf_counter=lambda: float(next(clock)))):
        bar.start = next(clock)
        for i in range(20):  # fitted on a cluster: 2 s per curve
            bar("curve", label=f"t{i}", done=i, total=20)
            next(clock), next(clock), next(clock)
        for i in range(20):  # then read back quickly: 0.5 s per curve
            bar("stored", label=f"t{i}", done=i, total=20)
    lines = buf.getvalue().splitlines()
    fitting = [ln for ln in lines if ln.startswith("fitting: ")]
    collecting = [ln for ln in lines if ln.startswith("collecting: ")]
    assert fitting and collecting and lines.index(fitting[-1]) < lines.index(collecting[0])
    assert all("0.50 curves/s" in ln for ln in fitting) and all("2.00 curves/s" in ln for ln in collecting)
    quiet = io.StringIO()
    off = pipeline._RichProgress(Console(file=quiet, force_terminal=False), enabled=False)
    off("curve", label="x", done=0, total=2)
    assert quiet.getvalue() == ""


def test_task_table_does_not_count_a_family_that_never_leaves_its_floor():
    """A task whose families all stay at the floor (verdict absent) gets no P(any emergent) from
    breaks the data do not show; unbounded scores (no floor) keep p_emergent."""
    import pandas as pd

    from phasefit.results.analysis import task_table

    rows = pd.DataFrame(
        {
            "curve": [0, 1, 2, 3],
            "task": ["ipa", "ipa", "ipa", "cont"],
            "metric": ["bleu", "bleu", "bleu", "score"],
            "condition": ["2-shot"] * 4,
            "verdict": ["absent", "absent", "inconclusive", "inconclusive"],
            "p_emergent": [0.6, 0.7, 0.5, 0.4],
            "p_emergent_above_floor": [0.01, 0.0, 0.3, np.nan],  # the last: a Student-t curve
        }
    )
    none = {c: np.full(10, np.nan) for c in range(4)}
    t = task_table(rows, none, none, "flops").set_index("task")
    assert t.loc["ipa", "p_any_emergent"] == pytest.approx(1 - 0.99 * 1.0 * 0.7)
    assert t.loc["ipa", "expected_emergent_families"] == pytest.approx(0.31)
    assert t.loc["cont", "p_any_emergent"] == pytest.approx(0.4)
    assert t.loc["ipa", "n_emergent"] == 0 and np.isnan(t.loc["ipa", "onset_flops_median"])
