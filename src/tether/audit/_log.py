"""The audit log: append events to the hash chain, sign checkpoints, prune, read back."""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tether.audit._canonical import (
    GENESIS,
    canonical_json,
    format_time,
    make_record,
    sha256_hex,
)
from tether.audit._checkpoint import Checkpoint, CheckpointKind
from tether.audit._checkpoints import Checkpoints, checkpoint_of
from tether.audit._columns import COLUMNS, columns_of
from tether.audit._delivery import Deliverer, Delivery
from tether.audit._errors import AuditError
from tether.audit._event import AuditEvent, StoredEvent
from tether.audit._from_gate import from_gate_event
from tether.audit._group import GroupCommit
from tether.audit._keys import KeyStore
from tether.audit._policies import changes, policy_events, policy_version, snapshot_writer
from tether.audit._query import EventFilter, read_events
from tether.audit._reader import read_snapshot
from tether.audit._verify import verify
from tether.audit._verify_report import VerifyReport
from tether.audit._witness import Witness
from tether.db import (
    Prepared,
    audit_checkpoint,
    audit_event,
    audit_prune_guard,
    connect,
    is_postgres,
    policy_snapshot,
    write_transaction,
)
from tether.redaction import Redactor

if TYPE_CHECKING:
    from tether.gate import GateEvent

log = logging.getLogger("tether.audit")

LOCK_KEY = "tether.audit"
"""The write lock every append takes, so all writers build one chain."""
DEFAULT_RETENTION = _dt.timedelta(days=190)
"""How long events are kept by default before :meth:`AuditLog.prune` may remove them:
more than the six months (at most 184 days) the AI Act asks deployers to keep logs for
(Arts. 19 and 26(6))."""

_Prepared = tuple[AuditEvent, dict[str, Any], str]
"""An event ready to be chained: redacted, its body, its canonical JSON."""
Alongside = Callable[[Connection], "bool | None"]
"""A write stored in the same transaction as audit events; see ``AuditLog.append_many``."""
_Batch = tuple[list[_Prepared], "Alongside | None"]
"""One caller's events, and what it writes alongside them."""

_REDACTED_KEYS = ("args", "why", "decision", "approval", "effect", "result", "error", "details")


@dataclass(frozen=True, kw_only=True)
class PruneResult:
    """What :meth:`AuditLog.prune` removed."""

    removed: int
    """How many events were deleted."""
    cutoff: _dt.datetime
    """Events older than this were due for removal."""
    checkpoint: Checkpoint | None
    """The signed checkpoint at the cut, if anything was removed."""


