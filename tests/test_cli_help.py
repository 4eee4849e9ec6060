"""`phasefit COMMAND --help`: every option of every subcommand says its default (or is a flag, or required)."""

from __future__ import annotations

import argparse
import re

import pytest

from phasefit.cli import _parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path (`()`, `("fit",)`, `("datasets", "export")`, ...), found in the parser itself so
    that a new subcommand is checked without editing this test."""
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*prefix, name))
    return found


COMMANDS = _commands(_parser())


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _entries(text: str, section: str) -> list[tuple[str, str]]:
    """(invocation, help) of each entry of a help section ("options", "positional arguments"); help text
    wrapped onto further lines, or starting on the next line after a long invocation, is joined."""
    entries: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        if not line.startswith(" "):
            inside = line.rstrip(":") == section
            continue
        if not inside or not line.strip():
            continue
        if re.match(r"^  \S", line):  # a new entry: invocation, then (after 2+ spaces) its help
            parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            entries.append([parts[0], parts[1] if len(parts) > 1 else ""])
        elif entries:
            entries[-1][1] = f"{entries[-1][1]} {line.strip()}".strip()
    return [(inv, h) for inv, h in entries]


def test_all_subcommands_are_found():
    assert {
        ("validate",),
        ("datasets",),
        ("datasets", "list"),
        ("datasets", "export"),
        ("fit",),
        ("demo",),
        ("report",),
        ("models",),
        ("models", "show"),
        ("models", "export"),
    } <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "phasefit")
def test_every_option_shows_its_default(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    text = _help(list(command), capsys)
    assert text.startswith("usage: phasefit")
    options = _entries(text, "options")
    assert any(inv.startswith("-h, --help") for inv, _ in options), text
    for invocation, help_ in options:
        is_flag = all(token.startswith("-") for token in invocation.replace(",", " ").split())
        assert help_, f"{invocation!r} has no help"
        assert is_flag or "default" in help_ or "required" in help_, (
            f"phasefit {' '.join(command)}: {invocation!r} does not say its default: {help_!r}"
        )
    for invocation, help_ in _entries(text, "positional arguments"):
        assert help_ or invocation in ("COMMAND", "ACTION"), f"{invocation!r} has no help"


def test_defaults_are_the_real_ones(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    options = dict(_entries(_help(["validate"], capsys), "options"))
    assert "(default: flops)" in options["--x {flops,params}"]
    assert "(default: 4)" in options["--min-points N"]
    assert "(default: phasefit-demo)" in dict(_entries(_help(["demo"], capsys), "options"))["--out DIR"]
