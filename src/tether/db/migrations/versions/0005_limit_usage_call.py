"""Limits: find a call's claims by its id (a repeated step settles its limits once).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tether_limit_usage_call", "tether_limit_usage", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_tether_limit_usage_call", "tether_limit_usage")
