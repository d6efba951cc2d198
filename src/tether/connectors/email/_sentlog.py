"""The Sent Maildir: every message sent, named by its call's idempotency key.

A send first claims the key (a file created exclusively in ``tmp/``), then talks to
the server, then files the message in ``cur/``. A filed message is never sent again;
a claim left by a crash mid-send blocks the key until a person checks the outbox and
removes it: at most once, never twice.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class SentLog:
    """A Maildir of sent messages, one file per idempotency key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _ensure(self) -> None:
        for sub in ("cur", "new", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _name(key: str) -> str:
        return "tether-" + hashlib.sha256(key.encode()).hexdigest()[:40]

    def find(self, key: str) -> bytes | None:
        """The message already sent for ``key``, if any."""
        name = self._name(key)
        for candidate in (self.path / "cur" / f"{name}:2,S", self.path / "new" / name):
            if candidate.is_file():
                return candidate.read_bytes()
        return None

    def claim(self, key: str) -> Path | None:
        """Mark ``key`` as being sent; None when another send holds or held it."""
        self._ensure()
        marker = self.path / "tmp" / f"{self._name(key)}.sending"
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return None
        os.close(fd)
        return marker

    def release(self, marker: Path) -> None:
        """Give up a claim: nothing was sent."""
        marker.unlink(missing_ok=True)

    def record(self, key: str, data: bytes, marker: Path) -> Path:
        """File the sent message (atomically) and drop the claim."""
        name = self._name(key)
        staging = self.path / "tmp" / name
        with staging.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        final = self.path / "cur" / f"{name}:2,S"
        os.replace(staging, final)
        marker.unlink(missing_ok=True)
        return final
