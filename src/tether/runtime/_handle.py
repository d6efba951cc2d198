"""A handle on a run: wait for it to end or to ask for approval, without polling.

A run that parks or ends says so to a :class:`Watch`: in the process that ran its
segment directly, and in every other process on PostgreSQL through a notification on
the ``tether_runs`` channel (sent in the transaction that parks or ends it, see
:mod:`._wake`). A waiter wakes when its run changed, reads the run once, and waits
again only if the run is still on its way. On SQLite, a process that does not run the
segments itself cannot be told: its waiters read the run every
:data:`FALLBACK_SECONDS` (the one case that polls).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tether.approvals import ApprovalRequest
from tether.runtime._records import RunRecord

MOVING = ("queued", "running")
FALLBACK_SECONDS = 0.05
"""How often a waiter that cannot be told reads its run."""
SAFETY_SECONDS = 2.0
"""A waiter that can be told still reads its run this often (a notification sent
while its listener reconnected is lost)."""


class Watch:
    """Runs of this process's runtime that parked or ended, for their waiters."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._counts: dict[str, int] = {}

    def changed(self, run_id: str) -> None:
        """The run parked or ended (called once its new state is committed)."""
        with self._changed:
            self._counts[run_id] = self._counts.get(run_id, 0) + 1
            self._changed.notify_all()

    def count(self, run_id: str) -> int:
        with self._changed:
            return self._counts.get(run_id, 0)

    def wait(self, run_id: str, seen: int, timeout_seconds: float) -> int:
        """Wait until the run changes after ``seen`` changes, or the timeout."""
        with self._changed:
            self._changed.wait_for(lambda: self._counts.get(run_id, 0) > seen, timeout_seconds)
            return self._counts.get(run_id, 0)

    def forget(self, run_id: str) -> None:
        with self._changed:
            self._counts.pop(run_id, None)


@dataclass(frozen=True)
class RunHandle:
    """A run being followed: ``wait()`` (or ``await result()``) until it stops moving,
    ``next_approval()`` for the first request it waits on."""

    id: str
    _read: Callable[[str], RunRecord]
    _requests: Callable[[list[str]], list[ApprovalRequest]]
    _watch: Watch
    _told: Callable[[], bool]
    """Whether this process is told when the run changes (else it reads every so often)."""

    def record(self) -> RunRecord:
        """The run as it stands now."""
        return self._read(self.id)

    def wait(self, *, timeout_seconds: float = 120.0) -> RunRecord:
        """The run once it has stopped moving: ended, or waiting for a person (or as it
        stands when the timeout passes). A run parked on calls that were all decided
        already is about to resume: it is still moving."""
        deadline = time.monotonic() + timeout_seconds
        seen = self._watch.count(self.id)
        while True:
            record = self._read(self.id)
            left = deadline - time.monotonic()
            if left <= 0 or (record.status not in MOVING and not self._resuming(record)):
                return record
            pause = SAFETY_SECONDS if self._told() else FALLBACK_SECONDS
            seen = self._watch.wait(self.id, seen, min(left, pause))

    def _resuming(self, record: RunRecord) -> bool:
        if record.status != "waiting_approval" or not record.approval_request_ids:
            return False
        requests = self._requests(list(record.approval_request_ids))
        return bool(requests) and all(request.status != "pending" for request in requests)

    async def result(self, *, timeout_seconds: float = 120.0) -> RunRecord:
        """:meth:`wait`, from async code (off the event loop)."""
        return await asyncio.to_thread(self.wait, timeout_seconds=timeout_seconds)

    def next_approval(self, *, timeout_seconds: float = 120.0) -> ApprovalRequest | None:
        """The first approval request the run waits on, once it waits; None when it
        ended (or still moves when the timeout passes)."""
        record = self.wait(timeout_seconds=timeout_seconds)
        if record.status != "waiting_approval":
            return None
        found = self._requests(list(record.approval_request_ids))
        return found[0] if found else None
