"""Compile once, sample many: the sampler handle, diagnostics and retries."""

from phasefit.inference.diagnostics import Diagnostics, diagnose
from phasefit.inference.sampler import FitResult, Sampler, sample_model, thin_to

__all__ = ["Diagnostics", "FitResult", "Sampler", "diagnose", "sample_model", "thin_to"]
