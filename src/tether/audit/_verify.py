"""Verification: walk the hash chain, check the checkpoints and witnesses, say where it broke."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from tether.audit._canonical import GENESIS, sha256_hex
from tether.audit._checkpoint import Checkpoint
from tether.audit._column_check import first_differing
from tether.audit._damage import Problem, Row, classify
from tether.audit._errors import AuditError, AuditKeyError, AuditLogUnreadable, UnknownSchemaVersion
from tether.audit._event import KNOWN_SCHEMA_VERSIONS
from tether.audit._keys import KeyStore
from tether.audit._reader import Reader, driver_errors, read_snapshot, twin_opener
from tether.audit._verify_report import Assurance, VerifyReport, WitnessCheck
from tether.audit._witness import Witness
from tether.db import DatabaseError, connect


def verify(
    database: Engine | str | None = None,
    *,
    keys: KeyStore | str | Path | None = None,
    checkpoint: Checkpoint | str | Path | None = None,
    upto: int | None = None,
    witnesses: Sequence[Witness] = (),
) -> VerifyReport:
    """Check the whole audit log in ``database`` against the public keys in ``keys``.

    ``checkpoint`` is one kept outside the database (a file or a :class:`Checkpoint`),
    which also detects a cut tail; so do ``witnesses``, which hold every checkpoint
    sent to them. ``upto`` stops at that event (pruning checks what it removes).
    Damage is reported in the result; a log that cannot be checked at all (no such
    database, no audit tables, a missing key, an unknown schema version in an
    otherwise intact log) raises an :class:`~tether.audit.AuditError`.
    """
    store = keys if isinstance(keys, KeyStore) else KeyStore(keys)
    external = (
        Checkpoint.from_file(checkpoint) if isinstance(checkpoint, str | Path) else checkpoint
    )
    owned = not isinstance(database, Engine)
    engine = database if isinstance(database, Engine) else _open(database)
    try:
        with read_snapshot(engine) as reader:
            twin = twin_opener(engine, reader)
            return _Verifier(reader, store, external, upto, witnesses, twin=twin).run()
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
        self,
        reader: Reader,
        keys: KeyStore,
        external: Checkpoint | None,
        upto: int | None,
        witnesses: Sequence[Witness],
        *,
        twin: Callable[[], AbstractContextManager[Reader]] | None = None,
    ) -> None:
        self.reader = reader
        self.twin = twin
        """Opens a second reader, for the column check beside the walk."""
        self.keys = keys
        self.external = external
        self.upto = upto
        self.witnesses = witnesses
        self.problems: list[Problem] = []
        self.valid: list[Checkpoint] = []
        """The database's and the external checkpoint with valid signatures."""
        self.witnessed: list[Checkpoint] = []
        """Checkpoints the witnesses hold, with valid signatures."""
        self.stored: list[Checkpoint] = []
        self.checks: list[WitnessCheck] = []
        self._public: dict[str, Any] | None = None

    def run(self) -> VerifyReport:
        log_id = self._log_id()
        self._check_checkpoints(log_id)
        self._check_witnesses(log_id)
        where = "WHERE seq >= 1"
        bounds = self.reader.one(f"SELECT min(seq), max(seq) FROM tether_audit_event {where}")
        first, last = (bounds or (None, None))[0], (bounds or (None, None))[1]
        if self.upto is not None and last is not None:
            last = min(last, self.upto)
        walk = _Walk([*self.valid, *self.witnessed])
        with self._columns_checked_beside(first, last) as columns_found:
            if first is not None:
                self._walk(walk, first)
            end = last if last is not None else self._pruned_through()
            self._check_truncation(end)
            self._check_misplaced()
            if not self.problems and first is not None:
                self._check_columns(columns_found())
        signed = [cp.seq for cp in self.valid if cp.seq <= (walk.last or 0) and cp.seq in walk.met]
        return VerifyReport(
            log_id=log_id,
            events=walk.count,
            first_seq=first,
            last_seq=last,
            checkpoints=len(self.valid),
            signed_through=max(signed, default=None),
            problems=tuple(sorted(self.problems, key=lambda p: p.seq)),
            assurance=self._assurance(),
            witnesses=tuple(self.checks),
        )

    def _assurance(self) -> Assurance:
        if any(check.kind == "server" and check.checkpoints for check in self.checks):
            return "witnessed"
        if self.external is not None or any(check.checkpoints for check in self.checks):
            return "exported"
        return "local"

    # --- the log and its checkpoints ----------------------------------------------

    def _log_id(self) -> str:
        row = self.reader.one("SELECT value FROM tether_audit_meta WHERE name = 'log_id'")
        if row is None:
            raise AuditLogUnreadable(
                f"{self.reader.where} has audit tables but no log id: it was not set up by "
                "tether, or its meta table was emptied"
            )
        return str(row[0])

    def _public_keys(self) -> dict[str, Any]:
        if self._public is None:
            self._public = self.keys.public_keys()
        return self._public

    def _key_for(self, cp: Checkpoint, where: str) -> Any:
        public = self._public_keys()
        key = public.get(cp.key_id)
        if key is None:
            raise AuditKeyError(
                f"{where} for event {cp.seq} is signed by key {cp.key_id}, which is not "
                f"in {self.keys.path} ({len(public)} keys there). Copy that key's "
                f"{cp.key_id}.pub file there, or point --keys at the directory that has it.",
                key_id=cp.key_id,
            )
        return key

    def _check_checkpoints(self, log_id: str) -> None:
        columns = "seq, hash, at, kind, key_id, signature"
        try:
            rows = self.reader.all(
                f"SELECT {columns}, number, prev FROM tether_audit_checkpoint ORDER BY id"
            )
        except driver_errors():  # pragma: no cover  # tables of before migration 0020
            rows = [(*row, None, None) for row in self.reader.all(
                f"SELECT {columns} FROM tether_audit_checkpoint ORDER BY id"
            )]  # fmt: skip
        self.stored = [
            Checkpoint(
                log_id=log_id,
                seq=int(seq),
                hash=h,
                at=at,
                kind=kind,
                key_id=key_id,
                signature=signature,
                number=None if number is None else int(number),
                prev=prev,
            )
            for seq, h, at, kind, key_id, signature, number, prev in rows
        ]
        if self.external is not None and self.external.log_id != log_id:
            raise AuditError(
                f"the checkpoint file is for log {self.external.log_id}, but "
                f"{self.reader.where} holds log {log_id}: it belongs to another database"
            )
        for cp in [*self.stored, *([self.external] if self.external else [])]:
            if cp.signature_valid(self._key_for(cp, "checkpoint")):
                self.valid.append(cp)
            else:
                self.problems.append(_bad_signature(cp))
        self.problems.extend(chain_problems(self.stored))
        if self.external is not None:
            self._compare_with_database(self.external, "the checkpoint file")

    def _compare_with_database(self, cp: Checkpoint, holder: str) -> None:
        """A checkpoint kept elsewhere must be in the database as it was signed."""
        if cp.number is None:
            return
        mine = next((c for c in self.stored if c.number == cp.number), None)
        if mine is None:
            if cp.seq > max((c.seq for c in self.stored), default=0) or self.stored:
                self.problems.append(
                    Problem(
                        seq=cp.seq,
                        kind="checkpoint_missing",
                        message=f"checkpoint {cp.number} (event {cp.seq}), which {holder} "
                        "holds, is not in the database: it was deleted",
                    )
                )
        elif mine.digest() != cp.digest():
            self.problems.append(
                Problem(
                    seq=min(cp.seq, mine.seq),
                    kind="edited",
                    message=f"the database's checkpoint {cp.number} (event {mine.seq}) is not "
                    f"the one {holder} holds (event {cp.seq}): the log's history was rewritten",
                )
            )

    def _check_witnesses(self, log_id: str) -> None:
        latest = max((c.number for c in self.stored if c.number is not None), default=None)
        for witness in self.witnesses:
            self.checks.append(self._check_witness(witness, log_id, latest))

    def _check_witness(self, witness: Witness, log_id: str, latest: int | None) -> WitnessCheck:
        try:
            held = witness.held(log_id)
            key = witness.public_key() if witness.kind == "server" else None
        except AuditError as exc:
            return WitnessCheck(
                name=witness.name, kind=witness.kind, reachable=False, error=str(exc)
            )
        good: list[Checkpoint] = []
        holder = f"witness {witness.name}"
        for item in held:
            cp = item.checkpoint
            if cp.log_id != log_id:
                continue
            if key is not None and (
                item.cosignature is None or not item.cosignature.valid(cp, key)
            ):
                self.problems.append(
                    Problem(
                        seq=cp.seq,
                        kind="bad_signature",
                        message=f"{holder}'s cosignature of checkpoint {cp.number} does not "
                        "verify with its key",
                    )
                )
                continue
            public = self._public_keys().get(cp.key_id)
            if public is None or not cp.signature_valid(public):
                self.problems.append(
                    Problem(
                        seq=cp.seq,
                        kind="bad_signature",
                        message=f"{holder} holds a checkpoint {cp.number} for event {cp.seq} "
                        f"that no key of this log signed (key {cp.key_id})",
                    )
                )
                continue
            good.append(cp)
            self._compare_with_database(cp, holder)
        self.witnessed.extend(good)
        top = max(good, key=lambda c: c.number or 0, default=None)
        behind = (latest or 0) - (top.number or 0) if top is not None else (latest or 0)
        return WitnessCheck(
            name=witness.name,
            kind=witness.kind,
            reachable=True,
            checkpoints=len(good),
            latest_number=top.number if top else None,
            latest_seq=top.seq if top else None,
            behind=max(behind, 0),
        )

    def _pruned_through(self) -> int:
        return max((cp.seq for cp in self.valid if cp.kind == "prune"), default=0)

    def _check_truncation(self, end: int) -> None:
        beyond = [cp for cp in [*self.valid, *self.witnessed] if cp.seq > end]
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

    def _check_misplaced(self) -> None:
        """Rows stored before position 1, which the walk does not see."""
        row = self.reader.one("SELECT min(seq) FROM tether_audit_event WHERE seq < 1")
        if row is None or row[0] is None or any(p.kind == "reordered" for p in self.problems):
            return
        self.problems.append(
            Problem(
                seq=1,
                kind="inserted",
                message=f"a row is stored at position {row[0]}, before the log's first event",
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
        sql = "SELECT seq, record, hash FROM tether_audit_event WHERE seq >= 1"
        params: tuple[int, ...] = ()
        if self.upto is not None:
            sql, params = sql + " AND seq <= ?", (self.upto,)
        with self.reader.rows(sql + " ORDER BY seq", params) as rows:
            broken = walk.run(rows, first, prev)
            if broken is None:
                return
            row, expected, prev = broken
            following = next(rows, None)
        self.problems.append(
            walk.checkpoint_mismatch
            or classify(
                row,
                expected=expected,
                prev=prev,
                following=following,
                locate=self._locate,
                at_start=walk.count == 0,
            )
        )

    def _locate(self, seq: int) -> int | None:
        """Where an intact record of event ``seq`` is stored, if not at ``seq``."""
        rows = self.reader.all(
            "SELECT seq, record, hash FROM tether_audit_event WHERE record LIKE ? AND seq <> ?",
            (f'%,"seq":{seq}}}', seq),
        )
        for at, record, digest in rows:
            if isinstance(record, str) and sha256_hex(record) == digest:
                return int(at)
        return None

    # --- the query columns agree with the signed records ------------------------------

    @contextmanager
    def _columns_checked_beside(
        self, first: int | None, last: int | None
    ) -> Iterator[Callable[[], tuple[int, str] | None]]:
        """The column check, run on a second connection while the chain is walked (the
        database's JSON scan and Python's hashing then share the machine's cores)."""
        if first is None or last is None or self.twin is None:
            yield lambda: first_differing(self.reader, upto=last)
            return
        opener = self.twin

        def check() -> tuple[int, str] | _Here | None:
            with ExitStack() as stack:
                try:
                    reader = stack.enter_context(opener())
                except AuditLogUnreadable:  # no second connection to be had: check it here
                    return _HERE
                return first_differing(reader, upto=last)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tether-verify") as pool:
            future = pool.submit(check)

            def found() -> tuple[int, str] | None:
                result = future.result()
                if isinstance(result, _Here):
                    return first_differing(self.reader, upto=last)
                return result

            yield found

    def _check_columns(self, found: tuple[int, str] | None) -> None:
        """What the column check found: an unknown schema version or an edited row."""
        if found is None:
            return
        seq, version = found
        if version is not None and version not in {str(v) for v in KNOWN_SCHEMA_VERSIONS}:
            shown: object = int(version) if str(version).isdigit() else version
            raise UnknownSchemaVersion(seq=seq, version=shown, known=KNOWN_SCHEMA_VERSIONS)
        self.problems.append(
            Problem(
                seq=int(seq),
                kind="edited",
                message=f"event {seq}'s query columns (type, run, agent, principal, "
                "tool, time) were changed: they differ from its hashed record",
            )
        )


def chain_problems(stored: Iterable[Checkpoint]) -> list[Problem]:
    """Gaps and broken links among checkpoints (in the order they were written)."""
    checkpoints = list(stored)
    legacy = [cp for cp in checkpoints if cp.number is None]
    chained = sorted(
        (cp for cp in checkpoints if cp.number is not None), key=lambda c: c.number or 0
    )
    problems: list[Problem] = []
    if not chained:
        return problems
    first = chained[0]
    before = [cp for cp in checkpoints[: checkpoints.index(first)] if cp.number is None]
    start = (len(before) + 1, before[-1].digest() if before else GENESIS)
    if len(legacy) > len(before):
        problems.append(
            Problem(
                seq=first.seq,
                kind="edited",
                message="an unchained checkpoint was added after chained ones",
            )
        )
    if (first.number, first.prev) != start:
        problems.append(_missing(start[0], (first.number or 0) - 1, 1, first))
    for previous, cp in itertools.pairwise(chained):
        number, expected = cp.number or 0, (previous.number or 0) + 1
        if number > expected:
            problems.append(_missing(expected, number - 1, previous.seq + 1, cp))
        elif number < expected:
            problems.append(
                Problem(
                    seq=cp.seq,
                    kind="edited",
                    message=f"two checkpoints are numbered {number}: one was forged",
                )
            )
        elif cp.prev != previous.digest():
            problems.append(
                Problem(
                    seq=cp.seq,
                    kind="edited",
                    message=f"checkpoint {number} (event {cp.seq}) does not follow checkpoint "
                    f"{previous.number}: a checkpoint was replaced",
                )
            )
    return problems


def _missing(low: int, high: int, seq: int, after: Checkpoint) -> Problem:
    which = f"checkpoint {low}" if low >= high else f"checkpoints {low} to {high}"
    return Problem(
        seq=min(seq, after.seq),
        kind="checkpoint_missing",
        message=f"{which} (before the one for event {after.seq}) "
        f"{'was' if low >= high else 'were'} deleted",
    )


def _bad_signature(cp: Checkpoint) -> Problem:
    return Problem(
        seq=cp.seq,
        kind="bad_signature",
        message=f"the {cp.kind} checkpoint for event {cp.seq} signed at {cp.at} "
        f"does not verify with key {cp.key_id}",
    )


class _Here:
    """The column check could not get a connection of its own: it runs on the walk's."""


_HERE = _Here()


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
