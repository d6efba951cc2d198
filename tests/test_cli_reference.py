"""docs/cli.md is the CLI reference, generated from the CLI: every command has a
section, and the file is exactly what the generator renders now."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_command

from tether.cli import app
from tether.cli._reference import REGENERATE, render

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "cli.md"


def command_paths(command: Any, path: str, parent: typer.Context | None) -> Iterator[str]:
    """Every visible command path of the CLI, walked here independently of the generator."""
    yield path
    if isinstance(command, TyperGroup):
        context = typer.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=parent)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                yield from command_paths(sub, f"{path} {name}", context)


def test_every_command_has_a_section() -> None:
    paths = list(command_paths(get_command(app), "tether", None))
    assert {"tether", "tether run", "tether approvals approve", "tether audit keys rotate"} <= set(
        paths
    )
    sections = set(re.findall(r"^## `([^`]+)`$", REFERENCE.read_text(), re.M))
    missing = [path for path in paths if path not in sections]
    assert not missing, (
        f"docs/cli.md has no section for: {', '.join(missing)}. Regenerate it: {REGENERATE}"
    )
    stale = sorted(sections - set(paths))
    assert not stale, f"docs/cli.md documents commands that do not exist: {', '.join(stale)}"


def test_reference_is_what_the_cli_renders_now() -> None:
    assert REFERENCE.read_text() == render(), (
        f"docs/cli.md is out of date with the CLI. Regenerate it: {REGENERATE}"
    )


def test_rendering_does_not_depend_on_the_terminal(monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = render()
    monkeypatch.setenv("COLUMNS", "300")
    assert render() == narrow


def test_a_section_shows_usage_arguments_and_options() -> None:
    text = render()
    section = text.split("## `tether approvals approve`\n", 1)[1].split("\n## ", 1)[0]
    assert "tether approvals approve [OPTIONS] {request_id}" in section
    assert "| `request_id` | str | required |" in section
    assert "| `--comment` | str |  | A note for the record" in section
    assert "| `--wait` | float | `120.0` | Seconds to wait for the run to go on. |" in section


def test_the_regenerate_command_prints_the_reference() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "tether.cli._reference"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == render()
