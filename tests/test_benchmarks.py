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


@pytest.mark.parametrize(
    "name", ["compile_once", "convergence", "profile_sampling", "simulation", "importance_refits", "thousand"]
)
def test_benchmark_modules_import(name):
    __import__(name)


def test_second_break_shape_plugin_and_spec(tmp_path):
    """The script's plug-in is a break to a power law in the error: flat before tau, `gain` log-odds
    added at the largest model, concave on the log-odds scale past the break; its spec loads with
    four hypotheses. Run in a fresh process: importing the script registers a hypothesis."""
    import subprocess
    import textwrap

    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / "benchmarks")!r})
        import second_break_shape as s
        from phasefit.models.hypotheses import NUMPY
        from phasefit.models.spec import load_spec

        h = s.BreakpointError({{"width": 0.1}})
        data = {{"range_lo": -1.0, "range_hi": 1.0, "x_ref": 1.5, "center": 0.0}}
        p = {{"level": -6.0, "slope_before": 0.1, "gain": 8.0, "tau_fraction": 0.3}}
        p |= h.deterministics(p, data, NUMPY)
        x = np.linspace(-2.0, 1.5, 36)
        eta = h.eta(x, p, data, NUMPY)
        base = -6.0 + 0.1 * (x - p["tau"])
        assert abs(eta[-1] - (base[-1] + 8.0)) < 1e-9, eta[-1]
        assert np.allclose(eta[x < p["tau"] - 1.0], base[x < p["tau"] - 1.0], atol=0.01)
        after = eta[x > p["tau"] + 0.3]
        assert np.all(np.diff(after) > 0) and np.all(np.diff(after, 2) < 0)  # rising and concave
        spec = load_spec(s.write_spec(__import__("pathlib").Path({str(tmp_path)!r})))
        assert spec.names == ("absent", "smooth", "breakpoint", "breakpoint_error")
        lz = np.array([[0.0, -5.0, -1.0, -9.0], [-3.0, 0.0, -8.0, -8.0]])
        w = s.learned_weights(lz)
        assert abs(w.sum() - 1) < 1e-9 and w[3] < 0.05 and w[0] > 0.3
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_evidence_shortcuts_moment_matching_runs_on_a_fit():
    """Moment matching with the NumPy log density: the plain PSIS-LOO it starts from is ArviZ's, and
    what it returns is finite with no point's k-hat made worse."""
    import evidence_shortcuts as es
    from _models import sampler, sim_curves

    from phasefit.evidence import loo as loo_mod
    from phasefit.models.curve_model import curve_inputs

    s = sampler()
    curve = next(iter(sim_curves(("breakpoint",), n_points=5)))
    inputs = curve_inputs(curve, s.spec)
    fit = s.fit(inputs, "smooth", seed=3)
    ll = loo_mod._loglik(fit, inputs, s.spec)
    plain, mm = es.moment_match(fit, inputs, s.spec, ll)
    ref, _ = loo_mod.loo(fit, inputs, s.spec, refit=None, seed=3)
    assert np.allclose(plain.elpd_i.values, ref.elpd.elpd_i.values)
    assert np.all(np.isfinite(mm.elpd_i.values))
    bad = ~(np.asarray(plain.pareto_k.values) <= plain.good_k)
    assert np.all(np.asarray(mm.pareto_k.values)[~bad] == np.asarray(plain.pareto_k.values)[~bad])


def test_point_fits_hinge_and_sigmoid_on_clean_curves(tmp_path):
    """The point-fit baselines: on a clean break (flat, then a rise in log-odds from tau) the broken line finds
    tau within 0.3 decades and scores it far above a straight logit-linear curve; the sigmoid puts its
    midpoint inside the data; the dev-FPR threshold calls at most 2% of the negatives. Then the script's
    main on 12 curves (thresholds from 24 development curves), into a temporary folder."""
    import json

    import point_fits as pf

    x = np.linspace(20.0, 23.5, 10)
    n = np.full(10, 2000)
    tau = 21.6
    p_break = 0.25 + 0.75 * 1 / (1 + np.exp(-(-5.0 + 4.0 * np.maximum(x - tau, 0.0))))
    p_line = 0.25 + 0.75 * 1 / (1 + np.exp(-(-3.0 + 1.2 * (x - 20.0))))
    k_break, k_line = np.round(p_break * n), np.round(p_line * n)
    hb, hl = pf.fit_hinge(x, k_break, n, 0.25), pf.fit_hinge(x, k_line, n, 0.25)
    assert abs(hb["hinge_tau"] - tau) < 0.3, hb
    assert hb["hinge_dbic"] > 100 and hl["hinge_dbic"] < 10 and hb["hinge_dbic"] > 10 * max(hl["hinge_dbic"], 1)
    sb = pf.fit_sigmoid(x, k_break / n, 0.25)
    assert sb["sig_inside"] and sb["sig_score"] > 0 and tau < sb["sig_tau"] < sb["sig_m"], sb  # onset after the elbow

    rng = np.random.default_rng(0)
    neg, pos = rng.normal(size=200), np.r_[np.zeros(200, bool), np.ones(50, bool)]
    t = pf.threshold_at_fpr(np.r_[neg, rng.normal(2, 1, 50)], pos, 0.02)
    assert (neg >= t).sum() <= 4 < (neg >= np.nextafter(t, -np.inf)).sum()  # the lowest such threshold

    assert pf.main(["--curves", "12", "--dev-curves", "24", "--no-results-md", "--out-dir", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "point_fits.json").read_text())
    assert res["committed"]["matches"] and res["checks"]["breakthroughness_max_abs_diff"] < 1e-9
    assert {"phasefit", "reference", "sigmoid", "hinge", "hinge_bic10", "breakthroughness"} <= set(res["metrics"])
    table = __import__("pandas").read_csv(tmp_path / "point_fits_curves.csv")
    assert len(table) == 12 and {"hinge_dbic", "sig_score", "pf_p", "ref_p", "hinge_called"} <= set(table.columns)


