"""Damage is located where it is, whatever the tamperer did (issue 15, items 11-15)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from tests.audit.conftest import attacker, event, fill
from tether.audit import AuditEvent, AuditLog, Problem, VerifyReport, verify


def damage(report: VerifyReport) -> Problem:
    assert not report.intact, "the tampering went unnoticed"
    assert report.first_problem is not None
    return report.first_problem


def url_of(log: AuditLog) -> str:
    return log.engine.url.render_as_string(hide_password=False)


def swap(conn: sa.Connection, a: int, b: int) -> None:
    conn.execute(sa.text("UPDATE tether_audit_event SET seq = -1 WHERE seq = :a"), {"a": a})
    conn.execute(sa.text("UPDATE tether_audit_event SET seq = :a WHERE seq = :b"), {"a": a, "b": b})
    conn.execute(sa.text("UPDATE tether_audit_event SET seq = :b WHERE seq = -1"), {"b": b})


def test_far_apart_swap_is_a_reordering(db: str, open_log: Callable[..., AuditLog]) -> None:
    """Item 11: no fixed look-ahead; events swapped 1,500 apart are reordered, not deleted."""
    log = open_log(db)
    fill(log, 1600)
    with attacker(url_of(log)) as conn:
        swap(conn, 5, 1505)
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (5, "reordered")
    assert "1505" in problem.message


def test_edited_own_seq_blames_itself(db: str, open_log: Callable[..., AuditLog]) -> None:
    """Item 12: a record that fails its hash says nothing about where it belongs."""
    log = open_log(db)
    fill(log, 20)
    with attacker(url_of(log)) as conn:
        conn.execute(
            sa.text("UPDATE tether_audit_event SET record = replace(record, :a, :b) WHERE seq = 7"),
            {"a": '"seq":7}', "b": '"seq":5}'},
        )
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (7, "edited")


@pytest.mark.parametrize("to", [7000, -3], ids=["beyond", "before"])
def test_moved_row_is_found_where_it_went(
    db: str, open_log: Callable[..., AuditLog], to: int
) -> None:
    log = open_log(db)
    fill(log, 20)
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("UPDATE tether_audit_event SET seq = :to WHERE seq = 7"), {"to": to})
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (7, "reordered")
    assert str(to) in problem.message


@pytest.fixture
def checkpointed(db: str, open_log: Callable[..., AuditLog]) -> AuditLog:
    log = open_log(db, checkpoint_every=5)
    for n in range(20):
        log.append(event(n))
    return log


def checkpoints(log: AuditLog) -> list[tuple[int, int]]:
    with log.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT number, seq FROM tether_audit_checkpoint ORDER BY id"))
        return [(int(number), int(seq)) for number, seq in rows]


def test_checkpoints_are_chained(checkpointed: AuditLog) -> None:
    assert [number for number, _ in checkpoints(checkpointed)] == [1, 2, 3, 4]
    assert checkpointed.verify().intact


def test_deleted_checkpoint_is_detected(checkpointed: AuditLog) -> None:
    """Item 14: checkpoints name the one before them, so a deleted one leaves a gap."""
    with attacker(url_of(checkpointed)) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_checkpoint WHERE number = 3"))
    problem = damage(checkpointed.verify())
    assert problem.kind == "checkpoint_missing"
    assert "checkpoint 3" in problem.message


def test_deleted_first_checkpoint_is_detected(checkpointed: AuditLog) -> None:
    with attacker(url_of(checkpointed)) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_checkpoint WHERE number = 1"))
    problem = damage(checkpointed.verify())
    assert (problem.seq, problem.kind) == (1, "checkpoint_missing")


def test_renumbered_checkpoints_are_detected(checkpointed: AuditLog) -> None:
    with attacker(url_of(checkpointed)) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_checkpoint WHERE number = 3"))
        conn.execute(
            sa.text("UPDATE tether_audit_checkpoint SET number = number - 1 WHERE number > 3")
        )
    assert damage(checkpointed.verify()).kind in ("checkpoint_missing", "bad_signature")


HOSTILE = {
    "tool": "crm.read\x00_party",
    "principal": "al\ud800ice",
    "run_id": "r" * 300,
    "agent": "desk\x00",
}


def test_unstorable_query_values_append_and_verify(
    db: str, open_log: Callable[..., AuditLog]
) -> None:
    """Item 15: NUL, lone surrogates and over-long values in query columns: the append
    succeeds on both databases and the untouched log verifies."""
    log = open_log(db)
    fill(log, 3)
    stored = log.append(AuditEvent(type="call.proposed", call_id="c\x00", **HOSTILE))
    fill(log, 3, start=3)
    assert "\\u0000" in stored.record  # the record keeps the value exactly
    report = log.verify()
    assert report.intact, report.problems
    (found,) = [s for s in log.events(run="r" * 200) if s.seq == stored.seq]
    assert found.event.tool == HOSTILE["tool"]


def test_unstorable_values_columns_still_checked(
    db: str, open_log: Callable[..., AuditLog]
) -> None:
    log = open_log(db)
    stored = log.append(AuditEvent(type="call.proposed", **HOSTILE))
    fill(log, 2, start=1)
    with attacker(url_of(log)) as conn:
        conn.execute(
            sa.text("UPDATE tether_audit_event SET tool = 'crm.other' WHERE seq = :s"),
            {"s": stored.seq},
        )
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (stored.seq, "edited")


ESCAPED = {"principal": "José Ñúñez", "tool": "crm.read_party·ü", "run_id": "räksmörgås" * 30}
"""Values the record keeps as ``\\u`` escapes or that are longer than their column: the
fast column comparison differs for them, so they are compared field by field."""


@pytest.mark.parametrize("edited", [None, "principal", "agent"])
def test_escaped_and_long_values_are_compared_exactly(
    db: str, open_log: Callable[..., AuditLog], edited: str | None
) -> None:
    log = open_log(db)
    fill(log, 2)
    rows = [log.append(event(n, **ESCAPED)) for n in range(2, 6)]
    fill(log, 2, start=6)
    if edited is not None:
        with attacker(url_of(log)) as conn:
            conn.execute(
                sa.text(f"UPDATE tether_audit_event SET {edited} = 'mallory' WHERE seq = :s"),
                {"s": rows[2].seq},
            )
    report = log.verify()
    if edited is None:
        assert report.intact, report.problems
        assert report.events == 8
    else:
        problem = damage(report)
        assert (problem.seq, problem.kind) == (rows[2].seq, "edited")


def test_a_column_edit_far_down_a_long_log_is_found(
    db: str, open_log: Callable[..., AuditLog]
) -> None:
    """The column check runs beside the chain walk, on a second connection: it still
    reports the first edited row of an otherwise intact chain."""
    log = open_log(db)
    for start in range(0, 3000, 500):
        fill(log, 500, start=start)
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("UPDATE tether_audit_event SET tool = 'x' WHERE seq IN (2700, 2900)"))
    problem = damage(log.verify())
    assert (problem.seq, problem.kind) == (2700, "edited")
    assert verify(log.engine, keys=log.keys, upto=2600).intact


def test_without_a_second_connection_the_columns_are_checked_on_the_first(
    sqlite_db: str, open_log: Callable[..., AuditLog]
) -> None:
    """A pool of one connection: the column check cannot have its own, and runs after the
    walk on the walk's connection instead."""
    log = open_log(sqlite_db)
    fill(log, 20)
    with attacker(url_of(log)) as conn:
        conn.execute(sa.text("UPDATE tether_audit_event SET agent = 'mallory' WHERE seq = 12"))
    one = sa.create_engine(log.engine.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        problem = damage(verify(one, keys=log.keys))
    finally:
        one.dispose()
    assert (problem.seq, problem.kind) == (12, "edited")
