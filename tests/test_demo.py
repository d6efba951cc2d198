"""The demo tells the story it claims: allowed calls ran, denied ones changed nothing."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tether.cli import app
from tether.demo._desk import DESK_ENV
from tether.demo._story import run_demo


@pytest.fixture(autouse=True)
def _desk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo points its tools at its desk through the environment; restore it after.
    monkeypatch.setenv(DESK_ENV, "")


def desk_rows(state: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(state / "desk.db") as db:
        return db.execute(query).fetchall()


def test_demo_runs_every_kind_of_decision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "demo"
    console = Console(record=True, width=200)
    monkeypatch.setenv(DESK_ENV, str(state / "desk.db"))
    pending = run_demo(state, console)
    text = console.export_text()
    assert pending == 1
    for word in ("allow", "deny", "needs_approval", "default-deny", "support-desk.scope"):
        assert word in text
    # The small refund ran once; the injected email's refund is held, not executed.
    assert desk_rows(state, "SELECT invoice_id, amount FROM credit_note") == [(102, 180.0)]
    # Mail went to the customer only; the stranger got nothing.
    assert desk_rows(state, "SELECT recipients FROM sent_mail") == [("billing@acme.example",)]
    # The denied deletion did not happen.
    assert desk_rows(state, "SELECT count(*) FROM party WHERE id = 4") == [(1,)]


def test_demo_starts_fresh_each_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "demo"
    monkeypatch.setenv(DESK_ENV, str(state / "desk.db"))
    (state / "leftover").mkdir(parents=True)
    run_demo(state, Console(file=io.StringIO(), width=120))
    run_demo(state, Console(record=True, width=120))
    assert not (state / "leftover").exists()
    assert desk_rows(state, "SELECT count(*) FROM credit_note") == [(1,)]


def test_demo_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["demo", "--state", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "1 waiting for approval" in result.output
