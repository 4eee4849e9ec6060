"""Atomic file writing: an output either appears whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from phasefit.errors import PhasefitError


def write_atomic(path: Path, writer: Callable[[Path], None]) -> Path:
    """Call `writer(tmp)` on a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise PhasefitError(f"{path}: is a directory; give a file name")
    if not path.parent.exists():
        raise PhasefitError(f"{path.parent}: output directory does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are readable like any other file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_table_atomic(df: pd.DataFrame, path: Path) -> Path:
    """Write a DataFrame as CSV (.csv/.csv.gz) or Parquet (.parquet/.pq), atomically."""
    name = Path(path).name.lower()
    if name.endswith((".parquet", ".pq")):
        return write_atomic(path, lambda p: df.to_parquet(p, index=False))
    if name.endswith((".csv", ".csv.gz")):
        comp = "gzip" if name.endswith(".gz") else None
        return write_atomic(path, lambda p: df.to_csv(p, index=False, compression=comp))
    raise PhasefitError(f"{path}: unknown output format; use .csv, .csv.gz or .parquet")


def write_json_atomic(obj: object, path: Path) -> Path:
    return write_atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str)))
