"""The audit trail's errors: when a log cannot be verified at all.

    TetherError
    └── AuditError                the audit trail cannot be used or verified
        ├── AuditLogUnreadable    not a tether audit log, or the file is corrupt
        ├── AuditKeyError         a signing key is missing, unreadable or not what it says
        ├── UnknownSchemaVersion  an event was written by a newer tether
        └── WitnessError          a witness could not take a checkpoint
            ├── WitnessUnavailable    it cannot be reached
            └── WitnessRefused        it refused an inconsistent checkpoint (an incident)

Damage to an intact-looking log is not an error: :func:`tether.audit.verify` reports it
as a :class:`~tether.audit.Problem` with the first bad sequence number.
"""

from __future__ import annotations

from tether.errors import TetherError


class AuditError(TetherError):
    """The audit trail cannot be used or verified; the message says why and what to do."""


class AuditLogUnreadable(AuditError):
    """The database holds no tether audit log, or cannot be read as one."""


class AuditKeyError(AuditError):
    """A signing or verification key is missing, unreadable, or does not match its id."""

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id


class UnknownSchemaVersion(AuditError):
    """An event carries a schema version this tether does not know."""

    def __init__(self, *, seq: int, version: object, known: tuple[int, ...]) -> None:
        super().__init__(seq, version, known)
        self.seq = seq
        self.version = version
        self.known = known

    def __str__(self) -> str:
        known = ", ".join(str(v) for v in self.known)
        return (
            f"event {self.seq} has schema version {self.version!r}; this tether reads "
            f"version {known}. Verify it with the tether release that wrote it, or upgrade."
        )


class WitnessError(AuditError):
    """A witness could not take a checkpoint; ``witness`` names it."""

    def __init__(self, message: str, *, witness: str) -> None:
        super().__init__(message)
        self.witness = witness


class WitnessUnavailable(WitnessError):
    """The witness cannot be reached (down, or its folder cannot be written)."""


class WitnessRefused(WitnessError):
    """The witness refused a checkpoint that does not extend the ones it holds: an incident."""
