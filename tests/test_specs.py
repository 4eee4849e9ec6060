"""Model specs: the bundled TOMLs load into frozen dataclasses; malformed files give one-line errors."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from phasefit.errors import PhasefitError, SpecError
from phasefit.models.spec import HYPOTHESES, default_spec_path, export_spec, load_spec


def test_default_spec():
    spec = load_spec()
    assert [h.name for h in spec.hypotheses] == list(HYPOTHESES)
    assert math.fsum(math.exp(w) for w in spec.log_weights()) == pytest.approx(1)
    bp = spec.hypothesis("breakpoint")
    assert bp.prior("slope_before").dist == "normal" and bp.option("width") > 0
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


@pytest.mark.parametrize(
    ("default", "hyps", "match"),
    [
        ("hypotheses = 3", {}, "must list"),
        ('hypotheses = ["absent.toml", "smooth.toml"]', {}, "must include 'breakpoint'"),
        (DEFAULT.replace("breakpoint = 1.0", "breakpoint = -1.0"), {}, "prior_weights"),
        (DEFAULT.replace('t_sigma = { dist = "halfnormal", sigma = 0.5 }', ""), {}, "t_sigma"),
        (DEFAULT.replace('dist = "lognormal", mu = 5.3', 'dist = "cauchy", mu = 5.3'), {}, "unknown dist"),
        (DEFAULT.replace("alpha = 3.0", "alpha = -3.0"), {}, "positive"),
        (DEFAULT.replace("emergent = 0.9", "emergent = 0.05"), {}, "smooth < emergent"),
        (DEFAULT.replace('backend = "nutpie"', 'backend = "stan"'), {}, "backend"),
        (DEFAULT.replace("chains = 4", "chainz = 4"), {}, "chainz"),
        (DEFAULT + "\n[[[", {}, "not valid TOML"),
        (
            DEFAULT,
            {"smooth": 'name = "smooth"\n[priors]\nintercept = { dist = "normal", mu = 0, sigma = 1 }\n'},
            "slope",
        ),
        (DEFAULT, {"absent": 'name = "nothing"\n'}, "unknown hypothesis 'nothing'"),
        (
            DEFAULT,
            {
                "breakpoint": (default_spec_path().parent / "breakpoint.toml")
                .read_text()
                .replace("width = 0.1", "width = -1")
            },
            "width",
        ),
    ],
)
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


# ------------------------------------------------------------------ types, ranges and unknown keys

REPO = Path(__file__).resolve().parents[1]
RETRY = "{ target_accept = 0.99, tune = 2000, draws = 1000 }"


def _edit(old: str, new: str) -> str:
    assert old in DEFAULT, old
    return DEFAULT.replace(old, new, 1)


@pytest.mark.parametrize(
    ("default", "match"),
    [
        (_edit("chains = 4", 'chains = "four"'), r"\[sampler\] chains must be an integer >= 1, got 'four'$"),
        (_edit("chains = 4", "chains = true"), r"\[sampler\] chains must be an integer >= 1, got True$"),
        (_edit("chains = 4", "chains = 0"), r"\[sampler\] chains must be an integer >= 1, got 0$"),
        (_edit("draws = 1000\n", "draws = -5\n"), r"\[sampler\] draws must be an integer >= 1, got -5$"),
        (_edit("draws = 1000\n", "draws = 1000.0\n"), r"\[sampler\] draws must be an integer >= 1, got 1000.0$"),
        (_edit("tune = 500 ", "tune = -1 "), r"\[sampler\] tune must be an integer >= 0, got -1$"),
        (
            _edit("target_accept = 0.95", "target_accept = 1.0"),
            r"\[sampler\] target_accept must be a number in \(0, 1\)",
        ),
        (_edit("target_accept = 0.95", "target_accept = 0"), r"\[sampler\] target_accept must be a number in \(0, 1\)"),
        (_edit("seed = 20221", "seed = -1"), r"\[sampler\] seed must be an integer >= 0"),
        (
            _edit("rhat_max = 1.01", 'rhat_max = "strict"'),
            r"\[diagnostics\] rhat_max must be a number >= 1, got 'strict'$",
        ),
        (_edit("rhat_max = 1.01", "rhat_max = 0.99"), r"\[diagnostics\] rhat_max must be a number >= 1, got 0.99$"),
        (_edit("ess_bulk_min = 400", "ess_bulk_min = -1"), r"\[diagnostics\] ess_bulk_min must be a number >= 0"),
        (_edit("ess_tail_min = 400", "ess_tail_min = -400"), r"\[diagnostics\] ess_tail_min must be a number >= 0"),
        (_edit("max_divergences = 0", "max_divergences = 0.5"), r"\[diagnostics\] max_divergences must be an integer"),
        (
            _edit("max_treedepth_share = 0.05", "max_treedepth_share = 5"),
            r"max_treedepth_share must be a number in \[0, 1\]",
        ),
        (
            _edit(RETRY, RETRY.replace("tune = 2000", 'tune = "long"')),
            r"\[diagnostics\] retries\[0\] tune must be an integer >= 0, got 'long'$",
        ),
        (
            _edit(RETRY, RETRY.replace("draws = 1000", "draws = 0")),
            r"retries\[0\] draws must be an integer >= 1, got 0$",
        ),
        (_edit(RETRY, RETRY.replace("0.99", "1.5")), r"retries\[0\] target_accept must be a number in \(0, 1\)"),
        (_edit(RETRY, RETRY.replace(", draws = 1000", "")), r"\[diagnostics\] retries\[0\] is missing 'draws'$"),
        (
            _edit(RETRY, RETRY.replace("tune =", "tunes =")),
            r"retries\[0\]: unknown key 'tunes' \(did you mean 'tune'\?\)$",
        ),
        (_edit(RETRY, "3"), r"\[diagnostics\] retries\[0\] must be a table like"),
        (
            re.sub(r"retries = \[.*?\n\]", "retries = 2", DEFAULT, flags=re.S),
            r"\[diagnostics\] retries must be a list of tables like "
            r"\{ target_accept = 0.99, tune = 2000, draws = 1000 \}, "
            r"got 2$",
        ),
        (_edit("emergent = 0.9 ", "emergent = 1.5 "), r"\[verdict\] emergent must be a number in \(0, 1\), got 1.5$"),
        (_edit("absent = 0.5 ", "absent = 0 "), r"\[verdict\] absent must be a number in \(0, 1\), got 0$"),
        (_edit("smooth = 0.1 ", 'smooth = "low" '), r"\[verdict\] smooth must be a number in \(0, 1\)"),
        (_edit("[sampler]", "[sampeler]"), r": unknown section 'sampeler' \(did you mean 'sampler'\?\)$"),
        (_edit("[diagnostics]", "[diagnostic]"), r": unknown section 'diagnostic' \(did you mean 'diagnostics'\?\)$"),
        (_edit("hypotheses = [", "hypothesis = ["), r": unknown key 'hypothesis' \(did you mean 'hypotheses'\?\)$"),
        (DEFAULT + "\n[extras]\nx = 1\n", r": unknown section 'extras' \(known: diagnostics, evidence, hypotheses, "),
        (
            _edit("rhat_max = 1.01", "rhat_mx = 1.01"),
            r"\[diagnostics\] unknown key 'rhat_mx' \(did you mean 'rhat_max'\?\)$",
        ),
        (
            _edit("emergent = 0.9 ", "emergant = 0.9 "),
            r"\[verdict\] unknown key 'emergant' \(did you mean 'emergent'\?\)$",
        ),
        (_edit("t_nu = 4.0", "t_nuu = 4.0"), r"\[shared\] unknown key 't_nuu' \(did you mean 't_nu'\?\)$"),
        (
            _edit("draws_per_curve = 1000", "draws_per_curv = 1000"),
            r"\[population\] unknown key 'draws_per_curv' \(did you mean 'draws_per_curve'\?\)$",
        ),
        (_edit("decide = false", "decide = 1"), r"\[population\] 'decide' must be true or false$"),
        (_edit("min_curves = 10", "min_curves = 1"), r"\[population\] 'min_curves' must be an integer >= 2$"),
        (
            _edit("learn = []", 'learn = ["breakpoint.gian"]'),
            r"\[population\] 'learn' names 'breakpoint.gian', not a hypothesis parameter \(one of absent.level, ",
        ),
        (
            _edit("learn = []", 'learn = ["breakpoint.tau_fraction"]'),
            r"\[population\] 'learn' names 'breakpoint.tau_fraction': the break is always learned",
        ),
        (
            _edit("learn = []", 'learn = ["smooth.slope", "smooth.slope"]'),
            r"\[population\] 'learn' names a parameter twice$",
        ),
        (
            _edit(
                'curve_break_sd = { dist = "halfnormal", sigma = 1.0 }',
                'curve_break_sd = { dist = "gamma", alpha = 2.0, beta = 1.0 }',
            ),
            r"\[population\] curve_break_sd must be a halfnormal",
        ),
        (
            _edit("breakpoint = 1.0", "breakpiont = 1.0"),
            r"\[prior_weights\] unknown hypothesis 'breakpiont' \(did you mean 'breakpoint'\?\)",
        ),
        (_edit("breakpoint = 1.0", "breakpoint = true"), r"\[prior_weights\] breakpoint must be a positive number"),
        ("sampler = 3\n" + DEFAULT.replace("[sampler]", "[sampler_]"), r"\[sampler\] must be a table"),
        (
            _edit('refits = "importance"', 'refits = "fast"'),
            r"\[evidence\] refits must be \"importance\" or \"exact\", got 'fast'$",
        ),
        (
            _edit("importance_draws = 8000", "importance_draws = 100"),
            r"\[evidence\] importance_draws must be an integer >= 1000, got 100$",
        ),
        (
            _edit("importance_draws = 8000", "importance_drws = 8000"),
            r"\[evidence\] unknown key 'importance_drws' \(did you mean 'importance_draws'\?\)$",
        ),
        (
            _edit('method = "importance"', 'method = "smc"'),
            r"\[sampler\] method must be \"importance\" or \"nuts\", got 'smc'$",
        ),
        (
            _edit("pilot_draws = 400", "pilot_draws = 5"),
            r"\[sampler\] pilot_draws must be an integer >= 20, got 5$",
        ),
        (
            _edit("pilot_chains = 2", "pilot_chains = 1"),
            r"\[sampler\] pilot_chains must be an integer >= 2, got 1$",
        ),
        (
            _edit("pilot_rhat_max = 1.1", "pilot_rhat_max = 0.9"),
            r"\[diagnostics\] pilot_rhat_max must be a number >= 1, got 0.9$",
        ),
    ],
)
def test_spec_values_are_checked(tmp_path, default, match):
    path = _write(tmp_path, default)
    with pytest.raises(SpecError, match=match) as err:
        load_spec(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg, msg


def test_spec_edge_values_are_accepted(tmp_path):
    text = (
        DEFAULT.replace("tune = 500 ", "tune = 0 ")
        .replace("rhat_max = 1.01", "rhat_max = 1")
        .replace("ess_bulk_min = 400", "ess_bulk_min = 0")
    )
    text = re.sub(r"retries = \[.*?\n\]", "retries = []", text, flags=re.S)
    spec = load_spec(_write(tmp_path, text))
    assert spec.sampler.tune == 0 and spec.diagnostics.rhat_max == 1 and spec.diagnostics.ess_bulk_min == 0
    assert spec.diagnostics.retries == ()


def test_bad_spec_through_the_cli_is_one_line(tmp_path, capsys):
    from phasefit.cli import main

    data = tmp_path / "data.csv"
    pd.DataFrame(
        {
            "task": "t",
            "metric": "acc",
            "family": "f",
            "model": list("abcd"),
            "score": [0.1, 0.2, 0.3, 0.4],
            "train_flops": [1e20, 1e21, 1e22, 1e23],
            "n_items": 100,
        }
    ).to_csv(data, index=False)
    (tmp_path / "spec").mkdir()
    spec = _write(tmp_path / "spec", _edit("[sampler]", "[sampeler]"))
    code = main(["fit", str(data), "--models", str(spec), "--out", str(tmp_path / "out"), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1, err
    assert err == f"phasefit: error: {spec}: unknown section 'sampeler' (did you mean 'sampler'?)\n"


# ------------------------------------------------------------------------------------- export


def test_export_spec_writes_a_loadable_copy(tmp_path):
    path = export_spec(tmp_path / "my-models")
    assert path == tmp_path / "my-models" / "default.toml"
    bundled = default_spec_path().parent
    names = sorted(p.name for p in (tmp_path / "my-models").iterdir())
    assert names == sorted(["default.toml", *tomllib.loads(DEFAULT)["hypotheses"]])
    for name in names:
        assert (path.parent / name).read_bytes() == (bundled / name).read_bytes()
    spec = load_spec(path)
    assert spec.to_dict() | {"source": ""} == load_spec().to_dict() | {"source": ""}
    path.write_text(path.read_text().replace("breakpoint = 1.0", "breakpoint = 2.0"))  # editable
    assert dict(load_spec(path).prior_weights)["breakpoint"] == 2.0


def test_export_spec_refuses_a_non_empty_directory(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(PhasefitError, match=r"taken: exists and is not empty; .*--force") as err:
        export_spec(target)
    assert "\n" not in str(err.value) and sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    (target / "default.toml").write_text("edited")
    export_spec(target, force=True)  # overwrites the spec's files, leaves the others alone
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "default.toml").read_text() == DEFAULT
    with pytest.raises(PhasefitError, match="not a directory"):
        export_spec(target / "notes.txt")
    assert load_spec(export_spec(tmp_path / "empty-is-fine")).sampler == load_spec().sampler
    (tmp_path / "empty").mkdir()
    assert export_spec(tmp_path / "empty").is_file()


def test_models_export_and_show_cli(tmp_path, capsys, monkeypatch):
    from phasefit.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    target = tmp_path / "copy"
    assert main(["models", "export", str(target)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and f"--models {target / 'default.toml'}" in out
    assert load_spec(target / "default.toml").sampler == load_spec().sampler
    assert main(["models", "export", str(target)]) == 2  # not empty now
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("phasefit: error: ") and err.count("\n") == 1 and "--force" in err
    assert main(["models", "export", str(target), "--force"]) == 0
    capsys.readouterr()
    for argv in (["models", "show"], ["models"]):
        assert main(argv) == 0
        out, _ = capsys.readouterr()
        assert f"model spec: {default_spec_path()}" in out
        for h in HYPOTHESES:
            assert re.search(rf"│ {h}\s*│ {h}\.toml\s*│ 0\.333\s*│", out), out
    assert main(["models", "show", "--models", str(target / "default.toml")]) == 0
    assert f"model spec: {target / 'default.toml'}" in capsys.readouterr().out


def test_models_symlink_points_at_the_bundled_specs():
    link = REPO / "models"
    assert link.is_symlink(), "the repository's models/ is a symlink to src/phasefit/models/toml"
    assert link.resolve() == (REPO / "src" / "phasefit" / "models" / "toml").resolve()
    assert link.resolve() == default_spec_path().parent.resolve()
    assert (link / "default.toml").is_file()


def test_spec_hash_is_the_content_not_the_path(tmp_path):
    """The same spec read from another place (exported, or another checkout) is the same analysis: same
    run hash and same checkpoint key; a change of content, or of the population stage alone, is not."""
    from phasefit.results.analysis import curve_spec_hash, spec_hash

    bundled = load_spec()
    export_spec(tmp_path / "spec")
    exported = load_spec(tmp_path / "spec" / "default.toml")
    assert exported.source != bundled.source
    assert spec_hash(exported) == spec_hash(bundled) and curve_spec_hash(exported) == curve_spec_hash(bundled)
    text = (tmp_path / "spec" / "default.toml").read_text()
    (tmp_path / "spec" / "default.toml").write_text(text.replace("enabled = true", "enabled = false", 1))
    no_pool = load_spec(tmp_path / "spec" / "default.toml")
    assert spec_hash(no_pool) != spec_hash(bundled) and curve_spec_hash(no_pool) == curve_spec_hash(bundled)
    (tmp_path / "spec" / "default.toml").write_text(text.replace("draws = 1000", "draws = 900", 1))
    assert curve_spec_hash(load_spec(tmp_path / "spec" / "default.toml")) != curve_spec_hash(bundled)


def test_sampling_method_from_the_command_line(tmp_path, capsys):
    """`--sampling` / `sampling=` set `[sampler] method`; anything else is a one-line error."""
    from phasefit.cli import main
    from phasefit.runner.local import _resolve_spec

    assert load_spec().sampler.method == "importance"
    assert _resolve_spec(None, sampling="nuts").sampler.method == "nuts"
    assert _resolve_spec(None).sampler.method == "importance"
    with pytest.raises(PhasefitError, match=r"^--sampling must be one of importance, nuts, got 'mcmc'$"):
        _resolve_spec(None, sampling="mcmc")
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "dataset:obsscaling_emergent", "--out", str(tmp_path / "o"), "--sampling", "mcmc"])
    assert exit_.value.code == 2 and "invalid choice: 'mcmc'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