class AuditLog:
    """The tamper-evident audit trail in tether's database; also the gate's recorder.

    ```python
    audit = AuditLog("sqlite:///.tether/tether.db")
    gate = Gate(policy, recorder=audit)
    ```

    Appends from any number of threads, processes and hosts form one chain: each takes
    the ``tether.audit`` write lock, reads the last event and links to it. A signed
    checkpoint is written every ``checkpoint_every`` events or when
    ``checkpoint_interval_seconds`` have passed since the last one (checked on append).
    Everything stored goes through ``redactor`` (a default :class:`Redactor` unless
    given), even what the gate already redacted.
    """

    def __init__(
        self,
        database: Engine | str | None = None,
        *,
        keys: KeyStore | str | Path | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval_seconds: float = 60.0,
        retention: _dt.timedelta = DEFAULT_RETENTION,
        redactor: Redactor | None = None,
        witnesses: Sequence[Witness] = (),
        require_witness: bool = False,
        witness_retry_seconds: float = 5.0,
    ) -> None:
        if retention <= _dt.timedelta(0):
            raise ValueError(f"retention must be a positive duration, got {retention}")
        self._database = database
        self._engine: Engine | None = database if isinstance(database, Engine) else None
        self._owns_engine = False
        self.keys = keys if isinstance(keys, KeyStore) else KeyStore(keys)
        self._checkpoints = Checkpoints(
            self.keys,
            every=checkpoint_every,
            interval=_dt.timedelta(seconds=checkpoint_interval_seconds),
        )
        self.retention = retention
        self.redactor = redactor or Redactor()
        self._group = GroupCommit(self._write)
        self._deciding: _Deciding | None = None
        """The policy this process decides with, until its text is kept."""
        self._policy_lock = threading.Lock()
        if require_witness and not witnesses:
            raise ValueError("require_witness needs at least one witness")
        self.witnesses = list(witnesses)
        """Where every checkpoint is sent as it is made (see ``audit/_delivery.py``)."""
        self._deliverer = Deliverer(
            self.witnesses,
            required=require_witness,
            retry_seconds=witness_retry_seconds,
            engine=lambda: self.engine,
            checkpoint_of=lambda row: checkpoint_of(row, self.log_id()),
            public_pem=self.keys.public_pem,
            handovers=self.keys.handovers,
            incident=self._witness_refused,
        )

    # --- lifecycle ------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The database; opened (and migrated) on first use when a URL was given."""
        if self._engine is None:
            url = self._database if isinstance(self._database, str) else None
            self._engine = connect(url)
            self._owns_engine = True
        return self._engine

    def close(self) -> None:
        """Close the connections the log opened itself (not an engine it was given)."""
        self._deliverer.close()
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._owns_engine = False

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- writing --------------------------------------------------------------------

    def record(self, event: GateEvent) -> None:
        """The gate's :class:`~tether.gate.Recorder`: one audit event per gate step."""
        self.append(from_gate_event(event))

    def record_many(
        self,
        events: Sequence[GateEvent],
        *,
        alongside: Alongside | None = None,
    ) -> None:
        """Several gate events in one transaction; see :meth:`append_many`."""
        self.append_many([from_gate_event(event) for event in events], alongside=alongside)

    def append(self, event: AuditEvent) -> StoredEvent:
        """Add one event to the end of the chain (its own transaction)."""
        return self.append_many([event])[0]

    def append_many(
        self,
        events: Sequence[AuditEvent],
        *,
        alongside: Alongside | None = None,
    ) -> list[StoredEvent]:
        """Add events in order, in one transaction: all of them or none.

        ``alongside`` writes what must be stored in the same transaction as the
        events (the runtime's effect ledger, a run's end): both are kept, or neither.
        It must be a small write of tether's own; if it fails, so does the append.
        When it returns False, what the events would record did not happen (a
        conditional update changed nothing): none of them is written, and the
        result is empty.

        Appends that arrive from other threads while a transaction is being written
        wait and are then written together, in one transaction (group commit): the
        chain's lock is taken once for all of them, not once each.
        """
        prepared = [self._prepare(event) for event in events]
        if not prepared:
            return []
        self._keep_deciding_policy(events)
        return self._group.submit((prepared, alongside))

    def _write(self, batches: list[_Batch]) -> list[list[StoredEvent]]:
        """Write several callers' events in one transaction, each caller's in order."""
        self._deliverer.check()
        # The chain's lock first, before what is written alongside: those writes read
        # what other appends change (the policy in use, a run's contacts) and rely on
        # the lock to see it settled. Taken after them, two workers launched at once
        # both stored the same policy snapshot.
        with write_transaction(self.engine, LOCK_KEY) as conn:
            kept = [alongside is None or alongside(conn) is not False for _, alongside in batches]
            seq, prev = _tail(conn)
            rows: list[dict[str, Any]] = []
            stored: list[list[StoredEvent]] = []
            for (batch, _), keep in zip(batches, kept, strict=True):
                mine: list[StoredEvent] = []
                if not keep:
                    stored.append(mine)
                    continue
                for event, body, body_json in batch:
                    seq += 1
                    record = make_record(body_json, prev, seq)
                    digest = sha256_hex(record)
                    rows.append(_row(body, seq, record, digest))
                    mine.append(
                        StoredEvent(seq=seq, hash=digest, prev=prev, event=event, record=record)
                    )
                    prev = digest
                stored.append(mine)
            if not rows:
                return stored
            _INSERT_EVENTS.execute_many(conn, rows)
            written = self._checkpoints.if_due(conn, seq, prev)
        self._checkpoints.committed(written)
        if written is not None:
            self._deliverer.wake()
        return stored

    def _prepare(self, event: AuditEvent) -> _Prepared:
        body = event.body()
        content = {key: body[key] for key in _REDACTED_KEYS if key in body}
        if content:
            redacted = self.redactor.redact(content).value
            if redacted != content:
                body.update(redacted)
                event = AuditEvent.from_body(body, at=event.at)
        return event, body, canonical_json(body)

    # --- checkpoints ----------------------------------------------------------------

    def checkpoint(self, *, kind: CheckpointKind = "manual") -> Checkpoint | None:
        """Sign a checkpoint for the last event now (None if the log is empty)."""
        with write_transaction(self.engine, LOCK_KEY) as conn:
            seq, digest = _tail(conn)
            if seq == 0:
                return None
            written = self._checkpoints.write(conn, seq, digest, kind)
        self._checkpoints.committed(written)
        if written is not None:
            self._deliverer.wake()
        return written

    def export_checkpoint(self, path: str | Path) -> Checkpoint:
        """Sign a checkpoint for the last event and write it to ``path``, outside the database.

        Verifying later against this file (``tether audit verify --checkpoint FILE``)
        detects events cut from the end of the log, which the chain alone cannot.
        """
        checkpoint = self.checkpoint()
        if checkpoint is None:
            raise AuditError("the audit log is empty: there is nothing to vouch for yet")
        checkpoint.to_file(path)
        return checkpoint

    def latest_checkpoint(self) -> Checkpoint | None:
        """The most recent checkpoint in the database."""
        with self.engine.connect() as conn:
            return self._checkpoints.latest(conn)

    # --- policy snapshots -----------------------------------------------------------

    def record_policy(
        self,
        text: str,
        *,
        actor: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> str | None:
        """Keep the text of a policy version that decides calls; its version.

        When a version comes into use (new, or back after another) its text is stored
        once (``tether_policy_snapshot``), it is recorded as ``policy.loaded`` with
        ``actor``, and each change in shadow mode or approvers since the version in use
        before as ``policy.changed``. Returns the version, or None when it was in use
        already.
        """
        version = policy_version(text)
        write, previous = snapshot_writer(text, version)
        stored = self.append_many(
            policy_events(text, version, actor=actor, source=source), alongside=write
        )
        if not stored:
            return None
        if previous:
            found = changes(previous[1], text)
            if found:
                self.append_many(
                    [
                        AuditEvent(
                            type="policy.changed",
                            run_id="-",
                            details={"policy_version": version, "previous": previous[0], **change},
                            actor=actor,
                        )
                        for change in found
                    ]
                )
        return version

    def deciding_with(
        self, text: str, *, actor: Mapping[str, Any] | None = None, source: str | None = None
    ) -> None:
        """The policy this process decides with: its text is kept (:meth:`record_policy`)
        before the first event that names its version as a decision's, whatever surface
        makes that decision (a worker, the console, the CLI, an embedded runtime)."""
        with self._policy_lock:
            self._deciding = _Deciding(policy_version(text), text, actor, source)

    def record_deciding_policy(self) -> str | None:
        """Keep the text of the policy :meth:`deciding_with` named now; its version, or
        None when there is none or it was in use already."""
        with self._policy_lock:
            pending, self._deciding = self._deciding, None
        if pending is None:
            return None
        try:
            return self.record_policy(pending.text, actor=pending.actor, source=pending.source)
        except BaseException:
            with self._policy_lock:
                self._deciding = self._deciding or pending
            raise

    def _keep_deciding_policy(self, events: Sequence[AuditEvent]) -> None:
        pending = self._deciding
        if pending is not None and any(_decided_by(event, pending.version) for event in events):
            self.record_deciding_policy()

    def policy_text(self, version: str) -> str | None:
        """The stored text of a policy version, if it decided anything here."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(policy_snapshot.c.text).where(policy_snapshot.c.version == version)
            ).scalar()
        return None if value is None else str(value)

    # --- witnesses ------------------------------------------------------------------

    def send_to_witnesses(self) -> list[Delivery]:
        """Deliver every checkpoint a witness lacks now, in this thread; what each answered.

        The log does this by itself in the background after each checkpoint; call it to
        know the outcome (``tether audit checkpoint`` does).
        """
        return self._deliverer.deliver()

    def _witness_refused(self, witness: str, checkpoint: Checkpoint, reason: str) -> None:
        log.error("audit witness %s refused checkpoint %s: %s", witness, checkpoint.number, reason)
        self.append(
            AuditEvent(
                type="audit.witness_refused",
                run_id="-",
                details={
                    "witness": witness,
                    "checkpoint": checkpoint.number,
                    "seq": checkpoint.seq,
                    "reason": reason,
                },
            )
        )

    def rotate_key(self) -> str:
        """Start signing with a new key; sign a checkpoint with it at once. Returns its id."""
        key = self._checkpoints.rotate()
        self.checkpoint()
        return key.key_id

    # --- retention ------------------------------------------------------------------

    def prune(
        self,
        *,
        older_than: _dt.timedelta | None = None,
        now: _dt.datetime | None = None,
        actor: Mapping[str, Any] | None = None,
    ) -> PruneResult:
        """Remove events older than the retention period, leaving a signed checkpoint at the cut.

        Only a leading run of old events is removed (never one younger than the cutoff),
        after checking that the part to be removed verifies; the rest of the log still
        verifies, anchored at the pruning checkpoint. The pruning is recorded as an
        ``audit.pruned`` event (the retention it applied, by ``actor``), which the
        compliance report reads.
        """
        kept_for = older_than or self.retention
        cutoff = (now or _dt.datetime.now(_dt.UTC)) - kept_for
        with write_transaction(self.engine, LOCK_KEY) as conn:
            cut = _cut(conn, format_time(cutoff))
            if cut is None:
                return PruneResult(removed=0, cutoff=cutoff, checkpoint=None)
            cut_seq, cut_hash = cut
            report = verify(self.engine, keys=self.keys, upto=cut_seq)
            if not report.intact:
                problem = report.problems[0]
                raise AuditError(
                    f"refusing to prune: the events to remove do not verify ({problem.kind} at "
                    f"event {problem.seq}: {problem.message})"
                )
            checkpoint = self._checkpoints.write(conn, cut_seq, cut_hash, "prune")
            removed = _delete_through(conn, cut_seq)
        self._deliverer.wake()
        self.append(
            AuditEvent(
                type="audit.pruned",
                run_id="-",
                details={
                    "cutoff": format_time(cutoff),
                    "older_than_days": round(kept_for.total_seconds() / 86_400, 3),
                    "removed": removed,
                    "through_seq": cut_seq,
                },
                actor=actor,
            )
        )
        return PruneResult(removed=removed, cutoff=cutoff, checkpoint=checkpoint)

    # --- reading --------------------------------------------------------------------

    def events(
        self,
        *,
        run: str | None = None,
        agent: str | None = None,
        principal: str | None = None,
        tool: str | None = None,
        type: str | None = None,
        since: _dt.datetime | None = None,
        until: _dt.datetime | None = None,
        limit: int | None = None,
        newest: bool = False,
    ) -> Iterator[StoredEvent]:
        """Events in order, filtered; ``limit`` with ``newest`` keeps the last ones."""
        where = EventFilter(
            run=run,
            agent=agent,
            principal=principal,
            tool=tool,
            type=type,
            since=since,
            until=until,
        )
        return read_events(self.engine, where, limit=limit, newest=newest)

    def records(self, first: int, last: int) -> Iterator[tuple[int, str, str]]:
        """The stored ``(seq, record, hash)`` of events ``first`` to ``last``, in order."""
        with read_snapshot(self.engine) as reader:
            sql = (
                "SELECT seq, record, hash FROM tether_audit_event "
                "WHERE seq >= ? AND seq <= ? ORDER BY seq"
            )
            with reader.rows(sql, (first, last)) as rows:
                for seq, record, digest in rows:
                    yield int(seq), record, digest

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint in the database, in the order they were written."""
        with self.engine.connect() as conn:
            return self._checkpoints.all(conn)

    def log_id(self) -> str:
        """The log's id (``tether_audit_meta``)."""
        known = self._checkpoints.known_log_id
        if known is not None:
            return known
        with self.engine.connect() as conn:
            return self._checkpoints.log_id(conn)

    def sign(self, payload: bytes) -> tuple[str, bytes]:
        """Sign ``payload`` with the active key (an evidence bundle's manifest): (key id, sig)."""
        key = self._checkpoints.signing_key()
        return key.key_id, key.sign(payload)

    def verify(self, *, checkpoint: Checkpoint | str | Path | None = None) -> VerifyReport:
        """Check the whole log; see :func:`tether.audit.verify`."""
        return verify(self.engine, keys=self.keys, checkpoint=checkpoint, witnesses=self.witnesses)


_INSERT_EVENTS = Prepared(audit_event.insert(), keys=[column.name for column in audit_event.c])
"""Every append writes events and reads the chain's tail: both prepared."""


def _row(body: dict[str, Any], seq: int, record: str, digest: str) -> dict[str, Any]:
    row = dict(zip(COLUMNS, columns_of(body), strict=True))
    row.update(seq=seq, record=record, hash=digest)
    return row


_TAIL = Prepared(
    sa.select(audit_event.c.seq, audit_event.c.hash).order_by(audit_event.c.seq.desc()).limit(1)
)
_LAST_CUT = (
    sa.select(audit_checkpoint.c.seq, audit_checkpoint.c.hash)
    .where(audit_checkpoint.c.kind == "prune")
    .order_by(audit_checkpoint.c.seq.desc())
    .limit(1)
)


def _tail(conn: Connection) -> tuple[int, str]:
    """The last event's position and hash; after pruning everything, the cut's."""
    row = _TAIL.first(conn, {})
    if row is not None:
        return int(row[0]), str(row[1])
    cut = conn.execute(_LAST_CUT).first()
    return (int(cut.seq), str(cut.hash)) if cut is not None else (0, GENESIS)


def _cut(conn: Connection, cutoff: str) -> tuple[int, str] | None:
    """The last event of the leading run of events older than ``cutoff``."""
    first = conn.execute(sa.select(sa.func.min(audit_event.c.seq))).scalar()
    if first is None:
        return None
    young = conn.execute(
        sa.select(sa.func.min(audit_event.c.seq)).where(audit_event.c.at >= cutoff)
    ).scalar()
    last = (
        young - 1
        if young is not None
        else conn.execute(sa.select(sa.func.max(audit_event.c.seq))).scalar()
    )
    if last is None or last < first:
        return None
    digest = conn.execute(sa.select(audit_event.c.hash).where(audit_event.c.seq == last)).scalar()
    return int(last), str(digest)


def _delete_through(conn: Connection, seq: int) -> int:
    """Delete events up to ``seq``, through the one door the append-only triggers leave."""
    if is_postgres(conn):
        conn.execute(sa.text("SELECT set_config('tether.audit_prune', 'on', true)"))
        result = conn.execute(audit_event.delete().where(audit_event.c.seq <= seq))
        conn.execute(sa.text("SELECT set_config('tether.audit_prune', 'off', true)"))
    else:
        conn.execute(audit_prune_guard.insert(), {"id": 1})
        result = conn.execute(audit_event.delete().where(audit_event.c.seq <= seq))
        conn.execute(audit_prune_guard.delete())
    return int(result.rowcount)


@dataclass(frozen=True)
class _Deciding:
    version: str
    text: str
    actor: Mapping[str, Any] | None
    source: str | None


def _decided_by(event: AuditEvent, version: str) -> bool:
    """Whether ``event`` records a decision (or an approval) made by policy ``version``."""
    for data in (event.decision, event.approval):
        if data and data.get("policy_version") == version:
            return True
    return False
