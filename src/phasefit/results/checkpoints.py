"""Finished curves kept on disk so that an interrupted run resumes without losing work.

`DiskCheckpoints` holds the fit analysis' curves, `MirageCheckpoints` the mirage stage's sharp curves,
`PairCheckpoints` the intervention analysis' pairs of arms.

One file per curve in `DIR/.phasefit-work/<key>/`, where the key hashes phasefit's version and
source (`code_stamp`), the data, the spec (less its population stage, which runs after the curves),
the leave-future-out cutoff and the x axis: a checkpoint of other code, data or per-curve spec is
never reused. Each file is written atomically, in a format that cannot run code when read
(`safe_store`: arrays and JSON in an `.npz`, no pickle), so resuming in a directory someone else
wrote is safe.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from phasefit.analyses.curve import CurveResult
from phasefit.analyses.intervention import PairFit
from phasefit.analyses.mirage import MirageResult
from phasefit.data.curves import CURVE_KEY, Curve
from phasefit.results import safe_store
from phasefit.results.files import write_atomic


def checkpoint_key(*, version: str, data_hash: str, spec_hash: str, lfo_cutoff: float | None, x_axis: str) -> str:
    return hashlib.sha256(f"{version}|{data_hash}|{spec_hash}|{lfo_cutoff}|{x_axis}".encode()).hexdigest()[:16]


class DiskCheckpoints:
    """A `CheckpointStore` in a folder (created on first save)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, index: int) -> Path:
        return self.folder / f"curve-{index:06d}.npz"

    def has(self, curve: Curve) -> bool:
        """Whether a checkpoint file exists for the curve (cheap: not read; `load` checks it)."""
        return self._path(curve.index).is_file()

    def load(self, curve: Curve) -> CurveResult | None:
        result = _read(self._path(curve.index))
        if not isinstance(result, CurveResult) or tuple(result.row[k] for k in CURVE_KEY) != tuple(
            getattr(curve, k) for k in CURVE_KEY
        ):
            return None
        return result

    def save(self, result: CurveResult) -> None:
        _write(self._path(result.index), result)


class MirageCheckpoints:
    """The mirage stage's finished sharp curves, (alone, joint) evidence, one file each."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, index: int) -> Path:
        return self.folder / f"sharp-{index:06d}.npz"

    def load(self, curve: Curve) -> tuple[MirageResult, MirageResult | None] | None:
        pair = _read(self._path(curve.index))
        if not isinstance(pair, tuple) or not pair or getattr(pair[0], "label", None) != curve.label:
            return None
        return pair

    def save(self, index: int, pair: tuple[MirageResult, MirageResult | None]) -> None:
        _write(self._path(index), pair)


def _read(path: Path):
    """The object in `path`; None when it is missing, unreadable, unsafe or of another format (redo it)."""
    if not path.exists():
        return None
    try:
        return safe_store.loads(path.read_bytes())
    except OSError:
        return None


def _write(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda p: p.write_bytes(safe_store.dumps(obj)))


class PairCheckpoints:
    """The intervention analysis' finished pairs of arms, one file each (keyed by the baseline curve)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, index: int) -> Path:
        return self.folder / f"pair-{index:06d}.npz"

    def load(self, label: str, index: int) -> PairFit | None:
        result = _read(self._path(index))
        if not isinstance(result, PairFit) or not result.label.startswith(label + " ["):
            return None
        return result

    def save(self, index: int, result: PairFit) -> None:
        _write(self._path(index), result)
