"""phasefit's version, in a module of its own so that any layer may read it without importing the
public API (`phasefit/__init__.py` imports the runner)."""

import hashlib
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("phasefit")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

# the libraries whose versions can change the draws of a fit with the same seed
NUMERIC_DEPENDENCIES = ("numpy", "scipy", "pymc", "pytensor", "nutpie", "numba", "arviz-stats")


@cache
def code_stamp() -> str:
    """What a stored result was computed by: phasefit's version, a hash of its installed source (every
    `.py` and `.toml` file of the package) and the numeric libraries' versions. Checkpoints are keyed
    on it, so that neither an upgrade nor an edit of an editable install reuses stale work, even when
    the version number is unchanged."""
    root = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".toml") and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name in NUMERIC_DEPENDENCIES:
        try:
            digest.update(f"{name}={version(name)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{name}=-\0".encode())
    return f"{__version__}+{digest.hexdigest()[:16]}"
