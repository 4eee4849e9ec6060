"""pyproject.toml declares what src/phasefit imports, and nothing it does not use.

Every third-party package imported at module level is in `dependencies`; one imported only inside a
function (an optional backend) is in `dependencies` or an optional extra; every dependency is imported,
or is one of the few used without an import (listed below with the code that needs it); and every
package of an optional extra other than `dev` is imported somewhere.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "phasefit"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# dependencies used without an import, and a pattern of the source that needs each
USED_WITHOUT_IMPORT = {
    "pyarrow": r"read_parquet|to_parquet",  # pandas' Parquet engine
    "h5netcdf": r'engine="h5netcdf"',  # xarray's netCDF engine for posterior.nc (h5py: its [h5py] extra)
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist(requirement: str) -> str:
    """The distribution name of a requirement string: 'arviz-stats[xarray]>=1.3' -> 'arviz-stats'."""
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert m, requirement
    return _norm(m.group(1))


DEPENDENCIES = {_dist(r) for r in PYPROJECT["project"]["dependencies"]}
EXTRAS = {
    name: {_dist(r) for r in reqs} for name, reqs in PYPROJECT["project"].get("optional-dependencies", {}).items()
}


def _imports() -> dict[str, dict[str, bool]]:
    """Top-level imported name -> {file: imported at module level?}, for every third-party import of src/phasefit."""
    found: dict[str, dict[str, bool]] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module_level = {id(node) for node in tree.body}
        for stmt in tree.body:  # `if TYPE_CHECKING:` / `try:` blocks at module level count as module level
            if isinstance(stmt, ast.If | ast.Try):
                module_level |= {id(n) for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "phasefit" or top == "__future__":
                    continue
                rel = str(path.relative_to(ROOT))
                found.setdefault(top, {})[rel] = found.get(top, {}).get(rel, False) or id(node) in module_level
    return found


IMPORTS = _imports()
_INSTALLED = importlib.metadata.packages_distributions()


def _distributions(import_name: str) -> set[str]:
    """The distributions that provide an import name (the name itself when it is not installed, e.g. jax)."""
    return {_norm(d) for d in _INSTALLED.get(import_name, [import_name])}


def test_the_scan_finds_the_core_imports():
    assert {"numpy", "pandas", "pymc", "xarray", "rich"} <= set(IMPORTS)


@pytest.mark.parametrize("name", sorted(IMPORTS))
def test_every_import_is_declared(name):
    files = IMPORTS[name]
    dists = _distributions(name)
    optional = set().union(*(reqs for extra, reqs in EXTRAS.items() if extra != "dev"))
    at_module_level = sorted(f for f, top in files.items() if top)
    if at_module_level:
        assert dists & DEPENDENCIES, (
            f"'{name}' (distribution {', '.join(sorted(dists))}) is imported by "
            f"{', '.join(at_module_level)} but is not in [project] dependencies"
        )
    else:
        assert dists & (DEPENDENCIES | optional), (
            f"'{name}' (distribution {', '.join(sorted(dists))}) is imported by {', '.join(sorted(files))} "
            "but is neither a dependency nor in an optional extra"
        )


@pytest.mark.parametrize("dist", sorted(DEPENDENCIES))
def test_every_dependency_is_used(dist):
    imported = set().union(*(_distributions(name) for name in IMPORTS))
    if dist in imported:
        return
    assert dist in USED_WITHOUT_IMPORT, f"dependency '{dist}' is not imported by src/phasefit: remove it"
    pattern = re.compile(USED_WITHOUT_IMPORT[dist])
    assert any(pattern.search(p.read_text(encoding="utf-8")) for p in SRC.rglob("*.py")), (
        f"dependency '{dist}' is listed as used without an import, but nothing in src/phasefit uses it"
    )


@pytest.mark.parametrize("extra", sorted(e for e in EXTRAS if e != "dev"))
def test_every_optional_extra_is_imported(extra):
    imported = set().union(*(_distributions(name) for name in IMPORTS))
    unused = sorted(EXTRAS[extra] - imported)
    assert not unused, f"extra '{extra}' installs {', '.join(unused)}, which src/phasefit never imports"
    optional_only = {name for name, files in IMPORTS.items() if _distributions(name) & EXTRAS[extra]}
    for name in optional_only:  # an optional package must not be needed just to import phasefit
        assert not any(IMPORTS[name].values()), f"'{name}' (extra '{extra}') is imported at module level"


def test_dev_extra_has_the_test_tools():
    assert {"pytest", "hypothesis", "ruff", "websocket-client"} <= EXTRAS["dev"]
    assert not DEPENDENCIES & EXTRAS["dev"]


def test_citation_file_is_valid_and_matches_the_package():
    """CITATION.cff (GitHub's "Cite this repository") parses and carries the package's version."""
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    for key in ("cff-version", "message", "title", "authors", "version", "license"):
        assert cff.get(key), key
    assert str(cff["version"]) == PYPROJECT["project"]["version"]
    assert cff["license"] == "Apache-2.0"
