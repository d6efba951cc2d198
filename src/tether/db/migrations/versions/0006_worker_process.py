"""Workers: which process beats under an executor id (two live workers must not share one).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tether_worker") as table:
        table.add_column(sa.Column("host", sa.String(255), nullable=True))
        table.add_column(sa.Column("pid", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tether_worker") as table:
        table.drop_column("pid")
        table.drop_column("host")
