"""A loaded policy: compiled conditions, indexed grants, ready to decide."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from tether.calls import Principal
from tether.errors import PolicyIssue
from tether.policy._cel import Condition, Projection
from tether.policy._spec import PolicySpec, UntrustedDecision
from tether.provenance import NO_VOUCHING, Vouching
from tether.tools import Effect, Toolset


@dataclass(frozen=True, kw_only=True)
class PatternMatcher:
    """A tool-name pattern where ``*`` matches any run of characters."""

    pattern: str
    regex: re.Pattern[str]

    @classmethod
    def of(cls, pattern: str) -> PatternMatcher:
        parts = (re.escape(part) for part in pattern.split("*"))
        return cls(pattern=pattern, regex=re.compile(".*".join(parts) + r"\Z"))

    def matches(self, name: str) -> bool:
        return self.regex.match(name) is not None

    @property
    def specificity(self) -> tuple[int, int]:
        """Exact names beat wildcards; among wildcards, more literal characters win."""
        literal = len(self.pattern.replace("*", ""))
        return (0 if "*" in self.pattern else 1, literal)


@dataclass(frozen=True, kw_only=True)
class Approval:
    rule: str
    when: Condition | None
    approvers: tuple[str, ...]
    quorum: int
    expires_after: timedelta
    escalate_after: timedelta | None = None
    escalate_to: tuple[str, ...] = ()
    assurance: str = "local"
    """The least assurance of an approver's login (``local`` or ``authenticated``)."""


@dataclass(frozen=True, kw_only=True)
class Limit:
    rule: str
    per: Literal["run", "agent", "principal", "resource"]
    window: timedelta | None
    count: int | None
    sum: Condition | None
    max: float | None
    shadow: bool
    key: Condition | None = None
    """Splits the counter by the value of this expression."""
    max_of: Condition | None = None
    """The cap, when the policy gives it as an expression (``resource.total``)."""
    reserve: Literal["request", "approval"] = "request"
    """When a held call takes its share: at the request, or once approved."""

    @property
    def ceiling(self) -> float:
        """The cap, when it is a number (see :attr:`max_of` otherwise)."""
        return float(self.count if self.count is not None else self.max or 0)


@dataclass(frozen=True, kw_only=True)
class Grant:
    rule: str
    matcher: PatternMatcher
    effect: Effect | None
    when: Condition | None
    approval: Approval | Literal["never"] | None
    limits: tuple[Limit, ...]
    untrusted: UntrustedDecision | None
    shadow: bool
    unscoped: str | None = None
    """Why the agent's data scope does not apply to these tools (``unscoped:``)."""


@dataclass(frozen=True, kw_only=True)
class Permission:
    rule: str
    matcher: PatternMatcher
    when: Condition | None


@dataclass(kw_only=True)
class AgentPolicy:
    name: str
    acts_for_roles: frozenset[str]
    acts_for_users: frozenset[str]
    acts_for_anyone: bool
    scope: Condition | None
    grants: tuple[Grant, ...]
    shadow: bool
    vouching: Vouching = NO_VOUCHING
    """What the policy vouches for in this agent's runs (its own list and the policy's)."""
    vouch_task: bool = False
    """Identifiers named in the agent's task are vouched for (``task``)."""
    _grant_cache: dict[str, Grant | None] = field(default_factory=dict, repr=False)

    def may_act_for(self, principal: Principal) -> bool:
        return (
            self.acts_for_anyone
            or principal.id in self.acts_for_users
            or not self.acts_for_roles.isdisjoint(principal.roles)
        )

    def grant_for(self, tool: str) -> Grant | None:
        """The most specific grant whose pattern matches ``tool``."""
        try:
            return self._grant_cache[tool]
        except KeyError:
            pass
        matching = [grant for grant in self.grants if grant.matcher.matches(tool)]
        # max() keeps the first of equals: the grant written first wins a tie.
        best = max(matching, key=lambda grant: grant.matcher.specificity, default=None)
        self._grant_cache[tool] = best
        return best


@dataclass(frozen=True, kw_only=True)
class UntrustedDefault:
    effects: frozenset[Effect]
    decision: UntrustedDecision
    unless_vouched: bool = False


@dataclass(kw_only=True)
class Policy:
    """A validated, compiled policy. Load one with :func:`tether.load_policy`."""

    version: str
    """``sha256:`` and the first 16 hex digits of the file's hash: changes whenever it does."""
    source: str
    """Where it was loaded from."""
    spec: PolicySpec
    """The file's content, as parsed."""
    tools: Toolset
    """The tools the policy was checked against."""
    agents: dict[str, AgentPolicy]
    permissions: dict[str, tuple[Permission, ...]]
    """Per role: what its holders may do themselves."""
    default_approval: Approval
    default_approval_effects: frozenset[Effect]
    untrusted_default: UntrustedDefault
    shadow: bool
    """The whole policy runs in shadow mode: decide and record, never enforce."""
    projection: Projection = field(default_factory=dict)
    """The fields of each variable that some condition reads; only these go to CEL."""
    warnings: list[PolicyIssue] = field(default_factory=list)
    """What ``tether policy check`` warns about (the policy loads nonetheless)."""
    classified: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per tool the ``tools:`` section classifies: what it set, for ``policy explain``."""
    text: str = ""
    """The text it was loaded from (its :attr:`version` is that text's hash), kept in the
    audit trail's policy snapshots by the processes that decide with it."""

    @property
    def reads_history(self) -> bool:
        """Some condition reads what the run did so far (``run.calls``, ``run.recipients``)."""
        paths = self.projection.get("run", frozenset())
        return paths is None or any(path[:1] in (("calls",), ("recipients",)) for path in paths)

    def principal(self, user_id: str) -> Principal | None:
        """The principal the policy's ``users`` section defines, or None."""
        user = self.spec.users.get(user_id)
        if user is None:
            return None
        return Principal(id=user_id, roles=frozenset(user.roles), attributes=user.attributes)

    def users_holding(self, refs: tuple[str, ...]) -> set[str]:
        """The user ids that ``role:X`` / ``user:Y`` references name."""
        users: set[str] = set()
        for ref in refs:
            kind, _, name = ref.partition(":")
            if kind == "user":
                users.add(name)
            elif kind == "role":
                users |= {uid for uid, spec in self.spec.users.items() if name in spec.roles}
        return users

    @property
    def redacted_fields(self) -> tuple[str, ...]:
        return tuple(self.spec.redact.fields)

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(self.spec.redact.secrets)
