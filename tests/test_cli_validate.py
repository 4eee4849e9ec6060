"""`phasefit validate`, `--version`, `--help`, and the bare command."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import phasefit
from phasefit.cli import main
from phasefit.data.curves import load_curves


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's --help/--version/usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal width


def _curve(task: str, family: str, n: int, *, condition: str = "", metric: str = "acc") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task": task,
            "metric": metric,
            "family": family,
            "condition": condition,
            "model": [f"{family}-{i}" for i in range(n)],
            "score": [0.1 + 0.1 * i for i in range(n)],
            "train_flops": [10.0 ** (20 + i) for i in range(n)],
            "params": [10.0 ** (8 + i) for i in range(n)],
            "n_items": 100,
            "chance": 0.0,
        }
    )


@pytest.fixture
def suite_csv(tmp_path: Path) -> Path:
    """4 kept curves (3 tasks, 2 families, 4-6 points), 1 too-short curve, 1 point without FLOPs."""
    parts = [
        _curve("arith", "A", 6),
        _curve("arith", "B", 4),
        _curve("arith", "A", 5, condition="cot"),
        _curve("wordplay", "A", 5, metric="exact_match"),
        _curve("tiny", "A", 3),
    ]
    df = pd.concat(parts, ignore_index=True)
    df.loc[(df["task"] == "arith") & (df["family"] == "B") & (df["model"] == "B-0"), "train_flops"] = None
    df = pd.concat([df, _curve("arith", "B", 4).iloc[[0]].assign(model="B-x", train_flops=1e25)])
    path = tmp_path / "suite.csv"
    df.to_csv(path, index=False)
    return path


def test_validate_prints_curve_counts(suite_csv: Path, capsys):
    code, out, err = run(["validate", str(suite_csv)], capsys)
    assert code == 0 and err == ""
    assert "4 curves in" in out  # the table's title (rich wraps it to the table's width)
    assert re.search(r"curves: 4\s+tasks: 2\s+metrics: 2\s+families: 2\s+points per curve: 4-6 \(median 5\)", out), out
    assert "likelihoods: beta_binomial 4" in out
    assert "dropped: 1 curves, 1 points" in out
    assert "1 curves: 3 distinct flops values, fewer than 4" in out
    assert "1 points: no train_flops" in out
    # the table: one row per (task, metric, family) with curve counts, points per curve (fewest-most),
    # conditions, the range of the scale and the likelihood
    assert re.search(
        r"arith\s*│\s*acc\s*│\s*A\s*│\s*2\s*│\s*5-6\s*│\s*\(none\), cot\s*│\s*1e20 – 1e25\s*│"
        r"\s*beta_binomial\s*│",
        out,
    ), out
    assert re.search(r"arith\s*│\s*acc\s*│\s*B\s*│\s*1\s*│\s*4\s*│\s*\(none\)\s*│\s*1e21 – 1e25\s*│", out), out
    assert re.search(r"wordplay\s*│\s*exact_match\s*│\s*A\s*│\s*1\s*│\s*5\s*│", out), out
    assert re.search(
        r"task\s*┃\s*metric\s*┃\s*family\s*┃\s*curves\s*┃\s*points\s*┃\s*conditions\s*┃\s*FLOPs range\s*┃"
        r"\s*likelihood",
        out,
    ), out


def test_validate_options_change_the_counts(suite_csv: Path, capsys):
    code, out, _ = run(["validate", str(suite_csv), "--min-points", "3"], capsys)
    assert code == 0 and re.search(r"curves: 5\s+tasks: 3", out)
    code, out, _ = run(["validate", str(suite_csv), "--x", "params"], capsys)
    assert code == 0 and "(x = log10 params)" in out and "points:" not in out.split("dropped:")[-1]
    code, out, _ = run(["validate", str(suite_csv), "--task", "wordplay"], capsys)
    assert code == 0 and re.search(r"curves: 1\s+tasks: 1", out)


def test_validate_counts_match_the_api(suite_csv: Path, capsys):
    cs = load_curves(suite_csv)
    _, out, _ = run(["validate", str(suite_csv)], capsys)
    assert f"curves: {len(cs)} " in out


def test_validate_parquet(tmp_path: Path, capsys):
    path = tmp_path / "suite.parquet"
    pd.concat([_curve("arith", "A", 4), _curve("arith", "B", 5)]).to_parquet(path)
    code, out, _ = run(["validate", str(path)], capsys)
    assert code == 0 and re.search(r"curves: 2\s+tasks: 1", out)


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"phasefit {phasefit.__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["-h"]])
def test_help(argv, capsys):
    code, out, _ = run(argv, capsys)
    assert code == 0 and "usage: phasefit" in out


def test_help_lists_validate(capsys):
    _, out, _ = run(["--help"], capsys)
    assert "validate" in out


def test_no_command_is_a_usage_error(capsys):
    code, out, _ = run([], capsys)
    assert code == 2 and "usage: phasefit" in out


def test_unknown_command(capsys):
    code, _, err = run(["frobnicate"], capsys)
    assert code == 2 and err.startswith("phasefit: error:") and err.count("\n") == 1


def test_validate_without_data_argument(capsys):
    code, _, err = run(["validate"], capsys)
    assert code == 2 and err.startswith("phasefit: error:") and "data" in err


def _bundled(name: str):
    try:
        from phasefit.data import datasets
    except ImportError:
        return None
    try:
        return datasets.DATASETS[name] if name in getattr(datasets, "DATASETS", {}) else None
    except Exception:  # a dataset layer under construction
        return None


def test_validate_bundled_dataset(capsys):
    info = _bundled("obsscaling_emergent")
    if info is None:
        pytest.skip("bundled dataset obsscaling_emergent not available")
    from phasefit.data import datasets

    cs = load_curves(datasets.load("obsscaling_emergent"))
    code, out, err = run(["validate", "dataset:obsscaling_emergent"], capsys)
    assert code == 0 and err == ""
    assert len(cs) > 0 and f"curves: {len(cs)} " in out
    assert len(cs) == info.curves_4_scales  # the catalogue's count of curves with >= 4 FLOPs values
    assert f"{len(cs)} curves in" in out


def test_validate_unknown_dataset(capsys):
    if _bundled("obsscaling_emergent") is None:
        pytest.skip("bundled datasets not available")
    code, _, err = run(["validate", "dataset:no_such_dataset"], capsys)
    assert code == 2 and err.startswith("phasefit: error:") and err.count("\n") == 1


# ------------------------------------------------------------------ validate's columns; nothing to fit


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2 and out == "", out
    assert err.startswith("phasefit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.removeprefix("phasefit: error: ").rstrip("\n")


def test_validate_params_range_and_mixed_likelihoods(tmp_path: Path, capsys):
    df = pd.concat([_curve("arith", "A", 4), _curve("arith", "A", 5, condition="cot").drop(columns="n_items")])
    path = tmp_path / "mixed.csv"
    df.to_csv(path, index=False)
    code, out, _ = run(["validate", str(path), "--x", "params"], capsys)
    assert code == 0
    assert re.search(r"params range\s*┃", out), out
    assert re.search(
        r"arith\s*│\s*acc\s*│\s*A\s*│\s*2\s*│\s*4-5\s*│\s*\(none\), cot\s*│\s*1e8 – 1e12\s*│"
        r"\s*(beta_binomial 1, beta 1|beta 1, beta_binomial 1)\s*│",
        out,
    ), out


def test_validate_refuses_a_table_without_fittable_curves(tmp_path: Path, capsys):
    path = tmp_path / "short.csv"
    pd.concat([_curve("arith", "A", 3), _curve("arith", "B", 2)]).to_csv(path, index=False)
    msg = _one_line_error(*run(["validate", str(path)], capsys))
    assert msg == (
        f"{path}: no curve to fit: all 2 curves have fewer than 4 distinct flops values "
        "(the longest has 3; --min-points 4)"
    )
    assert len(load_curves(path)) == 0  # the API still returns the empty CurveSet


def test_fit_refuses_a_table_whose_only_curves_never_vary(tmp_path: Path, capsys):
    path = tmp_path / "zeros.csv"
    zeros = _curve("arith", "A", 5).assign(metric="em_norm", score=0.0, chance=0.0, metric_kind="discrete_normalized")
    pd.concat([zeros, _curve("arith", "B", 3)]).to_csv(path, index=False)
    out_dir = tmp_path / "out"
    msg = _one_line_error(*run(["fit", str(path), "--out", str(out_dir)], capsys))
    assert msg == (
        f"{path}: no curve to fit: 1 curves have fewer than 4 distinct flops values (the longest has 3; "
        "--min-points 4); 1 curves are unbounded scores that never vary"
    )
    assert not out_dir.exists()
    pd.concat([zeros, _curve("arith", "B", 5)]).to_csv(path, index=False)
    msg = _one_line_error(*run(["fit", str(path), "--metric", "em_norm", "--out", str(out_dir)], capsys))
    assert msg.endswith("no curves with metric 'em_norm' (its curves were dropped: see `phasefit validate`)")


def test_min_points_that_leaves_nothing_is_an_error(suite_csv: Path, capsys):
    msg = _one_line_error(*run(["validate", str(suite_csv), "--min-points", "7"], capsys))
    assert (
        "no curve to fit: all 5 curves have fewer than 7 distinct flops values (the longest has 6; "
        "--min-points 7); 1 rows have no train_flops" in msg
    )


def test_fit_refuses_nothing_to_fit_before_writing(suite_csv: Path, tmp_path: Path, capsys):
    out_dir = tmp_path / "out"
    msg = _one_line_error(*run(["fit", str(suite_csv), "--min-points", "9", "--out", str(out_dir)], capsys))
    assert "no curve to fit" in msg and not out_dir.exists()
    msg = _one_line_error(*run(["fit", str(suite_csv), "--task", "arihtm", "--out", str(out_dir)], capsys))
    assert msg.endswith("no curves with task 'arihtm' (did you mean 'arith'?)") and not out_dir.exists()


@pytest.mark.parametrize(
    ("option", "value", "expect"),
    [
        ("--task", "arithmetc", "no curves with task 'arithmetc' (did you mean 'arithmetic_2da'?)"),
        ("--task", "WordPlay", "no curves with task 'WordPlay' (did you mean 'wordplay'?)"),
        ("--metric", "exact_mach", "no curves with metric 'exact_mach' (did you mean 'exact_match'?)"),
        ("--family", "a", "no curves with family 'a' (did you mean 'A'?)"),
        ("--task", "tiny", "no curves with task 'tiny' (its curves were dropped: too few points)"),
        ("--family", "zzz", "no curves with family 'zzz' (there are: 'A', 'B')"),
    ],
)
def test_filters_that_match_nothing_suggest_names(tmp_path: Path, capsys, option, value, expect):
    parts = [_curve("arithmetic_2da", "A", 5), _curve("wordplay", "B", 4, metric="exact_match"), _curve("tiny", "A", 3)]
    path = tmp_path / "named.csv"
    pd.concat(parts).to_csv(path, index=False)
    msg = _one_line_error(*run(["validate", str(path), option, value], capsys))
    assert msg == f"{path}: {expect}"


def test_filters_that_exclude_each_other(suite_csv: Path, capsys):
    msg = _one_line_error(*run(["validate", str(suite_csv), "--task", "wordplay", "--family", "B"], capsys))
    assert "no curves left after --task/--metric/--family filters" in msg


def test_params_only_table_on_the_flops_axis_suggests_params(tmp_path: Path, capsys):
    path = tmp_path / "params.csv"
    _curve("arith", "A", 5).drop(columns="train_flops").to_csv(path, index=False)
    msg = _one_line_error(*run(["validate", str(path)], capsys))
    assert "no row has a value in column 'train_flops'" in msg and "--x params" in msg
    code, out, _ = run(["validate", str(path), "--x", "params"], capsys)
    assert code == 0 and "1 curves in" in out