def test_corpus_counts_checkpoints_and_sums_segments(tmp_path):
    """A table's time is the sum of its segments, interruptions included; an unfinished table counts
    its checkpointed curves and the rest is extrapolated at the rate so far."""
    import corpus

    out = tmp_path / "t"
    (out / ".phasefit-work" / "abc").mkdir(parents=True)
    for i in range(3):
        (out / ".phasefit-work" / "abc" / f"curve-{i:06d}.npz").write_bytes(b"")
    assert corpus.checkpointed(out) == 3
    machine = {"nproc": 2, "cpu": "cpu"}

    def seg(table, seconds, before, after, killed):
        return {
            "table": table,
            "started": "t",
            "seconds": seconds,
            "curves_before": before,
            "curves_after": after,
            "killed": killed,
            "returncode": -9 if killed else 0,
            "load_end": [1.0, 1.0, 1.0],
            "code_stamp": "0.1.0+x",
            "machine_start": machine,
        }

    ledger = {
        "segments": [seg("bloom_xglm", 100.0, 0, 40, True), seg("bloom_xglm", 150.0, 40, 100, False)]
        + [seg("pythia_suite", 50.0, 0, 25, True)],
        "tables": {
            "bloom_xglm": {"axis": "flops", "curves": 100, "finished": True, "seconds": 250.0, "segments": 2},
            "pythia_suite": {"axis": "flops", "curves": 200, "seconds": 50.0, "segments": 1},
        },
    }
    text = corpus.markdown(ledger)
    assert "| `bloom_xglm` | flops | 100 | 100 | finished | 2 | 250 | 2.50 |" in text
    assert "| `pythia_suite` | flops | 200 | 25 | in progress | 1 | 50 | 2.00 |" in text
    assert "Done: 125 of 300 curves in 0.08 h (2.40 s per curve); the rest takes about 0.1 h more" in text
    # once a table in progress has 50 curves, its own rate (here 5 s per curve) projects its rest
    ledger["segments"][-1] = seg("pythia_suite", 300.0, 0, 60, True)
    ledger["tables"]["pythia_suite"]["seconds"] = 300.0
    text = corpus.markdown(ledger)
    assert "Done: 160 of 300 curves in 0.15 h (3.44 s per curve); the rest takes about 0.2 h more" in text


def test_adaptation_summary_and_reading():
    """Ratios are against the first setting, and a setting that saves steps but fails more fits does not pay."""
    import adaptation as ad

    def row(fit, setting, steps, ok=True, seconds=1.0):
        return {
            "curve": "c",
            "fit": fit,
            "setting": setting,
            "steps": steps,
            "ess_bulk": 900.0,
            "ess_tail": 800.0,
            "divergences": 0 if ok else 3,
            "ok": ok,
            "seconds": seconds,
        }

    settings = ("diag@0.95", "low_rank@0.95", "diag@0.9")
    rows = [row(f, "diag@0.95", 1000) for f in ad.FITS]
    rows += [row(f, "low_rank@0.95", 800, seconds=0.8) for f in ad.FITS]
    rows += [row("smooth", "diag@0.9", 700), row("breakpoint", "diag@0.9", 600, ok=False)]
    summary = ad.summarise(rows, settings)
    by = {(r["fit"], r["setting"]): r for r in summary}
    assert by[("smooth", "low_rank@0.95")]["steps_ratio"] == 0.8
    assert by[("breakpoint", "low_rank@0.95")]["seconds_ratio"] == 0.8
    assert by[("breakpoint", "diag@0.9")]["failed_checks"] == 1
    text = ad.reading(summary, settings)
    assert "`low_rank@0.95`: steps smooth 0.80, breakpoint 0.80 of the default's; +0 fits failing the checks" in text
    assert "-> pays" in text and "`diag@0.9`" in text and text.count("does not pay") == 1
    assert ad.parse_setting("low_rank@0.9") == ("low_rank", 0.9)
    with pytest.raises(SystemExit):
        ad.parse_setting("fullrank@0.9")


