"""Bundled real scaling-curve datasets (third-party evaluation results, curated).

>>> import phasefit.data.datasets as ds
>>> ds.list_datasets()[["name", "rows", "curves", "licence"]]  # doctest: +SKIP
>>> df = ds.load("obsscaling_emergent")

Every dataset follows the input contract of docs/data-format.md (one row per evaluated model per curve, a
curve being one (task, metric, family, condition)); `phasefit.load_curves(ds.load(name))` reads it.
Provenance, licences and every curation step are in ``NOTICE.md`` beside this file and in
``docs/datasets.md``; the files are produced by ``scripts/curate_datasets.py``.

Licences differ: the ObsScaling and Pythia datasets are Apache-2.0, ``bloom_xglm`` is MIT, and
``ukp_emergence`` is CC BY-SA 4.0 (share adaptations alike and credit Lu et al. 2024).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import pandas as pd

from phasefit.errors import DatasetNotFound

__all__ = ["DATASETS", "DatasetInfo", "list_datasets", "load", "path"]

_DATA = "data"
_INDEX = "index.json"

#: column dtypes of a loaded dataset; columns not listed are text (``str``, empty cells -> NaN)
_FLOAT_COLUMNS = (
    "score",
    "train_flops",
    "params",
    "chance",
    "score_stderr",
    "non_embedding_params",
    "train_tokens",
    # whole numbers that may be missing: float64 with NaN (not a nullable integer, so numpy sees floats)
    "n_items",
    "shots",
    "checkpoint_step",
    "replicate",
)
_INT_COLUMNS = ("higher_is_better", "instruction_tuned")


@dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    """Catalogue entry of one bundled dataset (from ``data/index.json``, written by the curation script)."""

    name: str
    file: str
    description: str
    source: str
    commit: str
    licence: str
    attribution: str
    default_x: Literal["flops", "params"]
    rows: int
    curves: int
    """(task, metric, family, condition) groups with at least 4 distinct models."""
    curves_4_scales: int
    """groups with at least 4 distinct values of the `default_x` axis."""
    columns: tuple[str, ...]
    sha256_csv: str
    """SHA-256 of the uncompressed CSV."""
    curation: tuple[str, ...]
    """what was selected, dropped or changed, and the checks that passed."""


def _read_index() -> Mapping[str, DatasetInfo]:
    text = resources.files(__name__).joinpath(_DATA, _INDEX).read_text(encoding="utf-8")
    out: dict[str, DatasetInfo] = {}
    for name, e in json.loads(text).items():
        out[name] = DatasetInfo(
            name=e["name"],
            file=e["file"],
            description=e["description"],
            source=e["source"],
            commit=e["commit"],
            licence=e["licence"],
            attribution=e["attribution"],
            default_x=e["default_x"],
            rows=int(e["rows"]),
            curves=int(e["curves"]),
            curves_4_scales=int(e["curves_4_scales"]),
            columns=tuple(e["columns"]),
            sha256_csv=e["sha256_csv"],
            curation=tuple(e["curation"]),
        )
    return MappingProxyType(out)


#: name -> DatasetInfo, in catalogue order (read-only)
DATASETS: Mapping[str, DatasetInfo] = _read_index()


def _info(name: str) -> DatasetInfo:
    if not isinstance(name, str) or name not in DATASETS:
        close = difflib.get_close_matches(str(name), list(DATASETS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DatasetNotFound(f"unknown dataset {name!r}{hint} (available: {', '.join(DATASETS)})")
    return DATASETS[name]


def list_datasets() -> pd.DataFrame:
    """One row per bundled dataset: name, description, rows, curves, licence, source, commit, default_x.

    `curves` counts (task, metric, family, condition) groups with at least 4 distinct models;
    `curves_4_scales` those with at least 4 distinct values on the default x axis (for
    ``ukp_emergence`` this is 0: its families mix base and instruction-tuned models of <= 3 sizes).
    """
    cols = ["name", "description", "rows", "curves", "curves_4_scales", "licence", "source", "commit", "default_x"]
    return pd.DataFrame([{c: getattr(i, c) for c in cols} for i in DATASETS.values()], columns=cols)


def path(name: str) -> Path:
    """Filesystem path of the bundled ``<name>.csv.gz`` (gzip-compressed CSV).

    Valid for an ordinary (not zipped) installation or a source checkout; `load` works in both cases.
    """
    info = _info(name)
    return Path(str(resources.files(__name__).joinpath(_DATA, info.file)))


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a DataFrame (a fresh copy each call).

    Numeric columns are float64 (counts that can be missing — ``n_items``, ``shots``,
    ``checkpoint_step``, ``replicate`` — too), ``higher_is_better`` and ``instruction_tuned`` are
    int64, the rest is text with empty cells as NaN. ``df.attrs`` holds the provenance
    (``dataset``, ``source``, ``commit``, ``licence``).

    Raises `phasefit.errors.DatasetNotFound` for an unknown name.
    """
    info = _info(name)
    dtypes: dict[str, str] = {}
    for col in info.columns:
        if col in _FLOAT_COLUMNS:
            dtypes[col] = "float64"
        elif col in _INT_COLUMNS:
            dtypes[col] = "int64"
        else:
            dtypes[col] = "str"
    with resources.files(__name__).joinpath(_DATA, info.file).open("rb") as fh:
        df = pd.read_csv(fh, compression="gzip", dtype=dtypes, keep_default_na=False, na_values=[""])
    df.attrs.update(dataset=info.name, source=info.source, commit=info.commit, licence=info.licence)
    return df
