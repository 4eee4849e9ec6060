"""nutpie's compiled callbacks are stored on disk under a stable key and loaded instead of compiled
again: the same model loads, gives bit-identical draws, and a model that differs compiles anew."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _models import tiny_spec

from phasefit.inference import compile_cache
from phasefit.inference.sampler import nutpie_data
from phasefit.models.curve_model import build_model, template_inputs


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(compile_cache, "cache_dir", lambda: tmp_path)
    return tmp_path


def _compile(spec, hypothesis="absent"):
    import pytensor

    model = build_model(hypothesis, "beta_binomial", spec, template=template_inputs("beta_binomial"))
    with pytensor.config.change_flags(numba__fastmath=False):
        return compile_cache.compile_pymc_model(model)


def _hits(compiled):
    return compiled.compiled_logp_func._cache_hits, compiled.compiled_expand_func._cache_hits


def test_the_same_model_is_loaded_from_disk_and_samples_bit_identically(cache):
    import nutpie

    spec = tiny_spec()
    first = _compile(spec)
    assert _hits(first) == (0, 0)
    assert len(list(cache.glob("*.nbc"))) == 2  # the log density and the expansion, saved
    again = _compile(spec)  # a new PyMC model of the same hypothesis: nothing compiled
    assert _hits(again) == (1, 1)

    def sample(compiled):
        data = template_inputs("beta_binomial").data()
        raw = nutpie.sample(
            compiled.with_data(**nutpie_data(compiled, data)),
            draws=50,
            tune=50,
            chains=2,
            seed=3,
            progress_bar=False,
        )
        return {k: raw.posterior[k].values for k in raw.posterior.data_vars}

    a, b = sample(first), sample(again)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_model_with_other_priors_gets_its_own_key(cache):
    spec = tiny_spec()
    _compile(spec)
    name, prior = spec.hypothesis("absent").priors[0]
    changed = dataclasses.replace(prior, params=tuple((k, float(v) + 0.5) for k, v in prior.params))
    other = dataclasses.replace(
        spec,
        hypotheses=tuple(
            dataclasses.replace(h, priors=((name, changed), *h.priors[1:])) if h.name == "absent" else h
            for h in spec.hypotheses
        ),
    )
    second = _compile(other)
    # the log density is compiled, not loaded: its graph (with the prior's constants) has another key;
    # the expansion to stored variables does not involve the prior, so the first model's is loaded
    assert _hits(second) == (0, 1)
    assert len(list(cache.glob("*.nbc"))) == 3


def test_an_unwritable_cache_directory_compiles_as_before(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(compile_cache, "cache_dir", lambda: blocker / "cache")  # cannot be created
    compiled = _compile(tiny_spec())
    assert _hits(compiled) == (0, 0) and not (blocker.parent / "cache").exists()


@pytest.mark.parametrize("damaged", ["*.nbi", "*.nbc"])
def test_a_damaged_cache_file_is_compiled_over(cache, damaged):
    spec = tiny_spec()
    _compile(spec)
    for path in cache.glob(damaged):
        path.write_bytes(b"not a numba cache file")
    assert _hits(_compile(spec)) == (0, 0)  # compiled again instead of failing
    assert _hits(_compile(spec)) == (1, 1)  # and stored again


def _fake_callback(n_dim, *, graph_key: str, extra=None):
    """A function shaped like nutpie's callbacks (closure: `extract` whose own closure holds `inner`,
    the PyTensor-compiled graph) without compiling anything."""
    from types import SimpleNamespace

    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    def graph():
        pass

    CACHED_SRC_FUNCTIONS[graph] = graph_key
    inner = SimpleNamespace(py_func=graph)

    def extract_shared(x, user_data_):
        return inner

    def extract_with_extra(x, user_data_):
        return inner, extra

    extract = SimpleNamespace(py_func=extract_shared if extra is None else extract_with_extra)

    def logp_numba(dim, x_):
        if dim != n_dim:
            return -1
        return extract

    logp_numba._keep = graph  # CACHED_SRC_FUNCTIONS holds its keys weakly
    return logp_numba


def test_the_key_covers_the_dimensions_even_as_numpy_integers():
    key = lambda f: compile_cache.callback_key(f, "sig", {})  # noqa: E731
    a, b = _fake_callback(np.int64(3), graph_key="g"), _fake_callback(np.int64(4), graph_key="g")
    assert key(a) is not None and key(a) != key(b)  # the compiled code checks n_dim: it must be keyed
    assert key(a) == key(_fake_callback(3, graph_key="g"))  # the same value, however it is typed
    assert key(a) != key(_fake_callback(3, graph_key="other graph"))
    assert key(_fake_callback(3, graph_key="g", extra=object())) is None  # unknown closure content: not cached
