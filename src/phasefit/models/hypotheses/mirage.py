"""mirage and latent_break: a per-token skill q(x) seen through a sharp metric, exact match = q ** L.

Schaeffer, Miranda & Koyejo (2023): an exact-match score over answers of L tokens is q ** L when each
token is right with probability q, so a skill that improves smoothly per token can look like a jump.
Both hypotheses model the sharp metric as floor + (1 - floor) q(x) ** L; they differ in q:

- `mirage`: logit q = intercept + slope x, smooth (the jump is the metric's);
- `latent_break`: q flat, then a rise past a break tau (the skill itself breaks), the breakpoint
  hypothesis' shape on the per-token scale.

eta = logit(q ** L) = L log q - log(1 - q ** L), so the shared likelihood code applies. L (the
derived `tokens`) is the curve's `answer_tokens` when the data give it; otherwise 1 + `extra_tokens`,
a free parameter (its prior in the hypothesis' TOML), so that an answer has at least one token. When
the data give L, `extra_tokens` still exists but touches no likelihood: it follows its prior and
leaves the marginal likelihood unchanged. Neither hypothesis has a ceiling
fraction: q ** L makes its own. `phasefit.analyses.mirage` fits them, jointly with a continuous
metric of the same outputs where there is one.
"""

from __future__ import annotations

from phasefit.models.hypotheses import Hypothesis, MathBackend, register
from phasefit.models.hypotheses.breakpoint import Breakpoint


def tokens(p, data):
    """L: the data's answer_tokens where given (> 0), else 1 + the parameter `extra_tokens`."""
    given, free = data["answer_tokens"], 1.0 + p["extra_tokens"]
    return free + (given - free) * (given > 0)


def sharp_eta(latent, length, xp: MathBackend):
    """logit(q ** L) from logit q, stably: L log q - log(1 - q ** L) (log q < 0 while logit q < ~700)."""
    log_em = -length * xp.softplus(-latent)
    return log_em - xp.log1mexp(log_em)


class _Latent(Hypothesis):
    uses_ceiling = False

    def deterministics(self, p, data, xp):
        return {"tokens": tokens(p, data)}

    def latent_eta(self, x, p, data, xp):
        """logit q(x), the per-token skill."""
        raise NotImplementedError

    def eta(self, x, p, data, xp):
        return sharp_eta(self.latent_eta(x, p, data, xp), p["tokens"], xp)


@register
class Mirage(_Latent):
    name = "mirage"
    params = ("intercept", "slope", "extra_tokens")
    derived = ("tokens",)
    summary = "a smooth per-token skill seen through exact match (q ** L)"

    def latent_eta(self, x, p, data, xp):
        return p["intercept"] + p["slope"] * x


@register
class LatentBreak(_Latent):
    name = "latent_break"
    params = ("level", "slope_before", "gain", "tau_fraction", "extra_tokens")
    derived = ("tau", "rise", "tokens")
    options = dict(Breakpoint.options)
    uses_range = True
    summary = "a per-token skill that itself breaks, seen through exact match (q ** L)"

    def __init__(self, options=None):
        super().__init__(options)
        self._shape = Breakpoint(options)

    def deterministics(self, p, data, xp):
        return self._shape.deterministics(p, data, xp) | super().deterministics(p, data, xp)

    def latent_eta(self, x, p, data, xp):
        return self._shape.eta(x, p, data, xp)

    def admissible_range(self, xs):
        return self._shape.admissible_range(xs)