def test_thousand_reports_the_measured_time_against_the_target():
    import thousand

    report = {
        "date": "2026-12-02T03:00:00+00:00",
        "command": "benchmarks/thousand.py",
        "git": "0123456789abcdef",
        "uncommitted_src": [],
        "machine": {"nproc": 2, "cpu": "AMD EPYC", "ram": "23.5 GiB", "python": "3.13.0"},
        "versions": {"pymc": "6.4.0", "nutpie": None},
        "seed": 20221,
        "loadavg_start": [0.5, 0.5, 0.5],
        "loadavg_end": [1.5, 1.5, 1.5],
        "result": {
            "curves": 1000,
            "seconds": 661.0,
            "peak_rss_mib": 1500.0,
            "verdicts": {"absent": 480, "emergent": 120},
            "nuts_fits": 12,
            "population_seconds": 60.0,
            "compile_seconds": None,
            "analysis_seconds": 650.0,
            "output_mib": 400.0,
            "command": "phasefit fit curves.csv --out OUT --no-progress --seed 20221",
        },
    }
    text = thousand.markdown(report)
    assert "| 1,000 | 11.0 min (661 s) | 0.66 | - / 60.0 |" in text
    assert "(target <= 10 min on 2 cores: not met)" in text and "nutpie" not in text
    report["result"]["seconds"] = 590.0
    assert "(target <= 10 min on 2 cores: met)" in thousand.markdown(report)


def test_prior_screen_reweights_evidence_as_the_identity_of_importance_sampling():
    """Z_new / Z0 = E_posterior[p_new / p0]: 1 when the posterior is the prior (no information), the
    density ratio at the value when the data pin the parameter; the identity candidate changes nothing."""
    import prior_screen

    from phasefit.models.priors import Prior

    rng = np.random.default_rng(3)
    base = prior_screen.bundled_priors()
    n = 200_000
    log_p = {"absent": np.log(0.2), "smooth": np.log(0.3), "breakpoint": np.log(0.5)}
    flat_smooth = {"intercept": rng.normal(-1.0, 2.5, n), "slope": rng.normal(1.0, 1.25, n)}  # = the prior
    pinned_smooth = {"intercept": np.full(n, 0.5), "slope": np.full(n, 2.0)}
    bp = {"level": rng.normal(-4.5, 2.0, n)}
    fits = [
        ("flat", 2.0, {"absent": (log_p["absent"], {}), "smooth": (log_p["smooth"], flat_smooth),
                       "breakpoint": (log_p["breakpoint"], bp)}),
        ("pinned", 2.0, {"absent": (log_p["absent"], {}), "smooth": (log_p["smooth"], pinned_smooth),
                         "breakpoint": (log_p["breakpoint"], bp)}),
    ]  # fmt: skip
    identity = prior_screen.Candidate("identity")
    np.testing.assert_allclose(prior_screen.p_breakpoint(fits, identity, base), [0.5, 0.5], rtol=1e-12)

    new_slope = Prior("normal", (("mu", 1.0), ("sigma", 0.5)))
    cand = prior_screen.Candidate("slope", ((("smooth", "slope"), new_slope),))
    p_flat, p_pinned = prior_screen.p_breakpoint(fits, cand, base)
    assert abs(p_flat - 0.5) < 0.01  # no information: the evidence does not depend on the prior
    ratio = np.exp(-0.5 * ((2.0 - 1.0) / 0.5) ** 2) / 0.5 / (np.exp(-0.5 * ((2.0 - 1.0) / 1.25) ** 2) / 1.25)
    np.testing.assert_allclose(p_pinned, 0.5 / (0.5 + 0.2 + 0.3 * ratio), rtol=1e-9)

    # the smooth trend's level at the smallest model (x = -x_ref = -2): intercept - 2 * slope = -3.5
    low = prior_screen.Candidate("level_low", smooth_level_low=(-3.5, 1.0))
    ratio = (np.exp(0.0) / 1.0) / (np.exp(-0.5 * ((0.5 + 1.0) / 2.5) ** 2) / 2.5)
    np.testing.assert_allclose(prior_screen.p_breakpoint(fits[1:], low, base), [0.5 / (0.7 + 0.3 * ratio)], rtol=1e-9)


def test_prior_screen_refuses_the_reporting_seed(tmp_path, capsys):
    import prior_screen

    assert prior_screen.main(["--run", "mixture", "--work-dir", str(tmp_path), "--no-results-md"]) == 2
    assert "reporting seed" in capsys.readouterr().err
