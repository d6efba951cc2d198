"""An audit log's signed checkpoints: when one is due, signing and chaining it, reading them.

A checkpoint vouches, with the log's key, for the chain up to one event. They are
numbered and chained (``number``, ``prev``), so one deleted is found missing, and
written in the transaction of the append that makes one due, so the event and the
checkpoint that covers it are kept together.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.audit._canonical import GENESIS, format_time
from tether.audit._checkpoint import Checkpoint, CheckpointKind, sign_checkpoint
from tether.audit._errors import AuditError
from tether.audit._keys import KeyStore, SigningKey
from tether.db import audit_checkpoint, audit_meta


class Checkpoints:
    """Signs a log's checkpoints with ``keys``: one every ``every`` events, or when
    ``interval`` has passed since the last one."""

    def __init__(self, keys: KeyStore, *, every: int, interval: _dt.timedelta) -> None:
        if every < 1:
            raise ValueError(f"checkpoint_every must be at least 1, got {every}")
        self.keys = keys
        self.every = every
        self.interval = interval
        self._key: SigningKey | None = None
        self._log_id: str | None = None
        self._known: tuple[int, _dt.datetime] | None = None
        """The last checkpoint this log wrote or read: (seq, time)."""

    def log_id(self, conn: Connection) -> str:
        """The log's id (``tether_audit_meta``), which binds its checkpoints to it."""
        if self._log_id is None:
            value = conn.execute(
                sa.select(audit_meta.c.value).where(audit_meta.c.name == "log_id")
            ).scalar()
            if value is None:
                raise AuditError("the audit tables have no log id; was the database migrated?")
            self._log_id = str(value)
        return self._log_id

    @property
    def known_log_id(self) -> str | None:
        """The log's id, when it was read already."""
        return self._log_id

    def if_due(self, conn: Connection, seq: int, digest: str) -> Checkpoint | None:
        """A periodic checkpoint for event ``seq``, written in ``conn``'s transaction,
        when one is due."""
        now = _dt.datetime.now(_dt.UTC)
        # Checkpoints are only ever added: if the last one this log knows of makes
        # none due, the last one in the database (as recent or more) makes none due
        # either, and the query is saved.
        if self._known is not None and not self._due(self._known, seq, now):
            return None
        last = conn.execute(_LAST_CHECKPOINT).first()
        if last is not None:  # a checkpoint another process wrote since
            self._known = (last.seq, _dt.datetime.fromisoformat(last.at))
            if not self._due(self._known, seq, now):
                return None
        return self.write(conn, seq, digest, "periodic", now=now)

    def committed(self, written: Checkpoint | None) -> None:
        """Remember a checkpoint once its transaction has committed."""
        if written is not None:
            self._known = (written.seq, _dt.datetime.fromisoformat(written.at))

    def _due(self, last: tuple[int, _dt.datetime], seq: int, now: _dt.datetime) -> bool:
        last_seq, last_at = last
        return seq - last_seq >= self.every or (seq > last_seq and now - last_at >= self.interval)

    def write(
        self,
        conn: Connection,
        seq: int,
        digest: str,
        kind: CheckpointKind,
        *,
        now: _dt.datetime | None = None,
    ) -> Checkpoint:
        """Sign a checkpoint for event ``seq`` (hash ``digest``), chained to the last
        one, and store it in ``conn``'s transaction."""
        log_id = self.log_id(conn)
        number, prev = _next_link(conn, log_id)
        checkpoint = sign_checkpoint(
            self.signing_key(),
            log_id=log_id,
            seq=seq,
            hash=digest,
            at=format_time(now or _dt.datetime.now(_dt.UTC)),
            kind=kind,
            number=number,
            prev=prev,
        )
        conn.execute(
            audit_checkpoint.insert(),
            {
                "seq": checkpoint.seq,
                "hash": checkpoint.hash,
                "at": checkpoint.at,
                "kind": checkpoint.kind,
                "key_id": checkpoint.key_id,
                "signature": checkpoint.signature,
                "number": checkpoint.number,
                "prev": checkpoint.prev,
            },
        )
        return checkpoint

    def signing_key(self) -> SigningKey:
        """The active key (read once, again after a rotation elsewhere)."""
        active = self.keys.active_id()
        if self._key is None or self._key.key_id != active:
            self._key = self.keys.signing_key()
        return self._key

    def rotate(self) -> SigningKey:
        """Start signing with a new key (see :meth:`KeyStore.rotate`)."""
        self._key = self.keys.rotate()
        return self._key

    def latest(self, conn: Connection) -> Checkpoint | None:
        """The most recent checkpoint in the database."""
        row = conn.execute(_LAST_CHECKPOINT).first()
        return None if row is None else checkpoint_of(row, self.log_id(conn))

    def all(self, conn: Connection) -> list[Checkpoint]:
        """Every checkpoint in the database, in the order they were written."""
        log_id = self.log_id(conn)
        rows = conn.execute(sa.select(audit_checkpoint).order_by(audit_checkpoint.c.id))
        return [checkpoint_of(row, log_id) for row in rows]


_LAST_CHECKPOINT = sa.select(audit_checkpoint).order_by(audit_checkpoint.c.id.desc()).limit(1)
_CHECKPOINTS = sa.select(sa.func.count()).select_from(audit_checkpoint)


def checkpoint_of(row: Any, log_id: str) -> Checkpoint:
    """The checkpoint a ``tether_audit_checkpoint`` row holds."""
    return Checkpoint(
        log_id=log_id,
        seq=int(row.seq),
        hash=row.hash,
        at=row.at,
        kind=row.kind,
        key_id=row.key_id,
        signature=row.signature,
        number=None if row.number is None else int(row.number),
        prev=row.prev,
    )


def _next_link(conn: Connection, log_id: str) -> tuple[int, str]:
    """The number and ``prev`` of the next checkpoint: after the last one, whatever its format."""
    last = conn.execute(_LAST_CHECKPOINT).first()
    if last is None:
        return 1, GENESIS
    previous = checkpoint_of(last, log_id)
    if previous.number is not None:
        return previous.number + 1, previous.digest()
    return int(conn.execute(_CHECKPOINTS).scalar() or 0) + 1, previous.digest()
