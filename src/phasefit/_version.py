"""phasefit's version, in a module of its own so that any layer may read it without importing the
public API (`phasefit/__init__.py` imports the runner)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("phasefit")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
