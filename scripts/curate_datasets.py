#!/usr/bin/env python
"""Curate the bundled real datasets of `phasefit.data.datasets` from the tidy source CSVs.

Usage (from the repository root)::

    python scripts/curate_datasets.py [SOURCE_DIR] [--out OUT_DIR]

SOURCE_DIR defaults to ``../shared/data`` relative to the repository root (the CSVs described in
its README.md); OUT_DIR defaults to ``src/phasefit/datasets/data``. For every dataset the script
writes ``<name>.csv.gz`` and one ``index.json`` with the catalogue (description, provenance,
licence, row and curve counts, SHA-256 of the uncompressed CSV, and a log of every row that was
dropped or changed and why).

The output is deterministic: rows are sorted, numbers are written with Python's shortest
round-trip ``repr`` (counts as integers), and gzip is written with ``mtime=0`` and no file name,
so a rerun on the same inputs gives byte-identical files. Only the standard library, numpy and
pandas are used.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "src" / "phasefit" / "datasets" / "data"

#: the curve key of docs/data-format.md (plus `model`, the point within a curve)
CURVE_KEY = ["task", "metric", "family", "condition"]
#: the largest gzip file we bundle for the optional checkpoint dataset
CHECKPOINTS_MAX_BYTES = 3_000_000
MIN_MODELS_PER_CURVE = 4

#: output column order; OPTIONAL_COLUMNS are written only where a dataset has them
COLUMNS = [
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
    "replicate",
    "non_embedding_params",
    "train_tokens",
    "source",
    "subset",
    "task_group",
    "n_items_basis",
    "notes",
]
OPTIONAL_COLUMNS = {"replicate", "non_embedding_params"}
INT_COLUMNS = {"n_items", "higher_is_better", "shots", "instruction_tuned", "checkpoint_step", "replicate"}
FLOAT_COLUMNS = {"score", "train_flops", "params", "chance", "score_stderr", "non_embedding_params", "train_tokens"}
TEXT_COLUMNS = [c for c in COLUMNS if c not in INT_COLUMNS | FLOAT_COLUMNS]

SOURCE_NUMERIC = (
    "higher_is_better",
    "params",
    "non_embedding_params",
    "train_tokens",
    "train_flops",
    "checkpoint_step",
    "shots",
    "score",
    "score_stderr",
    "n_items",
    "chance",
    "instruction_tuned",
    "replicate",
)

OBS = {
    "source": "ryoungj/ObsScaling",
    "commit": "4d6e1e43fd2635d04654aa77d1df9d5266ea0382",
    "licence": "Apache-2.0",
    "attribution": (
        "Ruan, Maddison & Hashimoto (2024), 'Observational Scaling Laws and the Predictability of "
        "Language Model Performance', NeurIPS 2024; data from github.com/ryoungj/ObsScaling "
        "(standard-benchmark numbers collected there from the HF Open LLM Leaderboard or re-run with "
        "EleutherAI lm-evaluation-harness / EvalPlus)."
    ),
}
PYTHIA = {
    "source": "EleutherAI/pythia",
    "commit": "a19eecb807ec2c79a39ebf18108816e6ffffc1d5",
    "licence": "Apache-2.0",
    "attribution": (
        "Biderman et al. (2023), 'Pythia: A Suite for Analyzing Large Language Models Across Training "
        "and Scaling', ICML 2023; evaluation JSONs from github.com/EleutherAI/pythia (evals/), "
        "produced with EleutherAI lm-evaluation-harness."
    ),
}
HARNESS = {
    "source": "EleutherAI/lm-evaluation-harness",
    "commit": "3cd3921f7dfc74eaaaf93f846642438d5dbcd34b",
    "licence": "MIT",
    "attribution": (
        "EleutherAI lm-evaluation-harness (Gao et al., 'A framework for few-shot language model "
        "evaluation', Zenodo, doi:10.5281/zenodo.5371628); results/bloom and results/xglm JSONs of "
        "github.com/EleutherAI/lm-evaluation-harness."
    ),
}
UKP = {
    "source": "UKPLab/on-emergence",
    "commit": "f791b653c42251a4dbd0bdc7a064c41ea0a3c51b",
    "licence": "CC-BY-SA-4.0",
    "attribution": (
        "Lu, Bigoulaeva, Sachdeva, Tayyar Madabushi & Gurevych (2024), 'Are Emergent Abilities in "
        "Large Language Models just In-Context Learning?', ACL 2024; evaluation_scores.csv of "
        "github.com/UKPLab/on-emergence (UKP Lab, TU Darmstadt), CC BY-SA 4.0. Adapted (reshaped, "
        "filtered, model metadata added) by the phasefit authors; this adaptation is CC BY-SA 4.0 too."
    ),
}


@dataclass(frozen=True)
class Spec:
    name: str
    source_file: str
    description: str
    provenance: dict[str, str]
    default_x: str
    build: Callable[[pd.DataFrame, list[str]], pd.DataFrame]
    optional: bool = False  # bundled only if the gzip stays under CHECKPOINTS_MAX_BYTES


# ------------------------------------------------------------------------------------- helpers


def shots_label(shots: pd.Series) -> pd.Series:
    """'0-shot', '5-shot', ...; 'shots-unstated' where the source does not say."""
    return shots.map(lambda v: "shots-unstated" if pd.isna(v) else f"{int(v)}-shot").astype("str")


def log_counts(log: list[str], what: str, rows: pd.DataFrame, by: str, *, always: bool = False) -> None:
    if len(rows) == 0:
        if always:
            log.append(f"{what}: 0 rows")
        return
    counts = rows[by].value_counts().sort_index()
    detail = ", ".join(f"{k}: {v}" for k, v in counts.items())
    log.append(f"{what}: {len(rows)} rows ({detail})")


def reclassify(df: pd.DataFrame, log: list[str], metrics: list[str], kind: str, why: str) -> pd.DataFrame:
    hit = df["metric"].isin(metrics) & (df["metric_kind"] != kind)
    if hit.any():
        df = df.copy()
        df.loc[hit, "metric_kind"] = kind
        log.append(
            f"metric_kind set to '{kind}' for {', '.join(sorted(df.loc[hit, 'metric'].unique()))} "
            f"({int(hit.sum())} rows): {why}"
        )
    return df


def add_note(df: pd.DataFrame, mask: pd.Series, note: str) -> pd.DataFrame:
    df = df.copy()
    old = df.loc[mask, "notes"]
    df.loc[mask, "notes"] = [note if pd.isna(o) or o == "" else f"{o}; {note}" for o in old]
    return df


# ----------------------------------------------------------------------------- dataset builders


def build_obs_emergent(raw: pd.DataFrame, log: list[str]) -> pd.DataFrame:
    df = raw[raw["task_group"] == "emergent_capability"].copy()
    df["condition"] = shots_label(df["shots"])
    odd = df["n_items"].isna() & (df["metric"] == "exact_match")
    if odd.any():
        log.append(
            "kept with empty n_items (as in the source README): "
            + ", ".join(
                f"{m} {t} {s:.3f}" for m, t, s in df.loc[odd, ["model", "task", "score"]].itertuples(index=False)
            )
            + " are not multiples of 1/1003 (probably a different item count)"
        )
    return df


def build_obs_bbh(raw: pd.DataFrame, log: list[str]) -> pd.DataFrame:
    df = raw[raw["task_group"].isin(["bbh_fewshot", "bbh_cot_fewshot"])].copy()
    df["condition"] = df["task_group"].map({"bbh_fewshot": "direct", "bbh_cot_fewshot": "cot"}).astype("str")
    # `chance` of a *_chance_normalized row: the source has 0 there; we store the raw metric's random
    # baseline c, so that score = (raw - c) / (1 - c) can be inverted and the range is [-c/(1-c), 1].
    norm = df["metric_kind"] == "discrete_normalized"
    raw_metric = df["metric"].str.removesuffix("_chance_normalized")
    base = df[~norm].groupby(["task", "metric"])["chance"].agg(lambda s: s.dropna().unique().tolist())
    if (base.map(len) > 1).any():
        raise SystemExit("obsscaling_bbh: a raw BBH metric has several chance values")
    lookup = {k: (v[0] if v else np.nan) for k, v in base.items()}
    new_chance = [lookup.get((t, m), np.nan) for t, m in zip(df.loc[norm, "task"], raw_metric[norm], strict=True)]
    df.loc[norm, "chance"] = new_chance
    log.append(
        f"chance of the {int(norm.sum())} *_chance_normalized rows set from 0 (source) to the random baseline "
        "c of the same task's raw metric (empty for 'overall', an aggregate of tasks with different c), so "
        "that raw = c + (1 - c) * score"
    )
    # consistency of the normalised values with their raw rows
    key = ["task", "family", "model", "condition"]
    r = df[~norm].assign(raw_metric=df.loc[~norm, "metric"])[key + ["raw_metric", "score"]]
    n = df[norm].assign(raw_metric=raw_metric[norm])[key + ["raw_metric", "score", "chance"]]
    m = n.merge(r, on=key + ["raw_metric"], suffixes=("", "_raw"), how="left")
    per_task = m["chance"].notna()
    expect = (m["score_raw"] - m["chance"]) / (1 - m["chance"])
    bad = per_task & ((expect - m["score"]).abs() > 1e-6)
    log.append(
        f"checked: {int(per_task.sum())} per-task normalised scores equal (raw - c)/(1 - c) of their raw row "
        f"within 1e-6 ({int(bad.sum())} mismatches)"
    )
    if bad.any():
        raise SystemExit("obsscaling_bbh: normalised scores do not match their raw rows")
    return df


def build_obs_standard(raw: pd.DataFrame, log: list[str]) -> pd.DataFrame:
    df = raw[raw["task_group"].isin(["standard_benchmarks", "gsm8k"])].copy()
    df["condition"] = shots_label(df["shots"])
    log.append(
        "task_group 'gsm8k' (lm-eval-harness re-runs on a 500-item subset: gsm8k, gsm8k_cot, "
        "gsm8k_cot_zeroshot, gsm8k_cot_self_consistency) is included beside standard_benchmarks' "
        "'GSM8K' (Open LLM Leaderboard, 1319 items); task names are kept as in the source"
    )
    unstated = df["shots"].isna()
    if unstated.any():
        log.append(
            f"condition 'shots-unstated' for {int(unstated.sum())} rows "
            f"({', '.join(sorted(df.loc[unstated, 'task'].unique()))}): shots not stated by the source"
        )
    return df


def _pythia(raw: pd.DataFrame) -> pd.DataFrame:
    return raw[raw["family"].isin(["Pythia", "Pythia-deduped"])]


def build_pythia_suite(raw: pd.DataFrame, log: list[str]) -> pd.DataFrame:
    is_pythia = raw["family"].isin(["Pythia", "Pythia-deduped"])
    final = ~is_pythia | (raw["checkpoint_step"] == 143000)
    log.append(
        f"kept final checkpoints only: dropped {int((~final).sum())} intermediate-checkpoint Pythia rows "
        "(step != 143000); all OPT and BLOOM rows kept (final checkpoints, no step in the source)"
    )
    df = raw[final].copy()
    df["condition"] = shots_label(df["shots"])
    return df


def build_pythia_checkpoints(raw: pd.DataFrame, log: list[str]) -> pd.DataFrame:
    df = _pythia(raw).copy()
    step0 = df["checkpoint_step"] == 0
    log.append(
        f"dropped {int(step0.sum())} rows at step 0 (random initialisation: 0 tokens, train_flops = 0 has no log10)"
    )
    df = df[~step0].copy()
    df["condition"] = shots_label(df["shots"])
    step = df["checkpoint_step"].astype(int).astype(str)
    df["family"] = df["model"]
    df["model"] = df["model"] + "@step" + step
    log.append(
        "one curve per Pythia model size and training run: family = the model (e.g. "
        "'pythia-410m-deduped'), model = '<model>@step<N>'; x = train_flops grows with the step"
    )
    return df


def build_bloom_xglm(raw: pd.DataFrame, log: list[str]) -> pd.DataFrame:
    df = raw.copy()
    df["condition"] = shots_label(df["shots"])
    log.append(
        "condition = '<shots>-shot'; this separates drop/gsm8k rows that the source has twice "
        "(reading_comprehension 0-shot vs mathematical_reasoning_few_shot 5-shot; gsm8k 8-shot vs 5-shot)"
    )
    pct = df["task"] == "squad2"
    if pct.any():
        df.loc[pct, "score"] = df.loc[pct, "score"] / 100.0
        df = add_note(df, pct, "rescaled from the source's 0-100 scale to 0-1")
        log.append(
            f"squad2: {int(pct.sum())} scores (exact, f1, HasAns_*, NoAns_*, best_*) are percentages "
            "in the harness output; divided by 100 so that proportions lie in [0, 1]"
        )
    df = reclassify(
        df, log, ["HasAns_f1", "NoAns_f1", "best_f1"], "continuous", "an F1 is not an average of per-item 0/1 outcomes"
    )
    return df


def build_ukp(raw: pd.DataFrame, log: list[str]) -> pd.DataFrame:
    df = raw.copy()
    prompt = df["subset"].str.removeprefix("prompt=")
    df["condition"] = (prompt + "/" + shots_label(df["shots"])).astype("str")
    log.append(
        "condition = '<prompt type>/<shots>-shot' (e.g. 'closed/0-shot'); within a "
        "(task, metric, family, condition, model) only `replicate` (the seed) repeats"
    )
    no_seed = df["replicate"].isna() & (df["params"].notna() | df["train_flops"].notna())
    if no_seed.any():
        log_counts(
            log, "replicate left empty (single run at temperature 0, no seed in the source)", df[no_seed], "model"
        )
    df = reclassify(
        df,
        log,
        ["exact_match_f1", "bert_score_f1"],
        "continuous",
        "an F1 is not an average of per-item 0/1 outcomes (score * n_items is not a whole number)",
    )
    return df


SPECS = [
    Spec(
        "obsscaling_emergent",
        "obsscaling_open_models.csv",
        "ObsScaling 'emergent capability' tasks of Wei et al. (2022): 2-digit/3-digit arithmetic, word "
        "unscrambling, Persian QA, IPA transliteration (exact match and BLEU); 2-shot, 84 open base models.",
        OBS,
        "flops",
        build_obs_emergent,
    ),
    Spec(
        "obsscaling_bbh",
        "obsscaling_open_models.csv",
        "ObsScaling BIG-Bench-Hard: 27 tasks + overall, 3-shot, answer-only (condition 'direct') vs "
        "chain-of-thought ('cot'); exact match (strict/flexible) and its chance-normalised version.",
        OBS,
        "flops",
        build_obs_bbh,
    ),
    Spec(
        "obsscaling_standard",
        "obsscaling_open_models.csv",
        "ObsScaling standard benchmarks (MMLU, ARC-C, HellaSwag, WinoGrande, TruthfulQA, GSM8K, XWinograd, "
        "HumanEval) for 148 open base models, plus GSM8K direct/CoT/zero-shot/self-consistency re-runs.",
        OBS,
        "flops",
        build_obs_standard,
    ),
    Spec(
        "pythia_suite",
        "pythia_suite_scaling.csv",
        "Pythia (standard and deduped, 70M-12B, final checkpoints), OPT (125M-66B) and BLOOM (560M-7B1) on "
        "ARC, LAMBADA (acc and perplexity), LogiQA, PIQA, SciQ, WinoGrande, WSC and 57 MMLU subjects; 0- and 5-shot.",
        PYTHIA,
        "flops",
        build_pythia_suite,
    ),
    Spec(
        "pythia_checkpoints",
        "pythia_suite_scaling.csv",
        "Pythia training trajectories: each of the 16 Pythia models at 26 (0-shot) / 15 (5-shot) training "
        "checkpoints, same tasks as pythia_suite; one curve per model size (family = model).",
        PYTHIA,
        "flops",
        build_pythia_checkpoints,
        optional=True,
    ),
    Spec(
        "bloom_xglm",
        "lm_eval_harness_legacy_bloom_xglm.csv",
        "BLOOM (560M-7B1) and XGLM (564M-7.5B) on the legacy lm-evaluation-harness suites: XNLI, XCOPA, "
        "XStoryCloze, XWinograd, PAWS-X, common-sense reasoning, QA, LAMBADA, GSM8K, math, BBH-style tasks.",
        HARNESS,
        "flops",
        build_bloom_xglm,
    ),
    Spec(
        "ukp_emergence",
        "ukp_on_emergence_bigbench.csv",
        "Lu et al. (2024) BIG-bench re-evaluation: 21 BIG-bench tasks + GSM8K + CommonsenseQA, GPT-2/T5/"
        "FLAN-T5/GPT-J/LLaMA/Falcon/GPT-3 (base and instruction-tuned), 3 prompt formats, 0-5 shots, 3 seeds. "
        "CC BY-SA 4.0; families have <= 3 sizes.",
        UKP,
        "params",
        build_ukp,
    ),
]


# ------------------------------------------------------------------------------ common curation


def score_bounds(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Valid [lo, hi] of every score from its metric kind and metric name."""
    kind, metric, c = df["metric_kind"], df["metric"].str.lower(), df["chance"]
    lo = np.full(len(df), -np.inf)
    hi = np.full(len(df), np.inf)
    disc = (kind == "discrete").to_numpy()
    lo[disc], hi[disc] = 0.0, 1.0
    norm = (kind == "discrete_normalized").to_numpy()
    cc = c.fillna(0.0).clip(upper=0.999).to_numpy()
    lo[norm] = np.where(cc[norm] > 0, -cc[norm] / (1 - cc[norm]), -1.0)
    hi[norm] = 1.0
    cont = (kind == "continuous").to_numpy()
    bleu = cont & metric.str.contains("bleu").to_numpy()
    lo[bleu], hi[bleu] = 0.0, 100.0
    ppl = cont & metric.isin(["ppl", "perplexity"]).to_numpy()
    lo[ppl] = 1.0
    ed = cont & (metric == "edit_distance").to_numpy()
    lo[ed] = 0.0
    unit = cont & metric.str.contains(r"f1|mc2|bert_score", regex=True).to_numpy()
    lo[unit], hi[unit] = 0.0, 1.0
    return lo, hi


