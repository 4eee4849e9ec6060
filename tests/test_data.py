"""`load_curves` on valid input: the derived quantities every model relies on (docs/data-format.md)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import phasefit
from phasefit.data.curves import CurveSet, load_curves, read_table

FLOPS = [1e20, 1e21, 1e22, 1e23, 1e24]
PARAMS = [1e8, 3e8, 1e9, 3e9, 1e10]


def table(**columns) -> pd.DataFrame:
    """One five-point curve (task 'arith', metric 'acc', family 'fam'); keyword columns override."""
    base = {
        "task": "arith",
        "metric": "acc",
        "family": "fam",
        "model": [f"m{i}" for i in range(5)],
        "score": [0.11, 0.12, 0.2, 0.55, 0.81],
        "train_flops": FLOPS,
        "params": PARAMS,
        "n_items": 200,
    }
    base.update(columns)
    return pd.DataFrame(base)


def only(cs: CurveSet):
    assert len(cs) == 1, cs.curves
    return next(iter(cs))


# ----------------------------------------------------------------------------------------- axes


def test_x_is_log10_flops_by_default():
    cs = load_curves(table())
    c = only(cs)
    assert cs.x_axis == "flops"
    np.testing.assert_allclose(c.x, np.log10(FLOPS))
    np.testing.assert_allclose(c.log10_flops, np.log10(FLOPS))
    np.testing.assert_allclose(c.log10_params, np.log10(PARAMS))


def test_x_is_log10_params_on_request():
    cs = load_curves(table(), x_axis="params")
    c = only(cs)
    assert cs.x_axis == "params"
    np.testing.assert_allclose(c.x, np.log10(PARAMS))
    np.testing.assert_allclose(cs.curves.loc[0, ["x_min", "x_max"]].to_numpy(float), np.log10([1e8, 1e10]))


def test_params_only_table_works_on_params_axis():
    c = only(load_curves(table().drop(columns="train_flops"), x_axis="params"))
    np.testing.assert_allclose(c.x, np.log10(PARAMS))
    assert np.isnan(c.log10_flops).all()


def test_points_are_sorted_by_x():
    shuffled = table().iloc[[3, 0, 4, 2, 1]]
    c = only(load_curves(shuffled))
    assert c.models == ("m0", "m1", "m2", "m3", "m4")
    assert np.all(np.diff(c.x) > 0)
    np.testing.assert_allclose(c.score, [0.11, 0.12, 0.2, 0.55, 0.81])


def test_ties_in_x_are_ordered_by_model_name():
    df = table(model=["b", "a", "c", "d", "e"], train_flops=[1e20, 1e20, 1e21, 1e22, 1e23])
    c = only(load_curves(df))
    assert c.models == ("a", "b", "c", "d", "e")


# ------------------------------------------------------------------------------ counts and floor


def test_counts_are_round_score_times_n():
    c = only(load_curves(table(score=[0.114, 0.126, 0.2, 0.553, 0.8149], n_items=[100, 100, 200, 300, 1000])))
    assert c.likelihood == "beta_binomial" and c.metric_kind == "discrete"
    assert c.k.dtype == np.int64 and c.n.dtype == np.int64
    np.testing.assert_array_equal(c.n, [100, 100, 200, 300, 1000])
    np.testing.assert_array_equal(c.k, [11, 13, 40, 166, 815])
    np.testing.assert_allclose(c.y, c.score)


def test_n_correct_is_used_as_k_when_given():
    df = table(score=[0.1, 0.1249, 0.2, 0.55, 0.81], n_correct=[20, 25, 40, 110, 162])
    c = only(load_curves(df))
    np.testing.assert_array_equal(c.k, [20, 25, 40, 110, 162])


def test_floor_is_chance():
    cs = load_curves(table(chance=0.25, score=[0.25, 0.26, 0.3, 0.6, 0.9]))
    c = only(cs)
    assert c.floor == 0.25 and cs.curves.loc[0, "chance"] == 0.25
    assert only(load_curves(table())).floor == 0.0  # no chance column: floor 0


def test_missing_n_items_is_imputed_with_the_curve_median():
    c_frame = table(n_items=[100.0, np.nan, 300.0, 200.0, 1000.0])
    cs = load_curves(c_frame)
    c = only(cs)
    assert c.likelihood == "beta_binomial"
    np.testing.assert_array_equal(c.n, [100, 250, 300, 200, 1000])  # median of 100, 300, 200, 1000
    assert c.k[1] == round(0.12 * 250)
    assert cs.curves.loc[0, "n_items_imputed"] == 1


def test_proportion_without_n_items_gets_a_beta_likelihood():
    c = only(load_curves(table().drop(columns="n_items"), min_points=4))
    assert c.metric_kind == "discrete"  # from the name 'acc'
    assert c.likelihood == "beta" and c.k is None and c.n is None
    np.testing.assert_allclose(c.y, c.score)


# ---------------------------------------------------------------------------------- orientation


def test_lower_is_better_proportion_is_flipped():
    df = table(
        metric="error_rate", metric_kind="discrete", chance=0.1, higher_is_better=0, score=[0.9, 0.85, 0.7, 0.4, 0.2]
    )
    c = only(load_curves(df))
    assert c.higher_is_better is False
    np.testing.assert_allclose(c.y, [0.1, 0.15, 0.3, 0.6, 0.8])
    assert c.floor == pytest.approx(0.9)
    np.testing.assert_array_equal(c.k, 200 - np.round(np.array([0.9, 0.85, 0.7, 0.4, 0.2]) * 200))


def test_perplexity_becomes_minus_log_with_student_t():
    ppl = [40.0, 25.0, 12.0, 8.0, 5.5]
    c = only(load_curves(table(metric="ppl", score=ppl, higher_is_better=0).drop(columns="n_items")))
    assert (c.metric_kind, c.likelihood, c.transform) == ("continuous", "student_t", "log")
    np.testing.assert_allclose(c.y, -np.log(ppl))
    assert c.floor == 0.0 and c.k is None


@pytest.mark.parametrize("value", [True, "true", "TRUE", 1, "1"])
def test_higher_is_better_accepts_booleans(value):
    assert only(load_curves(table(higher_is_better=value))).higher_is_better is True


@pytest.mark.parametrize("value", [False, "false", 0, "0", 0.0])
def test_higher_is_better_false_values(value):
    assert only(load_curves(table(higher_is_better=value))).higher_is_better is False


# ------------------------------------------------------------------------------------ metric kinds


def test_discrete_normalized_is_mapped_back_to_the_raw_proportion():
    chance = 0.25
    norm = np.array([-0.2, 0.0, 0.2, 0.6, 0.9])
    c = only(load_curves(table(metric="acc_norm", metric_kind="discrete_normalized", chance=chance, score=norm)))
    raw = chance + (1 - chance) * norm
    assert c.likelihood == "beta_binomial" and c.floor == chance
    np.testing.assert_allclose(c.y, raw)
    np.testing.assert_array_equal(c.k, np.round(raw * 200))
    np.testing.assert_allclose(c.score, norm)  # the score as given is kept


def test_discrete_normalized_accepts_the_exact_lower_bound():
    c = only(load_curves(table(metric_kind="discrete_normalized", chance=0.5, score=[-1.0, -0.5, 0, 0.5, 1])))
    np.testing.assert_allclose(c.y, [0.0, 0.25, 0.5, 0.75, 1.0])


@pytest.mark.parametrize(
    ("metric", "scores", "n_items", "kind", "likelihood", "transform"),
    [
        ("acc", [0.1, 0.2, 0.3, 0.4, 0.5], 100, "discrete", "beta_binomial", "identity"),
        ("exact_match", [0.1, 0.2, 0.3, 0.4, 0.5], None, "discrete", "beta", "identity"),
        ("ppl", [30, 20, 10, 8, 6], None, "continuous", "student_t", "log"),
        ("bleu", [0.5, 2.0, 10.0, 25.0, 40.0], None, "continuous", "beta", "percent"),
        ("rougeL", [5.0, 8.0, 12.0, 30.0, 45.0], None, "continuous", "beta", "percent"),
        ("brier", [0.3, 0.25, 0.2, 0.15, 0.1], None, "continuous", "beta", "identity"),
        ("log_likelihood", [-3.0, -2.5, -2.0, -1.0, -0.5], None, "continuous", "student_t", "identity"),
        ("score", [0.1, 0.2, 0.3, 0.4, 0.5], 50, "discrete", "beta_binomial", "identity"),  # n_items => counts
        ("score", [12.0, 20.0, 31.0, 40.0, 55.0], None, "continuous", "student_t", "identity"),
    ],
)
def test_metric_kind_inference(metric, scores, n_items, kind, likelihood, transform):
    df = table(metric=metric, score=scores, n_items=n_items)
    if n_items is None:
        df = df.drop(columns="n_items")
    c = only(load_curves(df))
    assert (c.metric_kind, c.likelihood, c.transform) == (kind, likelihood, transform)
    if transform == "percent":
        np.testing.assert_allclose(c.y, np.asarray(scores) / 100)


def test_explicit_metric_kind_wins_over_the_name():
    c = only(load_curves(table(metric="acc", metric_kind="continuous").drop(columns="n_items")))
    assert c.metric_kind == "continuous" and c.likelihood == "beta"


# ----------------------------------------------------------------------------------------- curves


def test_curves_are_grouped_by_task_metric_family_condition():
    parts = []
    for task in ("arith", "unscramble"):
        for family in ("A", "B"):
            for cond in ("0-shot", "5-shot"):
                parts.append(table(task=task, family=family, condition=cond))
    cs = load_curves(pd.concat(parts, ignore_index=True))
    assert len(cs) == 8
    assert cs.curves[["task", "family", "condition"]].drop_duplicates().shape[0] == 8
    assert set(cs.curves["condition"]) == {"0-shot", "5-shot"}
    assert (cs.curves["n_points"] == 5).all()
    assert list(cs.curves["curve"]) == list(range(8))
    # the same model may appear once in each curve
    assert (cs.points.groupby("curve")["model"].nunique() == 5).all()
    labels = {c.label for c in cs}
    assert "arith, A, acc [5-shot]" in labels


def test_condition_is_empty_when_absent():
    cs = load_curves(table())
    assert cs.curves.loc[0, "condition"] == "" and only(cs).label == "arith, fam, acc"


def test_short_curves_are_dropped_with_a_reason():
    long = table()
    short = table(task="tiny").iloc[:3]
    cs = load_curves(pd.concat([long, short], ignore_index=True))
    assert list(cs.curves["task"]) == ["arith"]
    d = cs.dropped
    assert len(d) == 1
    row = d.iloc[0]
    assert (row["task"], row["level"], row["model"]) == ("tiny", "curve", "")
    assert "3 distinct flops values, fewer than 4" in row["reason"]
    assert len(load_curves(pd.concat([long, short]), min_points=3)) == 2


def test_an_unbounded_score_that_never_varies_is_dropped_with_a_reason():
    """Equal scores under the Student-t likelihood have no posterior (its scale goes to 0): dropped,
    while the same zeros as a proportion are kept (their binomial likelihood is bounded)."""
    zeros = [0.0] * 5
    normalised = table(task="dyck", metric="em_norm", score=zeros, chance=0.0, metric_kind="discrete_normalized")
    raw = table(task="dyck", metric="em", score=zeros, chance=0.0)
    varies = table(metric="em_norm", score=[0.0, 0.0, 0.0, 0.1, 0.3], chance=0.0, metric_kind="discrete_normalized")
    cs = load_curves(pd.concat([normalised, raw, varies], ignore_index=True))
    assert sorted(zip(cs.curves["task"], cs.curves["metric"], cs.curves["likelihood"], strict=True)) == [
        ("arith", "em_norm", "student_t"),
        ("dyck", "em", "beta_binomial"),
    ]
    (row,) = cs.dropped.itertuples()
    assert (row.task, row.metric, row.level, row.model) == ("dyck", "em_norm", "curve", "")
    assert row.reason.startswith("every score equals 0: an unbounded (Student-t) score that never varies")
    perplexity = load_curves(table(metric="ppl", score=[12.5] * 5, n_items=np.nan))
    assert len(perplexity) == 0 and "every score equals 12.5" in perplexity.dropped.loc[0, "reason"]


def test_min_points_counts_distinct_x_not_rows():
    df = table(train_flops=[1e20, 1e20, 1e21, 1e21, 1e22])
    cs = load_curves(df)
    assert len(cs) == 0 and "3 distinct flops values" in cs.dropped.loc[0, "reason"]
    assert load_curves(df, min_points=3).curves.loc[0, "n_points"] == 5


def test_points_without_the_axis_value_are_dropped_with_a_reason(tmp_path: Path):
    df = table(train_flops=[1e20, np.nan, 1e22, 1e23, 1e24])
    path = tmp_path / "pts.csv"
    df.to_csv(path, index=False)
    cs = load_curves(path)
    assert only(cs).models == ("m0", "m2", "m3", "m4")
    d = cs.dropped
    assert list(d["level"]) == ["point"] and d.loc[0, "model"] == "m1"
    assert d.loc[0, "reason"] == f"no train_flops ({path}:3)"
    # on the params axis the point is kept
    assert only(load_curves(path, x_axis="params")).n_points == 5


def test_empty_result_when_every_curve_is_too_short():
    cs = load_curves(table().iloc[:2])
    assert len(cs) == 0 and list(cs) == [] and len(cs.points) == 0
    assert cs.summary().empty
    assert cs.to_xarray().sizes == {"curve": 0, "point": 0}


# ---------------------------------------------------------------------------- CurveSet utilities


def _suite() -> pd.DataFrame:
    parts = [
        table(task="arith", family="A"),
        table(task="arith", family="B").iloc[:4],
        table(task="wordplay", family="A", metric="exact_match"),
        table(task="tiny", family="A").iloc[:2],
    ]
    return pd.concat(parts, ignore_index=True)


def test_subset_keeps_and_renumbers_curves():
    cs = load_curves(_suite())
    sub = cs.subset(cs.curves["family"] == "A")
    assert len(sub) == 2 and list(sub.curves["task"]) == ["arith", "wordplay"]
    assert sorted(sub.points["curve"].unique()) == [0, 1]
    assert (sub.points.groupby("curve")["task"].first() == ["arith", "wordplay"]).all()
    c = sub.curve(1)
    assert c.task == "wordplay" and c.n_points == 5
    assert sub.dropped.equals(cs.dropped) and sub.x_axis == cs.x_axis
    # a subset is different data: its own hash (checkpoints of one subset never serve another)
    assert sub.data_hash != cs.data_hash
    assert cs.subset(np.ones(len(cs), bool)).data_hash == cs.data_hash
    assert len(cs.subset(np.zeros(len(cs), bool))) == 0


def test_to_xarray_dims_and_coords():
    cs = load_curves(_suite())
    ds = cs.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert dict(ds.sizes) == {"curve": 3, "point": 5}
    for name in ("x", "score", "y", "k", "n", "model"):
        assert ds[name].dims == ("curve", "point")
    for coord in ("task", "metric", "family", "condition", "likelihood"):
        assert ds.coords[coord].dims == ("curve",)
    assert list(ds["family"].values) == ["A", "B", "A"]
    assert ds.attrs["x_axis"] == "flops"
    short = int(np.flatnonzero(ds["family"].values == "B")[0])
    assert np.isnan(ds["x"].values[short, 4]) and ds["model"].values[short, 4] == ""
    np.testing.assert_allclose(ds["x"].values[short, :4], np.log10(FLOPS[:4]))
    np.testing.assert_array_equal(ds["k"].values[0], cs.curve(0).k)


def test_summary_counts():
    s = load_curves(pd.concat([_suite(), table(task="arith", family="C").iloc[:4]], ignore_index=True)).summary()
    assert list(s.columns) == ["task", "metric", "family", "curves", "min_points", "max_points"]
    arith = s[s["task"] == "arith"].set_index("family")
    assert arith.loc["A", "curves"] == 1 and arith.loc["B", "max_points"] == 4
    assert s["curves"].sum() == 4 and "tiny" not in set(s["task"])


def test_extra_columns_are_carried_through():
    df = table(shots=5, notes=["a", "b", "c", "d", "e"], score_stderr=0.01, answer_tokens=3)
    cs = load_curves(df)
    for col in ("shots", "notes", "score_stderr", "answer_tokens"):
        assert col in cs.points.columns
    assert list(cs.points["notes"]) == ["a", "b", "c", "d", "e"]
    assert (cs.points["answer_tokens"] == 3).all()
    assert cs.points["row"].tolist()[0] == "<DataFrame> row 0"


# ------------------------------------------------------------------------------- sources and hash


def test_data_hash_is_the_same_for_csv_parquet_and_dataframe(tmp_path: Path):
    df = _suite().assign(condition="cot", chance=0.0)
    csv, gz, pq, tsv = (tmp_path / n for n in ("t.csv", "t.csv.gz", "t.parquet", "t.tsv"))
    df.to_csv(csv, index=False)
    df.to_csv(gz, index=False)
    df.to_parquet(pq)
    df.to_csv(tsv, index=False, sep="\t")
    sets = [load_curves(s) for s in (df, csv, gz, pq, tsv)]
    assert len({cs.data_hash for cs in sets}) == 1
    assert sets[0].data_hash.startswith("sha256:")
    for cs in sets[1:]:
        pd.testing.assert_frame_equal(cs.curves, sets[0].curves)
        for col in ("x", "y", "k", "n", "score"):
            np.testing.assert_array_equal(cs.points[col].to_numpy(float), sets[0].points[col].to_numpy(float))
    assert sets[1].source == str(csv) and sets[0].source == "<DataFrame>"


def test_parquet_with_a_stored_index_is_read_by_position(tmp_path: Path):
    """pd.concat without ignore_index repeats labels, and to_parquet stores them."""
    ppl = table(task="lm", metric="ppl", score=[40.0, 20.0, 11.0, 7.0, 5.0], higher_is_better=0)
    norm = table(
        task="mc", metric="acc_norm", metric_kind="discrete_normalized", chance=0.25, score=[-0.1, 0.0, 0.3, 0.7, 0.9]
    )
    df = pd.concat([ppl.drop(columns="n_items"), norm])
    assert df.index.has_duplicates
    path = tmp_path / "mixed.parquet"
    df.to_parquet(path)
    for source in (df, path):
        cs = load_curves(source)
        lm, mc = cs.curve(0), cs.curve(1)
        assert (lm.metric_kind, lm.likelihood) == ("continuous", "student_t")
        np.testing.assert_allclose(lm.y, -np.log([40.0, 20.0, 11.0, 7.0, 5.0]))
        assert (mc.metric_kind, mc.likelihood) == ("discrete_normalized", "beta_binomial")
        np.testing.assert_allclose(mc.y, 0.25 + 0.75 * np.array([-0.1, 0.0, 0.3, 0.7, 0.9]))


def test_data_hash_changes_with_the_data():
    a = load_curves(table())
    b = load_curves(table(score=[0.11, 0.12, 0.2, 0.55, 0.82]))
    assert a.data_hash != b.data_hash
    assert load_curves(table()).data_hash == a.data_hash


def test_csv_details_bom_crlf_spaces_blank_lines_quotes(tmp_path: Path):
    text = (
        "\ufefftask, metric ,family,model,score,train_flops,n_items\r\n"
        'arith, acc,fam,"m,0",0.1,1e20,100\r\n\r\n'
        "arith, acc,fam,m1,0.2,1e21,100\r\n"
        "arith, acc,fam,m2,0.3,1e22,100\r\n"
        "arith, acc,fam,m3,0.4,1e23,100\r\n\r\n"
    )
    path = tmp_path / "odd.csv"
    path.write_bytes(text.encode("utf-8"))
    c = only(load_curves(path))
    assert c.models == ("m,0", "m1", "m2", "m3") and c.metric == "acc"
    assert read_table(path).columns.tolist() == ["task", "metric", "family", "model", "score", "train_flops", "n_items"]


def test_read_table_returns_text_columns(tmp_path: Path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as fh:
        table().to_csv(fh, index=False)
    df = read_table(path)
    assert len(df) == 5 and df["score"].tolist()[0] == "0.11"


def test_public_api_exports():
    assert phasefit.load_curves is load_curves and phasefit.CurveSet is CurveSet
    assert issubclass(phasefit.DataError, phasefit.PhasefitError)


def test_replicates_pool_into_one_point():
    x = [1e20, 1e21, 1e22, 1e23]
    rows = [
        {
            "task": "t",
            "metric": "acc",
            "family": "f",
            "model": f"m{i}",
            "score": 0.5,
            "train_flops": v,
            "n_items": 100,
            "replicate": 1,
        }
        for i, v in enumerate(x)
    ]
    rows.append({**rows[0], "score": 0.3, "replicate": 2})
    rows[0]["score"] = 0.1
    cs = load_curves(pd.DataFrame(rows))
    c = cs.curve(0)
    assert c.n_points == 4
    assert c.score[0] == pytest.approx(0.2) and c.n[0] == 200 and c.k[0] == 40
    assert c.n[1] == 100


@pytest.mark.parametrize(
    ("dataset", "rule"),
    [("obsscaling_emergent", {}), ("pythia_suite", {"task": ["arc_easy", "lambada_openai", "mmlu_anatomy"]})],
)
def test_curve_matches_its_rows_of_the_points_table(dataset, rule):
    """`CurveSet.curve(i)` (built from arrays grouped once) gives exactly the curve's rows of `points`,
    in table order, for count, proportion and unbounded curves."""
    from phasefit.data import datasets

    df = datasets.load(dataset)
    for column, values in rule.items():
        df = df[df[column].isin(values)]
    cs = load_curves(df)
    assert len(cs) > 5
    for i, c in enumerate(cs):
        p = cs.points[cs.points["curve"] == i]
        row = cs.curves.iloc[i]
        assert (c.index, c.task, c.metric, c.family, c.likelihood) == (
            i,
            row["task"],
            row["metric"],
            row["family"],
            row["likelihood"],
        )
        assert c.models == tuple(p["model"])
        for name in ("x", "log10_flops", "log10_params", "score", "y"):
            np.testing.assert_array_equal(getattr(c, name), p[name].to_numpy(float))
        if c.likelihood == "beta_binomial":
            np.testing.assert_array_equal(c.k, p["k"].to_numpy(np.int64))
            np.testing.assert_array_equal(c.n, p["n"].to_numpy(np.int64))
        else:
            assert c.k is None and c.n is None
        tokens = p["answer_tokens"].dropna() if "answer_tokens" in p else pd.Series(dtype=float)
        assert (np.isnan(c.answer_tokens) and tokens.empty) or c.answer_tokens == tokens.median()
    assert {c.likelihood for c in cs} >= ({"beta_binomial"} if dataset == "obsscaling_emergent" else {"student_t"})
