"""``tether audit verify``: walk the chain, check the signatures, say where it broke."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from tether.audit._canonical import GENESIS
from tether.audit._checkpoint import Checkpoint
from tether.audit._damage import Problem, Row, classify
from tether.audit._errors import AuditError, AuditKeyError, AuditLogUnreadable, UnknownSchemaVersion
from tether.audit._event import KNOWN_SCHEMA_VERSIONS
from tether.audit._keys import KeyStore
from tether.audit._reader import DRIVER_ERRORS as _DRIVER_ERRORS
from tether.audit._reader import Reader, read_snapshot
from tether.db import DatabaseError, connect

_LOOKAHEAD = 1000
"""How many rows after a break are read to tell an insertion or a reordering."""

_COLUMNS = ("type", "run_id", "call_id", "agent", "principal", "tool", "at", "schema_version")
_BODY_KEYS = ("type", "run", "call", "agent", "principal", "tool", "at", "v")


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    """What verification found. ``intact`` only if nothing at all was wrong."""

    log_id: str
    """The log's id."""
    events: int
    """How many events were checked."""
    first_seq: int | None
    """The first event in the log (1 unless older events were pruned)."""
    last_seq: int | None
    """The last event in the log."""
    checkpoints: int
    """How many checkpoints have a valid signature (including an external one)."""
    signed_through: int | None
    """The last event a valid checkpoint vouches for; later events are unsigned so far."""
    problems: tuple[Problem, ...] = field(default=())
    """Everything wrong, first bad sequence number first."""

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        first = self.first_problem
        return {
            "intact": self.intact,
            "log_id": self.log_id,
            "events": self.events,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "checkpoints": self.checkpoints,
            "signed_through": self.signed_through,
            "first_bad_seq": first.seq if first else None,
            "damage": first.kind if first else None,
            "problems": [problem.to_dict() for problem in self.problems],
        }


def verify(
    database: Engine | str | None = None,
    *,
    keys: KeyStore | str | Path | None = None,
    checkpoint: Checkpoint | str | Path | None = None,
    upto: int | None = None,
) -> VerifyReport:
    """Check the whole audit log in ``database`` against the public keys in ``keys``.

    ``checkpoint`` is one kept outside the database (a file or a :class:`Checkpoint`),
    which also detects a cut tail. ``upto`` stops at that event (pruning checks what it
    removes). Damage is reported in the result; a log that cannot be checked at all
    (no such database, no audit tables, a missing key, an unknown schema version)
    raises an :class:`~tether.audit.AuditError`.
    """
    store = keys if isinstance(keys, KeyStore) else KeyStore(keys)
    external = (
        Checkpoint.from_file(checkpoint) if isinstance(checkpoint, str | Path) else checkpoint
    )
    owned = not isinstance(database, Engine)
    engine = database if isinstance(database, Engine) else _open(database)
    try:
        with read_snapshot(engine) as reader:
            return _Verifier(reader, store, external, upto).run()
    finally:
        if owned:
            engine.dispose()


def _open(url: str | None) -> Engine:
    try:
        return connect(url, migrate=False)
    except DatabaseError as exc:
        raise AuditLogUnreadable(str(exc)) from None


