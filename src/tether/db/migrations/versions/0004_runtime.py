"""runs, effect ledger, stop switches, workers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tether_run",
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
        sa.Column("usage", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "tether_effect",
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
    op.create_table(
        "tether_stop",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "tether_worker",
        sa.Column("executor_id", sa.String(200), primary_key=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("tether_worker", "tether_stop", "tether_effect", "tether_run"):
        op.drop_table(table)
