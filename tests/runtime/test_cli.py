"""The run, runs, approvals and stop commands, as an operator would use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.runtime.conftest import EXAMPLE
from tether.cli import app


@pytest.fixture
def config(tmp_path: Path, desk: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tether.yaml"
    path.write_text(
        f"database: sqlite:///{tmp_path / 'tether.db'}\n"
        f"policy: {EXAMPLE / 'policy.yaml'}\n"
        f"agents: [{EXAMPLE / 'agents/support-desk.yaml'}, {EXAMPLE / 'agents/billing.yaml'}]\n"
        f"keys: {tmp_path / 'keys'}\n"
        "operators: local\n"
    )
    return str(path)


def tether(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_run_approve_and_follow(config: str) -> None:
    code, output = tether(
        "run",
        "support-desk",
        "Acme was charged twice",
        "--principal",
        "alice",
        "-c",
        config,
        "--json",
    )
    assert code == 0, output
    run = json.loads(output)
    assert run["status"] == "waiting_approval"
    (request_id,) = run["approvals"]

    code, output = tether("approvals", "list", "-c", config, "--json")
    assert [item["id"] for item in json.loads(output)] == [request_id]
    code, output = tether("approvals", "list", "--for", "alice", "-c", config, "--json")
    assert json.loads(output) == []  # alice asked: not hers to decide
    code, output = tether("approvals", "show", request_id, "-c", config)
    assert code == 0 and "erp.create_credit_note" in output and "refund.approval" in output

    code, output = tether("approvals", "approve", request_id, "--as", "alice", "-c", config)
    assert code == 1 and "cannot approve it" in output
    code, output = tether(
        "approvals",
        "approve",
        request_id,
        "--as",
        "fiona",
        "--edit",
        '{"amount": 900.0}',
        "-c",
        config,
    )
    assert code == 0, output
    assert "completed" in output

    code, output = tether("runs", "show", run["id"], "-c", config, "--json")
    shown = json.loads(output)
    assert shown["status"] == "completed"
    refund = next(call for call in shown["calls"] if call["tool"] == "erp.create_credit_note")
    assert refund["args"]["amount"] == 900.0
    assert shown["approvals"][0]["approved_by"] == ["fiona"]

    code, output = tether("runs", "list", "-c", config, "--json")
    assert [item["id"] for item in json.loads(output)] == [run["id"]]
    code, output = tether("runs", "undo", run["id"], refund["call"], "--as", "bob", "-c", config)
    assert code == 0 and "executed" in output


def test_reject_with_a_comment(config: str) -> None:
    code, output = tether(
        "run", "billing", "refund the contract", "--principal", "fiona", "-c", config, "--json"
    )
    (request_id,) = json.loads(output)["approvals"]
    code, output = tether("approvals", "reject", request_id, "--as", "frank", "-c", config)
    assert code == 2 and "--comment" in output  # the comment is required
    code, output = tether(
        "approvals",
        "reject",
        request_id,
        "--as",
        "frank",
        "--comment",
        "not this quarter",
        "-c",
        config,
    )
    assert code == 0 and "rejected" in output


def test_stop_and_lift(config: str) -> None:
    code, output = tether("run", "billing", "refund", "--principal", "fiona", "-c", config)
    assert "waiting_approval" in output
    code, output = tether("stop", "--agent", "billing", "--as", "fiona", "-c", config)
    assert code == 0 and "1 run(s) halted" in output
    code, output = tether("runs", "list", "--status", "stopped", "-c", config, "--json")
    assert len(json.loads(output)) == 1
    code, output = tether("stop", "--as", "fiona", "-c", config)
    assert code == 2 and "--agent NAME or --all" in output
    code, output = tether("stop", "--agent", "billing", "--lift", "--as", "fiona", "-c", config)
    assert code == 0 and "lifted 1" in output


def test_bad_input_is_refused_clearly(config: str, tmp_path: Path) -> None:
    code, output = tether("run", "nobody", "x", "--principal", "alice", "-c", config)
    assert code == 1 and "unknown agent 'nobody'" in output
    code, output = tether("approvals", "approve", "apr_nope", "--as", "fiona", "-c", config)
    assert code == 1 and "no such approval request" in output
    code, output = tether(
        "approvals", "approve", "apr_nope", "--as", "fiona", "--edit", "{oops", "-c", config
    )
    assert code == 2 and "not valid JSON" in output
    code, output = tether("runs", "show", "run_nope", "-c", config)
    assert code == 1 and "no run 'run_nope'" in output
    code, output = tether("runs", "list", "-c", str(tmp_path / "missing.yaml"))
    assert code == 2 and "not found" in output


def test_a_second_worker_under_a_live_workers_id_is_refused(config: str, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    import sqlalchemy as sa

    from tether.db import connect
    from tether.runtime._tables import worker as worker_table

    engine = connect(f"sqlite:///{tmp_path / 'tether.db'}")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with engine.begin() as conn:
            conn.execute(
                worker_table.insert().values(
                    executor_id="local",
                    heartbeat_at=sa.func.current_timestamp(),
                    started_at=sa.func.current_timestamp(),
                    host=socket.gethostname(),
                    pid=other.pid,
                )
            )
        code, output = tether("worker", "-c", config)
        assert code == 1
        assert f"another worker runs as 'local': process {other.pid}" in output
        assert "--executor-id" in output
    finally:
        other.kill()
        other.wait()
        engine.dispose()
