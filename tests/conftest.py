"""Shared test set-up, kept minimal: make a source checkout importable without installing it."""

from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

if find_spec("phasefit") is None:  # `pip install -e .` (make test) makes this a no-op
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
