"""A file format for checkpoints that cannot execute code when read: NumPy arrays and JSON in one
`.npz`, loaded with `allow_pickle=False`.

`dumps`/`loads` turn a tree of dataclasses, dicts, lists, tuples, NumPy arrays and scalars into
bytes and back. Only the dataclasses named in `ALLOWED` are rebuilt, by name, from their fields:
a file written by someone else can at worst hold wrong numbers, never run anything (unlike pickle,
which the first checkpoints used). Every file carries `FORMAT`; a file of another format, a
truncated one or one naming an unknown class reads as `None` (the work is redone).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from typing import Any

import numpy as np

FORMAT = 1
MANIFEST = "__manifest__"


def _allowed() -> dict[str, type]:
    """The classes a checkpoint may hold (imported here so that the store knows them by name)."""
    from phasefit.analyses.curve import CurveResult
    from phasefit.analyses.intervention import PairFit
    from phasefit.analyses.mirage import MirageResult
    from phasefit.inference.diagnostics import Diagnostics
    from phasefit.inference.importance import ImportanceFit
    from phasefit.inference.sampler import FitResult
    from phasefit.models.curve_model import CurveInputs

    classes = (CurveResult, MirageResult, PairFit, Diagnostics, ImportanceFit, FitResult, CurveInputs)
    return {c.__name__: c for c in classes}


class UnsafeContent(ValueError):
    """The file names a class or a value the store does not rebuild."""


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__name__
        if name not in _allowed():
            raise TypeError(f"{name} is not a checkpoint class (safe_store.ALLOWED)")
        return {"__dc__": name, "f": {f.name: _encode(getattr(obj, f.name), arrays) for f in dataclasses.fields(obj)}}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufcU":
            raise TypeError(f"array of dtype {obj.dtype} cannot be stored without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__nd__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, np.generic):
        return _encode(obj.item(), arrays)
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"{type(obj).__name__} cannot be stored in a checkpoint")


def _decode(node: Any, arrays: Any, allowed: dict[str, type]) -> Any:
    if isinstance(node, list):
        return [_decode(v, arrays, allowed) for v in node]
    if not isinstance(node, dict):
        return node
    if "__dc__" in node:
        cls = allowed.get(node["__dc__"])
        if cls is None:
            raise UnsafeContent(f"unknown class {node['__dc__']!r}")
        return cls(**{k: _decode(v, arrays, allowed) for k, v in node["f"].items()})
    if "__nd__" in node:
        return arrays[node["__nd__"]]
    if "__dict__" in node:
        return {_decode(k, arrays, allowed): _decode(v, arrays, allowed) for k, v in node["__dict__"]}
    if "__tuple__" in node:
        return tuple(_decode(v, arrays, allowed) for v in node["__tuple__"])
    if "__float__" in node:
        return float(node["__float__"])
    raise UnsafeContent(f"unknown node {sorted(node)}")


def dumps(obj: Any) -> bytes:
    """`obj` as the bytes of an `.npz` file (no pickle anywhere)."""
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays)
    manifest = json.dumps({"format": FORMAT, "tree": tree}, sort_keys=True).encode()
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays, **{MANIFEST: np.frombuffer(manifest, dtype=np.uint8)})
    return buf.getvalue()


def loads(data: bytes) -> Any:
    """The object `dumps` wrote, or None for a file of another format, a damaged or an unsafe one."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            manifest = json.loads(npz[MANIFEST].tobytes().decode())
            if manifest.get("format") != FORMAT:
                return None
            arrays = {k: npz[k] for k in npz.files if k != MANIFEST}
        return _decode(manifest["tree"], arrays, _allowed())
    except Exception:  # truncated, not an npz, pickled content refused, unknown class, wrong fields
        return None
