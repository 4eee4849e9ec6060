"""BIG-bench heuristics against hand-computed values; the verdict rule; the prose."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from phasefit.evidence.baselines import CLIP, breakthroughness, linearity
from phasefit.evidence.verdicts import decide, describe, summary_text
from phasefit.models.spec import VerdictSpec


def test_breakthroughness_hand_computed():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([0.0, 0.01, 0.02, 0.5, 0.9])
    d = np.diff(y)  # 0.01 0.01 0.48 0.4 -> median of squares = (0.0001 + 0.16)/2
    expected = 0.9 / math.sqrt(np.median(d**2))
    assert breakthroughness(x, y) == pytest.approx(expected)
    assert linearity(x, y) == pytest.approx(0.9 / math.sqrt(np.mean(d**2)))


def test_unsorted_input_is_sorted_by_scale():
    x = np.array([3.0, 1.0, 2.0, 4.0])
    y = np.array([0.3, 0.1, 0.2, 0.4])
    assert breakthroughness(x, y) == pytest.approx(breakthroughness(np.sort(x), np.array([0.1, 0.2, 0.3, 0.4])))
    assert linearity(x, y) == pytest.approx(0.3 / 0.1)


def test_flat_and_declining_curves():
    x = np.arange(5.0)
    assert breakthroughness(x, np.zeros(5)) == 0.0
    assert linearity(x, np.zeros(5)) == 0.0
    assert breakthroughness(x, np.array([0, 0, 0, 0, 1.0])) == CLIP  # median step 0: clipped
    assert breakthroughness(x, np.array([1.0, 0.8, 0.6, 0.4, 0.2])) < 0


T = VerdictSpec()


@pytest.mark.parametrize(
    ("ok", "pa", "pe", "expected"),
    [
        (False, 0.0, 0.99, "failed"),
        (True, 0.6, 0.3, "absent"),
        (True, 0.0, 0.95, "emergent"),
        (True, 0.0, 0.9, "emergent"),
        (True, 0.0, 0.05, "smooth"),
        (True, 0.0, 0.1, "smooth"),
        (True, 0.2, 0.5, "inconclusive"),
        (True, 0.0, float("nan"), "failed"),
    ],
)
def test_verdict_rule(ok, pa, pe, expected):
    assert decide(ok=ok, p_absent=pa, p_emergent=pe, thresholds=T) == expected


def test_a_curve_that_never_leaves_its_floor_is_absent_not_smooth():
    # ipa_transliterate, Pythia: 0 at every model, p_absent 0.42 and p_smooth 0.56 was `smooth`
    assert decide(ok=True, p_absent=0.42, p_emergent=0.02, thresholds=T, p_above_floor=0.1) == "absent"
    assert decide(ok=True, p_absent=0.42, p_emergent=0.02, thresholds=T, p_above_floor=0.9) == "smooth"


def test_evidence_agreement_names_what_disagrees():
    from phasefit.evidence.verdicts import agreement

    # arithmetic_2da, Pythia: emergent (0.93) while LOO favours smooth (elpd_diff -3.6 +- 5.4): within 1 SE
    assert agreement(verdict="emergent", elpd_diff=-3.6, elpd_diff_se=5.4, lfo_elpd_diff=14.6) == "agree"
    assert agreement(verdict="emergent", elpd_diff=-6.0, elpd_diff_se=2.0, lfo_elpd_diff=14.6) == "LOO disagrees"
    assert (
        agreement(verdict="smooth", elpd_diff=-1.0, elpd_diff_se=1.0, lfo_elpd_diff=5.0) == "leave-future-out disagrees"
    )
    assert agreement(verdict="inconclusive", elpd_diff=9.0, elpd_diff_se=1.0, lfo_elpd_diff=-9.0) == ""


def test_thresholds_are_options():
    strict = VerdictSpec(emergent=0.99, smooth=0.01, absent=0.9)
    assert decide(ok=True, p_absent=0.0, p_emergent=0.95, thresholds=strict) == "inconclusive"


def _row(**kw):
    base = {
        "task": "arithmetic_3ds",
        "family": "Pythia",
        "metric": "acc",
        "condition": "",
        "verdict": "emergent",
        "p_emergent": 0.98,
        "p_absent": 0.0,
        "break_flops_median": 2.1e21,
        "break_flops_q05": 1.2e21,
        "break_flops_q95": 3.0e21,
        "break_params_median": 1.9e9,
        "break_params_q05": 1.3e9,
        "break_params_q95": 2.6e9,
        "lfo_largest_in_pi90": False,
        "failure_reason": "",
    }
    return pd.Series(base | kw)


def test_prose_reads_like_the_issue_example():
    text = describe(_row())
    assert text.startswith(
        "arithmetic_3ds, Pythia, acc: emergent (P(emergent) = 0.98); break at 2.1e21 FLOPs "
        "[1.2e21, 3.0e21], 1.9B params [1.3B, 2.6B]"
    )
    # the probability printed is named, and no break is printed where the break is not favoured
    inconclusive = describe(_row(verdict="inconclusive", p_emergent=0.18))
    assert "P(emergent) = 0.18" in inconclusive and "break" not in inconclusive
    assert "LOO disagrees" in describe(_row(evidence_agreement="LOO disagrees"))
    assert "outside the smooth extrapolation" in text
    assert describe(_row(verdict="failed", failure_reason="mixture: R-hat 1.05 > 1.01")).endswith(
        "failed (mixture: R-hat 1.05 > 1.01)"
    )
    # an absent curve names the probability behind its verdict: P(absent), P(above floor) or both
    assert describe(_row(verdict="absent", p_absent=0.8, p_above_floor=0.9)).endswith("absent (P(absent) = 0.80)")
    at_floor = describe(_row(verdict="absent", p_absent=0.03, p_above_floor=0.36))
    assert at_floor.endswith("absent (never credibly above its floor: P(above floor) = 0.36)")
    assert "P(absent)" not in at_floor  # 0.03 would read as if the verdict contradicted itself
    both = describe(_row(verdict="absent", p_absent=0.85, p_above_floor=0.1))
    assert both.endswith("(P(absent) = 0.85; never credibly above its floor: P(above floor) = 0.10)")


def test_summary_counts():
    v = pd.DataFrame([_row(), _row(verdict="smooth", p_emergent=0.02), _row(verdict="smooth", p_emergent=0.01)])
    assert summary_text(v).splitlines()[0] == "3 curves: 1 emergent, 0 inconclusive, 2 smooth, 0 absent, 0 failed."


def test_an_unconverged_fit_of_a_negligible_hypothesis_does_not_fail_the_curve():
    from types import SimpleNamespace

    from phasefit.analyses.curve import NEGLIGIBLE, convergence_problems
    from phasefit.evidence.marginal import Evidence

    def fit(ok, reason=""):
        return SimpleNamespace(diagnostics=SimpleNamespace(ok=ok, reason=reason))

    good, bad = Evidence(log_z=-3.0, log_z_se=0.01, k_hat=0.2), Evidence(log_z=-3.0, log_z_se=0.01, k_hat=0.9)
    fits = {"absent": fit(True), "smooth": fit(True), "breakpoint": fit(False, "R-hat 1.018 > 1.01")}
    evidence = {"absent": good, "smooth": good, "breakpoint": good}
    # negligible and reliable: noted, not a problem
    problems, notes = convergence_problems(fits, evidence, {"absent": 0.95, "smooth": 0.049, "breakpoint": 1e-4})
    assert problems == [] and len(notes) == 1 and "R-hat 1.018" in notes[0] and "breakpoint" in notes[0]
    # the same fit failing for a hypothesis that matters fails the curve
    problems, notes = convergence_problems(fits, evidence, {"absent": 0.5, "smooth": 0.3, "breakpoint": 0.2})
    assert problems == ["breakpoint: R-hat 1.018 > 1.01"] and notes == []
    problems, _ = convergence_problems(
        fits, evidence, {"absent": 0.5, "smooth": 0.5 - NEGLIGIBLE, "breakpoint": NEGLIGIBLE}
    )
    assert problems
    # unreliable evidence always fails, even for an improbable hypothesis
    evidence["breakpoint"] = bad
    problems, notes = convergence_problems(fits, evidence, {"absent": 0.95, "smooth": 0.049, "breakpoint": 1e-4})
    assert "breakpoint: R-hat 1.018 > 1.01" in problems and any("k-hat 0.90" in p for p in problems) and notes == []


def test_task_sentences_end_the_summary():
    from phasefit.evidence.verdicts import describe_task

    base = {
        "task": "arithmetic_2da",
        "metric": "acc",
        "condition": "2-shot",
        "n_curves": 4,
        "n_failed": 0,
        "p_any_emergent": 0.9987,
        "expected_emergent_families": 2.62,
        "n_emergent": 2,
        "onset_flops_median": 3.01e21,
        "onset_flops_q05": 7.79e20,
        "onset_flops_q95": 7.29e21,
    }
    assert describe_task(pd.Series(base)) == (
        "arithmetic_2da, acc [2-shot]: 4 families, P(emergent in any) = 1.00, expected emergent families 2.62, "
        "2 called emergent; onset at 3.0e21 FLOPs [7.8e20, 7.3e21]"
    )
    never = describe_task(pd.Series(base | {"n_emergent": 0, "n_failed": 1, "onset_flops_median": float("nan")}))
    assert "(1 failed, left out)" in never and "onset" not in never
    by_params = {k.replace("flops", "params"): v for k, v in base.items()} | {"onset_params_median": 2.6e9,
                 "onset_params_q05": 1.1e9, "onset_params_q95": 3.9e9}  # fmt: skip
    assert describe_task(pd.Series(by_params)).endswith("onset at 2.6B params [1.1B, 3.9B]")
    verdicts = pd.DataFrame([_row()])
    text = summary_text(verdicts, pd.DataFrame([base]))
    assert text.splitlines()[-1].startswith("arithmetic_2da, acc [2-shot]: 4 families")
    assert summary_text(verdicts) == "\n".join(text.splitlines()[:2])  # no task table: curves only
