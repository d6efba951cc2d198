"""Who is asking: users and roles from ``tether.yaml``, argon2 passwords, API tokens.

A user's name is the identity every action is taken under: the approver id passed to
the approvals service (as ``--as USER`` on the command line), the operator recorded by
a stop switch. Passwords are stored as argon2 hashes (or read from an environment
variable); API tokens as the SHA-256 of a random token (a fast hash is right for a
secret with 256 bits of entropy) or read from an environment variable.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tether.config import WebSettings
from tether.errors import ConfigurationError
from tether.identity import Actor, Surface

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
    via: str = "session"
    """How they authenticated: ``session`` or ``token:<name>``."""

    def holds(self, roles: frozenset[str]) -> bool:
        return not self.roles.isdisjoint(roles)

    def actor(self, surface: Surface) -> Actor:
        """The user as the maker of a decision, through ``surface`` (web pages, the API)."""
        if self.via.startswith("token:"):
            return Actor(
                account=self.name,
                surface=surface,
                method="api_token",
                credential=self.via.removeprefix("token:"),
            )
        return Actor(account=self.name, surface=surface, method="password")


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
    """The console's users and tokens, as configured."""

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

    def __contains__(self, name: object) -> bool:
        return name in self._roles

    def names(self) -> list[str]:
        return sorted(self._roles)

    def get(self, name: str) -> User | None:
        roles = self._roles.get(name)
        return None if roles is None else User(name=name, roles=roles)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user, if ``password`` is theirs."""
        stored = self._hashes.get(name)
        try:
            _HASHER.verify(stored or _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        return self.get(name) if stored else None

    def for_token(self, token: str) -> User | None:
        """The user an API token acts for."""
        digest = token_digest(token)
        for known, (token_name, user) in self._tokens.items():
            if hmac.compare_digest(known, digest):
                found = self.get(user)
                return (
                    None
                    if found is None
                    else User(name=found.name, roles=found.roles, via=f"token:{token_name}")
                )
        return None
