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


RUN_FILES = ("verdicts.csv", "parameters.csv", "tasks.csv", "run.json", "posterior.nc")
# text columns that may be empty in every row (CSV cannot tell an empty text column from a missing number)
TEXT_COLUMNS = ("task", "metric", "family", "condition", "failure_reason", "notes", "paired_metric", "emergent_under")


def read_table(path: Path) -> pd.DataFrame:
    """A table written by `write_table_atomic`, as it was: empty text reads back as "", not NaN."""
    name = Path(path).name.lower()
    df = pd.read_parquet(path) if name.endswith((".parquet", ".pq")) else pd.read_csv(path)
    for k in df.columns:
        text = pd.api.types.is_string_dtype(df[k]) or pd.api.types.is_object_dtype(df[k])
        if text or (k in TEXT_COLUMNS and df[k].isna().all()):
            df[k] = df[k].astype(object).where(df[k].notna(), "").astype(str)
    return df


def read_run_files(directory: str | Path) -> dict[str, object]:
    """The files of a finished fit directory: each table, run.json as a dict, posterior.nc's path.

    A missing file is a one-line error naming it (an unfinished run has `.phasefit-work/` instead).
    """
    d = Path(directory)
    if not d.is_dir():
        raise PhasefitError(f"{d}: no such fit directory")
    for name in RUN_FILES:
        if not (d / name).is_file():
            hint = " (the run is unfinished: rerun it to resume)" if (d / ".phasefit-work").exists() else ""
            raise PhasefitError(f"{d}: not a finished fit directory: {name} is missing{hint}")
    try:
        run = json.loads((d / "run.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PhasefitError(f"{d / 'run.json'}: not valid JSON ({exc})") from None
    return {
        "verdicts": read_table(d / "verdicts.csv"),
        "parameters": read_table(d / "parameters.csv"),
        "tasks": read_table(d / "tasks.csv"),
        "run": run,
        "posterior": d / "posterior.nc",
    }
