"""Witnesses: copies of every checkpoint kept outside the database, checked for consistency.

A witness holds, per log, the checkpoints it was sent, in order, and takes a new one
only if it **extends** the last it holds: the next number, naming that checkpoint's
digest as ``prev``, for a later or equal event. A log whose tail was cut and whose
checkpoints were deleted (or rewritten and re-signed) cannot make a witness forget
what it saw; ``verify`` compares the log with every witness.

Two kinds:

- :class:`FileWitness`: an append-only JSON Lines file per log in a folder outside the
  database (a mounted WORM share, another disk); the operator's own copy
  (assurance ``exported``).
- :class:`ServerWitness`: ``tether witness serve``, a separate process with its own
  key, which cosigns what it takes (assurance ``witnessed``).

:class:`WitnessBook` is the consistency rule both apply.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tether.audit._canonical import canonical_json
from tether.audit._checkpoint import Checkpoint
from tether.audit._errors import AuditError, WitnessRefused, WitnessUnavailable
from tether.audit._handover import Handover, handed_over
from tether.audit._keys import SigningKey, key_id_of

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

WitnessKind = Literal["file", "server"]
_LOG_ID = re.compile(r"[0-9A-Za-z_-]{1,100}")


@dataclass(frozen=True, kw_only=True)
class Cosignature:
    """A witness's signed statement that it holds a checkpoint."""

    witness_key_id: str
    """The witness's key."""
    at: str
    """When it took the checkpoint (ISO 8601 UTC)."""
    signature: str
    """Ed25519 over :func:`cosigned_payload`, base64."""

    def valid(self, checkpoint: Checkpoint, key: Ed25519PublicKey) -> bool:
        from cryptography.exceptions import InvalidSignature

        if key_id_of(key) != self.witness_key_id:
            return False
        try:
            key.verify(
                base64.b64decode(self.signature, validate=True),
                cosigned_payload(checkpoint, self.witness_key_id, self.at),
            )
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def to_dict(self) -> dict[str, str]:
        return {"witness_key_id": self.witness_key_id, "at": self.at, "signature": self.signature}

    @classmethod
    def from_dict(cls, data: Any) -> Cosignature:
        if not isinstance(data, dict):
            raise AuditError("a cosignature must be an object")
        try:
            return cls(
                witness_key_id=str(data["witness_key_id"]),
                at=str(data["at"]),
                signature=str(data["signature"]),
            )
        except KeyError as exc:
            raise AuditError(f"a cosignature lacks {exc}") from None


def cosigned_payload(checkpoint: Checkpoint, witness_key_id: str, at: str) -> bytes:
    return canonical_json(
        {
            "format": "tether-witness-cosignature",
            "v": 1,
            "witness": witness_key_id,
            "at": at,
            "log_id": checkpoint.log_id,
            "number": checkpoint.number,
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "checkpoint": checkpoint.digest(),
        }
    ).encode()


def cosign(key: SigningKey, checkpoint: Checkpoint, at: str) -> Cosignature:
    signature = key.sign(cosigned_payload(checkpoint, key.key_id, at))
    return Cosignature(
        witness_key_id=key.key_id, at=at, signature=base64.b64encode(signature).decode()
    )


def load_public_key(pem: str | bytes, *, what: str) -> Ed25519PublicKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise AuditError(f"{what} is not a readable public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{what} is not an Ed25519 public key")
    return key


