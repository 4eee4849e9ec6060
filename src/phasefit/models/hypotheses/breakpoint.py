"""breakpoint: flat before an unknown break tau, steeper after, joined by a softplus of width w.

eta(x) = level + s1 (x - tau) + rise * w * softplus((x - tau) / w), rise = s2 - s1 > 0.
tau = lo + (hi - lo) * tau_fraction on the curve's admissible range [lo, hi] (at least
`min_points_before` models up to it and `min_points_after` from it). The prior is on `gain`, the
log-odds the rise adds at the curve's largest model x_ref, not on the slope:
rise = gain / (w * softplus((x_ref - tau) / w)), so the rise must show within the data and a curve
flat up to its largest model is not fitted by a break with a negligible rise past the data.
`tau` is kept on the analysis axis (log10 FLOPs or parameters), not centred.
"""

from __future__ import annotations

import numpy as np

from phasefit.models.hypotheses import Hypothesis, register


def rise_from_gain(gain, tau_c, x_ref, width, softplus):
    """The slope change that adds `gain` log-odds at `x_ref` (both centred)."""
    return gain / (width * softplus((x_ref - tau_c) / width))


@register
class Breakpoint(Hypothesis):
    name = "breakpoint"
    params = ("level", "slope_before", "gain", "tau_fraction")
    derived = ("tau", "rise")
    options = {"width": 0.1, "min_points_before": 1, "min_points_after": 2}
    uses_range = True
    summary = "flat near the floor, then a break to a steeper slope"

    def _tau_c(self, p, data):
        return data["range_lo"] + (data["range_hi"] - data["range_lo"]) * p["tau_fraction"]

    def deterministics(self, p, data, xp):
        tau_c = self._tau_c(p, data)
        rise = rise_from_gain(p["gain"], tau_c, data["x_ref"], self.opts["width"], xp.softplus)
        return {"tau": tau_c + data["center"], "rise": rise}

    def eta(self, x, p, data, xp):
        w = self.opts["width"]
        tau_c = p["tau"] - data["center"]
        return p["level"] + p["slope_before"] * (x - tau_c) + p["rise"] * w * xp.softplus((x - tau_c) / w)

    def convex_in_x(self, p):
        # a line plus rise x softplus: convex wherever the rise is not negative (a positive gain)
        return np.asarray(p["rise"]) >= 0

    def admissible_range(self, xs: np.ndarray) -> tuple[float, float]:
        m = len(xs)
        lo = xs[min(int(self.opts["min_points_before"]), m) - 1]
        hi = xs[max(m - int(self.opts["min_points_after"]), 0)]
        if hi <= lo:  # too few points for both constraints: the whole range
            lo, hi = xs[0], xs[-1]
        return float(lo), float(hi)
