"""absent: the ability is not there; the curve stays at a constant level near its floor.

p(x) = floor + (1 - floor) * logistic(level), with no ceiling.
"""

from __future__ import annotations

from phasefit.models.hypotheses import Hypothesis, register


@register
class Absent(Hypothesis):
    name = "absent"
    params = ("level",)
    uses_ceiling = False
    laplace_proposal = True  # a level and a concentration: one mode, nearly Gaussian (k-hat ~ -0.3, docs/models.md)
    summary = "stays at a constant level near its floor"

    def eta(self, x, p, data, xp):
        return p["level"] + 0 * x
