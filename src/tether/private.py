"""tether's state is readable by its owner only: the database, ``tether.yaml`` with its
secrets, the audit and session keys, the local Tryton databases, the outbox, the CLI's
login. What tether creates it creates so (files 0600, folders 0700); what it finds
otherwise, :func:`exposed` reports (``tether doctor``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

OWNER_ONLY = 0o077
"""The permission bits of group and others: none may be set on tether's state."""


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (made if missing)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a file created readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)


def touch_private(path: Path) -> None:
    """Create ``path`` empty and private if it does not exist (its owner may then fill
    it: SQLite keeps a file's mode for its journals too)."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


@dataclass(frozen=True)
class Exposed:
    """A state file or folder that group or others may read, write or enter."""

    path: Path
    mode: int
    what: str

    def __str__(self) -> str:
        fix = "chmod 700" if self.path.is_dir() else "chmod 600"
        return f"{self.path} ({self.what}) is mode {self.mode:o}: others may read it; {fix} it"


PUBLIC = ("*.pub",)
"""What may be read by anyone: public keys, made for verifiers."""


def exposed(
    paths: Iterable[tuple[Path, str]], *, deep: bool = True, public: tuple[str, ...] = PUBLIC
) -> list[Exposed]:
    """The paths (and, with ``deep``, everything under the folders among them) that are
    not private to their owner; names matching ``public`` aside."""
    found: list[Exposed] = []
    seen: set[Path] = set()
    for path, what in paths:
        for item in _walk(path, deep):
            if item in seen or item.is_symlink() or any(item.match(p) for p in public):
                continue
            seen.add(item)
            mode = stat.S_IMODE(item.stat().st_mode)
            if mode & OWNER_ONLY:
                found.append(Exposed(item, mode, what))
    return found


def _walk(path: Path, deep: bool) -> Iterable[Path]:
    if not path.exists():
        return
    yield path
    if deep and path.is_dir():
        yield from sorted(path.rglob("*"))
