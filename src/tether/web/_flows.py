"""Single sign-on logins under way: each authorization request's state, nonce and PKCE
verifier, kept server-side and used once (a replayed callback is refused).

A login the CLI started (``tether login --sso``) ends with the account marked
authenticated; the CLI collects its token by polling with a secret only it knows
(kept here as a digest), once.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tether.db import as_utc
from tether.web._tables import login_flow

FLOW_MAX_AGE = _dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Flow:
    state: str
    nonce: str
    verifier: str
    next: str
    client: Literal["web", "cli"]


class FlowRefused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class LoginFlows:
    def __init__(self, engine: Engine, *, clock: Callable[[], _dt.datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def begin(self, flow: Flow, *, poll_secret: str | None = None) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(login_flow.delete().where(login_flow.c.created_at < now - FLOW_MAX_AGE))
            conn.execute(
                login_flow.insert().values(
                    state=flow.state,
                    nonce=flow.nonce,
                    verifier=flow.verifier,
                    next=flow.next,
                    client=flow.client,
                    poll_digest=_digest(poll_secret) if poll_secret else None,
                    created_at=now,
                )
            )

    def take(self, state: str) -> Flow:
        """The flow of ``state``, used up now: a second callback with it is refused."""
        now = self.clock()
        with self.engine.begin() as conn:
            row = (
                conn.execute(sa.select(login_flow).where(login_flow.c.state == state))
                .mappings()
                .first()
            )
            if row is None:
                raise FlowRefused("sso_state_unknown", "this sign-on was not started here")
            used = conn.execute(
                login_flow.update()
                .where(login_flow.c.state == state, login_flow.c.used_at.is_(None))
                .values(used_at=now)
            )
        if not used.rowcount:
            raise FlowRefused("login_replayed", "this sign-on was already used; start again")
        if now - as_utc(row["created_at"]) > FLOW_MAX_AGE:
            raise FlowRefused("sso_flow_expired", "this sign-on took too long; start again")
        return Flow(
            state=row["state"],
            nonce=row["nonce"],
            verifier=row["verifier"],
            next=row["next"],
            client=row["client"],
        )

    def authenticated(self, state: str, account: str, groups: tuple[str, ...]) -> None:
        """A CLI's sign-on succeeded: its poller may now collect a token (once)."""
        with self.engine.begin() as conn:
            conn.execute(
                login_flow.update()
                .where(login_flow.c.state == state)
                .values(account=account, groups=list(groups))
            )

    def failed(self, state: str) -> None:
        """A CLI's sign-on was refused: its poller is told so."""
        with self.engine.begin() as conn:
            conn.execute(login_flow.update().where(login_flow.c.state == state).values(account=""))

    def collect(self, state: str, poll_secret: str) -> tuple[str, tuple[str, ...]] | None:
        """The account (and groups) of a CLI's finished sign-on, once; None while pending.

        Only the holder of the poll secret (the CLI that started it) can collect it.
        """
        with self.engine.begin() as conn:
            row = (
                conn.execute(sa.select(login_flow).where(login_flow.c.state == state))
                .mappings()
                .first()
            )
            if (
                row is None
                or not row["poll_digest"]
                or not hmac.compare_digest(row["poll_digest"], _digest(poll_secret))
            ):
                raise FlowRefused("sso_state_unknown", "no such sign-on for this poll secret")
            if row["account"] is None:
                return None
            if row["account"] == "":
                conn.execute(login_flow.delete().where(login_flow.c.state == state))
                raise FlowRefused("sso_failed", "the sign-on was refused; see the browser")
            conn.execute(login_flow.delete().where(login_flow.c.state == state))
        return str(row["account"]), tuple(row["groups"] or ())
