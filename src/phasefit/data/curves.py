"""Load and validate scaling-curve tables (docs/data-format.md) into a `CurveSet` the model layer consumes.

Everything a model needs is derived here, once: the log10 scale axis, the floor (chance), the
orientation (higher is better), counts k = round(score * n_items) for proportion metrics, the metric
kind when it is not given, and the likelihood family of every curve. Bad input raises `DataError`
with a one-line message naming the file, line/row and column.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from phasefit.errors import DataError

XAxis = Literal["flops", "params"]
MetricKind = Literal["discrete", "continuous", "discrete_normalized"]
Likelihood = Literal["beta_binomial", "beta", "student_t"]
Transform = Literal["identity", "percent", "log"]

REQUIRED = ("task", "metric", "family", "model", "score")
SCALE_COLUMNS = ("train_flops", "params")
CURVE_KEY = ("task", "metric", "family", "condition")
METRIC_KINDS = ("discrete", "continuous", "discrete_normalized")
# metric names (lower case, matched as whole words or prefixes) that are continuous by nature
_CONTINUOUS_NAMES = re.compile(r"(?:ppl|perplexity|bleu|rouge|loss|edit_distance|bert_score|mc2|brier|log_?lik)")
_DISCRETE_NAMES = re.compile(r"(?:acc|exact|match|em\b|pass|grade|correct)")
_PERCENT_NAMES = re.compile(r"(?:bleu|rouge|chrf)")
_LOG_NAMES = re.compile(r"(?:ppl|perplexity)")
# names of scores that are proportions when not in percent (F1, win/error rates), beyond _DISCRETE_NAMES
_PROPORTION_NAMES = re.compile(r"(?:^|[^a-z0-9])(?:f1|rate|percent|pct)(?:$|[^a-z0-9])|%")
# a scale column whose every value is below this limit holds log10 values (10**100 FLOPs, 10**20 parameters)
_LOG10_LIMITS = {
    "train_flops": (100.0, "raw FLOPs (10**x, e.g. 1.4e22)"),
    "params": (20.0, "raw parameter counts (10**x, e.g. 6.9e9; not billions)"),
}


def curve_label(task: str, family: str, metric: str, condition: str) -> str:
    """A curve's label, "task, family, metric [condition]": in messages, the posterior and reports."""
    cond = f" [{condition}]" if condition else ""
    return f"{task}, {family}, {metric}{cond}"


@dataclass(frozen=True, kw_only=True)
class Curve:
    """One (task, metric, family, condition) series, sorted by scale, ready for a likelihood.

    `y` is the oriented response (higher is better) on the likelihood's scale: a proportion for
    `beta_binomial`/`beta`, the transformed score for `student_t`. `k`/`n` are set for counts.
    """

    index: int
    task: str
    metric: str
    family: str
    condition: str
    models: tuple[str, ...]
    x: np.ndarray  # log10 scale (the analysis axis), ascending
    log10_flops: np.ndarray  # NaN where unknown
    log10_params: np.ndarray  # NaN where unknown
    score: np.ndarray  # the score as given
    y: np.ndarray
    k: np.ndarray | None
    n: np.ndarray | None
    floor: float  # on the oriented proportion scale (0 for student_t)
    likelihood: Likelihood
    transform: Transform
    metric_kind: MetricKind
    higher_is_better: bool
    answer_tokens: float = float("nan")  # typical target length L (median over the points), NaN if not given

    @property
    def label(self) -> str:
        return curve_label(self.task, self.family, self.metric, self.condition)

    @property
    def n_points(self) -> int:
        return len(self.x)


