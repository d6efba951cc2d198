"""Retention: pruning removes old events and leaves the rest verifiable from a signed cut."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests.audit.conftest import T0, attacker, event, fill
from tether.audit import DEFAULT_RETENTION, AuditError, AuditLog

DAY = _dt.timedelta(days=1)


def dated_log(log: AuditLog) -> None:
    """Ten events a day for ten days, from T0."""
    log.append_many(
        [event(n, at=T0 + (n // 10) * DAY + _dt.timedelta(seconds=n)) for n in range(100)]
    )


def test_default_retention_is_six_months() -> None:
    assert _dt.timedelta(days=180) <= DEFAULT_RETENTION


def test_prune_keeps_the_rest_verifiable(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db, retention=_dt.timedelta(days=5))
    dated_log(log)
    result = log.prune(now=T0 + 10 * DAY)  # cutoff: day 5
    assert result.removed == 50
    assert result.checkpoint is not None
    assert (result.checkpoint.seq, result.checkpoint.kind) == (50, "prune")
    report = log.verify()
    assert report.intact, report.problems
    # the 50 kept, and the pruning's own record: the retention it applied, by whom
    assert (report.first_seq, report.last_seq, report.events) == (51, 101, 51)
    (pruned,) = [s.event for s in log.events(type="audit.pruned")]
    assert pruned.details == {
        "cutoff": "2026-05-06T09:00:00.000000Z",  # T0 + 10 days - 5 days
        "older_than_days": 5,
        "removed": 50,
        "through_seq": 50,
    }
    assert min(s.event.at for s in log.events() if s.event.type != "audit.pruned") >= (
        T0 + 5 * DAY
    )
    # The chain goes on from where it was.
    fill(log, 3, start=100)
    assert log.verify().intact
    assert [s.seq for s in log.events()][-1] == 104


def test_prune_with_nothing_old_enough(sqlite_db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(sqlite_db)
    dated_log(log)
    result = log.prune(now=T0 + 10 * DAY)  # default retention: 180 days
    assert (result.removed, result.checkpoint) == (0, None)
    assert log.verify().first_seq == 1


def test_prune_everything_then_go_on(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db)
    dated_log(log)
    result = log.prune(older_than=DAY, now=T0 + 400 * DAY)
    assert result.removed == 100
    report = log.verify()
    assert report.intact and report.events == 1  # the pruning's own record
    fill(log, 2, start=100)
    report = log.verify()
    assert report.intact, report.problems
    assert (report.first_seq, report.last_seq) == (101, 103)


def test_prune_never_removes_younger_events(
    sqlite_db: str, open_log: Callable[..., AuditLog]
) -> None:
    """Events out of time order: the cut stops at the first young one."""
    log = open_log(sqlite_db)
    log.append_many([event(0, at=T0), event(1, at=T0 + 9 * DAY), event(2, at=T0)])
    assert log.prune(older_than=DAY, now=T0 + 5 * DAY).removed == 1


def test_deleting_beyond_the_cut_is_detected(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db)
    dated_log(log)
    log.prune(older_than=5 * DAY, now=T0 + 10 * DAY)
    with attacker(db) as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq <= 55"))
    problem = log.verify().first_problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (51, "deleted")


def test_direct_delete_is_refused_even_of_old_events(
    db: str, open_log: Callable[..., AuditLog]
) -> None:
    log = open_log(db)
    dated_log(log)
    with pytest.raises(DBAPIError, match="append only"), log.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM tether_audit_event WHERE seq <= 10"))


def test_pruning_a_damaged_log_is_refused(
    sqlite_db: str, open_log: Callable[..., AuditLog]
) -> None:
    log = open_log(sqlite_db)
    dated_log(log)
    with attacker(sqlite_db) as conn:
        conn.execute(sa.text("UPDATE tether_audit_event SET record = record || ' ' WHERE seq = 3"))
    with pytest.raises(AuditError, match=r"refusing to prune: .*edited at event 3"):
        log.prune(older_than=DAY, now=T0 + 10 * DAY)
