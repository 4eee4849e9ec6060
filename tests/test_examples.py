"""The example outputs printed in README.md and docs/cli.md are what phasefit prints today.

Runs are byte-reproducible for a given seed, so the README's fitting example is rerun exactly as
written (the bundled ObsScaling table, arithmetic_3ds for OPT and Qwen1.5, the default spec) and its
printed summary is compared with the text block that follows it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import phasefit
from phasefit import datasets as ds

ROOT = Path(__file__).resolve().parents[1]


def _text_block_after(path: Path, marker: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    m = re.search(re.escape(marker) + r"\s*```text\n(.*?)```", text, flags=re.S)
    assert m, f"{path.name}: no ```text block after {marker!r}"
    return m.group(1).strip().splitlines()


@pytest.fixture(scope="module")
def readme_summary() -> list[str]:
    curves = phasefit.load_curves(ds.load("obsscaling_emergent"), name="dataset:obsscaling_emergent")
    arith = curves.subset(
        (curves.curves["task"] == "arithmetic_3ds") & curves.curves["family"].isin(["OPT", "Qwen1.5"])
    )
    analysis = phasefit.fit(arith, draws=1000, tune=500, progress=False)
    return analysis.summary().splitlines()


def test_readme_example_output_is_current(readme_summary):
    assert _text_block_after(ROOT / "README.md", "which prints, for example,") == readme_summary


def test_cli_doc_example_sentence_is_current(readme_summary):
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    m = re.search(r"one sentence per curve, e\.g\.\n`([^`]+)`", text)
    assert m, "docs/cli.md: the example sentence is missing"
    assert m.group(1) in readme_summary
    m = re.search(r"one sentence per row of `tasks\.csv`[^\n]*e\.g\.\n`([^`]+)`", text)
    assert m, "docs/cli.md: the example task sentence is missing"
    assert m.group(1) in readme_summary
