"""Unauthenticated refusals, recorded without flooding the audit trail.

Anyone can send requests without a login; one event for each would let them push
real events out of view. A refusal of a request nobody authenticated is recorded the
first time its client and reason are seen in a window; the others of the window are
counted, and the count recorded (one ``access.refused`` with ``aggregated: true``)
when the window closes. Across all clients at most ``max_keys`` are tracked in a
window; the rest are counted under one overflow key.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OVERFLOW = "*"


@dataclass
class _Tally:
    first: dict[str, Any]
    count: int = 0
    """Refusals after the first one (the first was recorded when it came)."""
    paths: set[str] = field(default_factory=set)


class RefusalTally:
    """Counts unauthenticated refusals per (client, reason) in fixed windows."""

    def __init__(
        self,
        window_seconds: float,
        *,
        clock: Callable[[], _dt.datetime],
        max_keys: int = 1000,
    ) -> None:
        self.window = _dt.timedelta(seconds=window_seconds)
        self.clock = clock
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._started = clock()
        self._tallies: dict[tuple[str, str], _Tally] = {}

    def add(self, client: str, reason: str, details: dict[str, Any]) -> list[dict[str, Any]]:
        """What to record now for this refusal: its own event if it is the first of its
        kind in the window, and the summaries of a window that just closed."""
        with self._lock:
            closed = self._close_if_due()
            key = (client, reason)
            if key not in self._tallies and len(self._tallies) >= self.max_keys:
                key = (OVERFLOW, reason)
            tally = self._tallies.get(key)
            if tally is None:
                self._tallies[key] = _Tally(first=details)
                return [*closed, details]
            tally.count += 1
            tally.paths.add(str(details.get("path", "")))
            return closed

    def due(self) -> bool:
        """Whether the window has closed with counts to record (cheap; no lock)."""
        return bool(self._tallies) and self.clock() - self._started >= self.window

    def flush(self, *, force: bool = False) -> list[dict[str, Any]]:
        """The summaries of the window, if it closed (or ``force``: now, at shutdown)."""
        with self._lock:
            return self._close(self.clock()) if force else self._close_if_due()

    def _close_if_due(self) -> list[dict[str, Any]]:
        now = self.clock()
        return self._close(now) if now - self._started >= self.window else []

    def _close(self, now: _dt.datetime) -> list[dict[str, Any]]:
        summaries = [
            {
                **tally.first,
                "client": client,
                "aggregated": True,
                "count": tally.count,
                "paths": sorted(tally.paths)[:20],
                "window_start": self._started.isoformat(),
                "window_end": now.isoformat(),
            }
            for (client, _), tally in self._tallies.items()
            if tally.count
        ]
        self._tallies.clear()
        self._started = now
        return summaries
