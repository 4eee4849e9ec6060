"""Load and validate scaling-curve tables; the bundled real datasets (`phasefit.data.datasets`)."""

from phasefit.data import datasets
from phasefit.data.curves import CURVE_KEY, Curve, CurveSet, Likelihood, XAxis, load_curves, read_table

__all__ = ["CURVE_KEY", "datasets", "Curve", "CurveSet", "Likelihood", "XAxis", "load_curves", "read_table"]
