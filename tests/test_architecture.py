"""The layer rules of ARCHITECTURE.md hold, and the repository cites only documents it contains.

The import arrows are import-linter contracts in pyproject.toml ([tool.importlinter]); `make lint`
runs them too, this test makes CI catch a broken arrow with the rest of the suite.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "phasefit"


def _lint_imports() -> str | None:
    exe = Path(sys.executable).with_name("lint-imports")  # the venv's, beside its python
    return str(exe) if exe.is_file() else shutil.which("lint-imports")


def test_import_contracts_kept():
    exe = _lint_imports()
    if exe is None:
        pytest.skip("import-linter is not installed (it comes with the dev extra: pip install -e '.[dev]')")
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"lint-imports failed (see ARCHITECTURE.md for the rules):\n{proc.stdout}{proc.stderr}"


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def test_contracts_cover_the_layers():
    """The layers contract lists every layer package that exists, in the documented order."""
    order = ["cli", "report", "runner", "results", "analyses", "evidence", "inference", "models", "data", "errors"]
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    assert [name.strip("()") for name in layers["layers"]] == order
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    # `_version.py` imports nothing of phasefit: any layer may read the version from it
    modules = {p.stem for p in SRC.glob("*.py") if p.stem not in ("__init__", "__main__", "_version")}
    assert packages | modules <= set(order), f"not in any layer: {sorted((packages | modules) - set(order))}"


def test_report_contract():
    """report/ must never import the sampler, the analyses or the runner."""
    sources = [c for c in _contracts() if c["type"] == "forbidden" and "phasefit.report" in c["source_modules"]]
    forbidden = {m for c in sources for m in c["forbidden_modules"]}
    assert {"phasefit.inference", "phasefit.analyses", "phasefit.runner", "pymc", "pytensor", "nutpie"} <= forbidden


# names whose use in analyses/ means terminal or file I/O (imports are covered by the contracts)
_IO_CALLS = {"open", "print", "input"}
_IO_METHODS = {
    "write_text",
    "write_bytes",
    "read_text",
    "read_bytes",
    "to_csv",
    "to_parquet",
    "to_netcdf",
    "savefig",
    "mkdir",
    "unlink",
}
_IO_ATTRIBUTES = {("sys", "stdout"), ("sys", "stderr"), ("sys", "stdin")}


@pytest.mark.parametrize("path", sorted((SRC / "analyses").glob("**/*.py")), ids=lambda p: p.name)
def test_analyses_do_no_io(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _IO_CALLS:
            found.append(f"line {node.lineno}: {node.func.id}()")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _IO_METHODS:
            found.append(f"line {node.lineno}: .{node.func.attr}()")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in _IO_ATTRIBUTES
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    assert not found, f"{path.relative_to(ROOT)} does I/O (analyses/ is pure; return values instead): {found}"


_CITATION = "DESIGN \u00a7"  # a design document that is not part of the repository


def _repository_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot list the repository's files")
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_citations_of_missing_design_document():
    """Code and docs cite ARCHITECTURE.md or docs/, never a document outside the repository (CHANGELOG.md: history)."""
    needle = _CITATION.encode()
    hits = []
    for path in _repository_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "CHANGELOG.md" or not path.is_file():
            continue
        for i, line in enumerate(path.read_bytes().splitlines(), 1):
            if needle in line:
                hits.append(f"{rel}:{i}")
    assert not hits, f"cite ARCHITECTURE.md or a docs/ page instead of {_CITATION}N: {hits}"
