"""limit usage

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tether_limit_usage",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("limit_key", sa.String(400), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_id", sa.String(200), nullable=False),
    )
    op.create_index(
        "ix_tether_limit_usage_key_time", "tether_limit_usage", ["limit_key", "used_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_tether_limit_usage_key_time", "tether_limit_usage")
    op.drop_table("tether_limit_usage")
