"""BIG-bench's point heuristics for comparison: breakthroughness and linearity (Srivastava et al.).

y_i is the score at scale x_i sorted by x; I(y) = sign(argmax y - argmin y) * (max y - min y).
Breakthroughness B = I(y) / sqrt(median((y_{i+1} - y_i)^2)); linearity L = I(y) / sqrt(mean(...)).
B is infinite when at least half of the steps are flat; like the public implementations we clip it
(to `CLIP`). See docs/verdicts.md for why these have no noise model.
"""

from __future__ import annotations

import numpy as np

CLIP = 100.0


def _improvement(y: np.ndarray) -> float:
    return float(np.sign(np.argmax(y) - np.argmin(y)) * (np.max(y) - np.min(y)))


def breakthroughness(x: np.ndarray, y: np.ndarray) -> float:
    """B = I(y) / RMS_median of consecutive differences, clipped to [-CLIP, CLIP]."""
    y = np.asarray(y, float)[np.argsort(x, kind="stable")]
    if len(y) < 2:
        return float("nan")
    denom = np.sqrt(np.median(np.diff(y) ** 2))
    imp = _improvement(y)
    if denom == 0:
        return 0.0 if imp == 0 else float(np.sign(imp) * CLIP)
    return float(np.clip(imp / denom, -CLIP, CLIP))


def linearity(x: np.ndarray, y: np.ndarray) -> float:
    """L = I(y) / RMS (mean) of consecutive differences: high when improvement is spread evenly."""
    y = np.asarray(y, float)[np.argsort(x, kind="stable")]
    if len(y) < 2:
        return float("nan")
    denom = np.sqrt(np.mean(np.diff(y) ** 2))
    return 0.0 if denom == 0 else float(_improvement(y) / denom)
