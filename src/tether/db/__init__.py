"""tether's own state in SQL: one engine factory, one schema, Alembic migrations.

SQLite is the embedded default; PostgreSQL is the production store. Both get the
same tables through the same migrations.
"""

from tether.db._engine import (
    DEFAULT_DATABASE_URL,
    DatabaseError,
    as_utc,
    connect,
    database_url,
    hold_lock,
    is_postgres,
    reading,
    sync_to_disk,
    write_transaction,
)
from tether.db._prepared import Prepared, single_read
from tether.db._sqlite import (
    MINIMUM_SQLITE,
    SQLiteTooOld,
    shown_url,
    sqlite_errors,
    sqlite_url,
    system_sqlite_is_enough,
)
from tether.db._tables import (
    audit_checkpoint,
    audit_event,
    audit_meta,
    audit_prune_guard,
    audit_witness,
    limit_usage,
    metadata,
    policy_snapshot,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "MINIMUM_SQLITE",
    "DatabaseError",
    "Prepared",
    "SQLiteTooOld",
    "as_utc",
    "audit_checkpoint",
    "audit_event",
    "audit_meta",
    "audit_prune_guard",
    "audit_witness",
    "connect",
    "database_url",
    "hold_lock",
    "is_postgres",
    "limit_usage",
    "metadata",
    "policy_snapshot",
    "reading",
    "shown_url",
    "single_read",
    "sqlite_errors",
    "sqlite_url",
    "sync_to_disk",
    "system_sqlite_is_enough",
    "write_transaction",
]
