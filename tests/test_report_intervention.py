"""`phasefit report DIR` of a finished intervention directory, written by hand (no sampling).

The directory has what `phasefit intervention` writes (intervention.csv with its columns,
intervention_curves.csv in long form, intervention.json) for two pairs: one emergent with an onset,
one failed. A family name and a note hold HTML on purpose: the page must show them as text.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from phasefit.analyses.intervention import COLUMNS, HYPOTHESES
from phasefit.cli import main
from phasefit.report import intervention as report_intervention
from phasefit.report.build import write_report

FAMILY = "Py<b>thia"
NOTE = "the ramp <i>fit</i> was retried"
MODELS = np.array([20.0, 20.5, 21.0, 21.5, 22.0])  # log10 training FLOPs of the pairs' models
PAIRS = (
    {
        "task": "arithmetic",
        "verdict": "emergent",
        "p_emergent": 0.95,
        "p_smooth": 0.04,
        "p_absent": 0.01,
        "onset_flops_median": 1e21,
        "onset_flops_q05": 5e20,
        "onset_flops_q95": 2e21,
        "onset_params_median": 1e9,
        "onset_params_q05": 6e8,
        "onset_params_q95": 2e9,
        "break_flops_median": 8e20,
        "break_flops_q05": 4e20,
        "break_flops_q95": 1.5e21,
        "p_harm_smallest": 0.3,
        "p_benefit_largest": 0.99,
        "gain_smallest_median": -0.2,
        "gain_largest_median": 2.0,
        "onset_beyond_data": 0.0,
        "onset_at_smallest": 0.0,
        "p_step": 0.7,
        "p_ramp": 0.25,
        "notes": NOTE,
    },
    {"task": "logic", "verdict": "failed", "failure_reason": "smooth_gain: R-hat 1.2 > 1.01"},
)


def _row(pair: dict) -> dict:
    """A row of intervention.csv: every column `phasefit intervention` writes."""
    row = dict.fromkeys(COLUMNS, np.nan) | {
        "metric": "acc",
        "family": FAMILY,
        "baseline": "direct",
        "treatment": "cot",
        "n_points": len(MODELS),
        "x_axis": "flops",
        "onset_margin": 0.5,
        "rhat_max": 1.004,
        "ess_bulk_min": 900.0,
        "divergences": 0,
        "attempts": 1,
        "k_hat_max": 0.3,
        "likelihood": "beta_binomial",
        "models": ";".join(f"m{i}" for i in range(len(MODELS))),
        "failure_reason": "",
        "notes": "",
    }
    row |= {f"log_z_{h}": -30.0 - i for i, h in enumerate(HYPOTHESES)}
    return row | pair


def _curves(row: dict) -> list[dict]:
    """Its rows of intervention_curves.csv: the gain on a grid, each arm at the models."""
    key = {k: row[k] for k in ("task", "metric", "family", "baseline", "treatment")}
    rows = []
    grid = np.linspace(MODELS[0], MODELS[-1], 21)
    gain = 2.5 / (1 + np.exp(-(grid - 20.9) / 0.1)) - 0.3
    for series in ("gain", "gain_breakpoint"):
        for x, g in zip(grid, gain, strict=True):
            rows.append(key | {"series": series, "log10_x": x, "q05": g - 0.6, "median": g, "q95": g + 0.6})
    for series, shift in (("baseline", 0.0), ("treatment", 0.15)):
        mean = 0.3 + 0.1 * (MODELS - MODELS[0]) + shift * (MODELS > 20.9)
        for x, m in zip(MODELS, mean, strict=True):
            rows.append(
                key
                | {
                    "series": series,
                    "log10_x": x,
                    "q05": m - 0.05,
                    "median": m,
                    "q95": m + 0.05,
                    "observed": round(m + 0.02, 2),
                    "n_items": 100.0,
                    "floor": 0.25,
                }
            )
    return rows


@pytest.fixture(scope="module")
def iv_dir(tmp_path_factory):
    """A finished intervention directory `iv` of the two pairs."""
    d = tmp_path_factory.mktemp("runs") / "iv"
    d.mkdir()
    rows = [_row(p) for p in PAIRS]
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(d / "intervention.csv", index=False)
    pd.DataFrame([c for r in rows for c in _curves(r)]).to_csv(d / "intervention_curves.csv", index=False)
    run = {
        "source": "hand-made arms",
        "data_hash": "sha256:0123abcd",
        "x_axis": "flops",
        "baseline": "direct",
        "treatment": "cot",
        "onset_margin": 0.5,
        "hypothesis_weights": {
            "method": "learned",
            "pairs": 1,
            "prior": {"no_gain": 0.1, "smooth_gain": 0.2, "breakpoint_gain": 0.6, "hinge_gain": 0.1},
        },
        "seed": 1234,
        "versions": {"phasefit": "9.9.9"},
    }
    (d / "intervention.json").write_text(json.dumps(run), encoding="utf-8")
    return d


EMERGENT_STEM = "figures/000-arithmetic-py-b-thia-acc"


def test_cli_report_of_an_intervention_directory(iv_dir, capsys):
    assert main(["report", str(iv_dir), "--formats", "png,pdf"]) == 0
    assert "2 pairs" in capsys.readouterr().out
    out = iv_dir / "report"
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "phasefit report: hand-made arms" in html
    for text in ("arithmetic, Py&lt;b&gt;thia, acc", "logic, Py&lt;b&gt;thia, acc", "emergent", "failed"):
        assert text in html, text
    assert "<b>" not in html and "<i>" not in html  # names and notes are text, never markup
    assert "1 emergent, 0 inconclusive, 0 smooth, 0 absent, 1 failed" in html and "cot vs direct" in html
    assert "breakpoint_gain 0.60" in html and "onset margin 0.5 log-odds" in html
    assert "P(emergent gain) = 0.95, P(no effect) = 0.01" in html and "1.0e21 [5.0e20, 2.0e21]" in html
    assert "the ramp &lt;i&gt;fit&lt;/i&gt; was retried" in html and "R-hat 1.2 &gt; 1.01" in html
    assert "phasefit report iv" in html and "sha256:0123abcd" in html and "1234" in html and "9.9.9" in html

    figures = {f"{EMERGENT_STEM}.{fmt}" for fmt in ("png", "pdf")} | {"figures/onsets.png", "figures/onsets.pdf"}
    assert {p.relative_to(out).as_posix() for p in (out / "figures").iterdir()} == figures  # none for the failed pair
    assert f'src="{EMERGENT_STEM}.png"' in html and f'href="{EMERGENT_STEM}.pdf"' in html
    assert 'src="figures/onsets.png"' in html
    tables = {f"tables/intervention.{k}" for k in ("csv", "tex", "md")}
    for rel in figures | tables:
        assert (out / rel).stat().st_size > 0, rel
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == {"figures": sorted(figures), "tables": sorted(tables), "pairs": 2}

    table = pd.read_csv(out / "tables" / "intervention.csv", keep_default_na=False)
    assert list(table.columns) == [
        "task",
        "family",
        "metric",
        "treatment vs baseline",
        "verdict",
        "P(emergent gain)",
        "P(no effect)",
        "P(harm at smallest)",
        "onset (FLOPs)",
    ]
    assert table["verdict"].tolist() == ["emergent", "failed"]
    assert table.loc[0, "onset (FLOPs)"] == "1.0e21 [5.0e20, 2.0e21]" and table.loc[1, "P(emergent gain)"] == "–"
    assert r"Py\textless{}b\textgreater{}thia" in (out / "tables" / "intervention.tex").read_text(encoding="utf-8")


def test_report_returns_what_it_wrote(iv_dir, tmp_path):
    report = write_report(iv_dir, out=tmp_path / "rep", formats=("png",))
    assert report.kind == "intervention" and report.curves == 2 and report.index == tmp_path / "rep" / "index.html"
    assert report.figures == (f"{EMERGENT_STEM}.png", "figures/onsets.png")
    assert report.tables == tuple(f"tables/intervention.{k}" for k in ("csv", "md", "tex"))


def test_a_second_report_replaces_the_first_atomically(iv_dir, tmp_path, monkeypatch):
    out = tmp_path / "rep"
    write_report(iv_dir, out=out, formats=("png", "pdf"))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(report_intervention, "pair_figure", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            write_report(iv_dir, out=out, formats=("png",))
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no temporary folder left behind

    write_report(iv_dir, out=out, formats=("png",))
    assert not list(out.rglob("*.pdf"))  # replaced whole, not merged
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


def test_the_figures_command_draws_what_the_report_draws(iv_dir, tmp_path):
    """`write_intervention_figures` (what `phasefit intervention` calls) and the report share their figures."""
    report = write_report(iv_dir, out=tmp_path / "rep", formats=("png",))
    written = report_intervention.write_intervention_figures(iv_dir, formats=("png",))
    assert sorted(f"figures/{p.name}" for p in written) == sorted(report.figures)
    for p in written:
        assert p.read_bytes() == (report.directory / "figures" / p.name).read_bytes(), p.name


def test_neither_kind_of_directory_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "not a finished fit or intervention directory" in err and "verdicts.csv or intervention.csv" in err
    assert not (tmp_path / "empty" / "report").exists()


def test_an_incomplete_intervention_directory_is_a_one_line_error(iv_dir, tmp_path, capsys):
    d = tmp_path / "iv"
    d.mkdir()
    for name in ("intervention.csv", "intervention.json"):
        (d / name).write_bytes((iv_dir / name).read_bytes())
    assert main(["report", str(d)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "intervention_curves.csv is missing" in err


def test_report_never_loads_the_sampler(iv_dir, tmp_path):
    from test_report import assert_report_never_loads_the_sampler

    assert_report_never_loads_the_sampler(iv_dir, tmp_path / "r")


def test_report_in_a_real_browser(iv_dir, tmp_path):
    """Headless Chromium loads index.html with no console error, renders every image and asks for
    nothing but local files (as for the fit report, tests/test_report.py)."""
    import os

    from _browser import check_page, find_chromium

    if find_chromium() is None:
        if os.environ.get("PHASEFIT_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
        pytest.skip("no Chromium (make test installs it)")
    report = write_report(iv_dir, out=tmp_path / "rep")
    page = check_page(report.index, screenshot=tmp_path / "report.png")
    assert page.errors == []
    assert page.title == "phasefit report: hand-made arms"
    assert len(page.images) == 2  # the onsets and the pair that did not fail
    broken = [i["src"] for i in page.images if not i["complete"] or i["width"] == 0]
    assert broken == []
    assert page.requests and all(u.startswith("file://") for u in page.requests), page.requests
    assert page.screenshot.read_bytes().startswith(b"\x89PNG")
