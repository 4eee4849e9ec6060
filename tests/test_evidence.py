"""LOO with exact refits, stacking, and leave-future-out on simulated curves with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _models import sampler

from phasefit.data.curves import load_curves
from phasefit.evidence.loo import compare, leave_future_out, logmeanexp, loo
from phasefit.models.curve_model import curve_inputs


def _curve(y, n=2000):
    x = np.linspace(20.0, 23.5, len(y))
    df = pd.DataFrame(
        {
            "task": "t",
            "metric": "acc",
            "family": "f",
            "model": [f"m{i}" for i in range(len(y))],
            "score": np.round(np.asarray(y) * n) / n,
            "train_flops": 10**x,
            "n_items": n,
        }
    )
    return load_curves(df).curve(0)


EMERGENT = _curve([0.01, 0.011, 0.009, 0.01, 0.012, 0.2, 0.7, 0.9])


@pytest.fixture(scope="module")
def fits():
    s = sampler()
    inputs = curve_inputs(EMERGENT, s.spec)
    return s, inputs, {h: s.fit(inputs, h, seed=4) for h in ("smooth", "breakpoint")}


def test_loo_uses_arviz_and_refits_high_k_points(fits):
    s, inputs, f = fits
    res, ll = loo(f["breakpoint"], inputs, s.spec, refit=s.fit, seed=1)
    assert ll.shape == (2, 150, 8)
    plain, _ = loo(f["breakpoint"], inputs, s.spec, refit=None, seed=1)
    assert plain.refits == 0
    k = np.asarray(plain.elpd.pareto_k)
    n_bad = int((~(k <= plain.elpd.good_k)).sum())
    assert res.refits == n_bad
    assert res.elpd.elpd == pytest.approx(float(np.sum(res.elpd.elpd_i)))
    if n_bad:  # refitted points replace PSIS estimates; the rest are unchanged
        good = k <= plain.elpd.good_k
        np.testing.assert_allclose(np.asarray(res.elpd.elpd_i)[good], np.asarray(plain.elpd.elpd_i)[good])


def test_breakpoint_beats_smooth_on_a_sharp_break(fits):
    s, inputs, f = fits
    ls, _ = loo(f["smooth"], inputs, s.spec, refit=None, seed=2)
    lb, _ = loo(f["breakpoint"], inputs, s.spec, refit=None, seed=3)
    c = compare(ls, lb)
    assert c.elpd_diff > 0
    assert c.stacking_weight_breakpoint > 0.5
    assert c.elpd_diff_se > 0


def test_smaller_models_do_not_predict_the_emergent_rise():
    s = sampler()
    inputs = curve_inputs(EMERGENT, s.spec)
    cutoff = inputs.x[4] + 0.01  # train on the 5 flat models
    r = leave_future_out(inputs, cutoff, s.spec, refit=s.fit, seed=5)
    assert r.n_train == 5 and r.n_test == 3
    assert r.lfo_elpd_diff > 0  # breakpoint minus smooth: the break predicts the larger models better
    assert r.lfo_elpd_diff == pytest.approx(r.elpd_breakpoint - r.elpd_smooth)
    assert r.cutoff_x == pytest.approx(cutoff + inputs.center)  # on the analysis axis
    assert not r.largest_in_interval


def test_lfo_not_defined_without_enough_training_models():
    s = sampler()
    inputs = curve_inputs(EMERGENT, s.spec)
    assert leave_future_out(inputs, inputs.x[1], s.spec, refit=s.fit, seed=1) is None  # 2 training models
    assert leave_future_out(inputs, inputs.x[-1] + 1, s.spec, refit=s.fit, seed=1) is None  # nothing to predict


def test_logmeanexp():
    a = np.log(np.array([[1.0, 2.0], [3.0, 6.0]]))
    assert logmeanexp(a) == pytest.approx(np.log(3.0))
    np.testing.assert_allclose(logmeanexp(a, axis=0), np.log([2.0, 4.0]))
