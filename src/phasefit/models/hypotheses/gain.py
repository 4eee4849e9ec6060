"""The gain of an intervention: treatment minus baseline on the log-odds scale, as a function of scale.

An intervention (chain-of-thought prompting, instruction tuning, ...) is measured on the same models
under two arms. `models/arms.py` models both arms jointly: the baseline arm has its own log-odds at
every model (a free nuisance value per model), and the treatment arm adds the gain g(x). These
plug-ins are the competing shapes of g (Wei et al. 2022, RQ3; a sign change, not a rise from chance):

- `no_gain`: g = 0, the technique changes nothing;
- `smooth_gain`: g = intercept + slope x, a gain that changes steadily with scale (constant included);
- `breakpoint_gain`: two regimes: g = `level` (negative: the technique hurts) below a break tau and
  `level + jump` above it, joined by a logistic transition of scale `width` + `min_width` (decades),
  g = level + jump logistic((x - tau) / (width + min_width)), jump > 0. `min_width` (0.04 decades)
  keeps the transition from becoming sharper than the data can tell (models are >= ~0.1 decades
  apart), where the posterior of tau turns into steps that NUTS diverges on. A step, not the curve model's hinge: the
  question is whether the technique's effect changes sign or appears past a scale (Wei et al. 2022,
  Fig. 3), not whether it keeps growing; a gain that grows steadily is `smooth_gain`.
- `hinge_gain`: the same two regimes joined by a hinge: g = `level` below the break, then rising
  linearly in log scale up to `level + jump` at the largest model,
  g = level + jump softplus((x - tau) / w) / softplus((x_ref - tau) / w), w = width + min_width.
  A benefit that keeps growing past its onset (the step levels off). Both are the emergent family:
  P(emergent) = P(breakpoint_gain) + P(hinge_gain), and which shape a run's pairs favour is learned
  with the hypotheses' weights (`analyses/intervention.py`).

The log-odds are those of the share above the floor, (p - floor) / (1 - floor), as everywhere else.
"""

from __future__ import annotations

from phasefit.models.hypotheses import Hypothesis, register
from phasefit.models.hypotheses.breakpoint import Breakpoint
from phasefit.models.hypotheses.smooth import Smooth


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
class SmoothGain(Smooth):
    """The smooth hypothesis' line, on the gain (no ceiling: a gain is a difference of log-odds)."""

    name = "smooth_gain"
    uses_ceiling = False
    summary = "a gain that changes steadily with scale (a constant gain included)"


@register
class BreakpointGain(_Gain):
    name = "breakpoint_gain"
    params = ("level", "jump", "tau_fraction", "width")
    derived = ("tau",)
    options = {"min_points_before": 2, "min_points_after": 2, "min_width": 0.04}
    uses_range = True
    summary = "one gain (harm, or none) up to a break, a larger one (a benefit) past it"

    def deterministics(self, p, data, xp):
        tau_c = data["range_lo"] + (data["range_hi"] - data["range_lo"]) * p["tau_fraction"]
        return {"tau": tau_c + data["center"]}

    def eta(self, x, p, data, xp):
        w = p["width"] + self.opts["min_width"]  # no sharper than min_width: a step between two models is as sharp
        return p["level"] + p["jump"] * xp.sigmoid((x - (p["tau"] - data["center"])) / w)

    def admissible_range(self, xs):
        return Breakpoint(self.opts).admissible_range(xs)


@register
class HingeGain(BreakpointGain):
    name = "hinge_gain"
    summary = "one gain (harm, or none) up to a break, then one that grows with scale past it"

    def eta(self, x, p, data, xp):
        w = p["width"] + self.opts["min_width"]
        t = p["tau"] - data["center"]
        return p["level"] + p["jump"] * xp.softplus((x - t) / w) / xp.softplus((data["x_ref"] - t) / w)
