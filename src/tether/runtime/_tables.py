"""The runtime's tables (created by migration 0004): runs, the effect ledger, stop switches."""

from __future__ import annotations

import importlib
from typing import Any

import sqlalchemy as sa

from tether.db import Prepared, metadata

# A run: the task, who it acts for, where it stands, and the model's message history
# between segments (a segment is one DBOS workflow; a run parked for approval has none).
run = sa.Table(
    "tether_run",
    metadata,
    sa.Column("id", sa.String(60), primary_key=True),
    sa.Column("agent", sa.String(200), nullable=False, index=True),
    sa.Column("agent_version", sa.String(100), nullable=False),
    sa.Column("principal", sa.String(200), nullable=False),
    sa.Column("task", sa.Text, nullable=False),
    sa.Column("model", sa.String(500), nullable=True),
    sa.Column("status", sa.String(30), nullable=False, index=True),
    sa.Column("segment", sa.Integer, nullable=False),
    sa.Column("history", sa.Text, nullable=True),
    sa.Column("pending", sa.JSON, nullable=True),
    sa.Column("results", sa.JSON, nullable=True),
    sa.Column("output", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("untrusted", sa.Boolean, nullable=False),
    sa.Column("known_contacts", sa.JSON, nullable=False),
    # Where each identifier the run met was vouched for or seen (migration 0030).
    sa.Column("provenance", sa.JSON, nullable=False, server_default="{}"),
    sa.Column("usage", sa.JSON, nullable=True),
    # The durable protocol that wrote the run's state (migration 0014).
    sa.Column("state_version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The effect ledger: one row per tool execution, keyed by its idempotency key.
effect = sa.Table(
    "tether_effect",
    metadata,
    sa.Column("idempotency_key", sa.String(300), primary_key=True),
    sa.Column("run_id", sa.String(60), nullable=False, index=True),
    sa.Column("call_id", sa.String(200), nullable=False),
    sa.Column("tool", sa.String(200), nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("model_text", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reversed_by", sa.String(300), nullable=True),
)

# Stop switches: for one agent, or for all (agent = "*"). Active until lifted.
stop = sa.Table(
    "tether_stop",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("agent", sa.String(200), nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
)

# Workers announce themselves, so a live worker can recover a dead one's segments.
worker = sa.Table(
    "tether_worker",
    metadata,
    sa.Column("executor_id", sa.String(200), primary_key=True),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
)


def dialect_insert(dialect: str) -> Any:
    """The database kind's ``INSERT`` construct (with ``ON CONFLICT``), its dialect
    imported only when a database of that kind is used."""
    return importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert


def note_once(dialect: str) -> Any:
    """A row of the effect ledger written once: a decided call, a journal's response
    (a place already taken is another execution's)."""
    return dialect_insert(dialect)(effect).on_conflict_do_nothing(
        index_elements=[effect.c.idempotency_key]
    )


LEDGER_ROW = tuple(column.name for column in effect.c if column.name != "reversed_by")
"""The columns a new row of the effect ledger is written with."""
NOTE_ONCE = Prepared(note_once, keys=LEDGER_ROW)
""":func:`note_once`, prepared: every call of a run writes one or two."""
