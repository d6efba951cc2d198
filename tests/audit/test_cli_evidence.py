"""``tether evidence export|verify`` and ``tether audit verify --witness``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.audit.conftest import fill
from tether.audit import AuditLog, FileWitness, KeyStore
from tether.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_export_and_verify(sqlite_db: str, keys: KeyStore, tmp_path: Path) -> None:
    with AuditLog(sqlite_db, keys=keys) as log:
        fill(log, 10)
        fill(log, 5, run="run-2")
    out = tmp_path / "run-1.json"
    result = runner.invoke(
        app,
        ["evidence", "export", "--db", sqlite_db, "--keys", str(keys.path), "--run", "run-1",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 10 events" in result.output
    result = runner.invoke(app, ["evidence", "verify", str(out), "--keys", str(keys.path)])
    assert result.exit_code == 0, result.output
    assert "verified 10 events" in result.output and "trusted keys" in result.output
    data = json.loads(out.read_text())
    data["segments"][0]["records"][3] = data["segments"][0]["records"][3].replace("alice", "eve")
    out.write_text(json.dumps(data))
    result = runner.invoke(app, ["evidence", "verify", str(out), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert not report["ok"] and report["problems"][0]["kind"] == "chain"


def test_export_of_nothing(sqlite_db: str, keys: KeyStore, tmp_path: Path) -> None:
    with AuditLog(sqlite_db, keys=keys) as log:
        fill(log, 2)
    result = runner.invoke(
        app,
        ["evidence", "export", "--db", sqlite_db, "--keys", str(keys.path), "--run", "nope",
         "--out", str(tmp_path / "x.json")],
    )  # fmt: skip
    assert result.exit_code == 2 and "no audit events" in result.output


def test_verify_reports_assurance_and_gap(sqlite_db: str, keys: KeyStore, tmp_path: Path) -> None:
    folder = tmp_path / "worm"
    with AuditLog(sqlite_db, keys=keys, witnesses=[FileWitness(folder)]) as log:
        fill(log, 3)
        log.send_to_witnesses()
    with AuditLog(sqlite_db, keys=keys) as log:
        fill(log, 1, start=3)
        log.checkpoint()  # not sent to the witness: the gap
    args = ["audit", "verify", "--db", sqlite_db, "--keys", str(keys.path)]
    result = runner.invoke(app, [*args, "--witness", str(folder)])
    assert result.exit_code == 0, result.output
    assert "assurance: exported" in result.output
    assert "1 checkpoint(s) not witnessed yet" in result.output
    result = runner.invoke(app, [*args, "--json"])
    assert json.loads(result.output)["assurance"] == "local"
