"""Property tests of the data layer (hypothesis): any valid tidy table loads the same way whatever its
container (DataFrame, CSV, Parquet) and row order, and every kept curve satisfies the model's contract."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasefit.data.curves import CURVE_KEY, CurveSet, load_curves

# a load costs ~60 ms plus a few ms per curve; 30 examples keep this file at ~20 s
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.text(alphabet='anNA_-. 0,"é', min_size=1, max_size=6).map(str.strip).filter(bool)


@st.composite
def tidy_tables(draw) -> pd.DataFrame:
    """A valid table: families of models (with FLOPs), curves = (task, metric, family, condition)."""
    families = draw(st.lists(NAMES, min_size=1, max_size=2, unique=True))
    models = {}
    for fam in families:
        names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
        exps = draw(st.lists(st.integers(17, 26), min_size=len(names), max_size=len(names)))  # ties allowed
        mant = draw(st.lists(st.floats(1.0, 9.99), min_size=len(names), max_size=len(names)))
        models[fam] = [(f"{fam}/{n}", m * 10.0**e) for n, e, m in zip(names, exps, mant, strict=True)]
    tasks = draw(st.lists(NAMES, min_size=1, max_size=2, unique=True))
    rows = []
    for task in tasks:
        metric = draw(st.sampled_from(["acc", "exact_match", "pass@1"]))
        chance = draw(st.sampled_from([0.0, 0.25, 0.5]))
        hib = draw(st.sampled_from([0, 1]))
        conditions = draw(st.lists(st.sampled_from(["", "cot", "5-shot"]), min_size=1, max_size=2, unique=True))
        for fam in families:
            for cond in conditions:
                chosen = draw(st.lists(st.sampled_from(models[fam]), max_size=len(models[fam]), unique=True))
                for model, flops in chosen:
                    n = draw(st.integers(1, 2000))
                    rows.append(
                        {
                            "task": task,
                            "metric": metric,
                            "family": fam,
                            "condition": cond,
                            "model": model,
                            "score": draw(st.floats(0.0, 1.0)),
                            "train_flops": flops,
                            "n_items": n,
                            "chance": chance,
                            "higher_is_better": hib,
                        }
                    )
    columns = [*CURVE_KEY, "model", "score", "train_flops", "n_items", "chance", "higher_is_better"]
    df = pd.DataFrame(rows, columns=columns)
    if df.empty:  # at least one row, so that the table is loadable
        fam = families[0]
        df = pd.DataFrame(
            [
                {
                    "task": tasks[0],
                    "metric": "acc",
                    "family": fam,
                    "condition": "",
                    "model": models[fam][0][0],
                    "score": 0.5,
                    "train_flops": models[fam][0][1],
                    "n_items": 10,
                    "chance": 0.0,
                    "higher_is_better": 1,
                }
            ],
            columns=columns,
        )
    return df


def _same(a: CurveSet, b: CurveSet) -> None:
    assert a.data_hash == b.data_hash
    pd.testing.assert_frame_equal(a.curves, b.curves)
    pd.testing.assert_frame_equal(a.dropped.reset_index(drop=True), b.dropped.reset_index(drop=True))
    for col in ("x", "y", "k", "n", "score"):
        np.testing.assert_array_equal(a.points[col].to_numpy(float), b.points[col].to_numpy(float))
    assert a.points["model"].tolist() == b.points["model"].tolist()
    assert a.points["curve"].tolist() == b.points["curve"].tolist()


@SETTINGS
@given(df=tidy_tables(), min_points=st.integers(2, 5))
def test_csv_and_parquet_round_trips_equal_the_dataframe(df: pd.DataFrame, min_points: int):
    ref = load_curves(df, min_points=min_points)
    # a repeated index label (as after pd.concat) is stored by to_parquet and must not matter
    same_label = df.set_axis(np.zeros(len(df), dtype=int))
    _same(load_curves(same_label, min_points=min_points), ref)
    with tempfile.TemporaryDirectory() as tmp:
        csv, pq, pq_index = Path(tmp) / "t.csv", Path(tmp) / "t.parquet", Path(tmp) / "i.parquet"
        df.to_csv(csv, index=False)
        df.to_parquet(pq)
        same_label.to_parquet(pq_index)
        for path in (csv, pq, pq_index):
            cs = load_curves(path, min_points=min_points)
            _same(cs, ref)


@SETTINGS
@given(df=tidy_tables(), min_points=st.integers(2, 5))
def test_kept_curves_satisfy_the_model_contract(df: pd.DataFrame, min_points: int):
    cs = load_curves(df, min_points=min_points)
    assert len(cs.points) == cs.curves["n_points"].sum()
    for c in cs:
        assert len(np.unique(c.x)) >= min_points
        assert np.all(np.diff(c.x) >= 0)
        assert c.likelihood == "beta_binomial" and c.metric_kind == "discrete"
        assert np.all((c.k >= 0) & (c.k <= c.n)) and np.all(c.n >= 1)
        assert np.all((c.y >= 0) & (c.y <= 1))
        assert 0 <= c.floor <= 1
        assert len(set(c.models)) == c.n_points
        # the counts follow the scores on the oriented scale
        np.testing.assert_allclose(c.k / c.n, c.y, atol=0.5 / c.n.min() + 1e-12)
    assert set(cs.dropped["level"]) <= {"curve"}


@SETTINGS
@given(df=tidy_tables(), min_points=st.integers(2, 5))
def test_every_group_is_kept_or_dropped(df: pd.DataFrame, min_points: int):
    cs = load_curves(df, min_points=min_points)
    groups = df.groupby(list(CURVE_KEY)).ngroups
    dropped = cs.dropped[cs.dropped["level"] == "curve"]
    assert len(cs) + len(dropped) == groups
    kept = set(map(tuple, cs.curves[list(CURVE_KEY)].to_numpy()))
    gone = set(map(tuple, dropped[list(CURVE_KEY)].to_numpy()))
    assert not kept & gone
    # a group is dropped exactly when it has too few distinct FLOPs values
    distinct = df.groupby(list(CURVE_KEY))["train_flops"].nunique()
    assert gone == {k for k, v in distinct.items() if v < min_points}


@SETTINGS
@given(df=tidy_tables(), seed=st.integers(0, 2**32 - 1), min_points=st.integers(2, 5))
def test_row_order_does_not_matter(df: pd.DataFrame, seed: int, min_points: int):
    shuffled = df.sample(frac=1.0, random_state=np.random.RandomState(seed))
    _same(load_curves(shuffled, min_points=min_points), load_curves(df, min_points=min_points))
