"""``tether audit``: exit codes and what it prints."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console
from typer.testing import CliRunner

from tests.audit.conftest import attacker, event
from tests.audit.gate_setup import policy, run_calls
from tether.audit import GENESIS, AuditLog, KeyStore, canonical_json
from tether.cli import _audit as cli_audit
from tether.cli import app
from tether.gate import Gate

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def populated(sqlite_db: str, keys: KeyStore) -> str:
    """A log of one run through the gate: 13 events."""
    with AuditLog(sqlite_db, keys=keys) as log:
        run_calls(Gate(policy(), database=sqlite_db, recorder=log))
    return sqlite_db


def audit(*args: str, keys: KeyStore | None = None) -> tuple[int, str]:
    extra = ["--keys", str(keys.path)] if keys is not None else []
    result = runner.invoke(app, ["audit", *args, *extra])
    return result.exit_code, result.output


def test_verify_intact(populated: str, keys: KeyStore) -> None:
    code, output = audit("verify", "--db", populated, keys=keys)
    assert code == 0, output
    assert "intact" in output
    # The gate appends a call's proposal and decision together: the first append
    # signs a checkpoint (through event 2), the next one is due after 1000 events or 60 s.
    assert "13 events (1-13), 1 valid checkpoint, signed through event 2" in output
    assert "11 latest event(s) not yet covered by a checkpoint" in output


def test_verify_json(populated: str, keys: KeyStore) -> None:
    code, output = audit("verify", "--db", populated, "--json", keys=keys)
    assert code == 0
    report = json.loads(output)
    assert report["intact"] is True
    assert (report["events"], report["first_bad_seq"], report["damage"]) == (13, None, None)


def test_verify_names_the_damage(populated: str, keys: KeyStore) -> None:
    with attacker(populated) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq = 5"))
    code, output = audit("verify", "--db", populated, keys=keys)
    assert code == 1
    assert "DAMAGED" in output
    assert "first bad event 5: deleted" in output
    code, output = audit("verify", "--db", populated, "--json", keys=keys)
    assert code == 1
    report = json.loads(output)
    assert (report["intact"], report["first_bad_seq"], report["damage"]) == (False, 5, "deleted")


def test_checkpoint_file_catches_a_cut_tail(populated: str, keys: KeyStore, tmp_path: Path) -> None:
    saved = tmp_path / "checkpoint.json"
    code, output = audit("checkpoint", "--db", populated, "--out", str(saved), keys=keys)
    assert code == 0, output
    assert "signed checkpoint for event 13" in output
    with attacker(populated) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq > 10"))
        conn.execute(sa.text("DELETE FROM tether_audit_checkpoint"))
    code, output = audit("verify", "--db", populated, keys=keys)
    assert code == 0  # nothing in the database itself shows the cut…
    code, output = audit("verify", "--db", populated, "--checkpoint", str(saved), keys=keys)
    assert code == 1  # …the checkpoint kept outside does
    assert "first bad event 11: truncated" in output


@pytest.mark.parametrize("as_json", [False, True])
def test_verify_errors_exit_2(tmp_path: Path, keys: KeyStore, as_json: bool) -> None:
    flags = ["--json"] if as_json else []
    code, output = audit("verify", "--db", f"sqlite:///{tmp_path / 'none.db'}", *flags, keys=keys)
    assert code == 2
    if as_json:
        assert json.loads(output) == {
            "intact": False,
            "error": f"there is no database at sqlite:///{tmp_path / 'none.db'}",
        }
    else:
        assert "error there is no database" in output


def test_verify_with_the_wrong_keys(populated: str, tmp_path: Path) -> None:
    code, output = audit("verify", "--db", populated, "--keys", str(tmp_path / "elsewhere"))
    assert code == 2
    assert "signed by key" in output and "not in" in output


def test_show(populated: str) -> None:
    code, output = audit("show", "--db", populated)
    assert code == 0, output
    assert "audit events (13)" in output
    for text in (
        "call.proposed",
        "desk for alice",
        "crm.connect",
        "allow (connect",
        "deny",
        "ValueError: login failed for [REDACTED]",
    ):
        assert text in output
    code, output = audit("show", "--db", populated, "--tool", "erp.refund")
    assert "audit events (2)" in output
    assert "needs_approval (refund, role:staff, defaults.approval)" in output
    code, output = audit(
        "show",
        "--db",
        populated,
        "--run",
        "run-1",
        "--agent",
        "desk",
        "--principal",
        "alice",
        "--since",
        "1h",
        "--limit",
        "3",
    )
    assert "audit events (3)" in output
    code, output = audit("show", "--db", populated, "--principal", "nobody")
    assert (code, output.strip()) == (0, "no audit events match")


def test_show_fits_an_80_column_terminal(populated: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15, item 20: an 8-column table in 80 columns wrapped every cell."""
    monkeypatch.setenv("COLUMNS", "80")
    # Rich reads COLUMNS when a console is made: the command's, made at import, may
    # have read another test's width.
    monkeypatch.setattr(cli_audit, "out", Console(emoji=False))
    code, output = audit("show", "--db", populated, "--tool", "erp.refund")
    assert code == 0, output
    lines = output.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert lines[0] == "audit events (2), newest first"
    # One block per event: each field whole on its own labelled line.
    assert any(line.split() == ["tool", "erp.refund"] for line in lines)
    assert any(line.split() == ["who", "desk", "for", "alice"] for line in lines)
    outcome = [line for line in lines if line.strip().startswith("outcome")]
    assert "needs_approval (refund, role:staff, defaults.approval)" in outcome[-1]
    assert sum(line.startswith("#") for line in lines) == 2


