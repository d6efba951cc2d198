"""Workers watch each other: a worker that stops beating has its segments taken over.

Self-hosted DBOS recovers a process's unfinished workflows only when a process with
the same executor id starts again. On PostgreSQL, with several workers, tether does
the rest: every worker writes a heartbeat to ``tether_worker``; a live worker that
sees a peer's heartbeat older than ``stale_after_seconds`` claims that peer (one
compare-and-delete, so only one live worker claims it) and hands the peer's PENDING
segments back to the queue, where any worker picks them up. Steps already recorded
are not run again; the step in flight is, and the effect ledger and the tools'
idempotency keys make that a no-op for effects.

Only segments in flight matter: a run parked for approval holds no workflow.

Pick ``stale_after_seconds`` well above the heartbeat period and any pause a live
worker may take (garbage collection, a loaded host): a worker declared dead while it
is still running would run its segments at the same time as the one that took them
over (the ledger still keeps effects single, but the work is done twice).
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tether.db import as_utc, is_postgres, reading
from tether.runtime._tables import worker


class Worker(Protocol):
    """A process that executes segments (a launched runtime)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def executor_id(self) -> str: ...

    def recover_segments(self, executor_ids: list[str]) -> int:
        """Put the segments these (dead) executors left in flight back on the queue."""
        ...


def _now(conn: Connection) -> _dt.datetime:
    """The database's clock on PostgreSQL (hosts' clocks may differ), else this host's."""
    if is_postgres(conn):
        value = conn.execute(sa.select(sa.func.now())).scalar_one()
        return as_utc(value)
    return _dt.datetime.now(_dt.UTC)


def heartbeat(runtime: Worker) -> None:
    """Tell the other workers that this one (``runtime.executor_id``) is alive."""
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    with runtime.engine.begin() as conn:
        now = _now(conn)
        updated = conn.execute(
            worker.update()
            .where(worker.c.executor_id == runtime.executor_id)
            .values(heartbeat_at=now, **me)
        ).rowcount
        if not updated:
            conn.execute(
                worker.insert().values(
                    executor_id=runtime.executor_id, heartbeat_at=now, started_at=now, **me
                )
            )


def other_live_worker(runtime: Worker, stale_after_seconds: float) -> str | None:
    """Who else runs as ``runtime.executor_id`` right now, if anyone: a process whose
    heartbeat under that id is fresh and that is not this one (nor a dead process of
    this host, as after a crash and restart)."""
    with reading(runtime.engine) as conn:
        row = conn.execute(
            sa.select(worker.c.heartbeat_at, worker.c.host, worker.c.pid).where(
                worker.c.executor_id == runtime.executor_id
            )
        ).first()
        if row is None or row.host is None or row.pid is None:
            return None
        age = (_now(conn) - as_utc(row.heartbeat_at)).total_seconds()
    if age > stale_after_seconds:
        return None
    if row.host == socket.gethostname() and (row.pid == os.getpid() or not _alive(row.pid)):
        return None
    return f"process {row.pid} on {row.host} (its last heartbeat {age:.0f}s ago)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _stale(
    conn: Connection, runtime: Worker, stale_after_seconds: float
) -> tuple[list[str], _dt.datetime]:
    cutoff = _now(conn) - _dt.timedelta(seconds=stale_after_seconds)
    rows = conn.execute(
        sa.select(worker.c.executor_id).where(
            worker.c.heartbeat_at < cutoff, worker.c.executor_id != runtime.executor_id
        )
    )
    return sorted(row.executor_id for row in rows), cutoff


def dead_workers(runtime: Worker, stale_after_seconds: float) -> list[str]:
    """The other workers whose last heartbeat is older than ``stale_after_seconds``."""
    with reading(runtime.engine) as conn:
        return _stale(conn, runtime, stale_after_seconds)[0]


def recover_dead_workers(runtime: Worker, stale_after_seconds: float) -> list[str]:
    """Take over the segments of workers whose heartbeat is stale; their executor ids.

    Call it from a launched worker (after ``runtime.launch()``), periodically, after
    :func:`heartbeat`. The dead workers' rows are removed, so each is taken over once;
    a dead worker that restarts under the same executor id announces itself again.
    Two live workers recovering the same peer at once is harmless: DBOS re-enqueues
    a segment only while it is still PENDING on the dead executor.
    """
    if stale_after_seconds <= 0:
        raise ValueError("stale_after_seconds must be positive")
    with reading(runtime.engine) as conn:
        stale, cutoff = _stale(conn, runtime, stale_after_seconds)
    if not stale:
        return []
    # Their PENDING segments go back on the queue; any worker picks them up.
    runtime.recover_segments(stale)
    claimed = []
    for executor_id in stale:  # forget them, unless they beat again meanwhile
        with runtime.engine.begin() as conn:
            gone = conn.execute(
                worker.delete().where(
                    worker.c.executor_id == executor_id, worker.c.heartbeat_at < cutoff
                )
            ).rowcount
        if gone:
            claimed.append(executor_id)
    return claimed
