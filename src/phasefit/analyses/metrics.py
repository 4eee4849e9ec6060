"""Metric-choice sensitivity: the same outputs under different metrics, side by side.

For every (task, family, condition) scored under two or more metrics (and every other one with a
sharp metric, for its mirage evidence alone), one row per metric with its
verdict, p_emergent, break and onset (from the fit analysis' verdict table, unchanged), whether the
verdict flips between the metrics, how far apart their P(breakpoint) are, and, for sharp metrics
with item counts, the mirage evidence (`analyses/mirage.py`) and the test set's resolution. Pure:
tables in, tables out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from phasefit.analyses.mirage import MirageResult
from phasefit.data.curves import Curve, CurveSet

GROUP = ["task", "family", "condition"]
DECISIVE_NO = ("smooth", "absent")
MIRAGE_AT = 0.5  # p_mirage at or above: the jump is attributed to the metric
CARRIED = (  # from verdicts.csv, where present
    "likelihood",
    "n_points",
    "p_emergent",
    "verdict",
    "x_axis",
    *(f"{q}_{a}_{s}" for q in ("break", "onset") for a in ("flops", "params") for s in ("median", "q05", "q95")),
)


def metric_groups(curves: CurveSet, *, sharp_alone: bool = False) -> dict[tuple[str, str, str], list[int]]:
    """Curve indices of every (task, family, condition) with two or more metrics, in table order;
    with `sharp_alone`, also of those with one metric that is sharp (`is_sharp`)."""
    c = curves.curves.reset_index(drop=True)
    groups: dict[tuple[str, str, str], list[int]] = {}
    for key, idx in c.groupby(GROUP, sort=True).groups.items():
        members = sorted(int(i) for i in idx)
        if c.loc[members, "metric"].nunique() >= 2 or (sharp_alone and any(is_sharp(curves.curve(i)) for i in members)):
            groups[tuple(key)] = members
    return groups


def is_sharp(curve: Curve) -> bool:
    """A metric the mirage applies to: a per-item 0/1 score averaged, with item counts."""
    return curve.likelihood == "beta_binomial" and curve.metric_kind == "discrete"


def mirage_pairs(
    curves: CurveSet, pairs: Mapping[str, str] | None = None, *, metrics: Sequence[str] | None = None
) -> list[tuple[int, int | None]]:
    """(sharp curve, paired continuous curve or None) for every sharp curve (of `metrics` if given).

    `pairs` maps a sharp metric to the metric that scores the same outputs continuously (e.g.
    {"exact_match": "bleu"}); without an entry, the group's first bounded continuous metric (beta
    likelihood, higher is better) by name is used, if any.
    """
    out = []
    for idx in metric_groups(curves, sharp_alone=True).values():
        members = [curves.curve(i) for i in idx]
        for c in members:
            if not is_sharp(c) or (metrics is not None and c.metric not in metrics):
                continue
            wanted = (pairs or {}).get(c.metric)
            candidates = sorted(
                (o for o in members if o.likelihood == "beta" and o.higher_is_better and o.index != c.index),
                key=lambda o: o.metric,
            )
            if wanted is not None:
                candidates = [o for o in candidates if o.metric == wanted]
            out.append((c.index, candidates[0].index if candidates else None))
    return out


def sensitivity_table(
    curves: CurveSet,
    verdicts: pd.DataFrame,
    mirage: Sequence[tuple[MirageResult, MirageResult | None]] = (),
    *,
    sharp_alone: bool = True,
) -> pd.DataFrame:
    """One row per curve of a multi-metric group: its verdict columns, flip flags and mirage evidence.

    `verdicts` is the fit analysis' table (one row per curve, in `curves` order); `mirage` holds, per
    sharp curve, its evidence with the metric alone and (if paired) jointly with the other metric.
    With `sharp_alone`, groups whose only metric is sharp are included (for their mirage evidence).
    """
    groups = metric_groups(curves, sharp_alone=sharp_alone)
    if len(verdicts) != len(curves):
        raise ValueError(f"the verdict table has {len(verdicts)} rows for {len(curves)} curves")
    v = verdicts.reset_index(drop=True)
    by_index = {alone.index: (alone, joint) for alone, joint in mirage}
    rows = []
    for key, idx in groups.items():
        sub = v.loc[idx]
        ok = sub[sub["verdict"] != "failed"]
        verdict_set = set(ok["verdict"])
        flip = len(verdict_set) > 1
        decisive = "emergent" in verdict_set and bool(verdict_set & set(DECISIVE_NO))
        spread = float(ok["p_emergent"].max() - ok["p_emergent"].min()) if len(ok) >= 2 else math.nan
        emergent_under = ";".join(sorted(ok.loc[ok["verdict"] == "emergent", "metric"]))
        if len(idx) < 2:  # a sharp metric alone: its mirage evidence, nothing to compare
            flip = decisive = False
        for i in idx:
            row = {"task": key[0], "family": key[1], "condition": key[2], "metric": v.at[i, "metric"]}
            row |= {c: v.at[i, c] for c in CARRIED if c in v.columns}
            row |= {
                "n_metrics": len(idx),
                "flip": flip,
                "flip_decisive": decisive,
                "p_emergent_spread": spread,
                "emergent_under": emergent_under,
            }
            row |= _mirage_columns(by_index.get(i), verdict=v.at[i, "verdict"])
            rows.append(row)
    return pd.DataFrame(rows, columns=_columns(v))


def _columns(v: pd.DataFrame) -> list[str]:
    return [
        "task",
        "family",
        "condition",
        "metric",
        *(c for c in CARRIED if c in v.columns),
        "n_metrics",
        "flip",
        "flip_decisive",
        "p_emergent_spread",
        "emergent_under",
        *MIRAGE_COLUMNS,
    ]


MIRAGE_COLUMNS = (
    "p_mirage",
    "paired_metric",
    "p_mirage_alone",
    "mirage_attributed",
    "tokens_given",
    "tokens_q05",
    "tokens_median",
    "tokens_q95",
    "link_median",
    "resolution",
    "token_resolution",
    "hidden_models",
    "flat_below_resolution",
    "mirage_ok",
    "mirage_reason",
)


def _mirage_columns(pair: tuple[MirageResult, MirageResult | None] | None, *, verdict: str) -> dict:
    if pair is None:
        return dict.fromkeys(MIRAGE_COLUMNS, None)
    alone, joint = pair
    best = joint if joint is not None else alone
    rising = verdict in ("emergent", "inconclusive")
    return {
        "p_mirage": best.p_mirage,
        "paired_metric": best.other_metric,
        "p_mirage_alone": alone.p_mirage,
        "mirage_attributed": bool(rising and np.isfinite(best.p_mirage) and best.p_mirage >= MIRAGE_AT),
        "tokens_given": best.tokens_given,
        "tokens_q05": best.tokens_q05,
        "tokens_median": best.tokens_median,
        "tokens_q95": best.tokens_q95,
        "link_median": best.link_median,
        "resolution": best.resolution,
        "token_resolution": best.token_resolution,
        "hidden_models": best.hidden_models,
        "flat_below_resolution": bool(rising and best.hidden_models >= 2),
        "mirage_ok": alone.ok and (joint is None or joint.ok),
        "mirage_reason": "; ".join(r for r in (alone.reason, joint.reason if joint else "") if r),
    }


def task_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per task x condition: families compared, how many flip, and under which metrics it is emergent."""
    columns = [
        "task",
        "condition",
        "n_families",
        "metrics",
        "families_flip",
        "families_flip_decisive",
        "emergent_under",
        "not_emergent_under",
        "families_mirage",
    ]
    if table.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (task, cond), sub in table.groupby(["task", "condition"], sort=True):
        fam = sub.groupby("family")
        metrics = sorted(set(sub["metric"]))
        emergent = sorted(set(sub.loc[sub["verdict"] == "emergent", "metric"]))
        rows.append(
            {
                "task": task,
                "condition": cond,
                "n_families": fam.ngroups,
                "metrics": ";".join(metrics),
                "families_flip": int(fam["flip"].first().sum()),
                "families_flip_decisive": int(fam["flip_decisive"].first().sum()),
                "emergent_under": ";".join(emergent),
                "not_emergent_under": ";".join(m for m in metrics if m not in emergent),
                "families_mirage": int(sub[sub["mirage_attributed"].fillna(False).astype(bool)]["family"].nunique()),
            }
        )
    return pd.DataFrame(rows, columns=columns)
