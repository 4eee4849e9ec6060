"""Run every ```python block of README.md and docs/*.md, so that the documentation stays true.

Each block runs on its own, in a fresh namespace, with the working directory set to a temporary
folder (a block may write files). A block preceded by the line `<!-- skip-test -->` (blank lines in
between allowed) is only compiled, not run: use it for examples that sample for minutes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_MARK = "<!-- skip-test -->"
_OPEN = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*python\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    source: str
    skip: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [f for f in files if f.is_file()]


def _closes(line: str, fence: str) -> bool:
    """A closing fence: the same character, at least as many, nothing else on the line."""
    text = line.strip()
    return len(text) >= len(fence) and set(text) == {fence[0]} and line.startswith(fence[0])


def python_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start = m.group("fence"), i
        j = i + 1
        while j < len(lines) and not _closes(lines[j], fence):
            j += 1
        if j == len(lines):
            raise AssertionError(f"{path}:{start + 1}: unclosed ```python block")
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        skip = k >= 0 and lines[k].strip() == SKIP_MARK
        blocks.append(Block(path=path, line=start + 1, source="\n".join(lines[start + 1 : j]) + "\n", skip=skip))
        i = j + 1
    return blocks


BLOCKS = [b for f in doc_files() for b in python_blocks(f)]


def test_docs_have_python_examples():
    assert (ROOT / "README.md").is_file()
    assert BLOCKS, "no ```python blocks found in README.md or docs/*.md"
    assert any(not b.skip for b in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block(block: Block, tmp_path, monkeypatch):
    code = compile(block.source, block.id, "exec")  # a syntax error fails even a skipped block
    if block.skip:
        pytest.skip(f"{SKIP_MARK} (compiled only)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    exec(code, {"__name__": "__docs__"})
