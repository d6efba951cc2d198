"""approval requests and votes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tether_approval_request",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("run_id", sa.String(200), nullable=False, index=True),
        sa.Column("call_id", sa.String(200), nullable=False),
        sa.Column("agent", sa.String(200), nullable=False, index=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("tool", sa.String(200), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("args_hash", sa.String(64), nullable=False),
        sa.Column("shown_args", sa.JSON, nullable=False),
        sa.Column("preview", sa.Text, nullable=False),
        sa.Column("why", sa.Text, nullable=False),
        sa.Column("rule", sa.String(300), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("approvers", sa.JSON, nullable=False),
        sa.Column("quorum", sa.Integer, nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalate_to", sa.JSON, nullable=False),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.UniqueConstraint("run_id", "call_id", name="uq_tether_approval_request_call"),
    )
    op.create_table(
        "tether_approval_vote",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "request_id",
            sa.String(40),
            sa.ForeignKey("tether_approval_request.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(10), nullable=False),
        sa.Column("args_hash", sa.String(64), nullable=False),
        sa.Column("edited_args", sa.JSON, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tether_approval_vote")
    op.drop_table("tether_approval_request")
