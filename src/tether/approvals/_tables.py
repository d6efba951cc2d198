"""The approval tables (created by migration 0003)."""

from __future__ import annotations

import sqlalchemy as sa

from tether.db import metadata

approval_request = sa.Table(
    "tether_approval_request",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("run_id", sa.String(200), nullable=False, index=True),
    sa.Column("call_id", sa.String(200), nullable=False),
    sa.Column("agent", sa.String(200), nullable=False, index=True),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("tool", sa.String(200), nullable=False),
    # The arguments the call will run with (current: edited ones once edited), and their hash.
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("args_hash", sa.String(64), nullable=False),
    # What approvers are shown: redacted arguments and the tool's preview.
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
    sa.Column("escalated", sa.Boolean, nullable=False, default=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    # The least assurance an approver needs: local or authenticated (migration 0040).
    sa.Column("assurance", sa.String(20), nullable=False, server_default="local"),
    # One request per call: a step that runs again finds the request it made.
    sa.UniqueConstraint("run_id", "call_id", name="uq_tether_approval_request_call"),
)

approval_vote = sa.Table(
    "tether_approval_vote",
    metadata,
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
    # Who voted and how they were authenticated: surface, method, account (migration 0040).
    sa.Column("actor", sa.JSON, nullable=True),
)
