"""What every report shares: the `Report` it returns, its checks, and how its files are written.

A report is written into a temporary folder beside its destination (`write_atomically`) and moved
into place when complete, so an interrupted report leaves the previous one (or none), never half
of one. `Outputs` writes its figures, tables, page and manifest and remembers what it wrote.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from phasefit.errors import PhasefitError
from phasefit.report import figures, tables

FORMATS = ("png", "pdf")
Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass(frozen=True)
class Report:
    """Where a report was written, and what it holds (paths relative to `directory`). `curves`
    counts what the report is of: a fit's curves, or an intervention's pairs (`kind`)."""

    directory: Path
    index: Path
    figures: tuple[str, ...]
    tables: tuple[str, ...]
    curves: int
    kind: str = "fit"


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """The figure formats, once each: png (the page shows it) and optionally pdf."""
    formats = tuple(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats or "png" not in formats:
        raise PhasefitError(f"--formats must include png and may add pdf (got {', '.join(formats) or 'none'})")
    return formats


def slug(i: int, text: str) -> str:
    """A file or anchor name that no user string can break out of: an index and [a-z0-9-]."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower())[:40].strip("-")
    return f"{i:03d}-{s}" if s else f"{i:03d}"


@dataclass(frozen=True)
class Outputs:
    """The files of a report under `root`, each recorded (relative to `root`) for the manifest."""

    root: Path
    formats: tuple[str, ...]
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)

    def figure(self, fig: Figure, stem: str) -> dict[str, str]:
        """`figures/<stem>.<fmt>` in every format; returns {format: relative path}."""
        path = self.root / "figures" / stem
        path.parent.mkdir(parents=True, exist_ok=True)
        rel = {p.suffix[1:]: p.relative_to(self.root).as_posix() for p in figures.save(fig, path, self.formats)}
        self.figures.extend(rel.values())
        return rel

    def table(self, df: pd.DataFrame, stem: str, *, caption: str) -> list[dict[str, str]]:
        """`tables/<stem>.{csv,tex,md}`; returns the download links ({kind, path}) for the page."""
        base = self.root / "tables" / stem
        base.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(base.with_suffix(".csv"), index=False)
        base.with_suffix(".tex").write_text(tables.to_latex(df, caption=caption, label=f"tab:{stem}"), encoding="utf-8")
        base.with_suffix(".md").write_text(tables.to_markdown(df), encoding="utf-8")
        rel = [
            {"kind": k.upper() if k != "tex" else "LaTeX", "path": f"tables/{stem}.{k}"} for k in ("csv", "tex", "md")
        ]
        self.tables.extend(r["path"] for r in rel)
        return rel

    def page(self, template: str, **context) -> None:
        """`index.html` from a template in `report/templates/`, every value autoescaped."""
        from jinja2 import Environment, PackageLoader, select_autoescape

        env = Environment(
            loader=PackageLoader("phasefit.report", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            keep_trailing_newline=True,
        )
        (self.root / "index.html").write_text(env.get_template(template).render(**context), encoding="utf-8")

    def manifest(self, **counts: int) -> None:
        """`manifest.json`: every figure and table file, and the counts given."""
        manifest = {"figures": sorted(self.figures), "tables": sorted(self.tables), **counts}
        (self.root / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")


def write_atomically(
    out: Path, formats: tuple[str, ...], write: Callable[[Outputs], int], *, kind: str = "fit"
) -> Report:
    """Call `write` on `Outputs` in a temporary folder beside `out`, then move it to `out` (an
    existing report is replaced only then). `write` returns what the report counts (curves or pairs)."""
    if out.exists() and not out.is_dir():
        raise PhasefitError(f"{out}: exists and is not a directory")
    if not out.parent.is_dir():
        raise PhasefitError(f"{out.parent}: output directory does not exist")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        outputs = Outputs(root=tmp, formats=formats)
        count = write(outputs)
        os.chmod(tmp, 0o755)
        old = out.with_name(f".{out.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Report(
        directory=out,
        index=out / "index.html",
        figures=tuple(sorted(outputs.figures)),
        tables=tuple(sorted(outputs.tables)),
        curves=count,
        kind=kind,
    )
