"""Malformed input: one-line `DataError`s naming file, line and column, and exit status 2 from the CLI.

Every case is a real file in `tmp_path`, checked twice: through `load_curves` (typed exception,
message content) and through `phasefit validate` (status 2, one line on stderr, no traceback).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phasefit import load_curves
from phasefit.cli import main
from phasefit.errors import DataError, PhasefitError

HEADER = "task,metric,family,model,score,train_flops,params,n_items,chance"
ROWS = [  # a valid four-point curve; file lines 2..5
    "arith,acc,fam,m1,0.10,1e20,1e8,100,0",
    "arith,acc,fam,m2,0.20,1e21,1e9,100,0",
    "arith,acc,fam,m3,0.30,1e22,1e10,100,0",
    "arith,acc,fam,m4,0.40,1e23,1e11,100,0",
]


def _csv(rows: list[str] = ROWS, header: str = HEADER) -> str:
    return header + "\n" + "\n".join(rows) + "\n"


def _cell(row: int, column: str, value: str, *, header: str = HEADER, rows: list[str] = ROWS) -> str:
    """The valid table with one cell replaced (`row` 0-based among data rows, so file line row + 2)."""
    cols = header.split(",")
    out = [r.split(",") for r in rows]
    out[row][cols.index(column)] = value
    return _csv([",".join(r) for r in out], header)


def _add_column(name: str, values: list[str]) -> str:
    return _csv([f"{r},{v}" for r, v in zip(ROWS, values, strict=True)], f"{HEADER},{name}")


def _drop_column(name: str) -> str:
    cols = HEADER.split(",")
    j = cols.index(name)
    keep = lambda parts: ",".join(p for i, p in enumerate(parts) if i != j)  # noqa: E731
    return _csv([keep(r.split(",")) for r in ROWS], keep(cols))


@dataclass(frozen=True)
class Case:
    id: str
    content: str | bytes | Callable[[Path], Path]  # text/bytes written to `filename`, or a builder
    expect: tuple[str, ...]  # substrings of the message after the path; "{path}" is replaced
    line: int | None = None  # expected "path:LINE:" location
    column: str | None = None
    filename: str = "data.csv"


CASES = [
    *[
        Case(f"missing-{c}", _drop_column(c), (f"missing required column(s) '{c}'",))
        for c in ("task", "metric", "family", "model", "score")
    ],
    Case(
        "no-scale-column",
        _csv(
            [",".join(r.split(",")[:5] + r.split(",")[7:]) for r in ROWS],
            "task,metric,family,model,score,n_items,chance",
        ),
        ("needs a scale column", "'train_flops'", "'params'"),
    ),
    Case("score-not-a-number", _cell(1, "score", "high"), ("'high'", "is not a number"), 3, "score"),
    Case("score-nan", _cell(2, "score", "NaN"), ("is NaN",), 4, "score"),
    Case("score-inf", _cell(0, "score", "inf"), ("'inf'", "is infinite"), 2, "score"),
    Case("score-minus-infinity", _cell(3, "score", "-Infinity"), ("is infinite",), 5, "score"),
    Case("score-empty", _cell(1, "score", ""), ("is empty or missing",), 3, "score"),
    Case(
        "score-above-1-discrete",
        _add_column("metric_kind", ["discrete"] * 4).replace(",0.30,", ",1.30,"),
        ("'1.30'", "outside [0, 1]", "discrete"),
        4,
        "score",
    ),
    # an accuracy given as a percentage (or a typo) must not silently turn the metric 'continuous'
    Case("score-above-1-inferred-accuracy", _cell(3, "score", "40"), ("'40'", "outside [0, 1]"), 5, "score"),
    Case("score-negative-discrete", _cell(0, "score", "-0.05"), ("'-0.05'", "outside [0, 1]"), 2, "score"),
    Case(
        "normalized-below-chance-bound",
        _add_column("metric_kind", ["discrete_normalized"] * 4)
        .replace(",0,", ",0.25,")
        .replace(",0.20,", ",-0.40,"),  # lower bound is -0.25/0.75 = -1/3
        ("'-0.40'", "-chance/(1-chance)"),
        3,
        "score",
    ),
    Case("k-greater-than-n", _add_column("n_correct", ["10", "20", "130", "40"]), ("'130'", "k > n"), 4, "n_correct"),
    Case(
        "k-inconsistent-with-score",
        _add_column("n_correct", ["10", "20", "30", "55"]),
        ("'55'", "does not match score * n_items"),
        5,
        "n_correct",
    ),
    Case(
        "k-without-n",
        _add_column("n_correct", ["10", "20", "30", "40"]).replace("1e9,100,", "1e9,,"),
        ("needs 'n_items'",),
        3,
        "n_correct",
    ),
    Case("negative-flops", _cell(2, "train_flops", "-1e22"), ("'-1e22'", "must be positive"), 4, "train_flops"),
    Case("zero-params", _cell(0, "params", "0"), ("'0'", "must be positive"), 2, "params"),
    Case("flops-not-a-number", _cell(3, "train_flops", "1e23 FLOPs"), ("is not a number",), 5, "train_flops"),
    Case("n-items-zero", _cell(1, "n_items", "0"), ("'0'", "positive count"), 3, "n_items"),
    Case("n-items-fractional", _cell(2, "n_items", "99.5"), ("'99.5'", "whole number"), 4, "n_items"),
    Case("chance-one", _csv([r[:-1] + "1" for r in ROWS]), ("'1'", "[0, 1)"), 2, "chance"),
    Case("chance-negative", _cell(3, "chance", "-0.1"), ("'-0.1'", "[0, 1)"), 5, "chance"),
    Case(
        "higher-is-better-2",
        _add_column("higher_is_better", ["1", "1", "2", "1"]),
        ("'2'", "must be 0 or 1"),
        4,
        "higher_is_better",
    ),
    Case(
        "higher-is-better-text",
        _add_column("higher_is_better", ["1", "yes", "1", "1"]),
        ("'yes'", "is not a number"),
        3,
        "higher_is_better",
    ),
    Case(
        "unknown-metric-kind",
        _add_column("metric_kind", ["discrete", "discrete", "binary", "discrete"]),
        ("'binary'", "must be one of discrete, continuous, discrete_normalized"),
        4,
        "metric_kind",
    ),
    Case(
        "answer-tokens-zero",
        _add_column("answer_tokens", ["3", "3", "0", "3"]),
        ("'0'", "at least 1"),
        4,
        "answer_tokens",
    ),
    Case(
        "duplicate-model-in-curve",
        _csv([*ROWS, "arith,acc,fam,m2,0.25,1e21,1e9,100,0"]),
        ("'m2' appears twice in curve", "task=arith, metric=acc, family=fam", "first at {path}:3"),
        6,
        "model",
    ),
    Case(
        "conflicting-chance",
        _cell(2, "chance", "0.25"),
        ("'0.25' conflicts with '0' at {path}:2", "within curve"),
        4,
        "chance",
    ),
    Case(
        "conflicting-higher-is-better",
        _add_column("higher_is_better", ["1", "1", "1", "0"]),
        ("'0' conflicts with '1' at {path}:2",),
        5,
        "higher_is_better",
    ),
    Case(
        "conflicting-metric-kind",
        _add_column("metric_kind", ["discrete", "continuous", "discrete", "discrete"]),
        ("'continuous' conflicts with 'discrete'",),
        3,
        "metric_kind",
    ),
    Case(
        "bleu-above-100",
        _csv([r.replace(",acc,", ",bleu,") for r in ROWS]).replace(",0.30,", ",100.5,"),
        ("'100.5'", "outside [0, 100]", "BLEU"),
        4,
        "score",
    ),
    Case(
        "perplexity-zero",
        _add_column("higher_is_better", ["0"] * 4).replace(",acc,", ",ppl,").replace(",0.20,", ",0,"),
        ("'0'", "must be positive for a perplexity metric"),
        3,
        "score",
    ),
    Case(
        "perplexity-negative",
        _csv([r.replace(",acc,", ",perplexity,") for r in ROWS]).replace(",0.40,", ",-3,"),
        ("'-3'", "must be positive"),
        5,
        "score",
    ),
    # line numbers are the file's own: a blank line before the bad row counts
    Case(
        "line-number-after-blank-line",
        _csv([ROWS[0], "", ROWS[1], ROWS[2].replace("0.30", "x"), ROWS[3]]),
        ("'x'", "is not a number"),
        5,
        "score",
    ),
    Case("empty-file", "", ("file is empty",)),
    Case("only-blank-lines", "\n\n  \n", ("file is empty",)),
    Case("header-only", HEADER + "\n", ("header but no data rows",)),
    Case(
        "semicolon-delimited",
        _csv([r.replace(",", ";") for r in ROWS], HEADER.replace(",", ";")),
        ("line 1 looks ';'-separated",),
    ),
    Case(
        "tab-in-csv",
        _csv([r.replace(",", "\t") for r in ROWS], HEADER.replace(",", "\t")),
        ("line 1 looks tab-separated",),
    ),
    Case("latin-1-bytes", _cell(0, "model", "mod\u00e8le-\u00e9").encode("latin-1"), ("not UTF-8",)),
    Case("ragged-row", _cell(2, "chance", "0,0.5"), ("malformed CSV", "line 4", "more than the header")),
    Case(
        "duplicated-header-column",
        _csv([f"{r},0.5" for r in ROWS], f"{HEADER},score"),
        ("column 'score' appears more than once in the header",),
        1,
    ),
    Case("directory", lambda tmp: (tmp / "data.csv").mkdir() or tmp / "data.csv", ("is a directory",)),
    Case("nonexistent", lambda tmp: tmp / "nope.csv", ("no such file",)),
    Case(
        "corrupt-parquet",
        b"PAR1\x00\x01garbage-not-parquet\x00PAR1",
        ("not a readable Parquet file",),
        filename="data.parquet",
    ),
    Case("empty-parquet", b"", ("file is empty",), filename="data.parquet"),
    Case("truncated-csv-gz", gzip.compress(_csv().encode())[:30], ("cannot be read",), filename="data.csv.gz"),
    Case("not-gzip-csv-gz", _csv().encode(), ("cannot be read", "gzip"), filename="data.csv.gz"),
    # unit mistakes that pass every range check: log10 scales, percentages, the wrong axis
    Case(
        "flops-as-log10",
        _csv([r.replace(",1e2", ",2") for r in ROWS]),
        ("'20'", "every train_flops value is below 100", "looks like log10", "raw FLOPs"),
        2,
        "train_flops",
    ),
    Case(
        "params-as-log10",
        _csv(
            [
                r.replace(",1e8,", ",8,").replace(",1e9,", ",9.0,").replace(",1e10,", ",10,").replace(",1e11,", ",11,")
                for r in ROWS
            ]
        ),
        ("'8'", "every params value is below 20", "looks like log10"),
        2,
        "params",
    ),
    Case(
        "accuracy-in-percent",
        _csv([r.replace(",0.", ",") for r in ROWS]),
        (
            "'10'",
            "outside [0, 1]",
            "(and 3 more rows)",
            "metric 'acc' looks given in percent",
            "divide the scores by 100",
        ),
        2,
        "score",
    ),
    Case(
        "percent-with-chance-silently-continuous",
        _csv([r.replace(",acc,", ",mmlu,").replace(",100,0", ",,0.25") for r in ROWS])
        .replace(",0.10,", ",30,")
        .replace(",0.20,", ",41,")
        .replace(",0.30,", ",52,")
        .replace(",0.40,", ",63,"),
        ("'30'", "above 1 for metric 'mmlu'", "divide the scores by 100"),
        2,
        "score",
    ),
    Case(
        "f1-in-percent",
        _csv([r.replace(",acc,", ",f1,").replace(",100,0", ",,0") for r in ROWS])
        .replace(",0.30,", ",30.5,")
        .replace(",0.40,", ",44,"),
        ("'30.5'", "above 1 for metric 'f1'", "in percent?"),
        4,
        "score",
    ),
    Case(
        "params-only-on-the-flops-axis",
        _drop_column("train_flops"),
        ("no row has a value in column 'train_flops'", "'params' is given", "--x params", 'x_axis="params"'),
    ),
]


def _write(case: Case, tmp_path: Path) -> Path:
    if callable(case.content):
        return case.content(tmp_path)
    path = tmp_path / case.filename
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    return path


def _check_message(msg: str, case: Case, path: Path) -> None:
    assert "\n" not in msg and "Traceback" not in msg, msg
    assert msg.startswith(str(path)), msg  # names the file first
    if case.line is not None:
        assert msg.startswith(f"{path}:{case.line}:"), msg
    if case.column is not None:
        assert f"column '{case.column}'" in msg, msg
    for part in case.expect:
        assert part.replace("{path}", str(path)) in msg, msg


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """`phasefit ARGV` in-process: (status, stdout, stderr); argparse's own exits count as a status."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def _check_cli_error(code: int, out: str, err: str) -> str:
    assert code == 2
    assert "Traceback" not in err and "Traceback" not in out
    assert err.startswith("phasefit: error:"), err
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)  # exactly one line
    return err.removeprefix("phasefit: error: ").rstrip("\n")


