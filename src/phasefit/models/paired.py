"""A sharp metric and a continuous metric of the same outputs, fitted jointly through one skill q(x).

The mirage question (Schaeffer, Miranda & Koyejo 2023) is sharper with two views of the same
answers: exact match (counts, beta-binomial) and a per-token or graded score of the same outputs
(token accuracy, BLEU / 100, chrF, 1 - normalised edit distance: a proportion, beta likelihood).
Under the `mirage` and `latent_break` hypotheses (`models/hypotheses/mirage.py`) both are functions
of one per-token skill q(x):

    exact match  = floor + (1 - floor) q(x) ** L
    other metric = q(x) ** link

`link` is free (prior in the hypothesis' TOML): 1 for token accuracy, larger for BLEU-like metrics
that compound several tokens. The two hypotheses differ only in q's shape, so their marginal
likelihoods say whether the jump is the metric's or the skill's. One model per hypothesis is
compiled once; every pair only swaps data (`pm.Data`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from phasefit.data.curves import Curve
from phasefit.models import likelihoods
from phasefit.models.curve_model import (
    BETA_EPS,
    CurveInputs,
    parameter_priors,
    pointwise_loglik,
    stored_names,
    with_derived,
)
from phasefit.models.hypotheses import NUMPY, MathBackend, _pytensor_backend
from phasefit.models.priors import Prior, pymc_rv
from phasefit.models.spec import ModelSpec

OTHER = "y_other"  # the observed continuous metric
EXTRA = (("link", None), ("precision", "beta_precision"))  # the pair's own parameters: (name, [shared] prior)


@dataclass(frozen=True, kw_only=True)
class PairedInputs:
    """The sharp curve on the model's scale and the other metric's proportions at its models' x."""

    sharp: CurveInputs
    x_other: np.ndarray  # centred like the sharp curve's x
    y_other: np.ndarray  # in [BETA_EPS, 1 - BETA_EPS]

    def data(self) -> dict[str, np.ndarray]:
        return self.sharp.data() | {"x_other": self.x_other, "y_other_data": self.y_other}


def paired_inputs(sharp: CurveInputs, other: Curve) -> PairedInputs:
    """The other metric's curve on the sharp curve's centred axis (a proportion, higher is better)."""
    if other.likelihood != "beta":
        raise ValueError(f"{other.label}: the paired metric must be a bounded continuous score (beta likelihood)")
    return PairedInputs(sharp=sharp, x_other=other.x - sharp.center, y_other=np.clip(other.y, BETA_EPS, 1 - BETA_EPS))


def paired_priors(hypothesis: str, spec: ModelSpec) -> list[tuple[str, Prior]]:
    """(name, Prior) of every free parameter of the joint model: the hypothesis' (sharp metric), then
    the link exponent and the other metric's beta precision."""
    own = parameter_priors(hypothesis, "beta_binomial", spec)
    return own + [
        (n, spec.hypothesis(hypothesis).prior(n) if key is None else spec.shared_prior(key)) for n, key in EXTRA
    ]


def paired_names(hypothesis: str, spec: ModelSpec) -> tuple[str, ...]:
    return (*stored_names(hypothesis, "beta_binomial", spec), *(n for n, _ in EXTRA))


def _other_mean(p, data, plugin, xp: MathBackend, clip):
    log_q = -xp.softplus(-plugin.latent_eta(data["x_other"], p, data, xp))
    return clip(xp.exp(p["link"] * log_q), likelihoods.P_CLIP, 1 - likelihoods.P_CLIP)


def build_paired_model(hypothesis: str, spec: ModelSpec, *, template: PairedInputs):
    """The joint PyMC model of one hypothesis: the sharp metric observed as `y`, the other as `y_other`."""
    import pymc as pm
    import pytensor.tensor as pt

    plugin = spec.plugin(hypothesis)
    xp = _pytensor_backend()
    with pm.Model() as model:
        data = {name: pm.Data(name, value) for name, value in template.data().items()}
        p = {name: pymc_rv(name, prior) for name, prior in paired_priors(hypothesis, spec)}
        for name, value in plugin.deterministics(p, data, xp).items():
            p[name] = pm.Deterministic(name, value)
        eta = plugin.eta(data["x"], p, data, xp)
        mu = likelihoods.mean(eta, p, data, "beta_binomial", xp_clip=pt.clip, sigmoid=pt.sigmoid)
        likelihoods.observe("beta_binomial", mu, p, data, t_nu=spec.t_nu)
        mu_o = _other_mean(p, data, plugin, xp, pt.clip)
        c = p["precision"]
        pm.Beta(OTHER, alpha=mu_o * c, beta=(1 - mu_o) * c, observed=data["y_other_data"])
    return model


def paired_loglik(hypothesis: str, draws: dict[str, np.ndarray], inputs: PairedInputs, spec: ModelSpec) -> np.ndarray:
    """Total log likelihood of both metrics for every draw (NumPy), shape draws.shape."""
    sharp = pointwise_loglik(hypothesis, draws, inputs.sharp, spec).sum(-1)
    plugin = spec.plugin(hypothesis)
    p = {k: v[..., None] for k, v in with_derived(plugin, draws, inputs.sharp).items()}
    mu_o = _other_mean(p, inputs.data(), plugin, NUMPY, np.clip)
    c = p["precision"]
    other = stats.beta.logpdf(inputs.y_other, mu_o * c, (1 - mu_o) * c).sum(-1)
    return sharp + other