@dataclass(frozen=True, kw_only=True)
class CurveSet:
    """A validated table grouped into curves.

    `points`: one row per kept point with derived columns (`curve`, `x`, `y`, `k`, `n`, ...);
    `curves`: one row per kept curve; `dropped`: curves or points left out, with the reason.
    """

    points: pd.DataFrame
    curves: pd.DataFrame
    dropped: pd.DataFrame
    x_axis: XAxis
    source: str
    data_hash: str

    def __len__(self) -> int:
        return len(self.curves)

    def __iter__(self) -> Iterator[Curve]:
        return (self.curve(i) for i in range(len(self)))

    @cached_property
    def _index(self) -> tuple[dict[int, np.ndarray], dict[str, np.ndarray], list[dict[str, Any]]]:
        """Each curve's row positions, the point columns as arrays and the curve rows as dicts, built
        once: `curve(i)` is called for every curve several times in a run, and cutting a pandas
        table per call took ~50 ms per curve (minutes on the 2,016 BIG-Bench-Hard curves)."""
        rows = {int(k): v for k, v in self.points.groupby("curve", sort=False).indices.items()}
        cols = {"model": self.points["model"].to_numpy(dtype=object)}
        for name in ("x", "log10_flops", "log10_params", "score", "y", "k", "n", "answer_tokens"):
            if name in self.points:
                cols[name] = self.points[name].to_numpy(dtype=float, na_value=np.nan)
        return rows, cols, self.curves.to_dict("records")

    def curve(self, i: int) -> Curve:
        rows, cols, records = self._index
        r = rows.get(i, np.empty(0, np.intp))
        c = records[i]
        counts = c["likelihood"] == "beta_binomial"
        tokens = cols["answer_tokens"][r] if "answer_tokens" in cols else np.empty(0)
        tokens = tokens[np.isfinite(tokens)]
        return Curve(
            index=i,
            task=c["task"],
            metric=c["metric"],
            family=c["family"],
            condition=c["condition"],
            models=tuple(cols["model"][r]),
            x=cols["x"][r],
            log10_flops=cols["log10_flops"][r],
            log10_params=cols["log10_params"][r],
            score=cols["score"][r],
            y=cols["y"][r],
            k=cols["k"][r].astype(np.int64) if counts else None,
            n=cols["n"][r].astype(np.int64) if counts else None,
            floor=float(c["floor"]),
            likelihood=c["likelihood"],
            transform=c["transform"],
            metric_kind=c["metric_kind"],
            higher_is_better=bool(c["higher_is_better"]),
            answer_tokens=float(np.median(tokens)) if len(tokens) else float("nan"),
        )

    def subset(self, mask: pd.Series | np.ndarray) -> CurveSet:
        """A CurveSet with only the curves where `mask` (aligned with `curves`) is true."""
        keep = np.flatnonzero(np.asarray(mask, bool))
        remap = {old: new for new, old in enumerate(keep)}
        curves = self.curves.iloc[keep].reset_index(drop=True)
        points = self.points[self.points["curve"].isin(keep)].copy()
        points["curve"] = points["curve"].map(remap)
        points = points.reset_index(drop=True)
        return CurveSet(
            points=points,
            curves=curves,
            dropped=self.dropped,
            x_axis=self.x_axis,
            source=self.source,
            data_hash=_hash(points),
        )  # the subset's own hash: checkpoints of other subsets never match

    def to_xarray(self) -> xr.Dataset:
        """Observed data with dims (curve, point), padded with NaN; curve labels as coordinates."""
        n_curve, n_point = len(self.curves), int(self.curves["n_points"].max()) if len(self) else 0
        arrays = {name: np.full((n_curve, n_point), np.nan) for name in ("x", "score", "y", "k", "n")}
        model = np.full((n_curve, n_point), "", dtype=object)
        for i, grp in self.points.groupby("curve", sort=True):
            m = len(grp)
            for name in arrays:
                arrays[name][i, :m] = grp[name].to_numpy(float)
            model[i, :m] = grp["model"].to_numpy(str)
        coords: dict[str, Any] = {"curve": np.arange(n_curve), "point": np.arange(n_point)}
        for col in (*CURVE_KEY, "likelihood"):
            coords[col] = ("curve", self.curves[col].to_numpy(str))
        data = {name: (("curve", "point"), arr) for name, arr in arrays.items()}
        data["model"] = (("curve", "point"), model.astype(str))
        return xr.Dataset(data, coords=coords, attrs={"x_axis": self.x_axis, "source": self.source})

    def summary(self) -> pd.DataFrame:
        """Curve counts and points per curve by task, metric and family."""
        g = self.curves.groupby(["task", "metric", "family"], sort=True)["n_points"]
        return g.agg(curves="size", min_points="min", max_points="max").reset_index()


