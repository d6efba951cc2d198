"""The tables of tether's state. Migrations in ``migrations/versions`` create them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# One row per use of a limited action: which limit, whose, how much, when.
# A limit check sums the rows of its key inside its window, in the same
# locked transaction that inserts the new row.
limit_usage = sa.Table(
    "tether_limit_usage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("limit_key", sa.String(400), nullable=False),
    sa.Column("amount", sa.Float, nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("call_id", sa.String(200), nullable=False),
    sa.Index("ix_tether_limit_usage_key_time", "limit_key", "used_at"),
    sa.Index("ix_tether_limit_usage_call", "call_id"),
)

# The audit trail (tether.audit): one row per event, append only. ``record`` is the
# canonical JSON that ``hash`` covers ({"body": event, "prev": hash before, "seq": n});
# the other columns copy fields of the body so queries can use indexes, and
# verification checks they still agree with it. ``at`` is ISO 8601 UTC text
# (``2026-11-25T12:00:00.000000Z``), so it sorts and compares as text on every database.
audit_event = sa.Table(
    "tether_audit_event",
    metadata,
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
    sa.Index("ix_tether_audit_event_run", "run_id", "seq"),
    sa.Index("ix_tether_audit_event_at", "at"),
)

# Signed checkpoints: "event ``seq`` of log ``log_id`` has hash ``hash``", signed with
# Ed25519 by key ``key_id``. ``kind`` is periodic, manual, export or prune (the cut
# below which events were removed by retention).
audit_checkpoint = sa.Table(
    "tether_audit_checkpoint",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(200), nullable=False),
    sa.Column("number", sa.BigInteger, nullable=True),
    sa.Column("prev", sa.String(64), nullable=True),
    sa.Index("ix_tether_audit_checkpoint_seq", "seq"),
    sa.Index("ux_tether_audit_checkpoint_number", "number", unique=True),
)

# What each witness answered for each checkpoint (``number``): ``cosigned`` (with the
# witness's signed receipt), ``stored`` (a file witness), or ``refused`` (an
# inconsistent checkpoint: an incident). Checkpoints with no answer yet are retried.
audit_witness = sa.Table(
    "tether_audit_witness",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("witness", sa.String(400), nullable=False),
    sa.Column("number", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("receipt", sa.Text, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Index("ix_tether_audit_witness_number", "witness", "number"),
)

# The text of every policy version that decided a call, once, by its version
# (``sha256:...``, as decision events name it).
policy_snapshot = sa.Table(
    "tether_policy_snapshot",
    metadata,
    sa.Column("version", sa.String(100), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("first_seen_at", sa.String(32), nullable=False),
)

# Facts about the log itself: ``log_id`` (a random id made when the tables are
# created) binds checkpoints to this log, so one from another database is refused.
audit_meta = sa.Table(
    "tether_audit_meta",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# On SQLite, retention pruning puts a row here for the length of its transaction: the
# append-only triggers let DELETE through only while it exists. Always empty otherwise.
audit_prune_guard = sa.Table(
    "tether_audit_prune_guard",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
)
