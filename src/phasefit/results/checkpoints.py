"""Finished curves kept on disk so that an interrupted run resumes without losing work.

`DiskCheckpoints` holds the fit analysis' curves, `MirageCheckpoints` the mirage stage's sharp curves.

One pickle per curve in `DIR/.phasefit-work/<key>/`, where the key hashes the phasefit version, the
data, the spec (less its population stage, which runs after the curves), the leave-future-out cutoff
and the x axis: a checkpoint of another version, data or per-curve spec is never reused. Each file
is written atomically.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

from phasefit.analyses.curve import CurveResult
from phasefit.analyses.mirage import MirageResult
from phasefit.data.curves import CURVE_KEY, Curve
from phasefit.results.files import write_atomic


def checkpoint_key(*, version: str, data_hash: str, spec_hash: str, lfo_cutoff: float | None, x_axis: str) -> str:
    return hashlib.sha256(f"{version}|{data_hash}|{spec_hash}|{lfo_cutoff}|{x_axis}".encode()).hexdigest()[:16]


class DiskCheckpoints:
    """A `CheckpointStore` in a folder (created on first save)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, index: int) -> Path:
        return self.folder / f"curve-{index:06d}.pkl"

    def load(self, curve: Curve) -> CurveResult | None:
        result = _unpickle(self._path(curve.index))
        if not isinstance(result, CurveResult) or tuple(result.row[k] for k in CURVE_KEY) != tuple(
            getattr(curve, k) for k in CURVE_KEY
        ):
            return None
        return result

    def save(self, result: CurveResult) -> None:
        _pickle(self._path(result.index), result)


class MirageCheckpoints:
    """The mirage stage's finished sharp curves, (alone, joint) evidence, one pickle each."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, index: int) -> Path:
        return self.folder / f"sharp-{index:06d}.pkl"

    def load(self, curve: Curve) -> tuple[MirageResult, MirageResult | None] | None:
        pair = _unpickle(self._path(curve.index))
        if not isinstance(pair, tuple) or not pair or getattr(pair[0], "label", None) != curve.label:
            return None
        return pair

    def save(self, index: int, pair: tuple[MirageResult, MirageResult | None]) -> None:
        _pickle(self._path(index), pair)


def _unpickle(path: Path):
    """The object in `path`; None when it is missing, unreadable or from another version (redo it)."""
    if not path.exists():
        return None
    try:
        return pickle.loads(path.read_bytes())
    except Exception:
        return None


def _pickle(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda p: p.write_bytes(pickle.dumps(obj)))
