"""Helpers every benchmark shares: the machine and library versions it ran on, timing, JSON results
and its own marked section of RESULTS.md.

A benchmark script imports them with `from _common import ...` (the script's folder is on sys.path
when it runs as `python benchmarks/NAME.py`; tests put benchmarks/ on sys.path themselves).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import resource
import subprocess
import time
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"
RESULTS_MD = HERE / "RESULTS.md"

#: the libraries whose versions decide sampling speed
SAMPLING_PACKAGES = ("pymc", "nutpie", "pytensor", "numpy", "numba")


# ------------------------------------------------------------------------------------ the machine


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else platform.processor(), else "unknown")."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_detail() -> str:
    """CPU family / model / stepping and siblings per core from /proc/cpuinfo: two machines that both
    call themselves "AMD EPYC" can be different generations, or two threads of one core."""
    try:
        info: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break  # the first processor's block
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
        per_core = int(info.get("siblings", 0)) // max(int(info.get("cpu cores", 1)), 1)
        family, model, stepping = (info.get(k, "?") for k in ("cpu family", "model", "stepping"))
        return f"family {family} model {model} stepping {stepping}, {per_core or '?'} thread(s) per core"
    except (OSError, ValueError):
        return "unknown"


def ram_gib() -> float:
    """Total memory in GiB (one decimal), NaN where /proc/meminfo cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages (the machine may be shared: timings are read against them)."""
    return list(os.getloadavg())


def machine() -> dict[str, Any]:
    """CPU count (and how many this process may use), CPU model, RAM, Python and platform, load average."""
    ram = ram_gib()
    return {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu_model(),
        "cpu_detail": cpu_detail(),
        "ram": f"{ram:.1f} GiB" if math.isfinite(ram) else "unknown",
        "ram_gib": ram,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": loadavg(),
    }


def rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def versions(packages: Iterable[str] = SAMPLING_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None where it is not installed)."""
    out: dict[str, str | None] = {}
    for p in packages:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


# ------------------------------------------------------------------------------------------ timing


def now() -> str:
    """Local time with its UTC offset, to the second (the `date` of a run)."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


class Stopwatch:
    """`with Stopwatch() as t: ...` then `t.seconds` (wall time, perf_counter)."""

    def __init__(self) -> None:
        self.seconds = float("nan")
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


# ------------------------------------------------------------------------------------------ writing


def jsonable(o: Any) -> Any:
    """`o` with numpy scalars as Python numbers, tuples as lists, keys as str, NaN/inf as None."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def write_json(path: Path, obj: Any, *, indent: int = 2) -> Path:
    """Write `obj` as strict JSON (see `jsonable`) with a final newline, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(obj), indent=indent) + "\n", encoding="utf-8")
    return path


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of benchmark `name`'s section of RESULTS.md."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_results_md(section: str, start: str, end: str, path: Path = RESULTS_MD) -> None:
    """Replace the text between the `start` and `end` markers of RESULTS.md (append it if absent).

    `section` includes the markers themselves; the other benchmarks' sections stay as they are.
    """
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    if start in text and end in text:
        a, b = text.index(start), text.index(end) + len(end)
        text = text[:a] + section.rstrip("\n") + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def run_line(r: dict) -> str:
    """Where a run's numbers come from, from the keys `date`, `command`, `git`, `uncommitted_src`,
    `machine`, `loadavg_start` and `loadavg_end` of its report: "Run <date> by `<command>` (git
    <commit>); <n> CPUs (<cpu>), <ram>; load average at the start <...>, at the end <...>"."""
    m = r["machine"]
    dirty = f", uncommitted: {', '.join(r['uncommitted_src'])}" if r["uncommitted_src"] else ""
    return (
        f"Run {r['date']} by `{r['command'].strip()}` (git {r['git'][:7]}{dirty}); {m['nproc']} CPUs ({m['cpu']}), "
        f"{m['ram']}; load average at the start {' '.join(f'{x:.2f}' for x in r['loadavg_start'])}, at the end "
        f"{' '.join(f'{x:.2f}' for x in r['loadavg_end'])}"
    )


def fmt_value(v, fmt: str = "{:.3f}") -> str:
    """A number for a results table: n/a for None and non-finite values, yes/no for booleans,
    integers as integers, others with `fmt`."""
    if v is None:
        return "n/a"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    try:
        if not math.isfinite(v):
            return "n/a"
    except TypeError:
        return str(v)
    return fmt.format(v)


def auc(score, positive) -> float:
    """Rank-based AUC (Mann-Whitney U / n1 n0), ties count one half; NaN scores are dropped."""
    score, positive = np.asarray(score, float), np.asarray(positive, bool)
    keep = np.isfinite(score)
    score, positive = score[keep], positive[keep]
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(score)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def wilson(k: int, n: int, z: float = 1.645) -> tuple[float, float]:
    """90% Wilson interval of a binomial share."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z**2 / n
    c = (p + z**2 / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def git(*args: str) -> str:
    """`git ARGS` in the repository, its output stripped ("" where git is missing)."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def git_state() -> tuple[str, list[str]]:
    """The commit checked out and the uncommitted files under src/ ("XY path" lines: the path kept whole)."""
    status = git("status", "--porcelain", "--", "src").split("\n")
    return git("rev-parse", "HEAD"), sorted(line.split(maxsplit=1)[1] for line in status if line.strip())


def naive_fit(fit: str, curve, spec, *, draws: int, tune: int, chains: int, seed: int, target_accept: float):
    """The loop a PyMC user writes today, one fit of it: a fresh model of hypothesis `fit` with this
    curve's data, then `pm.sample(..., nuts_sampler="nutpie")`, which compiles the model every call.
    Returns the stored parameters' draws, the sampler stats phasefit's checks read, and the
    `time.perf_counter()` when sampling returned (so a caller's wall time leaves the conversion out)."""
    import pymc as pm

    from phasefit.models.curve_model import build_model, curve_inputs, stored_names

    names = stored_names(fit, curve.likelihood, spec)
    model = build_model(fit, curve.likelihood, spec, template=curve_inputs(curve, spec))
    with model:
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=chains,
            random_seed=seed,
            target_accept=target_accept,
            nuts_sampler="nutpie",
            progressbar=False,
        )
    sampled = time.perf_counter()
    post, st = idata.posterior, idata.sample_stats
    out = {k: np.asarray(post[k].values, float) for k in names if k in post}
    stats = {"diverging": st["diverging"].values}
    if "maxdepth_reached" in st:  # nutpie's name
        stats["reached_max_treedepth"] = st["maxdepth_reached"].values
    elif "reached_max_treedepth" in st:
        stats["reached_max_treedepth"] = st["reached_max_treedepth"].values
    elif "tree_depth" in st:
        stats["reached_max_treedepth"] = st["tree_depth"].values >= 10
    return out, stats, sampled


DEV_SEED = 1  # the accuracy suite's development seed: tune and debug with it, never report from it


def dev_suite_curves(n: int):
    """The first `n` curves of the accuracy suite's development seed, loaded as `phasefit fit` loads them."""
    import accuracy_worlds

    import phasefit

    data, _ = accuracy_worlds.simulate_suite(n, DEV_SEED)
    return phasefit.load_curves(data, x_axis="flops", min_points=4, name=f"accuracy-suite:seed={DEV_SEED}")
