"""Prior draws of a hypothesis' parameters (with its derived quantities) for one curve."""

from __future__ import annotations

import numpy as np

from phasefit.models.curve_model import CurveInputs, parameter_priors
from phasefit.models.hypotheses import NUMPY
from phasefit.models.priors import sample
from phasefit.models.spec import ModelSpec


def prior_draws(
    hypothesis: str, inputs: CurveInputs, spec: ModelSpec, *, draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Draws of every parameter of `hypothesis` from its prior, shape (1, draws): a `prior` group."""
    out = {name: sample(prior, draws, rng) for name, prior in parameter_priors(hypothesis, inputs.likelihood, spec)}
    out |= spec.plugin(hypothesis).deterministics(out, inputs.data(), NUMPY)
    return {k: np.asarray(v, float)[None, :] for k, v in out.items()}
