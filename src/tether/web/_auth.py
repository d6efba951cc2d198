"""Who is asking: users and roles from ``tether.yaml``, argon2 passwords, API tokens.

A user's name is the identity every action is taken under: the approver id passed to
the approvals service, the operator recorded by a stop switch. Passwords are stored as
argon2 hashes (or read from an environment variable; a password changed in the
console is kept, hashed, in the database); configured API tokens as the SHA-256 of a
random token (a fast hash is right for a secret with 256 bits of entropy). Users of
single sign-on get their roles from the ``web.oidc.roles`` mapping of their groups.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tether.config import WebSettings
from tether.errors import ConfigurationError
from tether.identity import Actor, Method, Surface

READ = frozenset({"viewer", "approver", "operator", "auditor"})
"""Roles that may read the console's pages."""
DECIDE = frozenset({"approver"})
"""Roles that may decide approvals (the policy then says which requests)."""
OPERATE = frozenset({"operator"})
"""Roles that may stop agents and cancel runs."""
EXPORT = frozenset({"auditor", "operator"})
"""Roles that may export the audit trail."""

TOKEN_PREFIX = "tt_"
_HASHER = PasswordHasher()
ClientKind = Literal["web", "cli", "api"]


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so timing does not tell who exists."""
    return _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, kw_only=True)
class User:
    """A person logged in to the console (or a token acting for them)."""

    name: str
    """The identity actions are taken and recorded under."""
    roles: frozenset[str]
    """The console roles: viewer, approver, operator, auditor."""
    method: Method = "password"
    """How they authenticated: a password, single sign-on, or a configured API token."""
    client: ClientKind = "web"
    """What they use: the console's pages, the CLI (a ``tether login`` token), the API."""
    credential: str | None = None
    """The session's or token's id (never its secret)."""

    def holds(self, roles: frozenset[str]) -> bool:
        return not self.roles.isdisjoint(roles)

    def actor(self, surface: Surface) -> Actor:
        """The user as the maker of a decision, through ``surface`` (web pages, the API);
        a token made by ``tether login`` acts for the command line."""
        return Actor(
            account=self.name,
            surface="cli" if self.client == "cli" else surface,
            method=self.method,
            credential=self.credential,
        )


def hash_password(password: str, *, hasher: PasswordHasher | None = None) -> str:
    """An argon2id hash of ``password``, for ``password_hash`` in ``tether.yaml``."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    return (hasher or _HASHER).hash(password)


def token_digest(token: str) -> str:
    """The SHA-256 (hex) of an API token, as ``tether.yaml`` stores it."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh API token and its digest."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


class Users:
    """The console's users, tokens and single sign-on role mapping, as configured."""

    def __init__(self, settings: WebSettings, *, env: Mapping[str, str] | None = None) -> None:
        environ = os.environ if env is None else env
        self._roles = {name: frozenset(spec.roles) for name, spec in settings.users.items()}
        self._hashes: dict[str, str] = {}
        for name, spec in settings.users.items():
            if spec.password_hash:
                self._hashes[name] = spec.password_hash
            elif spec.password_env and environ.get(spec.password_env):
                self._hashes[name] = _HASHER.hash(environ[spec.password_env])
        self._tokens: dict[str, tuple[str, str]] = {}
        for item in settings.tokens:
            if item.user not in self._roles:
                raise ConfigurationError(
                    f"web.tokens: token {item.name!r} acts for {item.user!r}, who is not in "
                    "web.users"
                )
            digest = item.sha256 or (
                token_digest(environ[item.token_env])
                if item.token_env and environ.get(item.token_env)
                else None
            )
            if digest:
                self._tokens[digest.lower()] = (item.name, item.user)
        oidc = settings.oidc
        self._group_roles = {
            key: frozenset(value) for key, value in (oidc.roles if oidc else {}).items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self._roles

    def names(self) -> list[str]:
        return sorted(self._roles)

    def roles(self, name: str) -> frozenset[str] | None:
        """A configured user's roles (None: not a user of ``web.users``)."""
        return self._roles.get(name)

    def get(self, name: str) -> User | None:
        roles = self._roles.get(name)
        return None if roles is None else User(name=name, roles=roles)

    def sso_roles(self, name: str, groups: tuple[str, ...]) -> frozenset[str]:
        """The roles single sign-on grants: of the user's groups and of ``user:NAME``."""
        keys = (*groups, f"user:{name}")
        return frozenset(role for key in keys for role in self._group_roles.get(key, ()))

    def has_password(self, name: str) -> bool:
        return name in self._hashes

    def check_password(self, name: str, password: str, *, changed: str | None = None) -> bool:
        """Whether ``password`` is the user's (``changed``: the hash set in the console).

        An unknown user costs a hash too, so timing does not tell who exists.
        """
        stored = changed or self._hashes.get(name)
        try:
            _HASHER.verify(stored or _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return False
        return stored is not None and name in self._roles

    def authenticate(self, name: str, password: str) -> User | None:
        """The user, if ``password`` is their configured one (no throttling here: the
        console's logins go through :class:`~tether.web._accounts.Accounts`)."""
        return self.get(name) if self.check_password(name, password) else None

    def for_token(self, token: str) -> User | None:
        """The user a configured API token acts for."""
        digest = token_digest(token)
        for known, (token_name, user) in self._tokens.items():
            if hmac.compare_digest(known, digest):
                found = self.get(user)
                return (
                    None
                    if found is None
                    else User(
                        name=found.name,
                        roles=found.roles,
                        method="api_token",
                        client="api",
                        credential=token_name,
                    )
                )
        return None
