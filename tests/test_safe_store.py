"""Checkpoints that cannot run code when read: round trip, refusal of pickles and unknown classes."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from phasefit.inference.diagnostics import Diagnostics
from phasefit.inference.sampler import FitResult
from phasefit.results import safe_store


def _fit() -> FitResult:
    rng = np.random.default_rng(1)
    diag = Diagnostics(
        rhat_max=1.003,
        ess_bulk_min=812.5,
        ess_tail_min=640.0,
        divergences=0,
        treedepth_share=0.0,
        attempts=1,
        ok=True,
        reason="",
    )
    return FitResult(
        hypothesis="breakpoint",
        draws={"tau": rng.normal(size=(2, 5)), "gain": rng.lognormal(size=(2, 5)).astype(np.float32)},
        diagnostics=diag,
        seconds=0.25,
        stats={"diverging": np.zeros((2, 5), bool), "tree_depth": np.ones((2, 5), np.int64)},
        settings={"target_accept": 0.95, "note": None, "inf": float("inf"), "nan": float("nan"), "t": (1, 2)},
    )


def test_round_trip_keeps_values_dtypes_and_types():
    fit = _fit()
    back = safe_store.loads(safe_store.dumps({"fits": {"breakpoint": fit}, "pair": (fit, None), "x": np.float64(2.5)}))
    got = back["fits"]["breakpoint"]
    assert isinstance(got, FitResult) and isinstance(got.diagnostics, Diagnostics)
    assert got.diagnostics == fit.diagnostics
    for k, v in fit.draws.items():
        np.testing.assert_array_equal(got.draws[k], v)
        assert got.draws[k].dtype == v.dtype
    assert got.stats["diverging"].dtype == bool
    assert got.settings["inf"] == float("inf") and np.isnan(got.settings["nan"]) and got.settings["t"] == (1, 2)
    assert back["pair"][1] is None and isinstance(back["pair"], tuple) and back["x"] == 2.5


def test_the_bytes_are_deterministic():
    assert safe_store.dumps(_fit()) == safe_store.dumps(_fit())


def test_a_pickle_or_garbage_is_refused_not_run(tmp_path):
    class Boom:
        def __reduce__(self):
            target = str(tmp_path / "pwned")
            return (exec, (f"open({target!r}, 'w').write('ran')",))

    assert safe_store.loads(pickle.dumps(Boom())) is None
    buf = io.BytesIO()  # an npz whose array is an object array (needs pickle to load)
    np.savez(buf, __manifest__=np.array([Boom()], dtype=object), allow_pickle=True)
    assert safe_store.loads(buf.getvalue()) is None
    assert not (tmp_path / "pwned").exists()
    assert safe_store.loads(b"not a checkpoint") is None
    assert safe_store.loads(safe_store.dumps(_fit())[:-20]) is None  # truncated


def test_only_known_classes_are_rebuilt():
    """A well-formed file that names another class (e.g. subprocess.Popen) is refused."""
    import json

    manifest = json.dumps({"format": safe_store.FORMAT, "tree": {"__dc__": "Popen", "f": {"args": "true"}}}).encode()
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, __manifest__=np.frombuffer(manifest, dtype=np.uint8))
    assert safe_store.loads(buf.getvalue()) is None
    with pytest.raises(safe_store.UnsafeContent, match="unknown class 'Popen'"):
        safe_store._decode({"__dc__": "Popen", "f": {}}, {}, safe_store._allowed())
    import dataclasses

    @dataclasses.dataclass
    class Other:
        x: int = 1

    with pytest.raises(TypeError, match="not a checkpoint class"):
        safe_store.dumps(Other())


def test_another_format_is_redone(monkeypatch):
    data = safe_store.dumps(_fit())
    monkeypatch.setattr(safe_store, "FORMAT", safe_store.FORMAT + 1)
    assert safe_store.loads(data) is None
