"""Signed checkpoints: "event ``seq`` of log ``log_id`` has hash ``hash``", signed.

A checkpoint vouches for the whole chain up to its event, since every hash covers
the one before it. Written every N events or T seconds, when the log is pruned (at
the cut) and on demand; each is sent to the log's witnesses as it is made, and the
latest can be exported to a file kept outside the database, so that cutting the
tail of the log is detected too.

Checkpoints are chained to each other as events are: checkpoint ``number`` n names
the digest of checkpoint n - 1 (``prev``), and the signature covers both, so a
deleted checkpoint leaves a gap that verification finds. Checkpoints of format 1
(before chaining) carry neither; they still verify, outside the chain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tether.audit._canonical import GENESIS, canonical_json
from tether.audit._errors import AuditError
from tether.audit._keys import SigningKey

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CheckpointKind = Literal["periodic", "manual", "prune"]
FILE_FORMAT = "tether-audit-checkpoint"
CHAINED = 2
"""The format of checkpoints chained to each other (``number``, ``prev``)."""


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A signed statement of the hash of one event of one log."""

    log_id: str
    """The log it belongs to (``tether_audit_meta.log_id``)."""
    seq: int
    """The event it vouches for, and with it every event before."""
    hash: str
    """That event's hash."""
    at: str
    """When it was signed (ISO 8601 UTC)."""
    kind: CheckpointKind
    """``periodic``, ``manual`` or ``prune`` (events up to ``seq`` were removed)."""
    key_id: str
    """The key that signed it."""
    signature: str
    """Ed25519 signature of :meth:`payload`, base64."""
    number: int | None = None
    """Its place among the log's checkpoints: 1, 2, 3… (None: format 1, unchained)."""
    prev: str | None = None
    """The :meth:`digest` of checkpoint ``number - 1`` (``GENESIS`` for the first)."""

    @property
    def chained(self) -> bool:
        return self.number is not None

    def payload(self) -> bytes:
        """The signed bytes: canonical JSON of every field but the signature."""
        return signed_payload(
            log_id=self.log_id,
            seq=self.seq,
            hash=self.hash,
            at=self.at,
            kind=self.kind,
            key_id=self.key_id,
            number=self.number,
            prev=self.prev,
        )

    def digest(self) -> str:
        """SHA-256 (hex) of the signed payload and its signature: what the next one names."""
        return hashlib.sha256(self.payload() + b"." + self.signature.encode()).hexdigest()

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            signature = base64.b64decode(self.signature, validate=True)
            public_key.verify(signature, self.payload())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "checkpoint") -> Checkpoint:
        """The checkpoint a :meth:`to_dict` mapping describes; anything else is an AuditError."""
        if not isinstance(data, dict):
            raise AuditError(f"{where} is not a checkpoint")
        try:
            number, prev = data.get("number"), data.get("prev")
            kind = data["kind"]
            if kind not in ("periodic", "manual", "prune"):
                raise ValueError(f"kind {kind!r}")
            return cls(
                log_id=str(data["log_id"]),
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                at=str(data["at"]),
                kind=kind,
                key_id=str(data["key_id"]),
                signature=str(data["signature"]),
                number=None if number is None else int(number),
                prev=None if prev is None else str(prev),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"{where} is incomplete: {exc!r}") from None

    def to_file(self, path: str | Path) -> None:
        """Write the checkpoint as a small JSON file, to keep outside the database."""
        data = {"format": FILE_FORMAT, "v": 1, **self.to_dict()}
        Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_file(cls, path: str | Path) -> Checkpoint:
        """Read a checkpoint file; a file of any other shape is an :class:`AuditError`."""
        try:
            data: Any = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise AuditError(f"cannot read checkpoint file {path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
            raise AuditError(f"{path} is not a tether audit checkpoint file")
        if data.get("v") != 1:
            raise AuditError(f"{path} has checkpoint format version {data.get('v')!r}; expected 1")
        return cls.from_dict(data, where=f"checkpoint file {path}")


def signed_payload(
    *,
    log_id: str,
    seq: int,
    hash: str,
    at: str,
    kind: str,
    key_id: str,
    number: int | None = None,
    prev: str | None = None,
) -> bytes:
    data: dict[str, Any] = {
        "at": at,
        "hash": hash,
        "key_id": key_id,
        "kind": kind,
        "log_id": log_id,
        "seq": seq,
        "v": 1,
    }
    if number is not None:
        data.update(v=CHAINED, number=number, prev=prev or GENESIS)
    return canonical_json(data).encode()


def sign_checkpoint(
    key: SigningKey,
    *,
    log_id: str,
    seq: int,
    hash: str,
    at: str,
    kind: CheckpointKind,
    number: int,
    prev: str,
) -> Checkpoint:
    payload = signed_payload(
        log_id=log_id,
        seq=seq,
        hash=hash,
        at=at,
        kind=kind,
        key_id=key.key_id,
        number=number,
        prev=prev,
    )
    signature = base64.b64encode(key.sign(payload)).decode()
    return Checkpoint(
        log_id=log_id,
        seq=seq,
        hash=hash,
        at=at,
        kind=kind,
        key_id=key.key_id,
        signature=signature,
        number=number,
        prev=prev,
    )
