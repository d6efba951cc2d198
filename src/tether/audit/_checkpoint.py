"""Signed checkpoints: "event ``seq`` of log ``log_id`` has hash ``hash``", signed.

A checkpoint vouches for the whole chain up to its event, since every hash covers
the one before it. Written every N events or T seconds, when the log is pruned (at
the cut) and on demand; the latest can be exported to a file kept outside the
database, so that cutting the tail of the log is detected too.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tether.audit._canonical import canonical_json
from tether.audit._errors import AuditError
from tether.audit._keys import SigningKey

CheckpointKind = Literal["periodic", "manual", "prune"]
FILE_FORMAT = "tether-audit-checkpoint"


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

    def payload(self) -> bytes:
        """The signed bytes: canonical JSON of every field but the signature."""
        return signed_payload(
            log_id=self.log_id,
            seq=self.seq,
            hash=self.hash,
            at=self.at,
            kind=self.kind,
            key_id=self.key_id,
        )

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        try:
            signature = base64.b64decode(self.signature, validate=True)
            public_key.verify(signature, self.payload())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def to_file(self, path: str | Path) -> None:
        """Write the checkpoint as a small JSON file, to keep outside the database."""
        data = {"format": FILE_FORMAT, "v": 1, **asdict(self)}
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
        try:
            return cls(
                log_id=str(data["log_id"]),
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                at=str(data["at"]),
                kind=data["kind"],
                key_id=str(data["key_id"]),
                signature=str(data["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"checkpoint file {path} is incomplete: {exc!r}") from None


def signed_payload(*, log_id: str, seq: int, hash: str, at: str, kind: str, key_id: str) -> bytes:
    data = {
        "at": at,
        "hash": hash,
        "key_id": key_id,
        "kind": kind,
        "log_id": log_id,
        "seq": seq,
        "v": 1,
    }
    return canonical_json(data).encode()


def sign_checkpoint(
    key: SigningKey, *, log_id: str, seq: int, hash: str, at: str, kind: CheckpointKind
) -> Checkpoint:
    payload = signed_payload(log_id=log_id, seq=seq, hash=hash, at=at, kind=kind, key_id=key.key_id)
    signature = base64.b64encode(key.sign(payload)).decode()
    return Checkpoint(
        log_id=log_id,
        seq=seq,
        hash=hash,
        at=at,
        kind=kind,
        key_id=key.key_id,
        signature=signature,
    )
