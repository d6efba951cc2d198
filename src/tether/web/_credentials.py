"""Server-side sessions and issued API tokens: every request reads its credential, so
ending one (logout, revocation, a password change, a role removed) takes effect at once.

A credential's secret is handed out once and only its SHA-256 is kept. Issued tokens
carry the console's id (``tts_<console>.<secret>``), so a token of another console is
told apart from a forged one. Each credential also carries its account's generation:
raising it (a password change) ends every credential of the account.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tether.db import as_utc
from tether.web._tables import account, console_meta, credential

ISSUED_PREFIX = "tts_"
Kind = Literal["session", "token"]
LoginMethod = Literal["password", "oidc"]
Client = Literal["web", "cli", "api"]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Credential:
    """A live session or issued token (never its secret)."""

    id: str
    kind: Kind
    account: str
    method: LoginMethod
    client: Client
    name: str | None
    roles: frozenset[str]
    groups: tuple[str, ...] | None
    """The groups single sign-on said the account is in (roles are mapped from them)."""
    created_at: _dt.datetime
    expires_at: _dt.datetime
    last_used_at: _dt.datetime | None
    ended_at: _dt.datetime | None
    ended_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "account": self.account,
            "method": self.method,
            "client": self.client,
            "name": self.name,
            "roles": sorted(self.roles),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "ended_reason": self.ended_reason,
        }


class CredentialRefused(Exception):
    """Why a presented credential does not authenticate (a stable reason, a message)."""

    def __init__(self, reason: str, message: str, *, found: Credential | None = None) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message
        self.found = found


class Credentials:
    """The console's sessions and issued tokens, in the tether database."""

    def __init__(self, engine: Engine, *, clock: Callable[[], _dt.datetime]) -> None:
        self.engine = engine
        self.clock = clock
        self.console_id = self._console_id()

    def _console_id(self) -> str:
        """This console's id, made once per database (consoles sharing one are one)."""
        with self.engine.begin() as conn:
            found = conn.execute(
                sa.select(console_meta.c.value).where(console_meta.c.key == "console_id")
            ).scalar()
            if found:
                return str(found)
            made = secrets.token_hex(6)
            conn.execute(console_meta.insert().values(key="console_id", value=made))
            return made

    # --- issuing ------------------------------------------------------------------

    def issue(
        self,
        *,
        kind: Kind,
        account_name: str,
        method: LoginMethod,
        client: Client,
        roles: Collection[str],
        max_age: _dt.timedelta,
        name: str | None = None,
        groups: Collection[str] | None = None,
    ) -> tuple[str, Credential]:
        """A new credential and its secret (shown once)."""
        now = self.clock()
        secret = secrets.token_urlsafe(32)
        if kind == "token":
            secret = f"{ISSUED_PREFIX}{self.console_id}.{secret}"
        row = {
            "id": f"{'ses' if kind == 'session' else 'tok'}_{uuid.uuid4().hex[:16]}",
            "digest": digest(secret),
            "kind": kind,
            "account": account_name,
            "method": method,
            "client": client,
            "name": name,
            "roles": sorted(roles),
            "groups": sorted(groups) if groups is not None else None,
            "generation": self.generation(account_name),
            "created_at": now,
            "expires_at": now + max_age,
            "last_used_at": None,
            "ended_at": None,
            "ended_reason": None,
        }
        with self.engine.begin() as conn:
            conn.execute(credential.insert().values(**row))
        return secret, _credential(row)

    # --- checking -----------------------------------------------------------------

    def check(
        self, secret: str, kind: Kind, *, roles_now: Callable[[Credential], frozenset[str] | None]
    ) -> Credential:
        """The live credential of ``secret``; else :class:`CredentialRefused` with why.

        ``roles_now`` gives the credential's account's roles today (None: no longer a
        user): a credential granted a role since removed is ended here, at once.
        """
        if kind == "token" and secret.startswith(ISSUED_PREFIX):
            console = secret[len(ISSUED_PREFIX) :].partition(".")[0]
            if console != self.console_id:
                raise CredentialRefused(
                    "other_console", "the API token was issued by another tether console"
                )
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(credential).where(credential.c.digest == digest(secret)))
                .mappings()
                .first()
            )
            generation = _generation(conn, row["account"]) if row else 0
        if row is None or row["kind"] != kind:
            raise CredentialRefused("unknown_credential", f"the {_word(kind)} is not valid")
        found = _credential(row)
        now = self.clock()
        if found.ended_at is not None:
            raise CredentialRefused(
                "credential_ended",
                f"the {_word(kind)} ended: {found.ended_reason or 'ended'}",
                found=found,
            )
        if now >= found.expires_at:
            raise CredentialRefused(
                "credential_expired", f"the {_word(kind)} expired; log in again", found=found
            )
        if row["generation"] != generation:
            self.end(found.id, "the password was changed")
            raise CredentialRefused(
                "credential_ended",
                f"the {_word(kind)} ended: the password was changed",
                found=found,
            )
        current = roles_now(found)
        if current is None or not found.roles <= current:
            why = "no longer a user" if current is None else "a role was removed"
            self.end(found.id, why)
            raise CredentialRefused(
                "credential_ended", f"the {_word(kind)} ended: {why}", found=found
            )
        self._touch(found.id, now)
        return found

    def _touch(self, credential_id: str, now: _dt.datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                credential.update().where(credential.c.id == credential_id).values(last_used_at=now)
            )

    # --- ending -------------------------------------------------------------------

    def end(self, credential_id: str, reason: str, *, account_name: str | None = None) -> bool:
        """End one credential (of ``account_name``, when given); False if none was live."""
        where = [credential.c.id == credential_id, credential.c.ended_at.is_(None)]
        if account_name is not None:
            where.append(credential.c.account == account_name)
        with self.engine.begin() as conn:
            done = conn.execute(
                credential.update().where(*where).values(ended_at=self.clock(), ended_reason=reason)
            )
        return bool(done.rowcount)

    def end_all(self, account_name: str, reason: str) -> int:
        """End every live credential of an account."""
        with self.engine.begin() as conn:
            done = conn.execute(
                credential.update()
                .where(credential.c.account == account_name, credential.c.ended_at.is_(None))
                .values(ended_at=self.clock(), ended_reason=reason)
            )
        return int(done.rowcount)

    def listed(self, *, account_name: str | None = None, live: bool = True) -> list[Credential]:
        query = sa.select(credential).order_by(credential.c.created_at)
        if account_name is not None:
            query = query.where(credential.c.account == account_name)
        if live:
            query = query.where(credential.c.ended_at.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        now = self.clock()
        found = [_credential(row) for row in rows]
        return [item for item in found if not live or item.expires_at > now]

    # --- passwords ----------------------------------------------------------------

    def generation(self, account_name: str) -> int:
        with self.engine.connect() as conn:
            return _generation(conn, account_name)

    def changed_password(self, account_name: str) -> str | None:
        """The hash of a password changed in the console (None: tether.yaml's stands)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(account.c.password_hash).where(account.c.account == account_name)
            ).scalar()
        return str(found) if found else None

    def change_password(self, account_name: str, password_hash: str) -> int:
        """Store a new password hash and end every credential of the account."""
        now = self.clock()
        with self.engine.begin() as conn:
            generation = _generation(conn, account_name) + 1
            updated = conn.execute(
                account.update()
                .where(account.c.account == account_name)
                .values(password_hash=password_hash, generation=generation, changed_at=now)
            )
            if not updated.rowcount:
                conn.execute(
                    account.insert().values(
                        account=account_name,
                        password_hash=password_hash,
                        generation=generation,
                        changed_at=now,
                    )
                )
        return self.end_all(account_name, "the password was changed")


def _generation(conn: Connection, account_name: str) -> int:
    found = conn.execute(
        sa.select(account.c.generation).where(account.c.account == account_name)
    ).scalar()
    return int(found or 0)


def _word(kind: Kind) -> str:
    return "session" if kind == "session" else "API token"


def _credential(row: Any) -> Credential:
    return Credential(
        id=row["id"],
        kind=row["kind"],
        account=row["account"],
        method=row["method"],
        client=row["client"],
        name=row["name"],
        roles=frozenset(row["roles"]),
        groups=tuple(row["groups"]) if row["groups"] is not None else None,
        created_at=as_utc(row["created_at"]),
        expires_at=as_utc(row["expires_at"]),
        last_used_at=as_utc(row["last_used_at"]) if row["last_used_at"] else None,
        ended_at=as_utc(row["ended_at"]) if row["ended_at"] else None,
        ended_reason=row["ended_reason"],
    )
