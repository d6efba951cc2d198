"""Who proposes what: the identified call that enters the gate."""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from tether.provenance import Provenance


@dataclass(frozen=True, kw_only=True)
class Principal:
    """The person an agent acts for. The agent never does what they may not."""

    id: str
    """User id, as the policy's ``users`` section names it."""
    roles: frozenset[str] = frozenset()
    """Roles the person holds."""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    """Free-form attributes (team, region) that conditions read."""

    def as_cel(self) -> dict[str, Any]:
        return self._cel

    @functools.cached_property
    def _cel(self) -> dict[str, Any]:
        # Computed once per principal: the same person makes many calls.
        return {"id": self.id, "roles": sorted(self.roles), "attributes": to_cel(self.attributes)}


@dataclass(frozen=True, kw_only=True)
class RunState:
    """What the gate knows about the run a call belongs to."""

    id: str
    """The run's id."""
    untrusted: bool = False
    """The run has read outside content (an inbound email, a web page)."""
    known_contacts: frozenset[str] = frozenset()
    """Addresses the run may write to without counting as strangers."""
    provenance: Provenance = field(default_factory=dict)
    """Where the identifiers the run has met were vouched for or seen
    (:mod:`tether.provenance`); conditions ask with ``vouched(x)`` and the like."""
    calls: tuple[PastCall, ...] | None = None
    """What the run has done so far (calls executed, in flight, or awaiting approval),
    for sequence conditions (``run.calls``); None when the policy reads none."""

    def as_cel(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "id": self.id,
            "untrusted": self.untrusted,
            "known_contacts": sorted(self.known_contacts),
        }
        if self.calls is not None:
            value["calls"] = [call.as_cel() for call in self.calls]
            value["recipients"] = sorted({r for call in self.calls for r in call.recipients})
        return value


@dataclass(frozen=True, kw_only=True)
class PastCall:
    """A call the run made before this one, as sequence conditions see it."""

    tool: str
    effect: str
    status: str
    """``done``, ``failed``, ``started`` (in flight) or ``held`` (awaiting approval)."""
    args: Mapping[str, Any] = field(default_factory=dict)
    """Its arguments as the records show them (secrets redacted)."""
    recipients: tuple[str, ...] = ()
    """The addresses it wrote to, for a communicate tool."""

    def as_cel(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "effect": self.effect,
            "status": self.status,
            "args": to_cel(self.args),
            "recipients": list(self.recipients),
        }


@dataclass(frozen=True, kw_only=True)
class ProposedCall:
    """A tool call an agent proposes, identified: the gate's input."""

    tool: str
    """The tool's name."""
    args: Mapping[str, Any]
    """The arguments as the model proposed them (not yet validated)."""
    agent: str
    """The agent's name in the policy."""
    principal: Principal
    """The person the agent acts for."""
    run: RunState
    """The run the call belongs to."""
    call_id: str
    """Unique in the run; with the run id it makes the idempotency key."""
    why: str = ""
    """The model's stated reason for the call."""
    resource: Mapping[str, Any] | None = None
    """Attributes of the record the call targets, for data scopes (``resource.team``)."""
    agent_version: str | None = None
    """The agent's version, for the record."""
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    """Secret values this run has handled so far (its earlier calls' secret arguments):
    the model may repeat them in its reasons, so they are scrubbed wherever the call's
    text is stored, shown or sent."""

    @property
    def idempotency_key(self) -> str:
        return f"{self.run.id}:{self.call_id}"


_PLAIN = (str, int, float, bool, type(None))


def to_cel(value: Any) -> Any:
    """Plain values a CEL expression can read: dicts, lists, str, int, float, bool, None."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(key): to_cel(item) for key, item in value.items()}
    if kind is list:
        return [to_cel(item) for item in value]
    if isinstance(value, BaseModel):
        return to_cel(value.model_dump())
    if isinstance(value, Mapping):
        return {str(key): to_cel(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_cel(item) for item in value]
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        return to_cel(value.value)
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def first_attempt(call_id: str, taken: Callable[[str], bool]) -> str:
    """``call_id``, or ``call_id.2``, ``.3``…: the first attempt whose id ``taken``
    does not rule out. A call made again (an undo after a refused one, the same call
    sent long after the first was settled) is a call of its own, with its own ledger
    row, while its retries keep the id of the attempt they repeat."""
    attempt, number = call_id, 1
    while taken(attempt):
        number += 1
        attempt = f"{call_id}.{number}"
    return attempt