def test_there_are_at_least_30_cases():
    assert len({c.id for c in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_file_api(case: Case, tmp_path: Path):
    path = _write(case, tmp_path)
    with pytest.raises(DataError) as info:
        load_curves(path)
    assert isinstance(info.value, PhasefitError) and isinstance(info.value, ValueError)
    _check_message(str(info.value), case, path)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_file_cli(case: Case, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # a narrow terminal must not wrap the one line
    path = _write(case, tmp_path)
    code, out, err = run_cli(["validate", str(path)], capsys)
    msg = _check_cli_error(code, out, err)
    api = pytest.raises(DataError, load_curves, path).value
    assert msg == str(api)  # the CLI prints the API's message verbatim


def test_validate_error_writes_nothing(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(_cell(1, "score", "oops"))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out, err = run_cli(["validate", "bad.csv"], capsys)
    _check_cli_error(code, out, err)
    assert "bad.csv:3: column 'score'" in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# ------------------------------------------------------------------------------------------ options


def _valid(tmp_path: Path) -> Path:
    path = tmp_path / "ok.csv"
    path.write_text(_csv())
    return path


def test_bad_x_axis(tmp_path: Path, capsys):
    path = _valid(tmp_path)
    with pytest.raises(DataError, match=r"^x_axis must be 'flops' or 'params', got 'compute'$"):
        load_curves(path, x_axis="compute")
    code, out, err = run_cli(["validate", str(path), "--x", "compute"], capsys)
    msg = _check_cli_error(code, out, err)
    assert "--x" in msg and "compute" in msg


@pytest.mark.parametrize("n", [1, 0, -3])
def test_min_points_below_two(tmp_path: Path, capsys, n: int):
    path = _valid(tmp_path)
    with pytest.raises(DataError, match=rf"^min_points must be at least 2, got {n}$"):
        load_curves(path, min_points=n)
    code, out, err = run_cli(["validate", str(path), "--min-points", str(n)], capsys)
    assert _check_cli_error(code, out, err) == f"min_points must be at least 2, got {n}"


def test_min_points_not_an_integer(tmp_path: Path, capsys):
    code, out, err = run_cli(["validate", str(_valid(tmp_path)), "--min-points", "four"], capsys)
    assert "--min-points" in _check_cli_error(code, out, err)


def test_source_of_the_wrong_type():
    with pytest.raises(DataError, match="expected a file path or a pandas DataFrame, got list"):
        load_curves([1, 2, 3])


@pytest.mark.parametrize("entry", ["fit", "fit_to_directory", "sensitivity", "intervention"])
def test_entry_points_name_curves_of_the_wrong_type(entry: str, tmp_path: Path):
    """A list (say) handed to an entry point fails in one line naming it, before any work or file."""
    import phasefit
    from phasefit.runner import intervention, local

    call = {
        "fit": lambda c: phasefit.fit(c, progress=False),
        "fit_to_directory": lambda c: local.fit_to_directory(c, out=tmp_path / "out"),
        "sensitivity": lambda c: local.sensitivity(c, progress=False),
        "intervention": lambda c: intervention.intervention(c, baseline="a", treatment="b"),
    }[entry]
    with pytest.raises(DataError, match=r"expected the curves from phasefit.load_curves.*got list"):
        call([1, 2, 3])
    assert not (tmp_path / "out").exists()


def test_entry_points_read_a_dataframe_or_a_path_as_load_curves_does(tmp_path: Path):
    from phasefit.data.curves import as_curve_set

    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    expected = load_curves(frame).data_hash
    assert as_curve_set(frame, where="x").data_hash == expected
    assert as_curve_set(tmp_path / "t.csv", where="x").data_hash == expected
    curves = load_curves(frame)
    assert as_curve_set(curves, where="x") is curves


# ------------------------------------------------------------------------------- DataFrame / Parquet


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task": "arith",
            "metric": "acc",
            "family": "fam",
            "model": ["m1", "m2", "m3", "m4"],
            "score": [0.1, 0.2, 0.3, 0.4],
            "train_flops": [1e20, 1e21, 1e22, 1e23],
            "n_items": 100,
        }
    )


@pytest.mark.parametrize(
    ("column", "value", "row", "expect"),
    [
        ("score", np.nan, 1, "is empty or missing"),
        ("score", "bad", 2, "'bad': is not a number"),
        ("score", 1.5, 3, "'1.5': outside [0, 1]"),
        ("train_flops", -5.0, 0, "'-5.0': must be positive"),
        ("model", "m1", 3, "'m1' appears twice in curve"),
        ("n_items", 0, 2, "must be a positive count"),
    ],
)
def test_dataframe_messages_name_the_row(column, value, row, expect):
    df = _frame()
    df[column] = df[column].astype(object)
    df.loc[row, column] = value
    with pytest.raises(DataError) as info:
        load_curves(df)
    msg = str(info.value)
    assert msg.startswith(f"<DataFrame> row {row}: column '{column}':"), msg
    assert expect in msg and "\n" not in msg


def test_dataframe_with_a_custom_index_reports_positions():
    df = _frame().set_index(pd.Index([10, 20, 30, 40]))
    df.loc[30, "score"] = -1.0
    with pytest.raises(DataError, match=r"^<DataFrame> row 2: column 'score'"):
        load_curves(df)


def test_dataframe_missing_column():
    with pytest.raises(DataError, match=r"^<DataFrame>: missing required column\(s\) 'family'$"):
        load_curves(_frame().drop(columns="family"))


def test_dataframe_duplicate_column():
    df = pd.concat([_frame(), _frame()[["score"]]], axis=1)
    with pytest.raises(DataError, match="'score' appears more than once"):
        load_curves(df)


def test_parquet_messages_name_the_row(tmp_path: Path, capsys):
    df = _frame().assign(score=["0.1", "0.2", "0.3", "lots"])
    path = tmp_path / "bad.parquet"
    df.to_parquet(path)
    with pytest.raises(DataError, match=r"bad\.parquet row 3: column 'score': 'lots': is not a number$"):
        load_curves(path)
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert "bad.parquet row 3" in _check_cli_error(code, out, err)


def test_many_bad_rows_are_counted_in_one_line(tmp_path: Path):
    path = tmp_path / "many.csv"
    path.write_text(_csv([r.replace(",1e", ",-1e") for r in ROWS]))
    with pytest.raises(DataError, match=r":2: column 'train_flops': '-1e20': must be positive \(and 3 more rows\)$"):
        load_curves(path)


# ------------------------------------------------------------------- unit mistakes (log10, percent, axis)


def test_accuracy_in_percent_in_a_dataframe_gets_the_hint():
    df = _frame().drop(columns="n_items").assign(metric="accuracy", score=[25.0, 31.5, 58.0, 100.0])
    with pytest.raises(DataError) as info:
        load_curves(df)
    msg = str(info.value)
    assert msg.startswith("<DataFrame> row 0: column 'score': '25.0': outside [0, 1]"), msg
    assert "metric 'accuracy' looks given in percent: divide the scores by 100" in msg and "\n" not in msg


def test_one_stray_value_is_not_called_a_percentage():
    df = _frame().assign(score=[0.02, 0.03, 1.3, 0.48])
    with pytest.raises(DataError) as info:
        load_curves(df)
    assert str(info.value) == (
        "<DataFrame> row 2: column 'score': '1.3': outside [0, 1] for a discrete (proportion) metric"
    )


@pytest.mark.parametrize(
    ("metric", "scores", "extra", "likelihood"),
    [
        ("bleu", [0.5, 2.0, 10.0, 25.0], {}, "beta"),  # BLEU/ROUGE in 0-100 are percent by convention
        ("score", [12.0, 20.0, 31.0, 40.0], {}, "student_t"),  # a neutral name: an unbounded score
        ("generate_length", [12.0, 20.0, 31.0, 40.0], {}, "student_t"),  # 'rate' inside a word is no proportion
        ("f1", [12.0, 20.0, 31.0, 40.0], {"metric_kind": "continuous"}, "student_t"),  # an explicit kind wins
        ("f1", [0.12, 0.2, 0.31, 0.4], {}, "beta"),
        ("mmlu", [0.3, 0.41, 0.52, 0.63], {"chance": 0.25}, "beta"),
        ("acc", [0.02, 0.03, 0.2, 0.48], {"n_items": 100}, "beta_binomial"),
    ],
)
def test_legitimate_scores_still_load(metric, scores, extra, likelihood):
    df = _frame().drop(columns="n_items").assign(metric=metric, score=scores, **extra)
    assert load_curves(df).curves["likelihood"].tolist() == [likelihood]


def test_scales_in_raw_units_load_on_both_axes():
    df = _frame().assign(params=[7e7, 4e8, 1.4e9, 1.2e10])  # the smallest real models: well above the limits
    assert len(load_curves(df)) == len(load_curves(df, x_axis="params")) == 1


def test_flops_only_table_on_the_params_axis_suggests_flops():
    with pytest.raises(DataError, match=r"^<DataFrame>: no row has a value in column 'params' .*--x flops"):
        load_curves(_frame(), x_axis="params")


def test_a_table_without_fittable_curves_is_an_empty_curveset():
    cs = load_curves(_frame(), min_points=5)  # the API leaves the refusal to its callers (CLI, fit)
    assert len(cs) == 0 and cs.dropped["level"].tolist() == ["curve"]
