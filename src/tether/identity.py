"""Who makes a decision, and how they proved it.

Every decision a person makes (approve, reject, edit, stop, lift, cancel, undo) is made
by an :class:`Actor`: the account, the surface it came through and how the account was
authenticated. The audit trail records all three, so a decision typed in a shell can
always be told from one made after a login; a policy can demand an authenticated one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Surface = Literal["web", "api", "cli", "python", "gateway"]
"""Where the decision came from: the console's pages, its JSON API, the command line
(acting directly on the database), Python code, the MCP gateway."""
Method = Literal["password", "api_token", "oidc", "local"]
"""How the account was authenticated: a password, an API token, single sign-on, or not
at all (``local``: a process with access to the database, trusted by configuration)."""
Assurance = Literal["local", "authenticated"]
"""``authenticated``: the account proved who it is; ``local``: it was only named."""

AUTHENTICATED_METHODS: frozenset[str] = frozenset({"password", "api_token", "oidc"})


@dataclass(frozen=True, kw_only=True)
class Actor:
    """A person deciding something, as tether knows them."""

    account: str
    """The user id (as the policy's ``users`` names it)."""
    surface: Surface = "python"
    method: Method = "local"
    credential: str | None = None
    """Which credential: an API token's name, a session's id (never a secret)."""
    break_glass: bool = False
    """Deciding under the emergency path (recorded and notified loudly)."""

    @property
    def assurance(self) -> Assurance:
        return "authenticated" if self.method in AUTHENTICATED_METHODS else "local"

    def record(self) -> dict[str, Any]:
        """The actor as the audit trail keeps it."""
        data: dict[str, Any] = {
            "account": self.account,
            "surface": self.surface,
            "method": self.method,
            "assurance": self.assurance,
        }
        if self.credential:
            data["credential"] = self.credential
        if self.break_glass:
            data["break_glass"] = True
        return data

    def __str__(self) -> str:
        return self.account


def as_actor(who: str | Actor) -> Actor:
    """An actor from a name (Python code naming the user: local) or as given."""
    return who if isinstance(who, Actor) else Actor(account=who)
