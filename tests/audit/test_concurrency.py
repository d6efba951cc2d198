"""Many writers, one chain: concurrent appends from separate processes never fork or gap."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests.audit.conftest import fill
from tether.audit import AuditLog, KeyStore
from tether.db import connect

ROOT = Path(__file__).resolve().parents[2]
PER_WORKER = 150


def test_two_processes_append_one_chain(db: str, keys: KeyStore, tmp_path: Path) -> None:
    connect(db).dispose()  # migrate once up front, as a deployment would
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.audit.append_worker",
                db,
                str(keys.path),
                str(PER_WORKER),
                name,
                str(go),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("worker-a", "worker-b")
    ]
    for worker in workers:  # both connected; now start them together
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
    go.touch()
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        assert out.strip() == str(PER_WORKER)
    with AuditLog(db, keys=keys) as log:
        events = list(log.events())
        report = log.verify()
    assert report.intact, report.problems
    assert [s.seq for s in events] == list(range(1, 2 * PER_WORKER + 1))  # no gaps, no forks
    assert Counter(s.event.run_id for s in events) == {
        "worker-a": PER_WORKER,
        "worker-b": PER_WORKER,
    }
    for worker in ("worker-a", "worker-b"):  # each worker's events keep their order
        mine = [int(str(s.event.call_id)) for s in events if s.event.run_id == worker]
        assert mine == list(range(PER_WORKER))
    assert report.checkpoints >= 2 * PER_WORKER // 25
    switches = sum(1 for a, b in itertools.pairwise(events) if a.event.run_id != b.event.run_id)
    assert switches > 1  # the two writers really did take turns


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE tether_audit_event SET principal = 'mallory'",
        "DELETE FROM tether_audit_event",
        "UPDATE tether_audit_checkpoint SET signature = 'x'",
        "DELETE FROM tether_audit_checkpoint",
        "DELETE FROM tether_audit_meta",
    ],
)
def test_the_database_refuses_changes(db: str, keys: KeyStore, statement: str) -> None:
    with AuditLog(db, keys=keys) as log:
        fill(log, 3)
        engine = log.engine
        with pytest.raises(DBAPIError, match="append only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
        assert log.verify().intact


def test_postgres_refuses_truncate(postgres_db: str, keys: KeyStore) -> None:
    with AuditLog(postgres_db, keys=keys) as log:
        fill(log, 3)
        with pytest.raises(DBAPIError, match="append only"), log.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE tether_audit_event"))
