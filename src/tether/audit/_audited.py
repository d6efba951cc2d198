"""A gate whose every step is an event of the audit trail, assembled above both.

The gate knows only its :class:`~tether.gate.Recorder` protocol; this is where the
audit log is plugged in as the recorder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from tether.audit._log import AuditLog
from tether.gate import Gate
from tether.policy import Policy


def audited_gate(
    policy: Policy,
    *,
    database: Engine | str | None = None,
    keys: str | Path | None = None,
    **options: Any,
) -> Gate:
    """A :class:`~tether.gate.Gate` recording into the audit trail of ``database``.

    ``keys``: the audit signing keys' folder (default ``TETHER_AUDIT_KEYS``, else
    ``.tether/keys``); ``options``: the gate's own (``timeout_seconds``, ``stop_switch``).
    """
    gate = Gate(policy, database=database, **options)
    gate.recorder = AuditLog(gate.engine, keys=keys)
    return gate
