"""The tables of tether's state. Migrations in ``migrations/versions`` create them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# One row per use of a limited action: which limit, whose, how much, when.
# A limit check sums the rows of its key inside its window, in the same
# locked transaction that inserts the new row.
limit_usage = sa.Table(
    "tether_limit_usage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("limit_key", sa.String(400), nullable=False),
    sa.Column("amount", sa.Float, nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("call_id", sa.String(200), nullable=False),
    sa.Index("ix_tether_limit_usage_key_time", "limit_key", "used_at"),
)
