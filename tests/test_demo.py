"""The demo tells the story it claims, in a real Tryton and a real SMTP outbox: allowed
calls ran, denied ones changed nothing, one refund waits, and the printed commands
decide it, from a process of their own."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tether.cli import app
from tether.config import load_config
from tether.connectors.email._outbox import list_outbox
from tether.demo._story import EXAMPLE, run_demo

pytest.importorskip("trytond", reason="the demo runs the demo company in Tryton: tether[tryton]")
pytestmark = pytest.mark.slow

ROUTINE_INVOICE, BIG_INVOICE, INJECTED_INVOICE = 388, 390, 392


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TETHER_DATABASE_URL", raising=False)
    monkeypatch.delenv("TETHER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def invoices(config: Path) -> dict[int, str]:
    """The demo company's invoices and their states, read through the connector (which
    starts the local Tryton when nothing serves it)."""
    tools = load_config(config).connector_tools
    rows: list[dict[str, Any]] = tools.get("erp.list_invoices").function(limit=50)
    return {row["id"]: row["state"] for row in rows if row["kind"] == "invoice"}


def outbox(state: Path) -> list[str]:
    return [entry.to for entry in list_outbox(state / "outbox")]


def test_demo_shows_every_control(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    console = Console(record=True, width=200, file=io.StringIO())
    result = run_demo(state, console)
    text = console.export_text()
    assert [run.status for run in result.runs] == ["completed", "completed", "waiting_approval"]
    assert len(result.pending) == 1
    for word in ("allow", "deny", "needs_approval", "refund.when", "customer-mail.when"):
        assert word in text, word
    states = invoices(result.config)
    # The routine refund ran, in Tryton; the big one was refused; the injected one waits.
    assert states[ROUTINE_INVOICE] == "cancelled"
    assert states[BIG_INVOICE] == "posted"
    assert states[INJECTED_INVOICE] == "posted"
    # Mail went to the customer the CRM vouches for; the stranger the email named got none.
    assert outbox(state) == ["orders@acme-trading.example"]
    # The summary says so because the trail does.
    routine, boundaries, injected = result.summary
    assert routine.startswith("A routine refund: ran ") and "the run ended completed" in routine
    assert "erp.issue_credit_note invoice_id 388" in routine
    assert "refused" in boundaries
    assert "refused email.send to payments@hooli-billing.example" in injected
    assert "waits for a person: erp.issue_credit_note invoice_id 392" in injected


def test_the_summary_claims_only_what_happened(tmp_path: Path) -> None:
    """A model that does nothing gets a summary of nothing (not the scripted story)."""
    quiet = tmp_path / "quiet.yaml"
    quiet.write_text("turns:\n  - text: I would rather not.\n")
    result = run_demo(tmp_path / "demo", Console(file=io.StringIO()), model=f"scripted:{quiet}")
    assert [run.status for run in result.runs] == ["completed"] * 3
    assert result.pending == []
    for line in result.summary:
        assert "ran nothing" in line and "refused" not in line and "waits" not in line, line


def test_a_scene_that_does_not_settle_is_cancelled_not_left_running(tmp_path: Path) -> None:
    from tests.evals.openai_double import Turn, chat_server

    console = Console(record=True, width=200, file=io.StringIO())
    with chat_server([Turn(text="…", delay_seconds=3.0)]) as server:
        result = run_demo(
            tmp_path / "demo",
            console,
            model=f"openai-compatible:slow@{server.url}",
            scene_timeout_seconds=0.5,
        )
    assert [run.status for run in result.runs] == ["cancelled"] * 3
    assert console.export_text().count("the demo cancelled it") == 3
    with load_config(result.config).runtime() as runtime:
        statuses = {record.status for record in runtime.store.find()}
    assert statuses == {"cancelled"}


def test_the_demo_policy_checks_against_its_connectors_tools(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", Console(file=io.StringIO(), width=120))
    policy = str(EXAMPLE / "policy.yaml")
    runner = CliRunner()
    alone = runner.invoke(app, ["policy", "check", policy])
    assert alone.exit_code == 1
    assert "names no toolsets" in alone.output
    checked = runner.invoke(app, ["policy", "check", policy, "-c", str(result.config)])
    assert checked.exit_code == 0, checked.output
    assert "1 agents" in checked.output
    explained = runner.invoke(
        app,
        [
            "policy", "explain", policy, "-c", str(result.config), "--agent", "support-desk",
            "--principal", "alice", "--tool", "erp.issue_credit_note",
            "--args", '{"invoice_id": 392}', "--resource", '{"total_amount": 768.0}', "--json",
        ],
    )  # fmt: skip
    assert explained.exit_code == 0, explained.output
    assert json.loads(explained.output)["decision"] == "needs_approval"


def test_the_printed_commands_decide_the_pending_approval(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["demo"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    request_id = result.output.split("tether approvals approve ")[1].split()[0]
    assert request_id.startswith("apr_")

    def tether(*args: str) -> subprocess.CompletedProcess[str]:
        # A process of its own, as the user's next command: it starts Tryton itself.
        command = [sys.executable, "-c", "from tether.cli import main; main()", *args]
        env = {**os.environ, "COLUMNS": "200"}
        return subprocess.run(
            command, check=False, capture_output=True, text=True, env=env, timeout=180
        )

    refused = tether("approvals", "approve", request_id, "--as", "alice")
    assert refused.returncode == 1
    assert "cannot approve it" in refused.stdout + refused.stderr

    approved = tether("approvals", "approve", request_id, "--as", "fiona")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert "completed" in approved.stdout
    state = tmp_path / ".tether" / "demo"
    assert invoices(state / "tether.yaml")[INJECTED_INVOICE] == "cancelled"
    verified = tether("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout


def test_demo_starts_fresh_each_time(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    (state / "leftover").mkdir(parents=True)
    run_demo(state, Console(file=io.StringIO(), width=120))
    second = run_demo(state, Console(file=io.StringIO(), width=120))
    assert not (state / "leftover").exists()
    assert outbox(state) == ["orders@acme-trading.example"]
    assert invoices(second.config)[ROUTINE_INVOICE] == "cancelled"
    assert len(second.pending) == 1
