"""Model specs: the bundled TOMLs load into frozen dataclasses; malformed files give one-line errors."""

from __future__ import annotations

import dataclasses
import math

import pytest

from phasefit.errors import SpecError
from phasefit.models.spec import HYPOTHESES, default_spec_path, load_spec


def test_default_spec():
    spec = load_spec()
    assert [h.name for h in spec.hypotheses] == list(HYPOTHESES)
    assert math.fsum(math.exp(w) for w in spec.log_weights()) == pytest.approx(1)
    bp = spec.hypothesis("breakpoint")
    assert bp.prior("slope_before").dist == "normal" and bp.width > 0
    assert spec.sampler.backend == "nutpie"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.sampler.draws = 5
    assert spec.to_dict()["sampler"]["chains"] == spec.sampler.chains
    assert spec.with_sampler(draws=7, tune=None).sampler.draws == 7


def _write(tmp_path, default: str, **hyps: str):
    src = default_spec_path().parent
    for name in ("absent", "smooth", "breakpoint"):
        text = hyps.get(name, (src / f"{name}.toml").read_text())
        (tmp_path / f"{name}.toml").write_text(text)
    p = tmp_path / "default.toml"
    p.write_text(default)
    return p


DEFAULT = (default_spec_path()).read_text()


@pytest.mark.parametrize(("default", "hyps", "match"), [
    ("hypotheses = 3", {}, "must list"),
    ('hypotheses = ["absent.toml", "smooth.toml"]', {}, "exactly"),
    (DEFAULT.replace("breakpoint = 1.0", "breakpoint = -1.0"), {}, "prior_weights"),
    (DEFAULT.replace('t_sigma = { dist = "halfnormal", sigma = 0.5 }', ""), {}, "t_sigma"),
    (DEFAULT.replace('dist = "lognormal", mu = 5.3', 'dist = "cauchy", mu = 5.3'), {}, "unknown dist"),
    (DEFAULT.replace("alpha = 3.0", "alpha = -3.0"), {}, "positive"),
    (DEFAULT.replace("emergent = 0.9", "emergent = 0.05"), {}, "smooth < emergent"),
    (DEFAULT.replace('backend = "nutpie"', 'backend = "stan"'), {}, "backend"),
    (DEFAULT.replace("chains = 4", "chainz = 4"), {}, "chainz"),
    (DEFAULT + "\n[[[", {}, "not valid TOML"),
    (DEFAULT, {"smooth": 'name = "smooth"\n[priors]\nintercept = { dist = "normal", mu = 0, sigma = 1 }\n'}, "slope"),
    (DEFAULT, {"absent": 'name = "nothing"\n'}, "'name'"),
    (DEFAULT, {"breakpoint": (default_spec_path().parent / "breakpoint.toml").read_text().replace(
        "width = 0.1", "width = -1")}, "width"),
])
def test_malformed_specs(tmp_path, default, hyps, match):
    path = _write(tmp_path, default, **hyps)
    with pytest.raises(SpecError, match=match) as err:
        load_spec(path)
    assert "\n" not in str(err.value)


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="no such"):
        load_spec(tmp_path / "nope.toml")


def test_custom_spec_changes_priors(tmp_path):
    path = _write(tmp_path, DEFAULT.replace("breakpoint = 1.0", "breakpoint = 2.0"))
    spec = load_spec(path)
    w = dict(zip(HYPOTHESES, (math.exp(v) for v in spec.log_weights()), strict=True))
    assert w["breakpoint"] == pytest.approx(0.5)
