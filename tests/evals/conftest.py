"""Scenario files written for a test, against the support-desk example."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "support-desk"
GOLDEN = EXAMPLE / "evals"

WriteScenario = Callable[..., Path]


@pytest.fixture
def write_scenario(tmp_path: Path) -> WriteScenario:
    """Write a scenario (YAML text, dedented) into a folder of the test's own."""
    folder = tmp_path / "scenarios"
    folder.mkdir()

    def write(text: str, name: str = "scenario.yaml", *, config: bool = True) -> Path:
        body = textwrap.dedent(text).lstrip("\n")
        if config:
            body = f"config: {EXAMPLE / 'tether.yaml'}\n" + body
        path = folder / name
        path.write_text(body)
        return path

    return write
