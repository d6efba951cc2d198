"""The tamper-evident audit trail: every step of every call, hash-chained and signed.

```python
from tether.audit import AuditLog

audit = AuditLog("sqlite:///.tether/tether.db")   # keys in .tether/keys
gate = Gate(policy, recorder=audit)               # every gate step becomes an event
gate = audited_gate(policy, database=url)         # the same, assembled
report = audit.verify()                           # report.intact, report.problems
```

See ``docs/audit.md`` for the event model, the hash chain, checkpoints, keys and
retention.

Names are imported when first used: reading the trail (``tether audit verify``) loads
neither the gate and its policy nor OpenTelemetry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.lazy import lazy_exports

if TYPE_CHECKING:
    from tether.audit._audited import audited_gate
    from tether.audit._canonical import GENESIS, canonical_json
    from tether.audit._checkpoint import Checkpoint, CheckpointKind
    from tether.audit._damage import Damage, Problem
    from tether.audit._delivery import Delivery
    from tether.audit._errors import (
        AuditError,
        AuditKeyError,
        AuditLogUnreadable,
        UnknownSchemaVersion,
        WitnessError,
        WitnessRefused,
        WitnessUnavailable,
    )
    from tether.audit._event import (
        EVENT_TYPES,
        KNOWN_SCHEMA_VERSIONS,
        SCHEMA_VERSION,
        AuditEvent,
        EventType,
        StoredEvent,
    )
    from tether.audit._export import export_jsonl
    from tether.audit._from_gate import from_gate_event
    from tether.audit._handover import Handover
    from tether.audit._keys import DEFAULT_KEYS_DIR, KEYS_ENV, KeyStore
    from tether.audit._log import DEFAULT_RETENTION, AuditLog, PruneResult
    from tether.audit._otel import (
        JsonLinesSpanExporter,
        LiveSpans,
        ObservedAuditLog,
        export_spans,
        otlp_exporter,
    )
    from tether.audit._otlp_env import otlp_configured
    from tether.audit._policies import policy_version
    from tether.audit._verify import chain_problems, verify
    from tether.audit._verify_report import Assurance, VerifyReport, WitnessCheck
    from tether.audit._witness import Cosignature, FileWitness, Held, Witness
    from tether.audit._witness_client import ServerWitness
    from tether.audit._witness_server import WitnessService, witness_app

_WHERE: dict[str, str] = {
    "Assurance": "tether.audit._verify_report",
    "AuditError": "tether.audit._errors",
    "AuditEvent": "tether.audit._event",
    "AuditKeyError": "tether.audit._errors",
    "AuditLog": "tether.audit._log",
    "AuditLogUnreadable": "tether.audit._errors",
    "Checkpoint": "tether.audit._checkpoint",
    "CheckpointKind": "tether.audit._checkpoint",
    "Cosignature": "tether.audit._witness",
    "DEFAULT_KEYS_DIR": "tether.audit._keys",
    "DEFAULT_RETENTION": "tether.audit._log",
    "Damage": "tether.audit._damage",
    "Delivery": "tether.audit._delivery",
    "EVENT_TYPES": "tether.audit._event",
    "EventType": "tether.audit._event",
    "FileWitness": "tether.audit._witness",
    "GENESIS": "tether.audit._canonical",
    "Handover": "tether.audit._handover",
    "Held": "tether.audit._witness",
    "JsonLinesSpanExporter": "tether.audit._otel",
    "KEYS_ENV": "tether.audit._keys",
    "KNOWN_SCHEMA_VERSIONS": "tether.audit._event",
    "KeyStore": "tether.audit._keys",
    "LiveSpans": "tether.audit._otel",
    "ObservedAuditLog": "tether.audit._otel",
    "Problem": "tether.audit._damage",
    "PruneResult": "tether.audit._log",
    "SCHEMA_VERSION": "tether.audit._event",
    "ServerWitness": "tether.audit._witness_client",
    "StoredEvent": "tether.audit._event",
    "UnknownSchemaVersion": "tether.audit._errors",
    "VerifyReport": "tether.audit._verify_report",
    "Witness": "tether.audit._witness",
    "WitnessCheck": "tether.audit._verify_report",
    "WitnessError": "tether.audit._errors",
    "WitnessRefused": "tether.audit._errors",
    "WitnessService": "tether.audit._witness_server",
    "WitnessUnavailable": "tether.audit._errors",
    "audited_gate": "tether.audit._audited",
    "canonical_json": "tether.audit._canonical",
    "chain_problems": "tether.audit._verify",
    "export_jsonl": "tether.audit._export",
    "export_spans": "tether.audit._otel",
    "from_gate_event": "tether.audit._from_gate",
    "otlp_configured": "tether.audit._otlp_env",
    "otlp_exporter": "tether.audit._otel",
    "policy_version": "tether.audit._policies",
    "verify": "tether.audit._verify",
    "witness_app": "tether.audit._witness_server",
}
"""Where each public name lives: imported when first used."""

__all__ = [
    "DEFAULT_KEYS_DIR",
    "DEFAULT_RETENTION",
    "EVENT_TYPES",
    "GENESIS",
    "KEYS_ENV",
    "KNOWN_SCHEMA_VERSIONS",
    "SCHEMA_VERSION",
    "Assurance",
    "AuditError",
    "AuditEvent",
    "AuditKeyError",
    "AuditLog",
    "AuditLogUnreadable",
    "Checkpoint",
    "CheckpointKind",
    "Cosignature",
    "Damage",
    "Delivery",
    "EventType",
    "FileWitness",
    "Handover",
    "Held",
    "JsonLinesSpanExporter",
    "KeyStore",
    "LiveSpans",
    "ObservedAuditLog",
    "Problem",
    "PruneResult",
    "ServerWitness",
    "StoredEvent",
    "UnknownSchemaVersion",
    "VerifyReport",
    "Witness",
    "WitnessCheck",
    "WitnessError",
    "WitnessRefused",
    "WitnessService",
    "WitnessUnavailable",
    "audited_gate",
    "canonical_json",
    "chain_problems",
    "export_jsonl",
    "export_spans",
    "from_gate_event",
    "otlp_configured",
    "otlp_exporter",
    "policy_version",
    "verify",
    "witness_app",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
