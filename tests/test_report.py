"""`phasefit report`: figures, tables and index.html from a finished fit directory (tiny draws).

The run's task and family names are hostile on purpose (HTML, LaTeX and Markdown syntax): the
report must show them as text everywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from _models import sim_frame, tiny_spec

import phasefit.runner.local as pipeline
from phasefit.cli import main
from phasefit.data.curves import load_curves
from phasefit.errors import PhasefitError
from phasefit.models.curve_model import curve_inputs as model_inputs
from phasefit.report import build, tables
from phasefit.report.build import write_report
from phasefit.report.data import curve_inputs, curve_labels, curve_plot, run_spec
from phasefit.results.analysis import load_run

XSS = "<img src=x onerror=alert(1)>"
LATEXY = "50% & $x_1$ #{hi}"


def _hostile_curves():
    """A break and a flat curve, named to break naive HTML / LaTeX / Markdown."""
    df = sim_frame(("breakpoint", "flat"))
    df["task"] = df["task"].map({t: name for t, name in zip(sorted(df["task"].unique()), (XSS, LATEXY), strict=True)})
    df["family"] = "Fam|ily*_"
    return load_curves(df, name="hostile")


@pytest.fixture(scope="module")
def fit_dir(tmp_path_factory):
    """A finished fit of `_hostile_curves`."""
    curves = _hostile_curves()
    out = tmp_path_factory.mktemp("fit")
    pipeline.fit_to_directory(curves, out=out, models=tiny_spec(), progress=False)
    return out


@pytest.fixture(scope="module")
def report(fit_dir):
    return write_report(fit_dir)


def test_report_holds_every_figure_and_table(report, fit_dir):
    assert report.directory == fit_dir / "report" and report.index.is_file() and report.curves == 2
    for rel in report.figures + report.tables:
        assert (report.directory / rel).stat().st_size > 0, rel
    curves = [f for f in report.figures if f.startswith("figures/curves/")]
    assert len(curves) == 4  # a PNG and a PDF per curve
    for stem in ("p_emergent_by_task", "emergence_scales", "diagnostics"):
        for ext in ("png", "pdf"):
            assert f"figures/{stem}.{ext}" in report.figures
    for stem in ("emergence", "tasks", "diagnostics"):
        for ext in ("csv", "tex", "md"):
            assert f"tables/{stem}.{ext}" in report.tables
    assert (report.directory / "figures" / "diagnostics.pdf").read_bytes().startswith(b"%PDF")
    manifest = json.loads((report.directory / "manifest.json").read_text())
    assert manifest["figures"] == list(report.figures)
    html = report.index.read_text()
    for rel in report.figures:  # every figure is linked from the page
        assert rel in html, rel


def test_user_names_render_as_text_never_markup(report):
    html = report.index.read_text()
    assert XSS not in html and "onerror=alert(1)>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "50% &amp; $x_1$ #{hi}" in html
    tex = (report.directory / "tables" / "emergence.tex").read_text()
    assert r"50\% \& \$x\_1\$ \#\{hi\}" in tex and LATEXY not in tex
    md = (report.directory / "tables" / "emergence.md").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in md and XSS not in md
    assert r"Fam\|ily\*\_" in md  # a | would split the Markdown cell
    csv = pd.read_csv(report.directory / "tables" / "emergence.csv", keep_default_na=False)
    assert set(csv["task"]) == {XSS, LATEXY}  # CSV keeps the names as they are
    files = [p.name for p in (report.directory / "figures" / "curves").iterdir()]
    assert all(set(n) <= set("abcdefghijklmnopqrstuvwxyz0123456789-.") for n in files), files


def test_emergence_table_matches_the_verdicts(report, fit_dir):
    v = load_run(fit_dir).verdicts
    t = pd.read_csv(report.directory / "tables" / "emergence.csv", keep_default_na=False)
    merged = t.merge(v, on=["task", "family", "metric"], suffixes=("", "_v"))
    assert len(merged) == len(v)
    assert (merged["verdict"] == merged["verdict_v"]).all()
    assert np.allclose(merged["P(emergent)"].astype(float), merged["p_emergent"].round(2), atol=0.005)
    no_scale = merged["verdict"] != "emergent"  # an emergence scale only where the break is favoured
    assert (merged.loc[no_scale, "onset (FLOPs)"] == tables.DASH).all()


def test_the_run_holds_what_a_figure_needs(fit_dir):
    """The curve's data on the model's scale is rebuilt from posterior.nc alone, exactly."""
    analysis = load_run(fit_dir)
    spec = run_spec(analysis.run)
    assert spec == tiny_spec()
    curves = _hostile_curves()
    for label, curve in zip(curve_labels(analysis.verdicts), curves, strict=True):
        assert label == curve.label
        want = model_inputs(curve, spec)
        got = curve_inputs(analysis.posterior, label, "breakpoint")
        for name in ("x", "y", "n"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-12)
        for name in ("center", "floor", "range_lo", "range_hi", "x_ref", "y_loc", "y_scale"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12), name
        cp = curve_plot(analysis.posterior, analysis.verdicts, label, spec=spec)
        np.testing.assert_allclose(cp.y, curve.y)  # proportions
        assert ((cp.y_lo <= cp.y + 1e-12) & (cp.y <= cp.y_hi + 1e-12)).all()
        np.testing.assert_allclose(cp.top_ticks, curve.log10_params)
        assert [b.hypothesis for b in cp.bands] == list(spec.names)
        for b in cp.bands:
            assert (b.lo <= b.mean + 1e-9).all() and (b.mean <= b.hi + 1e-9).all()


def test_report_is_byte_identical_when_rerun(fit_dir, tmp_path):
    a = write_report(fit_dir, out=tmp_path / "a")
    b = write_report(fit_dir, out=tmp_path / "b")
    assert a.figures == b.figures and a.tables == b.tables
    for rel in (*a.figures, *a.tables, "index.html"):
        assert (a.directory / rel).read_bytes() == (b.directory / rel).read_bytes(), rel


def test_a_failed_report_leaves_the_previous_one(fit_dir, tmp_path, monkeypatch):
    out = tmp_path / "rep"
    first = write_report(fit_dir, out=out, formats=("png",))
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    calls = {"n": 0}
    real = build.figures.curve_figure

    def flaky(cp):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(cp)

    monkeypatch.setattr(build.figures, "curve_figure", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(fit_dir, out=out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert first.index.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no temporary folder left behind


def assert_report_never_loads_the_sampler(directory, out) -> None:
    """`write_report(directory)` in a fresh process imports no PyMC, PyTensor or nutpie."""
    code = (
        "import sys; from phasefit.report.build import write_report; "
        f"write_report({str(directory)!r}, out={str(out)!r}, formats=('png',)); "
        "loaded = [m for m in ('pymc', 'pytensor', 'nutpie') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_report_never_loads_the_sampler(fit_dir, tmp_path):
    assert_report_never_loads_the_sampler(fit_dir, tmp_path / "r")


def test_cli_report(fit_dir, tmp_path, capsys):
    assert main(["report", str(fit_dir), "--out", str(tmp_path / "cli"), "--formats", "png"]) == 0
    out = capsys.readouterr().out
    assert "index.html" in out and "2 curves" in out
    assert not list((tmp_path / "cli").rglob("*.pdf"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "/no/such/dir"], "no such fit directory"),
        (["report", "{fit}", "--formats", "svg"], "--formats must include png"),
        (["report", "{fit}", "--formats", "pdf"], "--formats must include png"),
        (["report", "{fit}", "--out", "/no/such/parent/rep"], "output directory does not exist"),
    ],
)
def test_cli_report_bad_input(fit_dir, argv, message, capsys):
    argv = [a.replace("{fit}", str(fit_dir)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_unfinished_run_is_a_one_line_error(tmp_path):
    (tmp_path / ".phasefit-work").mkdir()
    with pytest.raises(PhasefitError, match="unfinished"):
        write_report(tmp_path)


def test_latex_and_markdown_escaping():
    assert tables.latex_escape(r"a_b & 5% $\x{}") == r"a\_b \& 5\% \$\textbackslash{}x\{\}"
    t = pd.DataFrame({"a|b": ["<i>x</i>", "*y*"]})
    md = tables.to_markdown(t)
    assert md.splitlines()[0] == r"| a\|b |" and "&lt;i&gt;x&lt;/i&gt;" in md and r"\*y\*" in md
    tex = tables.to_latex(t, caption="c_1", label="tab:x")
    assert r"\toprule" in tex and r"\caption{c\_1}" in tex and r"\textless{}i\textgreater{}" in tex


def test_report_in_a_real_browser(report, tmp_path):
    """Headless Chromium loads index.html with no console error, renders every image, asks for
    nothing but local files (self-contained), and takes a screenshot."""
    import os

    from _browser import check_page, find_chromium

    if find_chromium() is None:
        if os.environ.get("PHASEFIT_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
        pytest.skip("no Chromium (make test installs it)")
    page = check_page(report.index, screenshot=tmp_path / "report.png")
    assert page.errors == []
    assert page.title.startswith("phasefit report")
    assert len(page.images) == 2 + 4  # two curves and the overview figures (no sensitivity here)
    broken = [i["src"] for i in page.images if not i["complete"] or i["width"] == 0]
    assert broken == []
    assert page.requests and all(u.startswith("file://") for u in page.requests), page.requests
    assert page.screenshot.read_bytes().startswith(b"\x89PNG")


def test_plots_of_a_loaded_run(fit_dir, tmp_path):
    """One call draws a curve of a finished run with its fits (by label or row), and the overviews."""
    from phasefit.report import figures
    from phasefit.report.plots import plot_curve, plot_emergence_scales, plot_p_emergent

    analysis = load_run(fit_dir)
    label = curve_labels(analysis.verdicts)[1]
    by_label, by_row = plot_curve(analysis, label), plot_curve(analysis, 1)
    a = figures.save(by_label, tmp_path / "a", ("png",))[0].read_bytes()
    b = figures.save(by_row, tmp_path / "b", ("png",))[0].read_bytes()
    assert a == b
    for fig in (plot_p_emergent(analysis), plot_emergence_scales(analysis)):
        assert fig.axes
    with pytest.raises(KeyError, match="no curve 'nope'"):
        plot_curve(analysis, "nope")
    with pytest.raises(IndexError):
        plot_curve(analysis, 5)