class _Verifier:
    def __init__(
        self, reader: Reader, keys: KeyStore, external: Checkpoint | None, upto: int | None
    ) -> None:
        self.reader = reader
        self.keys = keys
        self.external = external
        self.upto = upto
        self.problems: list[Problem] = []
        self.valid: list[Checkpoint] = []

    def run(self) -> VerifyReport:
        log_id = self._log_id()
        self._check_schema_versions()
        self._check_checkpoints(log_id)
        bounds = self.reader.one("SELECT min(seq), max(seq) FROM tether_audit_event")
        first, last = (bounds or (None, None))[0], (bounds or (None, None))[1]
        if self.upto is not None and last is not None:
            last = min(last, self.upto)
        walk = _Walk(self.valid)
        if first is not None:
            self._walk(walk, first)
        end = last if last is not None else self._pruned_through()
        self._check_truncation(end)
        if not self.problems and first is not None:
            self._check_columns()
        signed = [cp.seq for cp in self.valid if cp.seq <= (walk.last or 0) and cp.seq in walk.met]
        return VerifyReport(
            log_id=log_id,
            events=walk.count,
            first_seq=first,
            last_seq=last,
            checkpoints=len(self.valid),
            signed_through=max(signed, default=None),
            problems=tuple(sorted(self.problems, key=lambda p: p.seq)),
        )

    # --- the log and its checkpoints ----------------------------------------------

    def _log_id(self) -> str:
        row = self.reader.one("SELECT value FROM tether_audit_meta WHERE name = 'log_id'")
        if row is None:
            raise AuditLogUnreadable(
                f"{self.reader.where} has audit tables but no log id: it was not set up by "
                "tether, or its meta table was emptied"
            )
        return str(row[0])

    def _check_schema_versions(self) -> None:
        known = ",".join(str(v) for v in KNOWN_SCHEMA_VERSIONS)
        row = self.reader.one(
            "SELECT seq, schema_version FROM tether_audit_event "
            f"WHERE schema_version NOT IN ({known}) ORDER BY seq LIMIT 1"
        )
        if row is not None:
            raise UnknownSchemaVersion(seq=row[0], version=row[1], known=KNOWN_SCHEMA_VERSIONS)

    def _check_checkpoints(self, log_id: str) -> None:
        rows = self.reader.all(
            "SELECT seq, hash, at, kind, key_id, signature FROM tether_audit_checkpoint ORDER BY id"
        )
        stored = [
            Checkpoint(
                log_id=log_id,
                seq=int(seq),
                hash=h,
                at=at,
                kind=kind,
                key_id=key_id,
                signature=signature,
            )
            for seq, h, at, kind, key_id, signature in rows
        ]
        if self.external is not None and self.external.log_id != log_id:
            raise AuditError(
                f"the checkpoint file is for log {self.external.log_id}, but "
                f"{self.reader.where} holds log {log_id}: it belongs to another database"
            )
        public = self.keys.public_keys() if stored or self.external else {}
        for cp in [*stored, *([self.external] if self.external else [])]:
            key = public.get(cp.key_id)
            if key is None:
                raise AuditKeyError(
                    f"checkpoint for event {cp.seq} is signed by key {cp.key_id}, which is not "
                    f"in {self.keys.path} ({len(public)} keys there). Copy that key's "
                    f"{cp.key_id}.pub file there, or point --keys at the directory that has it.",
                    key_id=cp.key_id,
                )
            if cp.signature_valid(key):
                self.valid.append(cp)
            else:
                self.problems.append(
                    Problem(
                        seq=cp.seq,
                        kind="bad_signature",
                        message=f"the {cp.kind} checkpoint for event {cp.seq} signed at {cp.at} "
                        f"does not verify with key {cp.key_id}",
                    )
                )

    def _pruned_through(self) -> int:
        return max((cp.seq for cp in self.valid if cp.kind == "prune"), default=0)

    def _check_truncation(self, end: int) -> None:
        beyond = [cp for cp in self.valid if cp.seq > end]
        if self.upto is not None or not beyond:
            return
        cp = min(beyond, key=lambda c: c.seq)
        self.problems.append(
            Problem(
                seq=end + 1,
                kind="truncated",
                message=f"the log ends at event {end}, but a {cp.kind} checkpoint signed at "
                f"{cp.at} vouches for event {cp.seq}: events {end + 1} to {cp.seq} or more "
                "were cut",
            )
        )

    # --- the chain -------------------------------------------------------------------

    def _anchor(self, first: int) -> tuple[str, Problem | None]:
        if first == 1:
            return GENESIS, None
        cuts = {cp.seq: cp.hash for cp in self.valid if cp.kind == "prune"}
        if first - 1 in cuts:
            return cuts[first - 1], None
        since = max((seq for seq in cuts if seq < first), default=0) + 1
        return GENESIS, Problem(
            seq=since,
            kind="deleted",
            message=f"the log starts at event {first}, but no pruning checkpoint accounts for "
            f"events {since} to {first - 1}",
        )

    def _walk(self, walk: _Walk, first: int) -> None:
        prev, problem = self._anchor(first)
        if problem is not None:
            self.problems.append(problem)
            return
        sql = "SELECT seq, record, hash FROM tether_audit_event"
        params: tuple[int, ...] = ()
        if self.upto is not None:
            sql, params = sql + " WHERE seq <= ?", (self.upto,)
        with self.reader.rows(sql + " ORDER BY seq", params) as rows:
            broken = walk.run(rows, first, prev)
            if broken is None:
                return
            row, expected, prev = broken
            following = list(itertools.islice(rows, _LOOKAHEAD))
        self.problems.append(
            classify(
                row, expected=expected, prev=prev, following=following, at_start=walk.count == 0
            )
            if not walk.checkpoint_mismatch
            else walk.checkpoint_mismatch
        )

    # --- the query columns agree with the signed records ------------------------------

    def _check_columns(self) -> None:
        try:
            row = self.reader.savepoint_one(_column_check_sql(self.reader.postgres))
        except _DRIVER_ERRORS:  # a record that is not JSON at all: check row by row instead
            row = self._check_columns_slowly()
        if row is not None:
            self.problems.append(
                Problem(
                    seq=int(row[0]),
                    kind="edited",
                    message=f"event {row[0]}'s query columns (type, run, agent, principal, "
                    "tool, time) were changed: they differ from its hashed record",
                )
            )

    def _check_columns_slowly(self) -> tuple[int] | None:
        sql = f"SELECT seq, record, {', '.join(_COLUMNS)} FROM tether_audit_event ORDER BY seq"
        with self.reader.rows(sql) as rows:
            for seq, record, *columns in rows:
                try:
                    body = json.loads(record)["body"]
                    values = [body.get(key) for key in _BODY_KEYS]
                except (TypeError, ValueError, KeyError, AttributeError):
                    return (seq,)
                if values != columns:
                    return (seq,)
        return None


