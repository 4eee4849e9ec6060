"""smooth: one trend of the log-odds in log10 compute (a power law in the odds).

eta(x) = intercept + slope * x, x centred on the curve's range (decades).
"""

from __future__ import annotations

from phasefit.models.hypotheses import Hypothesis, register


@register
class Smooth(Hypothesis):
    name = "smooth"
    params = ("intercept", "slope")
    summary = "one log-odds trend in log compute"

    def eta(self, x, p, data, xp):
        return p["intercept"] + p["slope"] * x