def curate(spec: Spec, raw: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    log: list[str] = []
    df = spec.build(raw, log)
    n0 = len(df)

    missing = df["score"].isna()
    log_counts(log, "dropped: score missing", df[missing], "task", always=True)
    df = df[~missing]

    noscale = df["train_flops"].isna() & df["params"].isna()
    log_counts(log, "dropped: neither train_flops nor params (size undisclosed)", df[noscale], "model", always=True)
    df = df[~noscale]

    lo, hi = score_bounds(df)
    s = df["score"].to_numpy()
    out = ~np.isfinite(s) | (s < lo - 1e-9) | (s > hi + 1e-9)
    bad = df[out]
    log.append(
        f"dropped: score outside the metric's range: {len(bad)} rows"
        + "".join(f"; {r.task}/{r.metric}/{r.model}={r.score!r}" for r in bad.itertuples())
    )
    df = df[~out]

    key = CURVE_KEY + ["model"] + (["replicate", "shots"] if spec.name == "ukp_emergence" else [])
    exact = df.duplicated(keep="first")
    log_counts(log, "dropped: exact duplicate rows (all columns equal)", df[exact], "task", always=True)
    df = df[~exact]
    dup = df.duplicated(key, keep=False)
    if dup.any():
        raise SystemExit(
            f"{spec.name}: {int(dup.sum())} rows share the key {key} with different values:\n"
            f"{df[dup].sort_values(key).head(20).to_string()}"
        )

    for col in ("chance", "higher_is_better", "metric_kind"):
        nun = df.groupby(CURVE_KEY)[col].nunique(dropna=False)
        if (nun > 1).any():
            raise SystemExit(f"{spec.name}: '{col}' varies within curves: {nun[nun > 1].index[:5].tolist()}")
    log.append(
        f"checked: key ({', '.join(key)}) unique; chance, higher_is_better, metric_kind constant "
        "within each (task, metric, family, condition); every score inside its metric's range"
    )
    if df["instruction_tuned"].isna().any():
        raise SystemExit(f"{spec.name}: instruction_tuned missing")
    log.append(f"rows: {n0} selected, {len(df)} kept")

    columns = [c for c in COLUMNS if c not in OPTIONAL_COLUMNS or df[c].notna().any()]
    if spec.name == "ukp_emergence" and "replicate" not in columns:
        columns.insert(columns.index("checkpoint_step") + 1, "replicate")
    sort = ["task_group", "task", "metric", "family", "condition", "params", "checkpoint_step", "model"]
    if "replicate" in columns:
        sort.append("replicate")
    df = df.sort_values(sort, kind="mergesort", na_position="last")
    return df[columns].reset_index(drop=True), log


def read_source(path: Path) -> pd.DataFrame:
    """Read a source CSV as text and parse numbers with Python's float() (correctly rounded, so the
    values, and hence the output bytes, do not depend on the pandas version's float parser)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in SOURCE_NUMERIC:
        df[col] = np.array([float(v) if v.strip() else np.nan for v in df[col]], dtype=float)
    for col in df.columns.difference(SOURCE_NUMERIC):
        df[col] = df[col].where(df[col] != "", None).astype("str")
    return df


def fmt(value: object, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if column in INT_COLUMNS:
        f = float(value)  # type: ignore[arg-type]
        if f != int(f):
            raise SystemExit(f"column {column}: non-integer value {value!r}")
        return str(int(f))
    if column in FLOAT_COLUMNS:
        return repr(float(value))  # type: ignore[arg-type]
    return str(value)


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(df.columns)
    cols = list(df.columns)
    for row in df.itertuples(index=False, name=None):
        w.writerow([fmt(v, c) for v, c in zip(row, cols, strict=True)])
    return buf.getvalue().encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: no file name, mtime 0, fixed level."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def curve_counts(df: pd.DataFrame, default_x: str) -> dict[str, int]:
    x = "train_flops" if default_x == "flops" else "params"
    g = df.groupby(CURVE_KEY)
    return {
        "curve_groups": int(g.ngroups),
        "curves": int((g["model"].nunique() >= MIN_MODELS_PER_CURVE).sum()),
        "curves_4_scales": int((g[x].nunique() >= MIN_MODELS_PER_CURVE).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "source",
        nargs="?",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"folder with the source CSVs (default: {DEFAULT_SOURCE})",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    src: Path = args.source
    out: Path = args.out
    if not src.is_dir():
        print(f"error: source folder {src} does not exist", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)

    cache: dict[str, pd.DataFrame] = {}
    index: dict[str, dict] = {}
    for spec in SPECS:
        if spec.source_file not in cache:
            cache[spec.source_file] = read_source(src / spec.source_file)
        df, log = curate(spec, cache[spec.source_file])
        data = to_csv_bytes(df)
        gz = gzip_bytes(data)
        target = out / f"{spec.name}.csv.gz"
        if spec.optional and len(gz) >= CHECKPOINTS_MAX_BYTES:
            if target.exists():
                target.unlink()
            if not args.quiet:
                print(f"{spec.name}: skipped ({len(gz)} bytes >= {CHECKPOINTS_MAX_BYTES})")
            continue
        target.write_bytes(gz)
        entry = {
            "name": spec.name,
            "file": target.name,
            "description": spec.description,
            **spec.provenance,
            "source_file": spec.source_file,
            "default_x": spec.default_x,
            "rows": len(df),
            **curve_counts(df, spec.default_x),
            "columns": list(df.columns),
            "sha256_csv": hashlib.sha256(data).hexdigest(),
            "curation": log,
        }
        index[spec.name] = entry
        if not args.quiet:
            print(
                f"{spec.name}: {len(df)} rows, {entry['curves']} curves (>= {MIN_MODELS_PER_CURVE} models), "
                f"{len(gz)} bytes"
            )
            for line in log:
                print(f"    - {line}")
    text = json.dumps(index, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    (out / "index.json").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
