"""Slowing password guessing down: per account and per client, backoff then lock-out.

Each failed login counts against the account it named and the client it came from.
After ``backoff_after`` failures every further attempt must wait (the wait doubles
with each failure); after ``lock_after`` the key is locked until an operator clears
it. The check runs before the password is hashed, so a refused attempt costs nothing.
Password checks themselves run a few at a time (:class:`HashSlots`): argon2 takes
64 MiB each, and parallel guessing must not exhaust memory.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tether.config import LoginLimits
from tether.db import as_utc, write_transaction
from tether.web._tables import throttle


@dataclass(frozen=True)
class Held:
    """A login refused before its password was looked at: locked, or wait."""

    key: str
    locked: bool
    retry_after: float
    """Seconds to wait (0 when locked: only an operator can clear it)."""


@dataclass(frozen=True)
class Failed:
    """What a failed attempt did to its keys: the keys it locked just now."""

    locked: tuple[str, ...]


def account_key(name: str) -> str:
    return f"account:{name}"


def client_key(address: str) -> str:
    return f"client:{address}"


class Throttle:
    """Failed logins by key, in the tether database (shared by every console process)."""

    def __init__(
        self, engine: Engine, limits: LoginLimits, *, clock: Callable[[], _dt.datetime]
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.clock = clock

    def held(self, keys: Sequence[str]) -> Held | None:
        """Why an attempt under ``keys`` must not be tried now, if it must not."""
        now = self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(throttle).where(throttle.c.key.in_(keys))).mappings()
            found = list(rows)
        for row in found:
            if row["locked_at"] is not None:
                return Held(row["key"], locked=True, retry_after=0)
        for row in found:
            if self._forgotten(row, now):
                continue
            wait = (
                self._wait(row["failures"]) - (now - as_utc(row["last_failure_at"])).total_seconds()
            )
            if wait > 0:
                return Held(row["key"], locked=False, retry_after=round(wait, 1))
        return None

    def failed(self, keys: Sequence[str]) -> Failed:
        """Count a failure against each key; returns the keys this failure locked."""
        now = self.clock()
        locked: list[str] = []
        for key in keys:
            with write_transaction(self.engine, f"throttle:{key}") as conn:
                row = (
                    conn.execute(sa.select(throttle).where(throttle.c.key == key))
                    .mappings()
                    .first()
                )
                if row is None or (row["locked_at"] is None and self._forgotten(row, now)):
                    conn.execute(throttle.delete().where(throttle.c.key == key))
                    conn.execute(
                        throttle.insert().values(
                            key=key, failures=1, first_failure_at=now, last_failure_at=now
                        )
                    )
                    failures = 1
                    was_locked = False
                else:
                    failures = int(row["failures"]) + 1
                    was_locked = row["locked_at"] is not None
                    values: dict[str, Any] = {"failures": failures, "last_failure_at": now}
                    if failures >= self.limits.lock_after and not was_locked:
                        values["locked_at"] = now
                    conn.execute(throttle.update().where(throttle.c.key == key).values(**values))
                if failures >= self.limits.lock_after and not was_locked:
                    locked.append(key)
        return Failed(tuple(locked))

    def succeeded(self, key: str) -> None:
        """A login that worked forgets its account's failures (not a lock: it never
        gets this far while locked)."""
        with self.engine.begin() as conn:
            conn.execute(
                throttle.delete().where(throttle.c.key == key, throttle.c.locked_at.is_(None))
            )

    def clear(self, key: str) -> bool:
        """An operator clears a key's failures and lock; False if it had none."""
        with self.engine.begin() as conn:
            done = conn.execute(throttle.delete().where(throttle.c.key == key))
        return bool(done.rowcount)

    def listed(self) -> list[dict[str, Any]]:
        """Every key with failures or a lock."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(throttle).order_by(throttle.c.key)).mappings().all()
        return [
            {
                "key": row["key"],
                "failures": row["failures"],
                "last_failure_at": as_utc(row["last_failure_at"]).isoformat(),
                "locked": row["locked_at"] is not None,
            }
            for row in rows
        ]

    def _forgotten(self, row: Any, now: _dt.datetime) -> bool:
        age = (now - as_utc(row["last_failure_at"])).total_seconds()
        return age > self.limits.window_seconds

    def _wait(self, failures: int) -> float:
        if failures < self.limits.backoff_after:
            return 0.0
        doubled = self.limits.backoff_seconds * 2 ** (failures - self.limits.backoff_after)
        return float(min(doubled, self.limits.backoff_max_seconds))


class HashSlots:
    """At most ``size`` password checks at once; the others wait, for a while."""

    def __init__(self, size: int, wait_seconds: float) -> None:
        self._slots = threading.BoundedSemaphore(size)
        self._wait = wait_seconds

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Yields whether a slot was had (False: the console is too busy to check)."""
        acquired = self._slots.acquire(timeout=self._wait)
        try:
            yield acquired
        finally:
            if acquired:
                self._slots.release()
