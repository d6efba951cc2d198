"""Signing keys for checkpoints: a directory of Ed25519 key pairs, one of them active.

The directory (default ``.tether/keys``, or ``TETHER_AUDIT_KEYS``) holds, for each key,
``<key_id>.pub`` (the public key, PEM) and, while it signs, ``<key_id>.key`` (the
private key, PEM, mode 0600); ``active`` names the key that signs new checkpoints. A
key id is the first 16 hex digits of the SHA-256 of the raw public key, so a key file
cannot claim to be another key. Rotation makes a new active key and deletes the old
private key, after the old key signed a handover to the new one (``<new id>.handover``,
what witnesses need to follow the rotation); public keys are kept, so old checkpoints
still verify. A verifier needs only the ``.pub`` files.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tether.audit._canonical import canonical_json, format_time
from tether.audit._errors import AuditKeyError
from tether.audit._handover import Handover, handover_payload
from tether.private import write_private

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

# cryptography is imported where a key is made, read or used: a command that signs and
# checks nothing (listing approvals) does not load it.

KEYS_ENV = "TETHER_AUDIT_KEYS"
DEFAULT_KEYS_DIR = Path(".tether/keys")
_ACTIVE = "active"
_MAX_HANDOVERS = 10_000

log = logging.getLogger("tether.audit")


def keys_dir(path: str | Path | None = None) -> Path:
    """The key directory: the one given, else ``TETHER_AUDIT_KEYS``, else ``.tether/keys``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(KEYS_ENV) or DEFAULT_KEYS_DIR)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """The short hash of a public key that names it."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """The active private key and its id."""

    key_id: str
    private_key: Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


class KeyStore:
    """The key directory. Nothing is created until a key is needed to sign."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = keys_dir(path)

    def __repr__(self) -> str:
        return f"KeyStore({str(self.path)!r})"

    # --- signing ------------------------------------------------------------------

    def signing_key(self) -> SigningKey:
        """The active key; made on first use (and logged, so an operator knows)."""
        active = self._active_id()
        if active is None:
            return self._create_first()
        return SigningKey(key_id=active, private_key=self._load_private(active))

    def rotate(self) -> SigningKey:
        """A new active key. The old private keys are deleted; their public keys stay.

        The old key first signs a handover to the new one (``<new id>.handover``), so
        witnesses that pinned the old key take checkpoints signed by the new one.
        """
        old = self._active_id()
        previous = None
        if old is not None and self._has_private(old):
            previous = SigningKey(key_id=old, private_key=self._load_private(old))
        key = self._generate()
        if previous is not None:
            self._write_handover(previous, key)
        tmp = self.path / f".{_ACTIVE}.{key.key_id}"
        write_private(tmp, (key.key_id + "\n").encode())
        os.replace(tmp, self.path / _ACTIVE)
        for private in self.path.glob("*.key"):
            if private.stem != key.key_id:
                private.unlink()
        log.warning(
            "rotated the audit signing key: %s replaces %s in %s", key.key_id, old, self.path
        )
        return key

    def _has_private(self, key_id: str) -> bool:
        return (self.path / f"{key_id}.key").is_file()

    def _write_handover(self, old: SigningKey, new: SigningKey) -> None:
        pem = self.public_pem(new.key_id)
        at = format_time(_dt.datetime.now(_dt.UTC))
        signature = old.sign(handover_payload(old.key_id, new.key_id, pem, at))
        handover = Handover(
            from_key=old.key_id,
            to_key=new.key_id,
            public_key=pem,
            at=at,
            signature=base64.b64encode(signature).decode(),
        )
        (self.path / f"{new.key_id}.handover").write_text(canonical_json(handover.to_dict()))

    def _create_first(self) -> SigningKey:
        key = self._generate()
        tmp = self.path / f".{_ACTIVE}.{key.key_id}"
        write_private(tmp, (key.key_id + "\n").encode())
        try:
            os.link(tmp, self.path / _ACTIVE)  # fails if another process got there first
        except FileExistsError:
            (self.path / f"{key.key_id}.key").unlink()
            (self.path / f"{key.key_id}.pub").unlink()
            return self.signing_key()
        finally:
            tmp.unlink()
        log.warning(
            "made a new audit signing key %s in %s. Keep the .key file secret and away from "
            "the database; give verifiers the .pub file.",
            key.key_id,
            self.path,
        )
        return key

    def _generate(self) -> SigningKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Ed25519PrivateKey.generate()
        key_id = key_id_of(private.public_key())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(self.path / f"{key_id}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (self.path / f"{key_id}.pub").write_bytes(public)
        return SigningKey(key_id=key_id, private_key=private)

    def _active_id(self) -> str | None:
        try:
            return (self.path / _ACTIVE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def _load_private(self, key_id: str) -> Ed25519PrivateKey:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        file = self.path / f"{key_id}.key"
        try:
            key = serialization.load_pem_private_key(file.read_bytes(), password=None)
        except FileNotFoundError:
            raise AuditKeyError(
                f"the active audit key {key_id} has no private key file {file}; restore it, "
                "or run `tether audit keys rotate` to start signing with a new key",
                key_id=key_id,
            ) from None
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise AuditKeyError(f"{file} is not a readable private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey) or key_id_of(key.public_key()) != key_id:
            raise AuditKeyError(
                f"{file} does not hold the Ed25519 key {key_id}; restore the right file",
                key_id=key_id,
            )
        return key

    # --- verifying ----------------------------------------------------------------

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key in the directory by id; a file that lies about its id is an error."""
        keys: dict[str, Ed25519PublicKey] = {}
        if not self.path.is_dir():
            return keys
        for file in sorted(self.path.glob("*.pub")):
            keys[file.stem] = self._load_public(file)
        return keys

    def public_pem(self, key_id: str) -> str:
        """The PEM text of one public key (what a witness is sent with a checkpoint)."""
        file = self.path / f"{key_id}.pub"
        if not file.is_file():
            raise AuditKeyError(f"no public key {key_id} in {self.path}", key_id=key_id)
        self._load_public(file)
        return file.read_text()

    def handovers(self, key_id: str) -> list[Handover]:
        """The handovers that lead to ``key_id`` from the log's first key, oldest first."""
        chain: list[Handover] = []
        current = key_id
        while len(chain) < _MAX_HANDOVERS:
            file = self.path / f"{current}.handover"
            try:
                data = json.loads(file.read_text())
            except FileNotFoundError:
                break
            except ValueError:
                raise AuditKeyError(f"{file} is not JSON: restore it", key_id=current) from None
            handover = Handover.from_dict(data, where=str(file))
            if handover.to_key != current:
                raise AuditKeyError(f"{file} hands over to another key", key_id=current)
            chain.append(handover)
            current = handover.from_key
        return chain[::-1]

    def active_id(self) -> str | None:
        """The id of the key that signs new checkpoints, if there is one yet."""
        return self._active_id()

    @staticmethod
    def _load_public(file: Path) -> Ed25519PublicKey:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            key = serialization.load_pem_public_key(file.read_bytes())
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise AuditKeyError(f"{file} is not a readable public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise AuditKeyError(f"{file} is not an Ed25519 public key", key_id=file.stem)
        actual = key_id_of(key)
        if actual != file.stem:
            raise AuditKeyError(
                f"{file} holds key {actual}, not {file.stem}: the key file was replaced; "
                "restore the original public key",
                key_id=file.stem,
            )
        return key
