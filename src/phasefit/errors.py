"""Typed exceptions. Every user-facing failure is one of these, with a one-line message."""


class PhasefitError(Exception):
    """Base class: the CLI turns it into a one-line message and exit status 2."""


class DataError(PhasefitError, ValueError):
    """Input data violates the contract (docs/data-format.md). The message names file, row, column."""


class DatasetNotFound(PhasefitError, KeyError):
    """An unknown bundled dataset name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown dataset"


class SpecError(PhasefitError, ValueError):
    """A model/prior specification file is malformed."""


class SamplingError(PhasefitError, RuntimeError):
    """Sampling could not run at all (not the same as a curve that failed diagnostics)."""
