"""The demo tells the story it claims: allowed calls ran, denied ones changed nothing,
one refund waits, and the printed commands decide it."""

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
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The demo points its tools at its desk through the environment; restore it after.
    monkeypatch.setenv(DESK_ENV, "")
    monkeypatch.delenv("TETHER_DATABASE_URL", raising=False)
    monkeypatch.delenv("TETHER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def desk_rows(state: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(state / "desk.db") as db:
        return db.execute(query).fetchall()


def test_demo_shows_every_control(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    console = Console(record=True, width=200, file=io.StringIO())
    result = run_demo(state, console)
    text = console.export_text()
    assert [run.status for run in result.runs] == ["completed", "completed", "waiting_approval"]
    assert len(result.pending) == 1
    for word in (
        "allow",
        "deny",
        "needs_approval",
        "default-deny",
        "support-desk.scope",
        "principal:alice",
        "customer-mail.when",
    ):
        assert word in text
    # The routine refund ran once; the injected email's refund is held, not executed.
    assert desk_rows(state, "SELECT invoice_id, amount FROM credit_note") == [(102, 180.0)]
    # Mail went to the customer only; the stranger the email named got nothing.
    assert desk_rows(state, "SELECT recipients FROM sent_mail") == [("billing@acme.example",)]
    # The denied deletion did not happen.
    assert desk_rows(state, "SELECT count(*) FROM party WHERE id = 4") == [(1,)]


def test_the_printed_commands_decide_the_pending_approval(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["demo"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    request_id = result.output.split("tether approvals approve ")[1].split()[0]
    assert request_id.startswith("apr_")

    refused = runner.invoke(app, ["approvals", "approve", request_id, "--as", "alice"])
    assert refused.exit_code == 1
    assert "cannot approve it" in refused.output

    approved = runner.invoke(app, ["approvals", "approve", request_id, "--as", "fiona"])
    assert approved.exit_code == 0, approved.output
    assert "completed" in approved.output
    state = tmp_path / ".tether" / "demo"
    assert desk_rows(state, "SELECT invoice_id, amount FROM credit_note") == [
        (102, 180.0),
        (102, 180.0),
    ]
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output


def test_demo_starts_fresh_each_time(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    (state / "leftover").mkdir(parents=True)
    run_demo(state, Console(file=io.StringIO(), width=120))
    second = run_demo(state, Console(file=io.StringIO(), width=120))
    assert not (state / "leftover").exists()
    assert desk_rows(state, "SELECT count(*) FROM credit_note") == [(1,)]
    assert len(second.pending) == 1
