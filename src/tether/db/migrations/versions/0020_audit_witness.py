"""Audit: checkpoints chained to each other; witnesses' receipts; policy snapshots.

``tether_audit_checkpoint`` gains ``number`` (1, 2, 3…) and ``prev`` (the digest of
the checkpoint before), so a deleted checkpoint leaves a gap. Columns are added in
place (no table rebuild), so the append-only triggers stay.
``tether_audit_witness`` keeps what each witness answered for each checkpoint.
``tether_policy_snapshot`` holds the text of each policy version that decided a call,
once, by its version hash.

Revision ID: 0020
Revises: 0050
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tether_audit_checkpoint", sa.Column("number", sa.BigInteger, nullable=True))
    op.add_column("tether_audit_checkpoint", sa.Column("prev", sa.String(64), nullable=True))
    op.create_index(
        "ux_tether_audit_checkpoint_number", "tether_audit_checkpoint", ["number"], unique=True
    )
    op.create_table(
        "tether_audit_witness",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("witness", sa.String(400), nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("receipt", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Index("ix_tether_audit_witness_number", "witness", "number"),
    )
    op.create_table(
        "tether_policy_snapshot",
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("first_seen_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tether_policy_snapshot")
    op.drop_table("tether_audit_witness")
    op.drop_index("ux_tether_audit_checkpoint_number", "tether_audit_checkpoint")
    op.drop_column("tether_audit_checkpoint", "prev")
    op.drop_column("tether_audit_checkpoint", "number")
