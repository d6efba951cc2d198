"""State files are private: the tether database, the audit keys, the outbox, the demo's
tether.yaml are created readable by their owner only (whatever the umask), and
`tether doctor` names each state file others could read."""

from __future__ import annotations

import os
import smtplib
import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tether.cli import app
from tether.connectors.email import free_port
from tether.connectors.email._outbox import Outbox
from tether.db import connect

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-desk"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The most permissive umask a machine might have: tether must not rely on it."""
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def test_the_database_and_its_journals_are_private(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "state" / "tether.db"
    engine = connect(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    assert mode(path.parent) == 0o700 and mode(path) == 0o600
    journals = [p for p in path.parent.iterdir() if p.name.startswith("tether.db-")]
    assert journals and all(mode(p) == 0o600 for p in journals)
    engine.dispose()


def test_the_outbox_keeps_messages_private(tmp_path: Path, loose_umask: None) -> None:
    port = free_port()
    outbox = Outbox(tmp_path / "outbox", host="127.0.0.1", port=port).start()
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.example", "b@y.example", "hi"
        message.set_content("a refund for you")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    finally:
        outbox.stop()
    stored = list((tmp_path / "outbox" / "new").iterdir())
    assert stored and all(mode(p) == 0o600 for p in stored)
    assert mode(tmp_path / "outbox") == 0o700 and mode(tmp_path / "outbox" / "new") == 0o700


def test_doctor_reports_state_files_others_can_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TETHER_CREDENTIALS", str(tmp_path / "login.json"))
    monkeypatch.delenv("TETHER_DATABASE_URL", raising=False)
    config = tmp_path / "tether.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path / 'state' / 'tether.db'}\n"
        f"policy: {EXAMPLE / 'policy.yaml'}\n"
        f"agents: [{EXAMPLE / 'agents' / 'support-desk.yaml'}]\n"
        f"keys: {tmp_path / 'state' / 'keys'}\n"
        "web: {users: {olga: {password_env: OLGA_PW, roles: [operator]}}}\n"
    )
    config.chmod(0o600)
    runner = CliRunner(env={"COLUMNS": "400"})
    made = runner.invoke(app, ["runs", "list", "-c", str(config)])  # makes the database
    assert made.exit_code == 0, made.output
    database = f"sqlite:///{tmp_path / 'state' / 'tether.db'}"
    keys = str(tmp_path / "state" / "keys")
    assert (
        runner.invoke(app, ["audit", "keys", "rotate", "--db", database, "--keys", keys]).exit_code
        == 0
    )
    healthy = runner.invoke(app, ["doctor", "-c", str(config)])
    assert healthy.exit_code == 0, healthy.output
    assert "all private to their owner" in healthy.output
    (tmp_path / "state" / "tether.db").chmod(0o644)
    config.chmod(0o640)
    sick = runner.invoke(app, ["doctor", "-c", str(config)])
    assert sick.exit_code == 1
    assert "tether.db (the tether database) is mode 644" in sick.output
    assert "tether.yaml (tether.yaml, with its secrets) is mode 640" in sick.output
    assert "chmod 600" in sick.output and "2 of tether's state files" in sick.output