@dataclass(frozen=True, kw_only=True)
class Held:
    """A checkpoint as a witness holds it."""

    checkpoint: Checkpoint
    public_key: str
    """The log's public key (PEM) the checkpoint was signed with, as sent."""
    cosignature: Cosignature | None = None
    """The witness's cosignature (server witnesses only)."""
    handovers: tuple[Handover, ...] = ()
    """The key handovers sent with it, leading from the log's first key to its own."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "checkpoint": self.checkpoint.to_dict(),
            "public_key": self.public_key,
        }
        if self.cosignature is not None:
            data["cosignature"] = self.cosignature.to_dict()
        if self.handovers:
            data["handovers"] = [handover.to_dict() for handover in self.handovers]
        return data

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> Held:
        if not isinstance(data, dict) or not isinstance(data.get("public_key"), str):
            raise AuditError(f"{where}: not a witnessed checkpoint")
        cosignature = data.get("cosignature")
        handovers = data.get("handovers") or []
        if not isinstance(handovers, list):
            raise AuditError(f"{where}: handovers must be a list")
        return cls(
            checkpoint=Checkpoint.from_dict(data.get("checkpoint"), where=where),
            public_key=data["public_key"],
            cosignature=None if cosignature is None else Cosignature.from_dict(cosignature),
            handovers=tuple(Handover.from_dict(item, where=where) for item in handovers),
        )


class Behind(Exception):
    """The witness holds checkpoints only through ``last`` (None: none): send from there."""

    def __init__(self, last: int | None) -> None:
        super().__init__(last)
        self.last = last


class Witness(Protocol):
    """Somewhere checkpoints are sent as they are made, and read back by ``verify``."""

    name: str
    """Stable and unique: the folder, or the server's URL."""
    kind: WitnessKind

    def submit(
        self, checkpoint: Checkpoint, public_key: str, handovers: Sequence[Handover] = ()
    ) -> Cosignature | None:
        """Hand over one checkpoint, with the log's public key and the key handovers that
        lead to it; a server's cosignature. Raises :class:`Behind`,
        :class:`WitnessRefused` (inconsistent) or :class:`WitnessUnavailable`."""
        ...

    def held(self, log_id: str) -> list[Held]:
        """Every checkpoint of the log the witness holds, in order."""
        ...

    def public_key(self) -> Ed25519PublicKey | None:
        """The key its cosignatures verify with (None for a file witness)."""
        ...


class WitnessBook:
    """A folder of append-only JSON Lines files, one per log, and the rule for adding to one.

    Appends take an exclusive ``flock`` on the file, so several processes may share it.
    """

    def __init__(self, folder: str | Path, *, name: str) -> None:
        self.folder = Path(folder)
        self.name = name

    def path(self, log_id: str) -> Path:
        if not _LOG_ID.fullmatch(log_id):
            raise WitnessRefused(f"{log_id!r} is not a log id", witness=self.name)
        return self.folder / f"{log_id}.jsonl"

    def add(self, held: Held, *, sign: Any = None) -> Held:
        """Keep ``held`` if it extends the book (``sign`` makes its cosignature); what is kept.

        A checkpoint the book already holds is answered with what was kept for it.
        """
        checkpoint = held.checkpoint
        if checkpoint.number is None or checkpoint.prev is None:
            raise WitnessRefused(
                f"checkpoint for event {checkpoint.seq} is not chained (format 1): upgrade "
                "tether on the log's side",
                witness=self.name,
            )
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with self._locked(checkpoint.log_id) as file:
                last = _last_line(file)
                if last is not None:
                    top = Held.from_dict(last, where=self.name)
                    kept = self._check(file, top, checkpoint)
                    if kept is not None:
                        return kept
                    self._check_key(top, held)
                if sign is not None:
                    held = Held(
                        checkpoint=checkpoint,
                        public_key=held.public_key,
                        cosignature=sign(),
                        handovers=held.handovers,
                    )
                file.seek(0, os.SEEK_END)
                file.write((canonical_json(held.to_dict()) + "\n").encode())
                file.flush()
                os.fsync(file.fileno())
                return held
        except OSError as exc:
            raise WitnessUnavailable(
                f"witness {self.name} cannot be written: {exc}", witness=self.name
            ) from None

    def _check(self, file: Any, last: Held, checkpoint: Checkpoint) -> Held | None:
        """None if ``checkpoint`` extends ``last``; the kept copy if it is one already held."""
        top = last.checkpoint
        number = checkpoint.number or 0
        if number == (top.number or 0) + 1:
            if checkpoint.prev != top.digest() or checkpoint.seq < top.seq:
                raise WitnessRefused(
                    f"checkpoint {number} (event {checkpoint.seq}) does not extend checkpoint "
                    f"{top.number} (event {top.seq}) that {self.name} holds: the log's "
                    "history was rewritten",
                    witness=self.name,
                )
            return None
        if number > (top.number or 0):
            raise Behind(top.number)
        for held in _entries(file, where=self.name):
            if held.checkpoint.number == number:
                if held.checkpoint.digest() == checkpoint.digest():
                    return held
                break
        else:
            raise WitnessRefused(
                f"checkpoint {number} is older than the first that {self.name} holds",
                witness=self.name,
            )
        raise WitnessRefused(
            f"{self.name} holds another checkpoint {number}: the log's history was rewritten "
            f"(event {checkpoint.seq} sent, event {held.checkpoint.seq} held)",
            witness=self.name,
        )

    def _check_key(self, top: Held, held: Held) -> None:
        """The key is pinned: the one that signed what the book holds, or one it handed to."""
        pinned, key_id = top.checkpoint.key_id, held.checkpoint.key_id
        if key_id == pinned:
            return
        pinned_key = load_public_key(top.public_key, what=f"{self.name}'s key {pinned}")
        if not handed_over(pinned, pinned_key, key_id, held.handovers, load=_named_key):
            raise WitnessRefused(
                f"checkpoint {held.checkpoint.number} is signed by key {key_id}, but "
                f"{self.name} holds this log's checkpoints signed by key {pinned}, and no "
                f"handover signed by {pinned} leads to {key_id}: a key that is not the "
                "log's",
                witness=self.name,
            )

    def knows(self, log_id: str) -> bool:
        """Whether the book holds anything of this log."""
        path = self.path(log_id)
        return path.is_file() and path.stat().st_size > 0

    def held(self, log_id: str) -> list[Held]:
        path = self.path(log_id)
        try:
            with path.open("rb") as file:
                return list(_entries(file, where=str(path)))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise WitnessUnavailable(
                f"witness {self.name} cannot be read: {exc}", witness=self.name
            ) from None

    @contextlib.contextmanager
    def _locked(self, log_id: str) -> Iterator[Any]:
        fd = os.open(self.path(log_id), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        with os.fdopen(fd, "r+b") as file:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            try:
                yield file
            finally:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)