class _Walk:
    """The fast path: hash each record, check its link and position, compare checkpoints."""

    def __init__(self, valid: Iterable[Checkpoint]) -> None:
        self.expect: dict[int, list[Checkpoint]] = {}
        for cp in valid:
            self.expect.setdefault(cp.seq, []).append(cp)
        self.count = 0
        self.last: int | None = None
        self.met: set[int] = set()
        self.checkpoint_mismatch: Problem | None = None

    def run(self, rows: Iterator[Row], first: int, prev: str) -> tuple[Row, int, str] | None:
        """Walk until the chain breaks; then the breaking row, its due position and link."""
        sha256 = hashlib.sha256
        expect = self.expect
        expected = first
        count = 0
        try:
            for row in rows:
                seq, record, stored = row
                digest = sha256(record.encode()).hexdigest()
                if (
                    digest != stored
                    or seq != expected
                    or not record.endswith(f',"prev":"{prev}","seq":{seq}}}')
                ):
                    return self._stop(row, expected, prev, count)
                if seq in expect and not self._meets(seq, digest):
                    return self._stop(row, expected, prev, count)
                prev = digest
                expected += 1
                count += 1
        except (AttributeError, TypeError):  # a record that is not text
            return self._stop(row, expected, prev, count)
        self.count = count
        self.last = expected - 1 if count else None
        return None

    def _stop(self, row: Row, expected: int, prev: str, count: int) -> tuple[Row, int, str]:
        self.count = count
        self.last = expected - 1 if count else None
        return row, expected, prev

    def _meets(self, seq: int, digest: str) -> bool:
        for cp in self.expect[seq]:
            if cp.hash != digest:
                since = max((s for s in self.met if s < seq), default=0)
                self.checkpoint_mismatch = Problem(
                    seq=seq,
                    kind="edited",
                    message=f"event {seq} is not the one the {cp.kind} checkpoint signed at "
                    f"{cp.at} vouches for: the chain after event {since} was rewritten",
                )
                return False
        self.met.add(seq)
        return True


def _column_check_sql(postgres: bool) -> str:
    if postgres:
        checks = " OR ".join(
            f"b->>'{key}' IS DISTINCT FROM {column}"
            + ("::text" if column == "schema_version" else "")
            for key, column in zip(_BODY_KEYS, _COLUMNS, strict=True)
        )
        # OFFSET 0 keeps the subquery whole, so each record is parsed once, not per check.
        return (
            "SELECT seq FROM (SELECT *, (record::jsonb)->'body' AS b FROM tether_audit_event "
            f"OFFSET 0) t WHERE {checks} ORDER BY seq LIMIT 1"
        )
    checks = " OR ".join(
        f"json_extract(record, '$.body.{key}') IS NOT {column}"
        for key, column in zip(_BODY_KEYS, _COLUMNS, strict=True)
    )
    return f"SELECT seq FROM tether_audit_event WHERE {checks} ORDER BY seq LIMIT 1"
