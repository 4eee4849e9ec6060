"""smooth: one trend of the log-odds in log10 compute (a power law in the odds).

eta(x) = intercept + slope * x, x centred on the curve's range (decades).
"""

from __future__ import annotations

from phasefit.models.hypotheses import Hypothesis, register


@register
class Smooth(Hypothesis):
    name = "smooth"
    params = ("intercept", "slope")
    # no `laplace_proposal`: the ceiling fraction's posterior has a long upper tail that a Laplace
    # proposal under-covers (leave-future-out elpd ~0.9 too low at 300 draws; docs/models.md)
    summary = "one log-odds trend in log compute"

    def eta(self, x, p, data, xp):
        return p["intercept"] + p["slope"] * x
