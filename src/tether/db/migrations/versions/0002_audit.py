"""audit trail

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

The audit tables are append only. PostgreSQL refuses UPDATE, DELETE and TRUNCATE on
them with a trigger; the one exception is retention pruning, which deletes old events
in a transaction that has set ``tether.audit_prune`` to ``on`` (``set_config(...,
true)``, so the setting ends with the transaction). SQLite gets the same triggers;
there pruning marks its transaction with a row in ``tether_audit_prune_guard``, which
no other connection ever sees because it is deleted before the commit (PostgreSQL has
the table too but does not use it).
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("tether_audit_event", "tether_audit_checkpoint", "tether_audit_meta")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION tether_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'tether_audit_event'
       AND current_setting('tether.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the tether audit trail is append only: % on % is refused',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "tether_audit_event",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=True),
        sa.Column("call_id", sa.String(200), nullable=True),
        sa.Column("agent", sa.String(200), nullable=True),
        sa.Column("principal", sa.String(200), nullable=True),
        sa.Column("tool", sa.String(200), nullable=True),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_tether_audit_event_run", "tether_audit_event", ["run_id", "seq"])
    op.create_index("ix_tether_audit_event_at", "tether_audit_event", ["at"])
    op.create_table(
        "tether_audit_checkpoint",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
    )
    op.create_index("ix_tether_audit_checkpoint_seq", "tether_audit_checkpoint", ["seq"])
    meta = op.create_table(
        "tether_audit_meta",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.bulk_insert(meta, [{"name": "log_id", "value": uuid.uuid4().hex}])
    op.create_table("tether_audit_prune_guard", sa.Column("id", sa.Integer, primary_key=True))
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _postgres_triggers() -> None:
    op.execute(_PG_FUNCTION)
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION tether_audit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION tether_audit_append_only()"
        )


def _sqlite_triggers() -> None:
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
            "SELECT RAISE(ABORT, 'the tether audit trail is append only: UPDATE is refused'); "
            "END"
        )
        allowed = (
            " WHEN NOT EXISTS (SELECT 1 FROM tether_audit_prune_guard)"
            if table == "tether_audit_event"
            else ""
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}{allowed} BEGIN "
            "SELECT RAISE(ABORT, 'the tether audit trail is append only: DELETE is refused'); "
            "END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS tether_audit_append_only()")
    else:
        for table in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_table("tether_audit_prune_guard")
    op.drop_table("tether_audit_meta")
    op.drop_index("ix_tether_audit_checkpoint_seq", "tether_audit_checkpoint")
    op.drop_table("tether_audit_checkpoint")
    op.drop_index("ix_tether_audit_event_at", "tether_audit_event")
    op.drop_index("ix_tether_audit_event_run", "tether_audit_event")
    op.drop_table("tether_audit_event")
