"""phasefit: Bayesian evidence for emergent vs smooth scaling of language-model abilities."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("phasefit")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from phasefit.data import CurveSet, load_curves  # noqa: E402
from phasefit.errors import DataError, DatasetNotFound, PhasefitError  # noqa: E402

__all__ = ["CurveSet", "DataError", "DatasetNotFound", "PhasefitError", "__version__", "load_curves"]
