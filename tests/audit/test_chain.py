"""Appending builds one hash chain of canonical records, and an intact log verifies."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable

import pytest

from tests.audit.conftest import T0, event, fill
from tether.audit import GENESIS, AuditEvent, AuditLog, canonical_json


def test_each_event_links_to_the_one_before(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db)
    first = log.append(event(0))
    rest = log.append_many([event(n) for n in range(1, 5)])
    stored = [first, *rest]
    assert [s.seq for s in stored] == [1, 2, 3, 4, 5]
    assert stored[0].prev == GENESIS
    for before, after in itertools.pairwise(stored):
        assert after.prev == before.hash
    for s in stored:
        data = json.loads(s.record)
        assert s.record == canonical_json(data)  # the stored text is canonical JSON
        assert set(data) == {"body", "prev", "seq"}
        assert (data["seq"], data["prev"]) == (s.seq, s.prev)
        assert s.hash == hashlib.sha256(s.record.encode()).hexdigest()


def test_intact_log_verifies(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db, checkpoint_every=10)
    log.append(event(0))  # the first append signs a checkpoint: there was none
    fill(log, 10, start=1)  # events 2-11: ten since the last checkpoint, sign again
    fill(log, 10, start=11)  # 12-21: again
    fill(log, 4, start=21)  # 22-25: not yet
    report = log.verify()
    assert report.intact, report.problems
    assert (report.events, report.first_seq, report.last_seq) == (25, 1, 25)
    assert report.checkpoints == 3
    assert report.signed_through == 21
    assert report.to_dict()["damage"] is None


def test_events_read_back_as_written(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db)
    written = AuditEvent(
        type="approval.decided",
        run_id="run-9",
        at=T0,
        call_id="call-3",
        agent="billing",
        agent_version="1.4.0",
        principal="alice",
        tool="erp.create_credit_note",
        args={"invoice_id": 103, "amount": 250.5, "reason": "outage"},
        why="refund the outage",
        approval={
            "request_id": "apr-1",
            "verdict": "approved",
            "by": "fiona",
            "decided_at": "2026-05-01T10:00:00Z",
            "comment": "ok, but 250 only",
            "edited_args": {"amount": 250.0},
        },
        trace_id="0" * 31 + "1",
        span_id="0" * 15 + "2",
        details={"quorum": 1},
    )
    stored = log.append(written)
    (read,) = log.events(run="run-9")
    assert read == stored
    assert read.event == written


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"run": "run-2"}, [4, 5, 6]),
        ({"agent": "billing"}, [7]),
        ({"principal": "bob"}, [7]),
        ({"tool": "email.send"}, [3]),
        ({"type": "call.decided"}, [2, 5]),
        ({"since": T0.replace(hour=11)}, [6, 7]),
        ({"limit": 2, "newest": True}, [6, 7]),
        ({"limit": 2}, [1, 2]),
    ],
)
def test_query_filters(
    sqlite_db: str,
    open_log: Callable[..., AuditLog],
    filters: dict[str, object],
    expected: list[int],
) -> None:
    log = open_log(sqlite_db)
    hour = T0.replace(hour=10)
    log.append_many(
        [
            event(0, at=hour),
            event(1, at=hour),
            event(2, at=hour, tool="email.send"),
            event(0, run="run-2", at=hour),
            event(1, run="run-2", at=hour),
            event(2, run="run-2", at=T0.replace(hour=11)),
            event(0, run="run-3", agent="billing", principal="bob", at=T0.replace(hour=12)),
        ]
    )
    assert [s.seq for s in log.events(**filters)] == expected  # type: ignore[arg-type]


def test_empty_log_is_intact(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db)
    assert log.checkpoint() is None
    report = log.verify()
    assert report.intact
    assert (report.events, report.first_seq, report.last_seq) == (0, None, None)


def test_append_many_of_nothing_writes_nothing(
    sqlite_db: str, open_log: Callable[..., AuditLog]
) -> None:
    log = open_log(sqlite_db)
    assert log.append_many([]) == []
    assert list(log.events()) == []


def test_naive_times_are_refused(sqlite_db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(sqlite_db)
    with pytest.raises(ValueError, match="timezone-aware"):
        log.append(event(0, at=T0.replace(tzinfo=None)))
