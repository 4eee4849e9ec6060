"""The bundled real datasets: catalogue, loading, the input contract, curation reproducibility."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import phasefit.data.datasets as ds
from phasefit.errors import DatasetNotFound

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SCRIPT = REPO / "scripts" / "curate_datasets.py"
DATA_DIR = Path(str(resources.files("phasefit.data.datasets").joinpath("data")))

EXPECTED = {
    "obsscaling_emergent",
    "obsscaling_bbh",
    "obsscaling_standard",
    "pythia_suite",
    "bloom_xglm",
    "ukp_emergence",
}  # pythia_checkpoints is optional (size limit)
CURVE_KEY = ["task", "metric", "family", "condition"]
CONTRACT = [
    "task",
    "metric",
    "family",
    "condition",
    "model",
    "score",
    "train_flops",
    "params",
    "n_items",
    "chance",
    "higher_is_better",
    "metric_kind",
    "shots",
    "score_stderr",
    "instruction_tuned",
    "checkpoint_step",
    "source",
    "subset",
    "task_group",
    "train_tokens",
    "n_items_basis",
    "notes",
]
NAMES = list(ds.DATASETS)


@pytest.fixture(scope="module", params=NAMES)
def loaded(request) -> tuple[str, pd.DataFrame]:
    return request.param, ds.load(request.param)


def _key(name: str) -> list[str]:
    return CURVE_KEY + ["model"] + (["replicate", "shots"] if name == "ukp_emergence" else [])


def test_catalogue_has_the_fixed_names():
    assert EXPECTED <= set(ds.DATASETS)
    assert set(ds.DATASETS) <= EXPECTED | {"pythia_checkpoints"}
    for name, info in ds.DATASETS.items():
        assert info.name == name
        assert info.file == f"{name}.csv.gz"
        assert info.licence in {"Apache-2.0", "MIT", "CC-BY-SA-4.0"}
        assert len(info.commit) == 40
        assert info.default_x in {"flops", "params"}
        assert info.attribution and info.description and info.source
    assert ds.DATASETS["ukp_emergence"].licence == "CC-BY-SA-4.0"


def test_dataset_info_is_frozen():
    info = ds.DATASETS["obsscaling_emergent"]
    with pytest.raises(AttributeError):
        info.rows = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        ds.DATASETS["x"] = info  # type: ignore[index]


def test_list_datasets():
    table = ds.list_datasets()
    assert list(table["name"]) == NAMES
    for col in ("name", "description", "rows", "curves", "licence", "source"):
        assert col in table.columns
    assert (table["rows"] > 0).all()


def test_files_small_and_present():
    total = 0
    for name in NAMES:
        p = ds.path(name)
        assert p.is_file() and p.suffixes[-2:] == [".csv", ".gz"]
        total += p.stat().st_size
    assert total < 8_000_000
    if "pythia_checkpoints" in ds.DATASETS:
        assert ds.path("pythia_checkpoints").stat().st_size < 3_000_000


def test_unknown_name_raises():
    with pytest.raises(DatasetNotFound, match="obsscaling_emergent"):
        ds.load("obsscaling_emergant")
    with pytest.raises(KeyError):
        ds.path("nope")
    with pytest.raises(DatasetNotFound):
        ds.load(None)  # type: ignore[arg-type]


def test_rows_columns_and_checksum_match_index(loaded):
    name, df = loaded
    info = ds.DATASETS[name]
    assert len(df) == info.rows
    assert list(df.columns) == list(info.columns)
    raw = gzip.decompress(ds.path(name).read_bytes())
    assert hashlib.sha256(raw).hexdigest() == info.sha256_csv
    index = json.loads((DATA_DIR / "index.json").read_text(encoding="utf-8"))
    assert index[name]["rows"] == len(df)
    groups = df.groupby(CURVE_KEY)["model"].nunique()
    assert int((groups >= 4).sum()) == info.curves
    assert df.attrs["licence"] == info.licence


def test_contract_columns_and_types(loaded):
    name, df = loaded
    assert set(CONTRACT) <= set(df.columns)
    assert "answer_tokens" not in df.columns
    assert ("replicate" in df.columns) == (name == "ukp_emergence")
    for col in ("task", "metric", "family", "condition", "model", "metric_kind"):
        assert df[col].notna().all(), col
        assert (df[col].str.strip() != "").all(), col
    assert df["score"].notna().all()
    assert np.isfinite(df["score"]).all()
    assert (df["train_flops"].notna() | df["params"].notna()).all()
    assert (df["train_flops"].dropna() > 0).all() and (df["params"].dropna() > 0).all()
    assert df["higher_is_better"].isin([0, 1]).all()
    assert df["instruction_tuned"].isin([0, 1]).all()
    assert df["metric_kind"].isin(["discrete", "continuous", "discrete_normalized"]).all()
    n = df["n_items"].dropna()
    assert (n > 0).all() and (n == np.round(n)).all()
    c = df["chance"].dropna()
    assert ((c >= 0) & (c < 1)).all()


def test_key_unique(loaded):
    name, df = loaded
    assert not df.duplicated(_key(name)).any()
    if name == "ukp_emergence":  # only the seed repeats
        assert df.duplicated(CURVE_KEY + ["model"]).any()
        assert df["condition"].str.fullmatch(r"(closed|closed-adv|open)/\d+-shot").all()
        shots_in_condition = df["condition"].str.extract(r"/(\d+)-shot")[0].astype(float)
        assert (shots_in_condition == df["shots"]).all()


def test_curve_constants(loaded):
    _, df = loaded
    for col in ("chance", "higher_is_better", "metric_kind"):
        nun = df.groupby(CURVE_KEY)[col].nunique(dropna=False)
        assert (nun == 1).all(), col


def test_scores_in_range(loaded):
    _, df = loaded
    s, kind, c, metric = df["score"], df["metric_kind"], df["chance"], df["metric"].str.lower()
    disc = kind == "discrete"
    assert s[disc].between(0, 1).all()
    norm = kind == "discrete_normalized"
    cc = c.fillna(0.0)
    lower = np.where(cc > 0, -cc / (1 - cc), -1.0)
    assert ((s[norm] >= lower[norm.to_numpy()] - 1e-9) & (s[norm] <= 1)).all()
    assert s[metric.str.contains("bleu")].between(0, 100).all()
    assert (s[metric == "ppl"] >= 1).all()
    assert (s[metric == "edit_distance"] >= 0).all()
    unit = (kind == "continuous") & metric.str.contains("f1|mc2|bert_score")
    assert s[unit].between(0, 1).all()


def test_specific_curation():
    bbh = ds.load("obsscaling_bbh")
    assert set(bbh["condition"]) == {"direct", "cot"}
    assert (bbh.loc[bbh.task_group == "bbh_fewshot", "condition"] == "direct").all()
    # chance of a normalised row is the raw metric's baseline c, so raw = c + (1 - c) * score
    norm = bbh[bbh.metric_kind == "discrete_normalized"].assign(
        metric=lambda d: d["metric"].str.removesuffix("_chance_normalized")
    )
    both = norm.merge(bbh[bbh.metric_kind == "discrete"], on=CURVE_KEY + ["model"], suffixes=("", "_raw"))
    assert len(both) == len(norm)
    assert np.allclose(both["chance"].fillna(-1), both["chance_raw"].fillna(-1))
    per_task = both[both["chance"].notna()]
    c = per_task["chance"]
    assert np.allclose(c + (1 - c) * per_task["score"], per_task["score_raw"], atol=1e-6)
    assert (per_task["chance"] > 0).any()
    suite = ds.load("pythia_suite")
    pythia = suite[suite.family.str.startswith("Pythia")]
    assert (pythia["checkpoint_step"] == 143000).all()
    assert set(suite["condition"]) == {"0-shot", "5-shot"}
    assert (suite["condition"] == suite["shots"].map(lambda k: f"{int(k)}-shot")).all()
    assert suite.groupby("family")["model"].nunique().to_dict() == {
        "BLOOM": 5,
        "OPT": 8,
        "Pythia": 8,
        "Pythia-deduped": 8,
    }
    emergent = ds.load("obsscaling_emergent")
    assert (emergent["task_group"] == "emergent_capability").all()
    std = ds.load("obsscaling_standard")
    assert set(std["task_group"]) == {"standard_benchmarks", "gsm8k"}
    bx = ds.load("bloom_xglm")
    assert bx["condition"].str.fullmatch(r"\d+-shot").all()
    ukp = ds.load("ukp_emergence")
    assert not ukp["model"].isin(["gpt-4", "text-davinci-001", "text-davinci-003", "code"]).any()
    if "pythia_checkpoints" in ds.DATASETS:
        ck = ds.load("pythia_checkpoints")
        assert (ck["checkpoint_step"] > 0).all()
        assert (ck["model"] == ck["family"] + "@step" + ck["checkpoint_step"].astype(int).astype(str)).all()


def test_load_returns_fresh_copies():
    a = ds.load("obsscaling_emergent")
    a.loc[:, "score"] = -1.0
    assert (ds.load("obsscaling_emergent")["score"] >= 0).all()


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"source data {SHARED_DATA} not present")
def test_curation_script_reproduces_bundled_files(tmp_path):
    out = tmp_path / "data"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(SHARED_DATA), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    produced = sorted(p.name for p in out.iterdir())
    bundled = sorted(p.name for p in DATA_DIR.iterdir() if p.name.endswith((".csv.gz", ".json")))
    assert produced == bundled
    assert (out / "index.json").read_bytes() == (DATA_DIR / "index.json").read_bytes()
    for name in NAMES:
        new, old = (out / f"{name}.csv.gz").read_bytes(), ds.path(name).read_bytes()
        assert gzip.decompress(new) == gzip.decompress(old), name
        # byte-identical gzip too; zlib-ng (some Python builds) deflates differently than stock zlib
        # (byte 9 of the header is the OS field, which differs between Python versions)
        if "ng" not in zlib.ZLIB_RUNTIME_VERSION:
            assert new[:9] + new[10:] == old[:9] + old[10:], name


def test_gzip_output_is_deterministic():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import curate_datasets as cd
    finally:
        sys.path.remove(str(SCRIPT.parent))
    data = b"task,metric\n" * 1000
    a = cd.gzip_bytes(data)
    assert a == cd.gzip_bytes(data)
    assert a[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    assert a[3] & 0x08 == 0  # no file name stored
