"""Key handovers: the old signing key's word that a new key signs the log's checkpoints now.

A witness pins the key that signed the first checkpoint it took of a log (trust on
first use) and takes later checkpoints only when they are signed by that key, or by a
key it handed over to: when the log rotates its key, the old key signs a handover
naming the new one (its id and public key) before its private half is deleted. The
handover is kept beside the new key (``<new id>.handover``) and sent to witnesses
with the checkpoints it signs. Someone who can write the database but does not hold
the log's key can therefore neither sign a checkpoint nor make a witness accept a
key of their own.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.audit._canonical import canonical_json
from tether.audit._errors import AuditError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "tether-audit-key-handover"


@dataclass(frozen=True, kw_only=True)
class Handover:
    """Key ``from_key`` hands the log over to key ``to_key`` (whose PEM is ``public_key``)."""

    from_key: str
    to_key: str
    public_key: str
    """The new key's public key, PEM."""
    at: str
    """When the key was rotated (ISO 8601 UTC)."""
    signature: str
    """Ed25519 by ``from_key`` over :meth:`payload`, base64."""

    def payload(self) -> bytes:
        return handover_payload(self.from_key, self.to_key, self.public_key, self.at)

    def valid(self, old: Ed25519PublicKey) -> bool:
        """Whether ``old`` (the key named ``from_key``) signed this handover."""
        from cryptography.exceptions import InvalidSignature

        try:
            old.verify(base64.b64decode(self.signature, validate=True), self.payload())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def to_dict(self) -> dict[str, str]:
        return {
            "format": FORMAT,
            "from": self.from_key,
            "to": self.to_key,
            "public_key": self.public_key,
            "at": self.at,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> Handover:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise AuditError(f"{where}: not a key handover")
        try:
            return cls(
                from_key=str(data["from"]),
                to_key=str(data["to"]),
                public_key=str(data["public_key"]),
                at=str(data["at"]),
                signature=str(data["signature"]),
            )
        except KeyError as exc:
            raise AuditError(f"{where}: a key handover lacks {exc}") from None


def handover_payload(from_key: str, to_key: str, public_key: str, at: str) -> bytes:
    return canonical_json(
        {
            "format": FORMAT,
            "v": 1,
            "from": from_key,
            "to": to_key,
            "public_key": public_key,
            "at": at,
        }
    ).encode()


def handed_over(
    pinned: str,
    pinned_key: Ed25519PublicKey,
    target: str,
    handovers: Sequence[Handover],
    *,
    load: Callable[[str, str], Ed25519PublicKey],
) -> bool:
    """Whether ``handovers`` lead, each signed by the key before, from ``pinned`` to
    ``target``. ``load`` reads a PEM public key (and checks it names its id)."""
    by_origin = {handover.from_key: handover for handover in handovers}
    current, key = pinned, pinned_key
    for _ in range(len(handovers)):
        if current == target:
            return True
        handover = by_origin.get(current)
        if handover is None or not handover.valid(key):
            return False
        try:
            key = load(handover.public_key, handover.to_key)
        except AuditError:
            return False
        current = handover.to_key
    return current == target
