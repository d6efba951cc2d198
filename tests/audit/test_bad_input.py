"""A log that cannot be checked gives a clear error, never a false "intact"."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.audit.conftest import attacker, fill
from tether.audit import (
    AuditError,
    AuditKeyError,
    AuditLog,
    AuditLogUnreadable,
    Checkpoint,
    KeyStore,
    UnknownSchemaVersion,
    verify,
)


def test_no_such_database(tmp_path: Path, keys: KeyStore) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(AuditLogUnreadable, match="there is no database"):
        verify(f"sqlite:///{missing}", keys=keys)
    assert not missing.exists()  # verifying creates nothing


def test_corrupted_file(tmp_path: Path, keys: KeyStore) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not SQLite at all " * 200)
    with pytest.raises(AuditLogUnreadable, match="not a database"):
        verify(f"sqlite:///{junk}", keys=keys)


def test_foreign_database(tmp_path: Path, keys: KeyStore) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(AuditLogUnreadable, match="holds no tether audit log"):
        verify(f"sqlite:///{other}", keys=keys)
    with sqlite3.connect(other) as db:  # and it was left alone
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert tables == {"invoices"}


def test_unreachable_server(keys: KeyStore) -> None:
    with pytest.raises(AuditLogUnreadable, match="cannot open"):
        verify("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2", keys=keys)


def test_missing_keys(sqlite_db: str, open_log: Callable[..., AuditLog], tmp_path: Path) -> None:
    fill(open_log(sqlite_db), 3)
    with pytest.raises(AuditKeyError, match=r"not in .*empty-keys \(0 keys there\)"):
        verify(sqlite_db, keys=tmp_path / "empty-keys")


def test_missing_private_key(sqlite_db: str, keys: KeyStore) -> None:
    active = keys.active_id()
    (keys.path / f"{active}.key").unlink()
    with AuditLog(sqlite_db, keys=keys) as log:
        with pytest.raises(AuditKeyError, match="has no private key file"):
            fill(log, 1)  # the first append signs a checkpoint, and cannot
        assert list(log.events()) == []  # so nothing was recorded unsigned


def _append_newer_event(conn: sa.Connection, version: int) -> None:
    """What a newer tether appends: an event of another schema version, chained properly."""
    last = conn.execute(
        sa.text("SELECT seq, hash FROM tether_audit_event ORDER BY seq DESC")
    ).first()
    assert last is not None
    seq, prev = last[0] + 1, last[1]
    body = {
        "v": version,
        "type": "run.started",
        "run": "run-9",
        "at": "2026-05-01T10:00:00.000000Z",
    }
    record = json.dumps(
        {"body": body, "prev": prev, "seq": seq}, sort_keys=True, separators=(",", ":")
    )
    conn.execute(
        sa.text(
            "INSERT INTO tether_audit_event (seq, at, type, run_id, schema_version, record, hash) "
            "VALUES (:seq, :at, 'run.started', 'run-9', :v, :record, :hash)"
        ),
        {
            "seq": seq,
            "at": body["at"],
            "v": version,
            "record": record,
            "hash": hashlib.sha256(record.encode()).hexdigest(),
        },
    )


def test_unknown_schema_version(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db)
    fill(log, 5)
    with attacker(db) as conn:
        _append_newer_event(conn, 7)
    with pytest.raises(UnknownSchemaVersion, match="event 6 has schema version 7"):
        log.verify()


def test_schema_version_column_edit_is_damage(db: str, open_log: Callable[..., AuditLog]) -> None:
    """Issue 15, item 13: the version is read from the hashed record, not the column, so an
    edited column is damage and cannot hide a cut tail behind "upgrade tether"."""
    log = open_log(db)
    fill(log, 5)
    fill(log, 5, start=5)
    log.checkpoint()
    with attacker(db) as conn:
        conn.execute(sa.text("UPDATE tether_audit_event SET schema_version = 7 WHERE seq = 4"))
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq > 8"))
    report = log.verify()
    assert not report.intact
    assert report.first_problem is not None
    assert (report.first_problem.seq, report.first_problem.kind) == (9, "truncated")


def test_schema_version_column_edit_alone(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db)
    fill(log, 5)
    with attacker(db) as conn:
        conn.execute(sa.text("UPDATE tether_audit_event SET schema_version = 7 WHERE seq = 4"))
    problem = log.verify().first_problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (4, "edited")


def test_log_without_its_id(sqlite_db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(sqlite_db)
    fill(log, 2)
    with attacker(sqlite_db) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_meta"))
    with pytest.raises(AuditLogUnreadable, match="no log id"):
        log.verify()


def test_checkpoint_file_of_another_log(
    tmp_path: Path, open_log: Callable[..., AuditLog], keys: KeyStore
) -> None:
    first = open_log(f"sqlite:///{tmp_path / 'a.db'}")
    second = open_log(f"sqlite:///{tmp_path / 'b.db'}")
    fill(first, 2)
    fill(second, 2)
    first.export_checkpoint(tmp_path / "a.json")
    with pytest.raises(AuditError, match="belongs to another database"):
        second.verify(checkpoint=tmp_path / "a.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read checkpoint file"),
        ('{"format": "something-else"}', "is not a tether audit checkpoint file"),
        ('{"format": "tether-audit-checkpoint", "v": 9}', "format version 9"),
        ('{"format": "tether-audit-checkpoint", "v": 1, "seq": 3}', "is incomplete"),
    ],
)
def test_bad_checkpoint_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_text(content)
    with pytest.raises(AuditError, match=message):
        Checkpoint.from_file(path)


def test_checkpoint_file_with_a_bad_signature(
    sqlite_db: str, open_log: Callable[..., AuditLog], tmp_path: Path
) -> None:
    log = open_log(sqlite_db)
    fill(log, 4)
    path = tmp_path / "cp.json"
    log.export_checkpoint(path)
    path.write_text(path.read_text().replace('"seq": 4', '"seq": 3'))
    problem = log.verify(checkpoint=path).first_problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (3, "bad_signature")


def test_export_of_an_empty_log(
    sqlite_db: str, open_log: Callable[..., AuditLog], tmp_path: Path
) -> None:
    with pytest.raises(AuditError, match="empty"):
        open_log(sqlite_db).export_checkpoint(tmp_path / "cp.json")


def test_bad_options(sqlite_db: str) -> None:
    with pytest.raises(ValueError, match="checkpoint_every"):
        AuditLog(sqlite_db, checkpoint_every=0)


def test_first_key_is_made_with_a_message(
    tmp_path: Path, sqlite_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = KeyStore(tmp_path / "fresh")
    with (
        caplog.at_level(logging.WARNING, logger="tether.audit"),
        AuditLog(sqlite_db, keys=store) as log,
    ):
        fill(log, 1)
    key_id = store.active_id()
    assert key_id is not None and len(key_id) == 16
    assert f"made a new audit signing key {key_id}" in caplog.text
    assert (store.path / f"{key_id}.key").stat().st_mode & 0o077 == 0  # private to its owner
    assert set(store.public_keys()) == {key_id}


def test_rotation_keeps_public_keys_and_drops_private(keys: KeyStore) -> None:
    old = keys.active_id()
    new = keys.rotate().key_id
    assert keys.active_id() == new != old
    assert set(keys.public_keys()) == {old, new}
    assert not (keys.path / f"{old}.key").exists()
    assert (keys.path / f"{new}.key").exists()
