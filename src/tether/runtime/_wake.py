"""Waking workers and waiters by PostgreSQL ``LISTEN/NOTIFY`` instead of a poll.

Two channels:

- :data:`SEGMENTS`: a segment to run (``run_id segment state_version``). A process that
  decides an approval (or starts a run) and cannot run the segment itself notifies the
  live workers instead of queuing it; each worker that hears it starts the segment at
  once if it has room (DBOS runs a workflow id once, so two workers starting it run it
  once), and queues it otherwise. The first step of a resumed run then follows the
  decision by a round trip, not by a poll of the queue.
- :data:`RUNS`: a run parked or ended (``run_id``), for :class:`~._handle.RunHandle`
  waiters in other processes.

Notifications are not durable: one sent while no worker listens is lost. So a segment
is notified only when a worker has beaten its heartbeat recently (else it is queued as
before), and the run stays ``queued`` in ``tether_run`` until its segment begins: the
next sweep of any worker queues it if no worker took it (a worker of an older release
that does not listen, a worker that died between hearing and starting). The delay
then is at most ``sweep_seconds``, never a lost run.

On SQLite there is nothing to listen to: a process either runs the segment itself or
queues it, as before.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tether.db import is_postgres
from tether.runtime._store import RUNS_CHANNEL
from tether.runtime._tables import worker

SEGMENTS = "tether_segments"
"""The channel of segments to run now."""
RUNS = RUNS_CHANNEL
"""The channel of runs that parked or ended (announced by ``RunStore.update``)."""
LIVE_CACHE_SECONDS = 1.0
"""How long the answer to "is a worker listening?" is reused (one read a second)."""

logger = logging.getLogger("tether.runtime")


def notify(engine: Engine, channel: str, payload: str) -> None:
    """Send one notification (on PostgreSQL; nothing elsewhere)."""
    if not is_postgres(engine):
        return
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.pg_notify(channel, payload)))


class LiveWorkers:
    """Whether a worker has beaten its heartbeat within ``fresh_seconds`` (cached)."""

    def __init__(self, engine: Engine, *, fresh_seconds: float) -> None:
        self.engine = engine
        self.fresh_seconds = fresh_seconds
        self._known: tuple[float, bool] = (0.0, False)

    def any(self) -> bool:
        checked_at, found = self._known
        if time.monotonic() - checked_at < LIVE_CACHE_SECONDS:
            return found
        with self.engine.connect() as conn:
            if not is_postgres(conn):
                return False
            cutoff = sa.func.now() - _dt.timedelta(seconds=self.fresh_seconds)
            found = (
                conn.execute(
                    sa.select(worker.c.executor_id).where(worker.c.heartbeat_at > cutoff).limit(1)
                ).first()
                is not None
            )
        self._known = (time.monotonic(), found)
        return found


class Listener:
    """A thread that LISTENs on channels and hands each payload to its callback."""

    def __init__(self, url: str, handlers: dict[str, Callable[[str], None]]) -> None:
        self.url = url
        self.handlers = handlers
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tether-listen", daemon=True)

    def start(self, *, timeout_seconds: float = 5.0) -> None:
        self._thread.start()
        self._ready.wait(timeout_seconds)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg  # only on PostgreSQL

        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    for channel in self.handlers:
                        conn.execute(f"LISTEN {channel}")
                    self._ready.set()
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._handle(note.channel, note.payload)
            except Exception as exc:  # the database went away: listen again shortly
                if self._stopping.is_set():
                    return
                logger.warning("listening for notifications failed (%s); retrying", exc)
                self._stopping.wait(1.0)

    def _handle(self, channel: str, payload: str) -> None:
        handler = self.handlers.get(channel)
        if handler is None:
            return
        try:
            handler(payload)
        except Exception:  # one bad notification must not stop the listener
            logger.exception("handling a notification on %s failed", channel)
