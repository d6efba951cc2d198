"""Group commit: concurrent appends share transactions, keep their order, share failures."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from tether.audit import AuditEvent, AuditLog
from tether.audit._group import GroupCommit


def test_concurrent_callers_share_transactions_and_keep_their_order() -> None:
    written: list[list[tuple[int, int]]] = []
    gate = threading.Event()

    def write(batches: list[list[tuple[int, int]]]) -> list[int]:
        gate.wait(5)  # hold the first transaction until every caller has queued
        written.append([item for batch in batches for item in batch])
        return [len(batch) for batch in batches]

    group: GroupCommit[list[tuple[int, int]], int] = GroupCommit(write)
    callers = 12
    with ThreadPoolExecutor(callers) as pool:
        futures = [
            pool.submit(group.submit, [(caller, 0), (caller, 1), (caller, 2)])
            for caller in range(callers)
        ]
        while len(group._queue) < callers - 1:  # one leads, the others wait in the queue
            threading.Event().wait(0.01)
        gate.set()
        assert [f.result() for f in futures] == [3] * callers
    assert len(written) < callers  # fewer transactions than callers
    items = [item for transaction in written for item in transaction]
    assert sorted(items) == [(c, i) for c in range(callers) for i in range(3)]
    for caller in range(callers):  # each caller's events are contiguous and in order
        at = items.index((caller, 0))
        assert items[at : at + 3] == [(caller, 0), (caller, 1), (caller, 2)]


def test_every_caller_in_a_failed_transaction_gets_the_error_and_later_ones_go_on() -> None:
    calls = 0

    def write(batches: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")
        return [batch.upper() for batch in batches]

    group: GroupCommit[str, str] = GroupCommit(write)
    with pytest.raises(OSError, match="disk full"):
        group.submit("first")
    assert group.submit("second") == "SECOND"
    assert not group._leading


def test_concurrent_appends_form_one_verifiable_chain(sqlite_url: str, tmp_path: object) -> None:
    log = AuditLog(sqlite_url, keys=str(tmp_path) + "/keys")
    try:

        def append(n: int) -> list[int]:
            stored = log.append_many(
                [
                    AuditEvent(type="run.started", run_id=f"r{n}", details={"i": 0}),
                    AuditEvent(type="run.finished", run_id=f"r{n}", details={"i": 1}),
                ]
            )
            return [event.seq for event in stored]

        with ThreadPoolExecutor(8) as pool:
            seqs = list(pool.map(append, range(40)))
        assert all(second == first + 1 for first, second in seqs)
        assert sorted(s for pair in seqs for s in pair) == list(range(1, 81))
        report = log.verify()
        assert report.intact, report.problems
    finally:
        log.close()


def test_an_alongside_write_that_did_nothing_keeps_its_events_out(
    sqlite_url: str, tmp_path: object
) -> None:
    log = AuditLog(sqlite_url, keys=str(tmp_path) + "/keys")
    try:
        kept = log.append_many(
            [AuditEvent(type="run.finished", run_id="r1")], alongside=lambda conn: True
        )
        dropped = log.append_many(
            [AuditEvent(type="run.finished", run_id="r2")], alongside=lambda conn: False
        )
        also_kept = log.append_many(
            [AuditEvent(type="run.finished", run_id="r3")], alongside=lambda conn: None
        )
        assert [e.seq for e in kept] == [1] and dropped == [] and [e.seq for e in also_kept] == [2]
        assert [s.event.run_id for s in log.events()] == ["r1", "r3"]
        assert log.verify().intact
    finally:
        log.close()


def test_checkpoints_keep_their_cadence_across_logs(sqlite_url: str, tmp_path: object) -> None:
    # Two logs on one database (two processes): each knows only the checkpoints it wrote
    # or read, and still none is skipped or written early.
    keys = str(tmp_path) + "/keys"
    first = AuditLog(sqlite_url, keys=keys, checkpoint_every=5)
    second = AuditLog(sqlite_url, keys=keys, checkpoint_every=5)
    try:
        for n in range(23):
            (first if n % 3 else second).append(AuditEvent(type="run.started", run_id=f"r{n}"))
        with first.engine.connect() as conn:
            seqs = [
                row.seq
                for row in conn.execute(
                    sa.text("SELECT seq FROM tether_audit_checkpoint ORDER BY id")
                )
            ]
        assert seqs == [1, 6, 11, 16, 21]
    finally:
        first.close()
        second.close()
