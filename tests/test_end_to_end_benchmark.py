"""benchmarks/end_to_end.py: its per-curve numbers, ratio, extrapolation to 1,000 curves and RESULTS.md
section from a hand-made result (no sampling; the script itself runs outside the suite)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import end_to_end as bench  # noqa: E402


def _sides(naive_curves: int = 100, naive_total: float = 514.0):
    phasefit = {
        "n_curves": 100,
        "total_seconds": 186.0,
        "compile_seconds": 10.0,
        "import_seconds": 4.0,
        "curve_fits_seconds": 156.0,
        "population_seconds": 10.0,
        "rest_seconds": 10.0,
        "peak_rss_mib": 900.0,
        "nutpie": {"sample_calls": 520, "sample_seconds": 140.0, "draws_total": 520 * 4000, "compile_calls": 3},
        "verdicts": {"emergent": 30, "smooth": 40, "absent": 30},
    }
    naive = {
        "n_curves": naive_curves,
        "total_seconds": naive_total,
        "compile_seconds": 0.9 * naive_total,
        "import_seconds": 3.0,
        "per_fit_compile_mean": 0.9 * naive_total / (2 * naive_curves),
        "peak_rss_mib": 1900.0,
        "fits_failing_checks": 5,
        "calls": [{}] * (2 * naive_curves),
        "nutpie": {
            "sample_calls": 2 * naive_curves,
            "sample_seconds": 0.1 * naive_total,
            "draws_total": 2 * naive_curves * 4000,
            "compile_calls": 2 * naive_curves,
        },
    }
    return phasefit, naive


def _report(phasefit, naive):
    return {
        "date": "2026-01-01T00:00:00+00:00",
        "command": "benchmarks/end_to_end.py",
        "machine": {"nproc": 2, "affinity": 2, "cpu": "CPU", "ram": "23.5 GiB", "python": "3.13.0"},
        "versions": {"pymc": "6.4.0", "nutpie": "0.16", "pytensor": "3.3", "numba": "0.68"},
        "git": {"commit": "0123456789abcdef", "uncommitted_src": []},
        "settings": {"seed": 7, "chains": 4, "draws": 1000, "tune": 500, "target_accept": 0.95},
        "loadavg_start": [1.0, 1.0, 1.0],
        "loadavg_end": [2.5, 1.5, 1.25],
        "comparison": bench.compare(phasefit, naive),
        "phasefit": phasefit,
        "naive": naive,
    }


def test_per_curve_and_extrapolation():
    assert bench.per_curve(186.0, 100) == pytest.approx(1.86)
    assert bench.extrapolate(186.0, 100, 1000) == pytest.approx(1860.0)
    # the one-off compile is paid once, the rest scales with the curves
    assert bench.extrapolate(186.0, 100, 1000, fixed=10.0) == pytest.approx(10.0 + 176.0 * 10)
    assert bench.extrapolate(186.0, 1000, 1000, fixed=10.0) == pytest.approx(186.0)


def test_compare_gives_the_ratio_and_the_issue_targets():
    c = bench.compare(*_sides())
    assert c["phasefit_seconds_per_curve"] == pytest.approx(1.86)
    assert c["naive_seconds_per_curve"] == pytest.approx(5.14)
    assert c["ratio_per_curve"] == pytest.approx(5.14 / 1.86)
    assert not c["naive_is_prefix"]
    assert c["targets"]["ratio"] == {"target": ">= 20", "measured": pytest.approx(5.14 / 1.86), "met": False}
    t = c["targets"]["curves_1000"]
    assert t["extrapolated"] and "linear" in t["method"]
    assert t["phasefit_seconds"] == pytest.approx(10.0 + 176.0 * 10)
    assert t["naive_seconds"] == pytest.approx(5140.0)
    assert not t["met"]
    fast = dict(_sides()[0], total_seconds=60.0, compile_seconds=10.0)
    t = bench.compare(fast, _sides()[1])["targets"]
    assert t["ratio"]["met"] is False and t["curves_1000"]["met"] is True  # 10 + 50 * 10 = 510 s <= 600 s
    assert bench.compare(dict(fast, total_seconds=20.0), _sides()[1])["targets"]["ratio"]["met"] is True


def test_a_naive_prefix_is_reported_per_curve():
    phasefit, naive = _sides(naive_curves=30, naive_total=154.2)
    c = bench.compare(phasefit, naive)
    assert c["naive_is_prefix"]
    assert c["naive_seconds_per_curve"] == pytest.approx(5.14)
    assert c["targets"]["curves_1000"]["naive_seconds"] == pytest.approx(5140.0)
    md = bench.markdown(_report(phasefit, naive))
    assert "| curves timed | 30 (first 30 of 100) | 100 |" in md
    assert "timed on the first 30 of the 100 curves" in md


def test_markdown_section():
    md = bench.markdown(_report(*_sides()))
    start, end = bench.markers("end_to_end")
    assert md.startswith(start) and md.rstrip().endswith(end)
    assert "| | naive loop | phasefit fit |" in md
    assert "| **seconds per curve** | **5.14** | **1.86** |" in md
    assert "| peak RSS (MiB) | 1900 | 900 |" in md
    assert "| compile (s) | 462.6 (every fit, 2.31 each) | 10.0 (once per model) |" in md
    assert "| of which sampling, `nutpie.sample` (s) | 51.4 | 140.0 |" in md
    assert "| sampling runs per curve | 2.0 | 5.2 |" in md
    assert "| 1,000 curves, extrapolated (min) | 85.7 | 29.5 |" in md
    assert "Ratio naive / phasefit per curve: 2.8x" in md and "not met" in md
    assert "at the end 2.50 1.50 1.25" in md
    assert "understates phasefit's advantage" in md
    assert "first 100 of" not in md  # not a prefix
