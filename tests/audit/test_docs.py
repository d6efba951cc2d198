"""docs/audit.md teaches only what works: its examples run here.

```python blocks run in order, in one namespace, from a scratch directory; then each
```shell block runs its ``$ tether ...`` lines in the directory the examples made
(``here``), and every other line must appear in what the commands printed (``...``
stands for anything). A line ``(exit code N)`` gives the exit code of the command
before it; otherwise each must exit 0.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tether.cli import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)
EXIT = re.compile(r"^\(exit code (\d+)\)$")


def blocks(language: str) -> list[str]:
    return [body for lang, _, body in FENCE.findall(DOC.read_text()) if lang == language]


def run_shell_block(body: str) -> None:
    runner = CliRunner()
    printed = ""
    expected: list[str] = []
    last: tuple[str, int] | None = None
    for line in body.splitlines():
        if line.startswith("$ tether "):
            if last is not None:
                assert last[1] == 0, f"{last[0]} exited {last[1]}:\n{printed}"
            result = runner.invoke(app, shlex.split(line[len("$ tether ") :]))
            printed += result.output
            last = (line, result.exit_code)
        elif match := EXIT.match(line.strip()):
            assert last is not None and last[1] == int(match.group(1)), f"{last}:\n{printed}"
            last = None
        elif line.startswith("$ "):
            pytest.fail(f"only `tether` commands run in shell blocks: {line}")
        elif line.strip() and line.strip() != "...":
            expected.append(line.strip())
    if last is not None:
        assert last[1] == 0, f"{last[0]} exited {last[1]}:\n{printed}"
    for want in expected:
        pattern = ".*?".join(re.escape(part) for part in want.split("..."))
        assert re.search(pattern, printed), f"{want!r} not in the output:\n{printed}"


def test_the_examples_run_and_the_commands_print_what_the_doc_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("TETHER_DATABASE_URL", raising=False)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    python = blocks("python")
    assert len(python) >= 8
    for body in python:
        exec(compile(body, str(DOC), "exec"), namespace)
    here = namespace["here"]
    assert isinstance(here, Path)
    monkeypatch.chdir(here)
    shell = blocks("shell")
    assert shell
    for body in shell:
        run_shell_block(body)


def test_every_command_is_documented() -> None:
    text = DOC.read_text()
    for command in ("verify", "show", "export", "checkpoint", "prune", "keys rotate", "keys list"):
        assert f"tether audit {command}" in text or f"`{command}" in text, command
