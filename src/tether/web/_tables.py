"""The console's own tables (migration 0041): sessions and tokens, changed passwords,
login throttles, single sign-on flows, and the console's id."""

from __future__ import annotations

import sqlalchemy as sa

from tether.db import metadata

# A session (a browser's login) or an API token issued by a login (`tether login`):
# only the SHA-256 of its secret is kept. Ending one is immediate: every request reads it.
credential = sa.Table(
    "tether_web_credential",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(20), nullable=False),  # session | token
    sa.Column("account", sa.String(200), nullable=False, index=True),
    sa.Column("method", sa.String(20), nullable=False),  # password | oidc
    sa.Column("client", sa.String(20), nullable=False),  # web | cli | api
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("groups", sa.JSON, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ended_reason", sa.String(200), nullable=True),
)

# Per account: a password changed in the console (else tether.yaml's), and the
# generation every credential of the account must carry (raised: all of them end).
account = sa.Table(
    "tether_web_account",
    metadata,
    sa.Column("account", sa.String(200), primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

# Failed logins by account (``account:NAME``) and by client (``client:ADDRESS``).
throttle = sa.Table(
    "tether_web_throttle",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_failure_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
)

# A single sign-on login under way: its state, nonce and PKCE verifier, used once.
login_flow = sa.Table(
    "tether_web_login_flow",
    metadata,
    sa.Column("state", sa.String(64), primary_key=True),
    sa.Column("nonce", sa.String(64), nullable=False),
    sa.Column("verifier", sa.String(128), nullable=False),
    sa.Column("next", sa.String(500), nullable=False),
    sa.Column("client", sa.String(20), nullable=False),  # web | cli
    sa.Column("poll_digest", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("account", sa.String(200), nullable=True),
    sa.Column("groups", sa.JSON, nullable=True),
)

console_meta = sa.Table(
    "tether_web_meta",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
