"""Every kind of tampering is detected and located: the first bad event and what happened."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tests.audit.conftest import attacker, event, fill
from tether.audit import AuditKeyError, AuditLog, KeyStore, Problem, VerifyReport, verify

EVENTS = 20


def forge(body: dict[str, Any], prev: str, seq: int) -> tuple[str, str]:
    """What an attacker who knows the format writes: a record and its correct hash."""
    record = json.dumps(
        {"body": body, "prev": prev, "seq": seq}, sort_keys=True, separators=(",", ":")
    )
    return record, hashlib.sha256(record.encode()).hexdigest()


def row(conn: Connection, seq: int) -> dict[str, Any]:
    found = conn.execute(
        sa.text("SELECT * FROM tether_audit_event WHERE seq = :seq"), {"seq": seq}
    ).mappings()
    return dict(found.one())


def move(conn: Connection, where: str, offset: int) -> None:
    """Renumber events (through negative numbers, so the primary key never collides)."""
    conn.execute(sa.text(f"UPDATE tether_audit_event SET seq = -seq - 1000000 WHERE {where}"))
    conn.execute(
        sa.text("UPDATE tether_audit_event SET seq = -seq - 1000000 + :offset WHERE seq < 0"),
        {"offset": offset},
    )


def damage(report: VerifyReport) -> Problem:
    assert not report.intact, "the tampering went unnoticed"
    problem = report.first_problem
    assert problem is not None
    return problem


@pytest.fixture
def log(db: str, open_log: Callable[..., AuditLog]) -> AuditLog:
    log = open_log(db)
    fill(log, EVENTS)  # one transaction: one checkpoint, for event 20
    return log


def url_of(log: AuditLog) -> str:
    return log.engine.url.render_as_string(hide_password=False)


def test_untouched(log: AuditLog) -> None:
    assert log.verify().intact


def test_edit_a_field(log: AuditLog) -> None:
    with attacker(url_of(log)) as conn:
        conn.execute(
            sa.text(
                "UPDATE tether_audit_event SET record = replace(record, 'alice', 'mallory') "
                "WHERE seq = 7"
            )
        )
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (7, "edited")


def test_edit_a_query_column(log: AuditLog) -> None:
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("UPDATE tether_audit_event SET principal = 'bob' WHERE seq = 9"))
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (9, "edited")


def test_edit_and_rehash(log: AuditLog) -> None:
    with attacker(url_of(log)) as conn:
        old = row(conn, 7)
        body = json.loads(old["record"])["body"]
        body["args"] = {"party_id": 999}
        record, digest = forge(body, json.loads(old["record"])["prev"], 7)
        conn.execute(
            sa.text("UPDATE tether_audit_event SET record = :r, hash = :h WHERE seq = 7"),
            {"r": record, "h": digest},
        )
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (7, "edited")
    assert "re-hashed" in problem.message


def test_record_that_is_not_json(log: AuditLog) -> None:
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("UPDATE tether_audit_event SET record = 'garbage' WHERE seq = 4"))
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (4, "edited")


def test_delete_a_row(log: AuditLog) -> None:
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq = 12"))
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (12, "deleted")


def test_delete_a_row_and_renumber(log: AuditLog) -> None:
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq = 12"))
        move(conn, "seq > 12", -1)
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (12, "deleted")


def test_delete_the_first_rows(log: AuditLog) -> None:
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq <= 3"))
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (1, "deleted")


@pytest.mark.parametrize("hashed", [True, False], ids=["well-forged", "bad-hash"])
def test_insert_a_row(log: AuditLog, hashed: bool) -> None:
    with attacker(url_of(log)) as conn:
        before = row(conn, 9)
        move(conn, "seq >= 10", +1)
        body = json.loads(before["record"])["body"]
        body["tool"] = "crm.delete_party"
        record, digest = forge(body, before["hash"], 10)
        conn.execute(
            sa.text(
                "INSERT INTO tether_audit_event (seq, at, type, run_id, call_id, agent, principal,"
                " tool, schema_version, record, hash) VALUES (10, :at, :type, :run, :call,"
                " :agent, :principal, :tool, 1, :record, :hash)"
            ),
            {
                **{k: before[k] for k in ("at", "type", "agent", "principal")},
                "run": before["run_id"],
                "call": before["call_id"],
                "tool": "crm.delete_party",
                "record": record,
                "hash": digest if hashed else "0" * 64,
            },
        )
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (10, "inserted")


def test_swap_two_rows(log: AuditLog) -> None:
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("UPDATE tether_audit_event SET seq = -1 WHERE seq = 5"))
        conn.execute(sa.text("UPDATE tether_audit_event SET seq = 5 WHERE seq = 6"))
        conn.execute(sa.text("UPDATE tether_audit_event SET seq = 6 WHERE seq = -1"))
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (5, "reordered")


def test_cut_the_tail(log: AuditLog) -> None:
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq > 15"))
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (16, "truncated")


def test_cut_the_tail_and_its_checkpoints(log: AuditLog, tmp_path: Path) -> None:
    exported = tmp_path / "latest-checkpoint.json"
    log.export_checkpoint(exported)
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq > 15"))
        conn.execute(sa.text("DELETE FROM tether_audit_checkpoint"))
    # Without a checkpoint kept elsewhere, a clean cut cannot be told from a shorter log…
    assert log.verify().intact
    # …which is what the exported checkpoint is for.
    problem = damage(log.verify(checkpoint=exported))
    assert (problem.seq, problem.kind) == (16, "truncated")


def test_rewrite_the_tail(log: AuditLog) -> None:
    """Re-chaining everything from event 15 on is caught by the signed checkpoint at 20."""
    with attacker(url_of(log)) as conn:
        prev = row(conn, 14)["hash"]
        for seq in range(15, EVENTS + 1):
            body = json.loads(row(conn, seq)["record"])["body"]
            body["why"] = "nothing to see here"
            record, prev = forge(body, prev, seq)
            conn.execute(
                sa.text("UPDATE tether_audit_event SET record = :r, hash = :h WHERE seq = :s"),
                {"r": record, "h": prev, "s": seq},
            )
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (EVENTS, "edited")
    assert "rewritten" in problem.message


def test_replace_a_checkpoint_signature(log: AuditLog) -> None:
    log.append(event(99))
    fake = log.checkpoint()
    assert fake is not None
    with attacker(url_of(log)) as conn:
        conn.execute(
            sa.text("UPDATE tether_audit_checkpoint SET signature = :s WHERE seq = :seq"),
            {"s": fake.signature, "seq": EVENTS},
        )
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (EVENTS, "bad_signature")


def test_rotated_key_still_verifies_old_checkpoints(log: AuditLog) -> None:
    old = log.latest_checkpoint()
    new_key = log.rotate_key()
    fill(log, 5, start=EVENTS)
    assert log.checkpoint() is not None
    assert old is not None and old.key_id != new_key
    report = log.verify()
    assert report.intact
    assert report.checkpoints == 3  # the old key's, the rotation's, the last


def test_checkpoint_claiming_another_key(log: AuditLog) -> None:
    new_key = log.rotate_key()
    with attacker(url_of(log)) as conn:
        conn.execute(
            sa.text("UPDATE tether_audit_checkpoint SET key_id = :k WHERE seq = :seq"),
            {"k": new_key, "seq": EVENTS},
        )
    report = log.verify()
    assert any(p.kind == "bad_signature" for p in report.problems)
    assert damage(report).kind == "bad_signature"


def test_checkpoint_signed_by_an_unknown_key(
    log: AuditLog, db: str, keys: KeyStore, tmp_path: Path
) -> None:
    """An attacker signing with their own key gets no verification at all, only an error."""
    rogue = AuditLog(db, keys=tmp_path / "rogue-keys")
    try:
        rogue.checkpoint()
    finally:
        rogue.close()
    with pytest.raises(AuditKeyError, match="not in"):
        verify(db, keys=keys)


def test_public_key_lost_after_rotation(log: AuditLog, db: str, keys: KeyStore) -> None:
    old = keys.active_id()
    log.rotate_key()
    (keys.path / f"{old}.pub").unlink()
    with pytest.raises(AuditKeyError, match=str(old)):
        verify(db, keys=keys)


def test_public_key_file_replaced(log: AuditLog, db: str, keys: KeyStore, tmp_path: Path) -> None:
    active = keys.active_id()
    other = KeyStore(tmp_path / "other")
    other_id = other.signing_key().key_id
    shutil.copy(other.path / f"{other_id}.pub", keys.path / f"{active}.pub")
    with pytest.raises(AuditKeyError, match="was replaced"):
        verify(db, keys=keys)


@pytest.mark.parametrize(
    "body", ['"not an object"', '{"type":"call.proposed",broken'], ids=["not-object", "not-json"]
)
def test_rehashed_tail_record_that_is_not_an_event(log: AuditLog, body: str) -> None:
    """A consistent chain whose last record is no event at all is still caught."""
    log.append(event(99))  # event 21: after the last checkpoint
    with attacker(url_of(log)) as conn:
        prev = row(conn, EVENTS)["hash"]
        record = f'{{"body":{body},"prev":"{prev}","seq":{EVENTS + 1}}}'
        digest = hashlib.sha256(record.encode()).hexdigest()
        conn.execute(
            sa.text("UPDATE tether_audit_event SET record = :r, hash = :h WHERE seq = :s"),
            {"r": record, "h": digest, "s": EVENTS + 1},
        )
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (EVENTS + 1, "edited")
