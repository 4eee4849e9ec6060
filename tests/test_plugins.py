"""Hypotheses are plug-ins: one module and one TOML add a hypothesis, with no edit elsewhere."""

from __future__ import annotations

import shutil
import textwrap
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from _models import sim_curves, tiny_spec

from phasefit.errors import SpecError
from phasefit.models.hypotheses import Hypothesis, register, registered
from phasefit.models.spec import load_spec


class Quadratic(Hypothesis):
    """A test plug-in: a curved trend of the log-odds in log compute."""

    name = "quadratic_test"
    params = ("intercept", "slope", "curvature")

    def eta(self, x, p, data, xp):
        return p["intercept"] + p["slope"] * x + p["curvature"] * x**2


@pytest.fixture(autouse=True, scope="module")
def _registered_for_this_module():
    """The test plug-in is registered only while this module's tests run."""
    register(Quadratic)
    yield
    from phasefit.models import hypotheses

    hypotheses._REGISTRY.pop(Quadratic.name, None)


QUADRATIC_TOML = textwrap.dedent("""
    name = "quadratic_test"
    [priors]
    intercept = { dist = "normal", mu = -1.0, sigma = 2.5 }
    slope = { dist = "normal", mu = 0.5, sigma = 2.0 }
    curvature = { dist = "studentt", nu = 4, mu = 0.0, sigma = 0.5 }
    [priors_student_t]
    intercept = { dist = "normal", mu = 0.0, sigma = 1.5 }
    slope = { dist = "normal", mu = 0.3, sigma = 1.5 }
    curvature = { dist = "normal", mu = 0.0, sigma = 0.5 }
""")


def _spec_dir(tmp_path: Path) -> Path:
    src = Path(str(resources.files("phasefit.models") / "toml"))
    d = tmp_path / "models"
    shutil.copytree(src, d)
    (d / "quadratic_test.toml").write_text(QUADRATIC_TOML)
    default = d / "default.toml"
    text = default.read_text()
    text = text.replace(
        'hypotheses = ["absent.toml", "smooth.toml", "breakpoint.toml"]',
        'hypotheses = ["absent.toml", "smooth.toml", "breakpoint.toml", "quadratic_test.toml"]',
    )
    text = text.replace("breakpoint = 1.0\n", "breakpoint = 1.0\nquadratic_test = 1.0\n")
    default.write_text(text)
    return default


def test_bundled_hypotheses_are_registered():
    assert {"absent", "smooth", "breakpoint"} <= set(registered())


def test_a_new_hypothesis_is_one_module_and_one_toml(tmp_path):
    from dataclasses import replace

    import phasefit

    spec = load_spec(_spec_dir(tmp_path))
    assert spec.names == ("absent", "smooth", "breakpoint", "quadratic_test")
    spec = replace(
        spec,
        sampler=tiny_spec().sampler,
        diagnostics=tiny_spec().diagnostics,
        population=replace(spec.population, enabled=False),
    )
    analysis = phasefit.fit(sim_curves(("smooth",)), models=spec, progress=False)
    probs = analysis.posterior["evidence"]["probability"]
    assert list(probs["hypothesis"].values) == list(spec.names)
    assert np.isclose(float(probs.sum("hypothesis").values[0]), 1.0)
    post = analysis.posterior["quadratic_test"]["posterior"]
    assert {"intercept", "slope", "curvature", "ceiling_fraction", "concentration"} <= set(post.data_vars)
    assert np.isfinite(analysis.posterior["quadratic_test"]["log_likelihood"]["y"].values).all()


def test_unknown_hypothesis_and_missing_prior_are_one_line_errors(tmp_path):
    default = _spec_dir(tmp_path)
    toml = default.parent / "quadratic_test.toml"
    toml.write_text(QUADRATIC_TOML.replace('name = "quadratic_test"', 'name = "cubic"'))
    with pytest.raises(SpecError, match="unknown hypothesis 'cubic'"):
        load_spec(default)
    toml.write_text(QUADRATIC_TOML.replace('curvature = { dist = "studentt", nu = 4, mu = 0.0, sigma = 0.5 }\n', ""))
    with pytest.raises(SpecError, match=r"\[priors\] is missing 'curvature'"):
        load_spec(default)
