"""The report's figures against committed baseline images (matplotlib's image comparison, RMS
tolerance), drawn from fixed inputs so that no sampler noise enters.

Regenerate the baselines after an intended change of a figure with
`PHASEFIT_REGEN_BASELINES=1 .venv/bin/python -m pytest tests/test_report_images.py`, look at them,
and commit them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.testing.compare import compare_images

from phasefit.report import figures
from phasefit.report.data import Band, CurvePlot

BASELINES = Path(__file__).parent / "baseline"
TOL = 2.0  # RMS over 0-255 pixel values: anti-aliasing may differ, a moved line or label may not
REGEN = os.environ.get("PHASEFIT_REGEN_BASELINES") == "1"


def _curve_plot() -> CurvePlot:
    x = np.array([20.0, 20.5, 21.0, 21.5, 22.0, 22.5, 23.0])
    grid = np.linspace(x[0], x[-1], 160)
    n = np.full(7, 400.0)
    y = np.array([0.01, 0.012, 0.008, 0.015, 0.12, 0.38, 0.61])
    k = np.round(y * n)
    from phasefit.report.data import binomial_interval

    lo, hi = binomial_interval(k, n)

    def band(h, p, mean, width):
        return Band(
            hypothesis=h, probability=p, mean=mean, lo=np.clip(mean - width, 0, 1), hi=np.clip(mean + width, 0, 1)
        )

    rise = 1 / (1 + np.exp(-(grid - 22.6) * 3.0))
    rng = np.random.default_rng(0)
    return CurvePlot(
        label="arithmetic_3ds, Pythia, acc [2-shot]",
        task="arithmetic_3ds",
        metric="acc",
        family="Pythia",
        condition="2-shot",
        x_axis="flops",
        verdict="emergent",
        p_emergent=0.97,
        proportion=True,
        floor=0.0,
        x=x,
        y=k / n,
        y_lo=lo,
        y_hi=hi,
        models=tuple(f"m{i}" for i in range(7)),
        top_ticks=np.array([7.8, 8.2, 8.6, 9.0, 9.4, 9.8, 10.1]),
        grid=grid,
        bands=(
            band("absent", 0.0, np.full_like(grid, 0.1), 0.02),
            band("smooth", 0.03, 1 / (1 + np.exp(-(grid - 23.0) * 1.2)) * 0.8, 0.05),
            band("breakpoint", 0.97, 0.01 + 0.7 * rise, 0.04),
        ),
        tau=rng.normal(21.7, 0.15, 800),
        onset=rng.normal(21.9, 0.1, 800),
        onset_margin=0.05,
    )


def _verdicts() -> pd.DataFrame:
    rows = []
    spec = [
        ("arithmetic_2da", "GPT-Neo/J", "emergent", 0.99, 2e21),
        ("arithmetic_2da", "Pythia", "inconclusive", 0.62, 5e21),
        ("arithmetic_2da", "OPT", "smooth", 0.04, np.nan),
        ("ipa_transliterate", "Pythia", "absent", 0.08, np.nan),
        ("ipa_transliterate", "OPT", "emergent", 0.93, 3e22),
    ]
    for task, family, verdict, p, onset in spec:
        rows.append(
            {
                "task": task,
                "metric": "acc",
                "family": family,
                "condition": "",
                "verdict": verdict,
                "p_emergent": p,
                "p_emergent_prior_min": max(0.0, p - 0.1),
                "p_emergent_prior_max": min(1.0, p + 0.05),
                "onset_flops_median": onset,
                "onset_flops_q05": onset / 3,
                "onset_flops_q95": onset * 2,
                "rhat_max": 1.004,
                "ess_bulk_min": 800.0,
            }
        )
    return pd.DataFrame(rows)


def _check(fig, name: str, tmp_path: Path) -> None:
    [png] = figures.save(fig, tmp_path / name, ("png",))
    baseline = BASELINES / f"{name}.png"
    if REGEN:
        BASELINES.mkdir(exist_ok=True)
        shutil.copyfile(png, baseline)
        pytest.skip(f"regenerated {baseline}")
    assert baseline.is_file(), f"no baseline {baseline}: run with PHASEFIT_REGEN_BASELINES=1 and commit it"
    diff = compare_images(str(baseline), str(png), tol=TOL)
    assert diff is None, diff


def test_curve_figure(tmp_path):
    _check(figures.curve_figure(_curve_plot()), "curve", tmp_path)


def test_forest_figure(tmp_path):
    _check(figures.forest_figure(_verdicts()), "p_emergent_by_task", tmp_path)


def test_scale_figure(tmp_path):
    _check(figures.scale_figure(_verdicts(), x_axis="flops"), "emergence_scales", tmp_path)


def test_diagnostics_figure(tmp_path):
    v = _verdicts()
    k = pd.Series([0.1, 0.3, 0.75, 0.2, 0.5])
    _check(figures.diagnostics_figure(v, k, rhat_max=1.01, ess_min=400), "diagnostics", tmp_path)


def test_sensitivity_figure(tmp_path):
    s = pd.DataFrame(
        {
            "task": ["ipa", "ipa", "arith", "arith"],
            "family": ["Pythia"] * 4,
            "condition": [""] * 4,
            "metric": ["exact_match", "bleu", "exact_match", "bleu"],
            "p_emergent": [0.95, 0.05, 0.97, 0.92],
            "verdict": ["emergent", "smooth", "emergent", "emergent"],
            "flip": [True, True, False, False],
        }
    )
    _check(figures.sensitivity_figure(s), "metric_sensitivity", tmp_path)


def test_a_moved_curve_fails_the_comparison(tmp_path):
    """The tolerance is not so loose that a wrong figure passes."""
    cp = _curve_plot()
    moved = CurvePlot(**{**cp.__dict__, "y": cp.y + 0.05, "y_lo": cp.y_lo + 0.05, "y_hi": cp.y_hi + 0.05})
    [png] = figures.save(figures.curve_figure(moved), tmp_path / "moved", ("png",))
    if REGEN:
        pytest.skip("regenerating")
    assert compare_images(str(BASELINES / "curve.png"), str(png), tol=TOL) is not None