def _named_key(pem: str, key_id: str) -> Ed25519PublicKey:
    key = load_public_key(pem, what=f"the handed-over key {key_id}")
    if key_id_of(key) != key_id:
        raise AuditError(f"a handover's public key is not {key_id}")
    return key


def _entries(file: Any, *, where: str) -> Iterator[Held]:
    file.seek(0)
    for number, line in enumerate(file, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise AuditError(f"{where}, line {number}, is not JSON: the file was damaged") from None
        yield Held.from_dict(data, where=f"{where}, line {number}")


def _last_line(file: Any) -> Any:
    file.seek(0, os.SEEK_END)
    size = file.tell()
    chunk = 8192
    while True:
        start = max(0, size - chunk)
        file.seek(start)
        lines = file.read(size - start).splitlines()
        complete = [line for line in lines[1 if start else 0 :] if line.strip()]
        if complete or start == 0:
            break
        chunk *= 4
    if not complete:
        return None
    try:
        return json.loads(complete[-1])
    except ValueError:
        raise AuditError("the witness file's last line is not JSON: it was damaged") from None


class FileWitness:
    """A folder outside the database that keeps every checkpoint (``<log id>.jsonl``)."""

    kind: WitnessKind = "file"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.name = f"file:{self.folder}"
        self._book = WitnessBook(self.folder, name=self.name)

    def __repr__(self) -> str:
        return f"FileWitness({str(self.folder)!r})"

    def submit(
        self, checkpoint: Checkpoint, public_key: str, handovers: Sequence[Handover] = ()
    ) -> Cosignature | None:
        self._book.add(
            Held(checkpoint=checkpoint, public_key=public_key, handovers=tuple(handovers))
        )
        return None

    def held(self, log_id: str) -> list[Held]:
        return self._book.held(log_id)

    def public_key(self) -> Ed25519PublicKey | None:
        return None