# ----------------------------------------------------------------------------------- reading


def load_curves(
    source: str | Path | pd.DataFrame,
    *,
    x_axis: XAxis = "flops",
    min_points: int = 4,
    name: str | None = None,
) -> CurveSet:
    """Read a CSV/Parquet file or a DataFrame, validate every row, and group it into curves.

    Curves with fewer than `min_points` distinct models on `x_axis`, and unbounded (Student-t) curves
    whose scores are all equal, are dropped with a reason (see `CurveSet.dropped`); everything else
    that violates the contract raises `DataError`.
    `name` labels a DataFrame in messages and outputs (default "<DataFrame>").
    """
    if x_axis not in ("flops", "params"):
        raise DataError(f"x_axis must be 'flops' or 'params', got {x_axis!r}")
    if min_points < 2:
        raise DataError(f"min_points must be at least 2, got {min_points}")
    if isinstance(source, pd.DataFrame):
        name, raw, lines = name or "<DataFrame>", _frame_as_text(source), None
    elif isinstance(source, str | Path):
        name = name or str(source)
        raw, lines = _read(source)
    else:
        raise DataError(f"expected a file path or a pandas DataFrame, got {type(source).__name__}")
    frame = _Validator(raw, name=name, lines=lines).run()
    _check_axis(frame, x_axis=x_axis, source=name)
    return _group(frame, x_axis=x_axis, min_points=min_points, source=name)


def as_curve_set(curves: CurveSet | str | Path | pd.DataFrame, *, where: str) -> CurveSet:
    """`curves` as a CurveSet: one as it is; a DataFrame or a file path read by `load_curves` with its
    defaults (FLOPs axis, at least 4 models per curve). `where` names the caller in the error."""
    if isinstance(curves, CurveSet):
        return curves
    if isinstance(curves, pd.DataFrame | str | Path):
        return load_curves(curves)
    raise DataError(
        f"{where}: expected the curves from phasefit.load_curves, a pandas DataFrame or a file path, "
        f"got {type(curves).__name__}"
    )


def _check_axis(frame: pd.DataFrame, *, x_axis: XAxis, source: str) -> None:
    """A table with no value at all on the chosen axis, but values on the other one, is a mistake of axis:
    every point would be dropped. Say which axis to use instead."""
    col, other, other_axis = (
        ("train_flops", "params", "params") if x_axis == "flops" else ("params", "train_flops", "flops")
    )
    if frame[col].isna().all() and frame[other].notna().any():
        raise DataError(
            f"{source}: no row has a value in column '{col}' (the {x_axis} axis) but '{other}' is "
            f'given; analyse on the {other_axis} axis: --x {other_axis} (Python: x_axis="{other_axis}")'
        )


