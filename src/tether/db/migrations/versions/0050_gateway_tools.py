"""The gateway's pinned tool definitions: the hash an operator accepted for each
upstream tool, and the definition last seen when it differs (quarantined).

Revision ID: 0050
Revises: 0041
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0050"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tether_gateway_tool",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("accepted_hash", sa.String(64), nullable=True),
        sa.Column("accepted_definition", sa.JSON, nullable=True),
        sa.Column("accepted_by", sa.String(200), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_hash", sa.String(64), nullable=False),
        sa.Column("seen_definition", sa.JSON, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tether_gateway_tool")
