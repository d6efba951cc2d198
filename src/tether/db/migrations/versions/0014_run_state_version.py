"""Runs: the version of the durable protocol that wrote a run's state.

A parked run's next segment is queued for workers that can read its state: of its
protocol, or newer.

Revision ID: 0014
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tether_run") as table:
        table.add_column(
            sa.Column("state_version", sa.Integer, nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("tether_run") as table:
        table.drop_column("state_version")