def _frame_as_text(df: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
    out = df.copy()
    out.columns = [str(c).strip() for c in out.columns]
    return out.reset_index(drop=True)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (.csv, .csv.gz, .tsv) or Parquet file as text columns, with one-line errors."""
    return _read(path)[0]


def _read(path: str | Path) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The table and, for CSV, the file line number of every row (None for Parquet: rows, not lines)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; expected a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    suffixes = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types
            raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
        df.columns = [str(c).strip() for c in df.columns]
        # pandas stores a non-default index (e.g. repeated labels after pd.concat); rows are positions
        return df.reset_index(drop=True), None
    sep = "\t" if suffixes.endswith((".tsv", ".tsv.gz")) else ","
    try:
        # header=None: pandas would rename a repeated column ('score.1'); blank lines are kept so that
        # line numbers stay those of the file, then dropped
        cells = pd.read_csv(
            path,
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            skipinitialspace=True,
            skip_blank_lines=False,
        )
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1]
        m = re.search(r"line (\d+), saw (\d+)", msg)
        detail = f"line {m.group(1)}: {m.group(2)} fields, more than the header" if m else msg
        raise DataError(f"{path}: malformed CSV, {detail}") from None
    except (OSError, EOFError) as exc:  # e.g. a corrupt .gz
        raise DataError(f"{path}: cannot be read ({exc})") from None
    cells = cells.fillna("")
    lines = np.arange(1, len(cells) + 1)
    filled = (cells != "").any(axis=1).to_numpy()  # skipinitialspace: a line of spaces is all ""
    cells, lines = cells[filled], lines[filled]
    if cells.empty:
        raise DataError(f"{path}: file is empty")
    header = [c.strip() or f"Unnamed: {j}" for j, c in enumerate(cells.iloc[0])]
    df = cells.iloc[1:].reset_index(drop=True)
    df.columns = header
    if len(header) == 1 and sep == ",":
        for other, label in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
            if other in header[0]:
                raise DataError(
                    f"{path}: line {lines[0]} looks {label}-separated; phasefit reads comma-separated CSV "
                    "(or tab-separated .tsv)"
                )
    dup = next((c for j, c in enumerate(header) if c in header[:j]), None)
    if dup is not None:
        raise DataError(f"{path}:{lines[0]}: column {dup!r} appears more than once in the header")
    if df.empty:
        raise DataError(f"{path}: has a header but no data rows")
    return df, lines[1:]


# -------------------------------------------------------------------------------- validation


class _Validator:
    """Row-by-row checks of docs/data-format.md. Raises on the first violation (reporting how many rows share it)."""

    def __init__(self, raw: pd.DataFrame, *, name: str, lines: np.ndarray | None):
        self.raw = raw
        self.name = name
        self.lines = lines  # file line of each row (CSV); None: report the 0-based row (DataFrame, Parquet)
        self.texts: dict[str, pd.Series] = {}  # numeric columns as written, for messages

    def where(self, row: int) -> str:
        if self.lines is None:
            return f"{self.name} row {row}"
        return f"{self.name}:{int(self.lines[row])}"

    def fail(
        self, bad: np.ndarray | pd.Series, column: str, what: str, values: pd.Series | None = None, hint: str = ""
    ) -> None:
        bad = np.asarray(bad, bool)
        if not bad.any():
            return
        rows = np.flatnonzero(bad)
        first = int(rows[0])
        shown = ""
        if values is not None:
            values = self.texts.get(column, values)  # quote the cell as written, not as parsed
            shown = f" {str(values.iloc[first])!r}:"
        more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
        raise DataError(f"{self.where(first)}: column '{column}':{shown} {what}{more}{'; ' + hint if hint else ''}")

    def text(self, column: str, *, required: bool) -> pd.Series:
        if column not in self.raw.columns:
            return pd.Series([""] * len(self.raw), dtype=object)
        col = self.raw[column]
        s = col.astype(object).where(col.notna(), "").map(lambda v: str(v).strip())
        if required:
            self.fail(s == "", column, "is empty or missing")
        return s

    def number(self, column: str, *, required: bool, boolean: bool = False) -> pd.Series:
        """Parse a numeric column; empty cells are NaN (an error when `required`).

        `boolean`: also accept true/false (any case, or bool values from Parquet/DataFrame) as 1/0.
        """
        if column not in self.raw.columns:
            return pd.Series(np.nan, index=self.raw.index)
        col = self.raw[column]
        text = col.astype(object).where(col.notna(), "").map(lambda v: str(v).strip())
        self.texts[column] = text
        if boolean:
            text = text.map(lambda v: {"true": "1", "false": "0"}.get(v.lower(), v))
        empty = text == ""
        parsed = pd.to_numeric(text.where(~empty, None), errors="coerce").astype(float)
        self.fail(~empty & parsed.isna() & ~text.str.lower().isin(["nan"]), column, "is not a number", text)
        if required:
            self.fail(empty, column, "is empty or missing")
        self.fail(text.str.lower().isin(["nan"]) | (~empty & parsed.isna()), column, "is NaN", text)
        self.fail(np.isinf(parsed.to_numpy()), column, "is infinite", text)
        return parsed

    def run(self) -> pd.DataFrame:
        raw = self.raw
        missing = [c for c in REQUIRED if c not in raw.columns]
        if missing:
            raise DataError(f"{self.name}: missing required column(s) {', '.join(map(repr, missing))}")
        if not any(c in raw.columns for c in SCALE_COLUMNS):
            raise DataError(f"{self.name}: needs a scale column: 'train_flops' and/or 'params'")
        dup_cols = raw.columns[raw.columns.duplicated()].tolist()
        if dup_cols:
            raise DataError(f"{self.name}: column {dup_cols[0]!r} appears more than once in the header")
        if raw.empty:
            raise DataError(f"{self.name}: has no data rows")

        out = pd.DataFrame(index=raw.index)
        for col in ("task", "metric", "family", "model"):
            out[col] = self.text(col, required=True)
        out["condition"] = self.text("condition", required=False)
        out["score"] = self.number("score", required=True)
        for col in SCALE_COLUMNS:
            v = self.number(col, required=False)
            self.fail(v <= 0, col, "must be positive", v)
            limit, unit = _LOG10_LIMITS[col]
            given = v.notna().to_numpy()
            if given.any() and (v[given] < limit).all():  # e.g. 21.3 for 2e21 FLOPs: name the first row
                first = np.arange(len(v)) == np.flatnonzero(given)[0]
                self.fail(
                    first,
                    col,
                    f"every {col} value is below {limit:g}, so the column looks like log10 values; give {unit}",
                    v,
                )
            out[col] = v
        n_items = self.number("n_items", required=False)
        self.fail(n_items <= 0, "n_items", "must be a positive count", n_items)
        self.fail(n_items.notna() & (n_items != np.round(n_items)), "n_items", "must be a whole number", n_items)
        out["n_items"] = n_items
        n_correct = self.number("n_correct", required=False)
        self.fail(n_correct < 0, "n_correct", "must not be negative", n_correct)
        self.fail(
            n_correct.notna() & (n_correct != np.round(n_correct)), "n_correct", "must be a whole number", n_correct
        )
        self.fail(n_correct.notna() & n_items.isna(), "n_correct", "needs 'n_items' in the same row")
        self.fail(n_correct > n_items, "n_correct", "exceeds n_items (k > n)", n_correct)
        out["n_correct"] = n_correct
        chance = self.number("chance", required=False)
        self.fail((chance < 0) | (chance >= 1), "chance", "must be in [0, 1)", chance)
        out["chance"] = chance.fillna(0.0)
        hib = self.number("higher_is_better", required=False, boolean=True)
        self.fail(hib.notna() & ~hib.isin([0, 1]), "higher_is_better", "must be 0 or 1", hib)
        out["higher_is_better"] = hib.fillna(1).astype(int)
        kind = self.text("metric_kind", required=False)
        self.fail(
            (kind != "") & ~kind.isin(METRIC_KINDS), "metric_kind", f"must be one of {', '.join(METRIC_KINDS)}", kind
        )
        out["metric_kind"] = kind
        if "answer_tokens" in raw.columns:
            at = self.number("answer_tokens", required=False)
            self.fail(at < 1, "answer_tokens", "must be at least 1", at)
            out["answer_tokens"] = at
        for col in raw.columns:  # carried through unchanged
            if col not in out.columns:
                out[col] = raw[col]
        self._infer_kind(out)
        self._check_ranges(out)
        self._check_curves(out)
        out["row"] = [self.where(i) for i in range(len(out))]
        return out

    def _infer_kind(self, out: pd.DataFrame) -> None:
        """Fill an empty `metric_kind` per (metric) from the name and the values."""
        empty = out["metric_kind"] == ""
        if not empty.any():
            return
        for metric, grp in out[empty].groupby("metric"):
            s = grp["score"]
            if _CONTINUOUS_NAMES.search(metric.lower()):
                kind = "continuous"
            elif _DISCRETE_NAMES.search(metric.lower()):
                kind = "discrete"  # values outside [0, 1] are then reported by _check_ranges
            elif s.between(0, 1).all() and (grp["n_items"].notna().all() or grp["chance"].gt(0).any()):
                kind = "discrete"
            else:
                kind = "continuous"
                # a proportion (it has item counts or a chance level, or a name like f1/rate) with scores
                # above 1 would be modelled silently as an unbounded score: most likely percentages
                signs = [
                    why
                    for why, present in (
                        ("it has n_items", grp["n_items"].notna().all()),
                        ("it has a chance level", grp["chance"].gt(0).any()),
                        ("its name says so", _PROPORTION_NAMES.search(metric.lower())),
                    )
                    if present
                ]
                if signs and s.between(0, 100).all() and s.gt(1).any():
                    bad = out.index.isin(grp.index[s > 1])
                    self.fail(
                        bad,
                        "score",
                        f"above 1 for metric {metric!r}, which looks like a proportion ({', '.join(signs)})",
                        out["score"],
                        hint=f"in percent? {_PERCENT_HINT}",
                    )
            out.loc[grp.index, "metric_kind"] = kind

    def _check_ranges(self, out: pd.DataFrame) -> None:
        s, kind, c = out["score"], out["metric_kind"], out["chance"]
        disc = kind == "discrete"
        bad = disc & ~s.between(0, 1)
        self.fail(
            bad,
            "score",
            "outside [0, 1] for a discrete (proportion) metric",
            s,
            hint=self._percent_hint(out, bad, disc, lo=0.0),
        )
        norm = kind == "discrete_normalized"
        lower = np.where(c > 0, -c / (1 - c), -1.0)
        bad = norm & ((s < lower - 1e-9) | (s > 1))
        self.fail(
            bad,
            "score",
            "outside [-chance/(1-chance), 1] for a chance-normalised metric",
            s,
            hint=self._percent_hint(out, bad, norm, lo=-100.0),
        )
        n, k = out["n_items"], out["n_correct"]
        implied = s.where(~norm, c + (1 - c) * s)
        has_k = k.notna()
        self.fail(has_k & ((k / n - implied).abs() > 0.5 / n + 1e-9), "n_correct", "does not match score * n_items", k)
        pct = out["metric"].str.lower().str.contains(_PERCENT_NAMES) & (kind == "continuous")
        self.fail(pct & ~s.between(0, 100), "score", "outside [0, 100] for a BLEU/ROUGE-type metric", s)
        logm = out["metric"].str.lower().str.contains(_LOG_NAMES) & (kind == "continuous")
        self.fail(logm & (s <= 0), "score", "must be positive for a perplexity metric", s)

    @staticmethod
    def _percent_hint(out: pd.DataFrame, bad: pd.Series, rows: pd.Series, *, lo: float) -> str:
        """The hint to divide by 100 when the metric of the first bad row looks given in percent: all its
        scores within [lo, 100] and most of them beyond 1 in size (one stray 1.3 is more likely a typo)."""
        if not bad.any():
            return ""
        metric = out["metric"].to_numpy()[np.flatnonzero(bad.to_numpy())[0]]
        s = out["score"][rows & (out["metric"] == metric)]
        if s.between(lo, 100).all() and (s.abs() > 1).mean() > 0.5:
            return f"metric {metric!r} looks given in percent: {_PERCENT_HINT}"
        return ""

    def _check_curves(self, out: pd.DataFrame) -> None:
        key = list(CURVE_KEY)
        rep = ["replicate"] if "replicate" in out.columns else []
        dup = out.duplicated([*key, "model", *rep], keep="first")
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            r = out.iloc[i]
            first = out[(out[key + ["model", *rep]] == r[key + ["model", *rep]]).all(axis=1)].index[0]
            raise DataError(
                f"{self.where(i)}: column 'model': {r['model']!r} appears twice in curve "
                f"({_key_text(r)}), first at {self.where(int(first))}; "
                "give replicates a 'replicate' column or add a 'condition'"
            )
        for col in ("chance", "higher_is_better", "metric_kind"):
            first = out.groupby(key, sort=False)[col].transform("first")
            bad = (out[col] != first).to_numpy()
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                j = int(np.flatnonzero(((out[key] == out.iloc[i][key]).all(axis=1)).to_numpy())[0])
                raise DataError(
                    f"{self.where(i)}: column '{col}': {_show(out[col].iloc[i])} conflicts with "
                    f"{_show(out[col].iloc[j])} at {self.where(j)} within curve ({_key_text(out.iloc[i])}); "
                    "it must be the same for every point of a curve"
                )


_PERCENT_HINT = "divide the scores by 100, or set metric_kind (e.g. continuous, if the score is not a proportion)"


def _show(v: object) -> str:
    return repr(f"{v:g}" if isinstance(v, float | np.floating) else str(v))


def _key_text(r: pd.Series) -> str:
    cond = f", condition={r['condition']}" if r["condition"] else ""
    return f"task={r['task']}, metric={r['metric']}, family={r['family']}{cond}"


# ---------------------------------------------------------------------------------- grouping


def _likelihood(kind: str, metric: str, scores: pd.Series, has_n: bool, chance: float) -> tuple[str, str]:
    """Pick (likelihood, transform) for one curve from its metric kind and values (docs/models.md, Likelihoods)."""
    name = metric.lower()
    if kind == "discrete" or (kind == "discrete_normalized" and chance > 0):
        return ("beta_binomial" if has_n else "beta"), "identity"
    if kind == "continuous":
        if _PERCENT_NAMES.search(name) and scores.between(0, 100).all():
            return "beta", "percent"
        if scores.between(0, 1).all():
            return "beta", "identity"
        if _LOG_NAMES.search(name) or (scores > 0).all() and scores.max() / scores.min() > 20:
            return "student_t", "log"
    return "student_t", "identity"


def _pool_replicates(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of one model in one curve that differ only in `replicate` (seeds) become one point.

    The score is averaged and the item counts are summed (replicates are extra draws of the same
    items: k and n add up), so a binomial likelihood sees all the evidence once.
    """
    if "replicate" not in frame.columns:
        return frame.assign(replicates=1)
    key = [*CURVE_KEY, "model"]
    size = frame.groupby(key, sort=False)["score"].transform("size")
    if (size == 1).all():
        return frame.assign(replicates=1)
    single = frame[size == 1].assign(replicates=1)
    multi = frame[size > 1]
    agg: dict[str, Any] = {c: "first" for c in multi.columns if c not in key}
    agg |= {
        "score": "mean",
        "n_items": lambda v: v.sum(min_count=len(v)),
        "n_correct": lambda v: v.sum(min_count=len(v)),
        "replicate": "size",
    }
    pooled = multi.groupby(key, sort=False).agg(agg).reset_index().rename(columns={"replicate": "replicates"})
    pooled["replicate"] = np.nan
    return pd.concat([single, pooled], ignore_index=True)


CONSTANT_REASON = "every score equals {:g}: an unbounded (Student-t) score that never varies has no scale to fit"


def _group(frame: pd.DataFrame, *, x_axis: XAxis, min_points: int, source: str) -> CurveSet:
    frame = frame.copy()
    frame["log10_flops"] = np.log10(frame["train_flops"])
    frame["log10_params"] = np.log10(frame["params"])
    frame["x"] = frame["log10_flops" if x_axis == "flops" else "log10_params"]
    axis_col = "train_flops" if x_axis == "flops" else "params"
    dropped: list[dict] = []
    no_x = frame["x"].isna()
    for _, r in frame[no_x].iterrows():
        dropped.append(
            {
                **{k: r[k] for k in CURVE_KEY},
                "model": r["model"],
                "level": "point",
                "reason": f"no {axis_col} ({r['row']})",
            }
        )
    frame = _pool_replicates(frame[~no_x])

    curves: list[dict[str, Any]] = []
    points: list[pd.DataFrame] = []
    for key, grp in frame.groupby(list(CURVE_KEY), sort=True):
        info = dict(zip(CURVE_KEY, key, strict=True))
        grp = grp.sort_values(["x", "model"])
        n_distinct = grp["x"].nunique()
        if n_distinct < min_points:
            dropped.append(
                {
                    **info,
                    "model": "",
                    "level": "curve",
                    "reason": f"{n_distinct} distinct {x_axis} values, fewer than {min_points}",
                }
            )
            continue
        first = grp.iloc[0]
        kind, chance, hib = first["metric_kind"], float(first["chance"]), int(first["higher_is_better"])
        n = grp["n_items"]
        has_n = bool(n.notna().any())
        n_imputed = int(n.isna().sum()) if has_n else 0
        if has_n:
            n = n.fillna(n.median()).round()
        lik, transform = _likelihood(kind, info["metric"], grp["score"], has_n, chance)
        s = grp["score"].to_numpy(float)
        if kind == "discrete_normalized" and chance > 0:
            s = chance + (1 - chance) * s
        k = np.full(len(s), np.nan)
        floor = 0.0
        if lik in ("beta_binomial", "beta"):
            prop = s / 100.0 if transform == "percent" else s
            floor = chance if hib else 1.0 - chance
            y = prop if hib else 1.0 - prop
            if lik == "beta_binomial":
                kk = grp["n_correct"].to_numpy(float)
                kk = np.where(np.isnan(kk), np.round(prop * n.to_numpy()), kk)
                k = kk if hib else n.to_numpy() - kk
        else:
            t = np.log(s) if transform == "log" else s
            y = t if hib else -t
            floor = 0.0
            if np.ptp(y) == 0:
                # every hypothesis fits equal scores exactly as the Student-t scale goes to 0, where its
                # likelihood has no bound: no posterior exists (samplers only fail, slowly)
                dropped.append({**info, "model": "", "level": "curve", "reason": CONSTANT_REASON.format(s[0])})
                continue
        i = len(curves)
        curves.append(
            {
                "curve": i,
                **info,
                "n_points": len(grp),
                "metric_kind": kind,
                "likelihood": lik,
                "transform": transform,
                "floor": floor,
                "chance": chance,
                "higher_is_better": hib,
                "n_items_imputed": n_imputed,
                "x_min": grp["x"].min(),
                "x_max": grp["x"].max(),
            }
        )
        pts = grp.assign(curve=i, y=y, k=k, n=n.to_numpy(float) if has_n else np.nan)
        points.append(pts)
    cols = [
        "curve",
        *CURVE_KEY,
        "n_points",
        "metric_kind",
        "likelihood",
        "transform",
        "floor",
        "chance",
        "higher_is_better",
        "n_items_imputed",
        "x_min",
        "x_max",
    ]
    curves_df = pd.DataFrame(curves, columns=cols)
    points_df = pd.concat(points, ignore_index=True) if points else frame.head(0).assign(curve=0, y=0.0, k=0.0, n=0.0)
    dropped_df = pd.DataFrame(dropped, columns=[*CURVE_KEY, "model", "level", "reason"])
    return CurveSet(
        points=points_df, curves=curves_df, dropped=dropped_df, x_axis=x_axis, source=source, data_hash=_hash(points_df)
    )


def _hash(points: pd.DataFrame) -> str:
    cols = [c for c in (*CURVE_KEY, "model", "score", "x", "n") if c in points.columns]
    blob = points[cols].to_csv(index=False).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()
