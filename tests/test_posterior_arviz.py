"""The written posterior is ArviZ-native: ArviZ's own functions and plots read `posterior.nc` as is.

One fit of three simulated curves through the CLI; then, on the file, `arviz_stats.diagnose`,
`loo` and `compare` for one curve (finite, and equal to what verdicts.csv reports) and
`arviz_plots.plot_forest` / `plot_ppc_dist`.
"""

from __future__ import annotations

import warnings

import arviz_stats as azs
import matplotlib
import numpy as np
import pandas as pd
import pytest
from _models import sim_frame

from phasefit.cli import main
from phasefit.results.posterior import load_tree, select_curve

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("arviz")
    sim_frame(("breakpoint", "smooth", "flat")).to_csv(d / "data.csv", index=False)
    out = d / "out"
    code = main(
        [
            "fit",
            str(d / "data.csv"),
            "--out",
            str(out),
            "--chains",
            "2",
            "--draws",
            "300",
            "--tune",
            "300",
            "--seed",
            "3",
            "--no-progress",
            "--full-posterior",  # every draw in float64: ArviZ's numbers on the file are phasefit's exactly
        ]
    )
    assert code == 0
    return load_tree(out / "posterior.nc"), pd.read_csv(out / "verdicts.csv", keep_default_na=False, na_values=[""])


def test_layout_one_subtree_per_hypothesis(run):
    tree, verdicts = run
    labels = list(tree["evidence"]["curve"].values)
    assert labels == [f"{t}, {f}, {m}" for t, f, m in zip(verdicts.task, verdicts.family, verdicts.metric, strict=True)]
    for h in ("absent", "smooth", "breakpoint"):
        node = tree[h]
        assert set(node.children) >= {
            "posterior",
            "sample_stats",
            "log_likelihood",
            "observed_data",
            "constant_data",
            "posterior_predictive",
            "prior",
        }
        post = node["posterior"].dataset
        assert list(post["chain"].values) == [0, 1] and len(post["draw"]) == 300
        assert node["sample_stats"]["diverging"].dtype == bool
        assert node["sample_stats"]["reached_max_treedepth"].dtype == bool
        assert "energy" in node["sample_stats"].dataset
        ll = node["log_likelihood"]["y"]
        assert ll.dims == ("chain", "draw", "obs") and np.isfinite(ll.values).all()  # no padding
        assert node["observed_data"]["y"].shape == (int(verdicts.n_points.sum()),)
    tau = tree["breakpoint"]["posterior"]["tau"]  # on the analysis axis (log10 FLOPs), inside the data
    x = tree["breakpoint"]["constant_data"]["x"]
    assert float(tau.min()) >= float(x.min()) - 1e-9 and float(tau.max()) <= float(x.max()) + 1e-9


def test_diagnose_loo_compare_on_one_curve(run):
    tree, verdicts = run
    for i, label in enumerate(tree["evidence"]["curve"].values):
        one = select_curve(tree, str(label))
        assert one["breakpoint"]["log_likelihood"]["y"].sizes["obs"] == verdicts.n_points[i]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # high Pareto k is expected with 6 points
            azs.diagnose(one["breakpoint"], show_diagnostics=False)
            loo_b = azs.loo(one["breakpoint"], pointwise=True)
            loo_s = azs.loo(one["smooth"], pointwise=True)
            table = azs.compare({"smooth": one["smooth"], "breakpoint": one["breakpoint"]})
        assert np.isfinite(loo_b.elpd) and np.isfinite(loo_s.elpd)
        assert set(table.index) == {"smooth", "breakpoint"}
        assert np.isfinite(table["elpd"]).all()
        if (
            verdicts.loo_refits[i] == 0 and verdicts.attempts[i] == 1
        ):  # no refits or retries: phasefit's numbers are ArviZ's
            assert loo_b.elpd - loo_s.elpd == pytest.approx(verdicts.elpd_diff[i], abs=1e-6)
            assert table.loc["breakpoint", "weight"] == pytest.approx(verdicts.stacking_weight_breakpoint[i], abs=1e-6)


def test_arviz_plots_read_the_file(run):
    import arviz_plots as azp

    tree, _ = run
    one = select_curve(tree, 0)
    pc = azp.plot_forest(tree["breakpoint"], var_names=["tau", "gain"])
    assert pc is not None
    pc = azp.plot_ppc_dist(one["breakpoint"], num_samples=20)
    assert pc is not None


def test_compact_posterior_is_small_and_keeps_the_answers(run, tmp_path):
    """The default storage (thinned, float32) is a fraction of the full file, and LOO on it agrees
    with LOO on every draw to well within its Monte Carlo error."""
    from phasefit.results.posterior import compact, save_tree

    tree, _ = run
    small, record = compact(tree, draws_per_chain=150)  # the fixture has 300 draws per chain
    assert record["thin"] == 2 and record["float"] == "float32"
    full_size = save_tree(tree, tmp_path / "full.nc").stat().st_size
    small_path = save_tree(small, tmp_path / "small.nc")
    assert small_path.stat().st_size < full_size  # 3 curves: the file's own metadata is much of it

    def draw_bytes(t):
        return sum(v.nbytes for n in t.subtree for v in n.dataset.data_vars.values() if "draw" in v.dims)

    assert draw_bytes(small) <= draw_bytes(tree) / 3.5  # half the draws of the fits, half the bytes each
    back = load_tree(small_path)
    assert back["breakpoint"]["posterior"].sizes["draw"] == 150
    assert back["breakpoint"]["posterior"]["tau"].dtype == np.float32
    np.testing.assert_array_equal(back["breakpoint"]["constant_data"]["x"], tree["breakpoint"]["constant_data"]["x"])
    assert back["evidence"].dataset.equals(tree["evidence"].dataset)  # evidence is never thinned
    for label in tree["evidence"]["curve"].values:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = azs.loo(select_curve(tree, str(label))["breakpoint"])
            b = azs.loo(select_curve(back, str(label))["breakpoint"])
        assert abs(float(a.elpd) - float(b.elpd)) < max(0.5, 2 * float(a.se) / 3), label
