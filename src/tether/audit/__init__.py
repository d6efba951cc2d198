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
"""

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
    otlp_configured,
    otlp_exporter,
)
from tether.audit._policies import policy_version
from tether.audit._verify import Assurance, VerifyReport, WitnessCheck, chain_problems, verify
from tether.audit._witness import Cosignature, FileWitness, Held, Witness
from tether.audit._witness_client import ServerWitness
from tether.audit._witness_server import WitnessService, witness_app

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