def test_show_rejects_a_bad_time(populated: str) -> None:
    code, output = audit("show", "--db", populated, "--since", "yesterday-ish")
    assert code == 2
    assert "ISO time" in output


def test_export_jsonl_can_be_checked_without_tether(populated: str, tmp_path: Path) -> None:
    code, output = audit("export", "--db", populated, "--format", "jsonl")
    assert code == 0
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, 14))
    prev = GENESIS
    for line in lines:
        claimed = line.pop("hash")
        assert line["prev"] == prev
        assert hashlib.sha256(canonical_json(line).encode()).hexdigest() == claimed
        prev = claimed
    out = tmp_path / "events.jsonl"
    code, output = audit("export", "--db", populated, "--tool", "crm.read", "--out", str(out))
    assert code == 0
    assert "wrote 3 events" in output
    assert len(out.read_text().splitlines()) == 3


def test_export_otel(populated: str, tmp_path: Path) -> None:
    out = tmp_path / "spans.jsonl"
    code, output = audit("export", "--db", populated, "--format", "otel", "--out", str(out))
    assert code == 0, output
    assert "wrote 6 spans" in output
    spans = [json.loads(line) for line in out.read_text().splitlines()]
    assert [span["name"] for span in spans] == [
        "invoke_agent desk",
        "execute_tool crm.read",
        "execute_tool crm.connect",
        "execute_tool crm.fail",
        "execute_tool erp.refund",
        "execute_tool crm.delete",
    ]
    assert spans[1]["attributes"]["tether.decision"] == "allow"
    assert "gen_ai.tool.call.arguments" not in spans[2]["attributes"]
    code, output = audit("export", "--db", populated, "--format", "otel", "--content")
    assert '"gen_ai.tool.call.arguments": "{\\"account\\":\\"acme\\"' in output


def test_export_rejects_an_unknown_format(populated: str) -> None:
    code, _ = audit("export", "--db", populated, "--format", "xml")
    assert code == 2


def test_prune(sqlite_db: str, keys: KeyStore) -> None:
    old = _dt.datetime.now(_dt.UTC) - _dt.timedelta(days=400)
    with AuditLog(sqlite_db, keys=keys) as log:
        log.append_many(
            [event(n, at=old) for n in range(5)] + [event(5, at=_dt.datetime.now(_dt.UTC))]
        )
    code, output = audit("prune", "--db", sqlite_db, keys=keys)
    assert code == 0, output
    assert "removed 5 events through event 5" in output
    code, output = audit("prune", "--db", sqlite_db, "--older-than", "30d", keys=keys)
    assert "nothing to prune" in output
    code, output = audit("verify", "--db", sqlite_db, keys=keys)
    assert code == 0 and "2 events (6-7)" in output  # the kept one and audit.pruned
    code, output = audit("prune", "--db", sqlite_db, "--older-than", "soon", keys=keys)
    assert code == 2


def test_keys_rotate_and_list(populated: str, keys: KeyStore) -> None:
    old = keys.active_id()
    code, output = audit("keys", "rotate", "--db", populated, keys=keys)
    assert code == 0, output
    new = keys.active_id()
    assert f"signing with key {new} (was {old})" in output
    code, output = audit("keys", "list", keys=keys)
    assert code == 0
    assert str(old) in output and str(new) in output
    code, output = audit("verify", "--db", populated, keys=keys)
    assert code == 0 and "2 valid checkpoints" in output


def test_keys_list_when_there_are_none(tmp_path: Path) -> None:
    code, output = audit("keys", "list", "--keys", str(tmp_path / "none"))
    assert code == 0
    assert "no keys in" in output
