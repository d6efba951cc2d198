"""Runs: the provenance of the identifiers a run has met (issue 13).

``provenance`` maps each normalised identifier (``email:bob@x.example``) to the
sources that vouched for it or where it was seen (``task``, ``tool:crm.list_parties``,
``approval``, ``untrusted:email.read_inbox``).

Revision ID: 0030
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tether_run") as table:
        table.add_column(sa.Column("provenance", sa.JSON, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("tether_run") as table:
        table.drop_column("provenance")
