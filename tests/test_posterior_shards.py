"""The posterior written shard by shard: the same DataTree as one build, in memory or from files.

A run keeps at most one shard of curves' draws in memory (`results.posterior.PosteriorShards`) and
only a slim copy of each curve's result (`analyses.curve.slim`); these tests check that nothing a
user reads changes because of it.
"""

from __future__ import annotations

import numpy as np
import pytest
from _models import sampler, tiny_spec

import phasefit
from phasefit import datasets as ds
from phasefit.analyses.curve import analyse_curve, slim
from phasefit.results.posterior import PosteriorShards, build_tree, compact, load_tree


@pytest.fixture(scope="module")
def fitted():
    """Four real curves of two likelihoods (beta for BLEU, beta-binomial for exact match), fitted."""
    curves = phasefit.load_curves(ds.load("obsscaling_emergent"), name="dataset:obsscaling_emergent")
    c = curves.curves
    pick = (
        (c["task"] == "ipa_transliterate")
        & c["family"].isin(["OPT", "Pythia"])
        & c["metric"].isin(["bleu", "exact_match"])
    )
    sub = curves.subset(pick)
    assert sorted(set(sub.curves["likelihood"])) == ["beta", "beta_binomial"] and len(sub) == 4
    results = [analyse_curve(cv, sampler(), x_axis=sub.x_axis) for cv in sub]
    return sub, results


def _paths(tree):
    return sorted(n.path for n in tree.subtree if n.has_data)


def _assert_same(a, b):
    assert _paths(a) == _paths(b)
    for p in _paths(a):
        x, y = a[p].to_dataset().load(), b[p].to_dataset().load()
        assert sorted(x.variables) == sorted(y.variables), p
        for name in x.variables:
            np.testing.assert_array_equal(x[name].values, y[name].values, err_msg=f"{p}: {name}")
            assert x[name].dims == y[name].dims, (p, name)


def test_shards_in_memory_and_on_disk_are_the_tree_built_at_once(fitted, tmp_path):
    curves, results = fitted
    spec = tiny_spec()
    by_index = {cv.index: cv for cv in curves}
    whole = build_tree(results, spec, attrs={}, curves=by_index)
    # one curve per shard: each shard has one likelihood's nuisance parameter only (NaN-filled when stacked)
    memory = PosteriorShards(by_index, spec, size=1)
    disk = PosteriorShards(by_index, spec, target=tmp_path / "posterior.nc", size=3)
    for r in results:
        memory.add(r)
        disk.add(r)
    _assert_same(memory.tree(attrs={}), whole)
    assert len(list((tmp_path / "posterior.nc.shards").glob("posterior-*.npz"))) == 1  # the 4th curve waits
    held = disk.tree(attrs={"note": "x"})  # writes posterior.nc from the two shards in one pass
    assert disk.streamed and not held.children and held.attrs["note"] == "x"  # only the file holds it
    assert not (tmp_path / "posterior.nc.shards").exists()
    back = load_tree(tmp_path / "posterior.nc")
    assert back.attrs["note"] == "x"
    _assert_same(back, whole)
    post = back["breakpoint"]["posterior"].dataset
    for label, kind in ((cv.label, cv.likelihood) for cv in curves):
        has = {"beta": "precision", "beta_binomial": "concentration"}[kind]
        other = {"beta": "concentration", "beta_binomial": "precision"}[kind]
        assert np.isfinite(post[has].sel(curve=label).values).all()
        assert np.isnan(post[other].sel(curve=label).values).all()


def test_compact_shards_are_the_compact_tree(fitted, tmp_path):
    curves, results = fitted
    spec = tiny_spec()
    by_index = {cv.index: cv for cv in curves}
    small, record = compact(build_tree(results, spec, attrs={}, curves=by_index))
    shards = PosteriorShards(by_index, spec, target=tmp_path / "small.nc", full=False, size=2)
    for r in results:
        shards.add(r)
    shards.tree(attrs={}).close()
    tree = load_tree(tmp_path / "small.nc")
    assert tree["breakpoint"]["posterior"]["tau"].dtype == np.float32
    _assert_same(tree, small)
    assert shards.storage == record


def test_a_slim_result_keeps_what_the_population_stage_reads(fitted):
    _, results = fitted
    r = results[0]
    s = slim(r, draws=100)
    assert s.row == r.row and s.loglik == {} and s.predictive == {}
    np.testing.assert_array_equal(s.onset, r.onset)
    for h, f in s.fits.items():
        full = r.fits[h].draws
        assert set(f.draws) == set(full) and f.stats == {}
        assert f.draws["level" if "level" in full else next(iter(full))].shape == (2, 50)  # 2 chains x 50
        np.testing.assert_array_equal(f.draws[next(iter(full))][:, 0], full[next(iter(full))][:, 0])


def test_a_run_whose_posterior_is_spilled_writes_the_same_file(tmp_path, monkeypatch):
    """`fit_to_directory` with one curve per shard (spilled to .npz, written in one pass) writes the
    posterior.nc of a run that never spills, and returns it read lazily from where it landed."""
    from _models import sim_curves

    import phasefit.results.posterior as posterior
    from phasefit.runner import local

    curves = sim_curves(("smooth", "flat", "breakpoint"), seed=4)
    whole = local.fit_to_directory(curves, out=tmp_path / "whole", models=tiny_spec(), progress=False)
    monkeypatch.setattr(posterior, "SHARD_CURVES", 1)
    spilled = local.fit_to_directory(curves, out=tmp_path / "spilled", models=tiny_spec(), progress=False)
    assert spilled.posterior.encoding["source"].endswith(str(tmp_path / "spilled" / "posterior.nc"))
    _assert_same(load_tree(tmp_path / "spilled" / "posterior.nc"), load_tree(tmp_path / "whole" / "posterior.nc"))
    assert spilled.posterior["smooth/posterior"]["slope"].chunks  # lazy: dask arrays
    _assert_same(spilled.posterior, whole.posterior)
    spilled.posterior.close()
    assert not list((tmp_path / "spilled").rglob("*.npz"))  # shards and checkpoints removed
