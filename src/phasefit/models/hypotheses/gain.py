"""The gain of an intervention: treatment minus baseline on the log-odds scale, as a function of scale.

An intervention (chain-of-thought prompting, instruction tuning, ...) is measured on the same models
under two arms. `models/arms.py` models both arms jointly: the baseline arm has its own log-odds at
every model (a free nuisance value per model), and the treatment arm adds the gain g(x). These
plug-ins are the competing shapes of g (Wei et al. 2022, RQ3; a sign change, not a rise from chance):

- `no_gain`: g = 0, the technique changes nothing;
- `smooth_gain`: g = intercept + slope x, a gain that changes steadily with scale (constant included);
- `breakpoint_gain`: g flat at `level` (negative: the technique hurts) up to a break tau, then rising
  by `benefit` log-odds at the largest model: the breakpoint hypothesis' shape on the gain.

The log-odds are those of the share above the floor, (p - floor) / (1 - floor), as everywhere else.
"""

from __future__ import annotations

from phasefit.models.hypotheses import Hypothesis, register
from phasefit.models.hypotheses.breakpoint import Breakpoint


class _Gain(Hypothesis):
    uses_ceiling = False


@register
class NoGain(_Gain):
    name = "no_gain"
    params = ()
    summary = "the technique changes nothing: treatment = baseline"

    def eta(self, x, p, data, xp):
        return 0.0 * x


@register
class SmoothGain(_Gain):
    name = "smooth_gain"
    params = ("intercept", "slope")
    summary = "a gain that changes steadily with scale (a constant gain included)"

    def eta(self, x, p, data, xp):
        return p["intercept"] + p["slope"] * x


@register
class BreakpointGain(_Gain):
    name = "breakpoint_gain"
    params = ("level", "slope_before", "benefit", "tau_fraction")
    derived = ("tau", "rise")
    options = dict(Breakpoint.options)
    uses_range = True
    summary = "no gain or harm up to a break, a benefit past it"

    def __init__(self, options=None):
        super().__init__(options)
        self._shape = Breakpoint(options)

    @staticmethod
    def _as_break(p):
        return {**p, "gain": p["benefit"]}

    def deterministics(self, p, data, xp):
        return self._shape.deterministics(self._as_break(p), data, xp)

    def eta(self, x, p, data, xp):
        return self._shape.eta(x, self._as_break(p), data, xp)

    def admissible_range(self, xs):
        return self._shape.admissible_range(xs)
