"""Approvals: the assurance a rule demands of its approvers, and who cast each vote.

A request keeps the least assurance its rule demands (``local`` or ``authenticated``);
a vote keeps its actor: the account, the surface and how it was authenticated.

Revision ID: 0040
Revises: 0030
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tether_approval_request") as table:
        table.add_column(
            sa.Column("assurance", sa.String(20), nullable=False, server_default="local")
        )
    with op.batch_alter_table("tether_approval_vote") as table:
        table.add_column(sa.Column("actor", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tether_approval_vote") as table:
        table.drop_column("actor")
    with op.batch_alter_table("tether_approval_request") as table:
        table.drop_column("assurance")
