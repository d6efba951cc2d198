"""The docs teach only what works: their examples run here.

In ``docs/*.md`` and ``README.md``:
- ```python blocks run in order, one namespace per file, from the project root;
- ```yaml policy blocks must load as policies (against the demo toolset);
- ```console blocks run each ``$ tether ...`` line; every other line of the block
  must appear in what the commands printed (``...`` stands for anything).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tether.cli import app
from tether.demo import desk_tools
from tether.policy import load_policy_text

ROOT = Path(__file__).resolve().parents[1]
OWN_RUNNERS = {ROOT / "docs" / "audit.md"}
"""Docs whose examples a runner of their own checks (tests/audit/test_docs.py)."""
DOCS = sorted({*ROOT.glob("docs/**/*.md"), ROOT / "README.md"} - OWN_RUNNERS)
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks(path: Path, language: str, info: str | None = None) -> list[str]:
    return [
        body
        for lang, rest, body in FENCE.findall(path.read_text())
        if lang == language and (info is None or rest.strip() == info)
    ]


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.fixture(autouse=True)
def _in_project_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("TETHER_DATABASE_URL", f"sqlite:///{tmp_path / 'docs.db'}")
    monkeypatch.setenv("TETHER_AUDIT_KEYS", str(tmp_path / "keys"))


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_python_examples_run(path: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    examples = blocks(path, "python")
    for body in examples:
        exec(compile(body, str(path), "exec"), namespace)
    # Each example ran to its end (its own asserts held) and defined what it shows.
    assert len(namespace) > 1 or not examples


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_policy_examples_load(path: Path) -> None:
    for body in blocks(path, "yaml", "policy"):
        policy = load_policy_text(body, file=str(path), tools=desk_tools)
        assert policy.agents


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_console_examples_print_what_they_show(path: Path) -> None:
    runner = CliRunner()
    for body in blocks(path, "console"):
        printed = ""
        expected: list[str] = []
        for line in body.splitlines():
            if line.startswith("$ tether "):
                result = runner.invoke(app, shlex.split(line[len("$ tether ") :]))
                assert result.exit_code == 0, f"{line}\n{result.output}"
                printed += result.output
            elif line.startswith("$ "):
                pytest.fail(f"{path}: only `tether` commands are run in console blocks: {line}")
            elif line.strip() and line.strip() != "...":
                expected.append(line.strip())
        for want in expected:
            pattern = ".*?".join(re.escape(part) for part in want.split("..."))
            assert re.search(pattern, printed), f"{path}: {want!r} not in output:\n{printed}"
