"""The audit event: one step of a run or a call, as the trail stores it."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from tether.audit._canonical import format_time, parse_time

SCHEMA_VERSION = 1
"""The version of the event body written by this tether."""
KNOWN_SCHEMA_VERSIONS = (1,)
"""The versions this tether can read and verify."""

EventType = Literal[
    "run.started",
    "call.proposed",
    "call.decided",
    "approval.requested",
    "approval.decided",
    "approval.refused",
    "approval.escalated",
    "approval.duplicate",
    "call.executed",
    "call.failed",
    "run.finished",
    "run.stopped",
    "access.refused",
    "agent.stopped",
    "agent.resumed",
    "audit.witness_refused",
    "audit.pruned",
    "policy.loaded",
    "policy.changed",
    "login.succeeded",
    "login.refused",
    "login.locked",
    "login.unlocked",
    "credential.ended",
    "password.changed",
    "tool.quarantined",
    "tool.accepted",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One event of the trail. Everything in it is stored, so everything must be redacted.

    Events of a call share ``run_id`` and ``call_id``; run events have no ``call_id``.
    Mappings must hold JSON data (other values are stored as text).
    """

    type: EventType
    """What happened: ``call.proposed``, ``call.decided``, ``approval.requested``…
    (``approval.refused``: an attempt to decide that the rules refused, e.g. the
    requester approving their own call; ``approval.escalated``: sent on to others;
    ``access.refused``: the console refused a request: no login, wrong role, bad CSRF;
    ``agent.stopped`` / ``agent.resumed``: an operator's stop switch, set or lifted;
    ``login.*``: logins to the console, refused ones, lock-outs and who cleared them;
    ``credential.ended``: a session or token ended (logout, revocation);
    ``password.changed``: every session of the account ended with it;
    ``tool.quarantined`` / ``tool.accepted``: the gateway saw an upstream tool's
    definition change, an operator accepted a definition;
    ``audit.witness_refused``: a witness refused a checkpoint that does not extend
    what it holds, an incident; ``audit.pruned``: events older than ``details.cutoff``
    were removed (``older_than_days``, ``removed``, ``through_seq``), by whom;
    ``policy.loaded``: a policy version came into use;
    ``policy.changed``: shadow mode or approvers changed, by whom)."""
    run_id: str
    """The run the event belongs to (``-`` for events of no run: the stop switch, the
    console's refusals)."""
    at: _dt.datetime = field(default_factory=_now)
    """When it happened (timezone-aware; stored as UTC with microseconds)."""
    call_id: str | None = None
    """The step or call id, unique in its run; None for run events."""
    agent: str | None = None
    """The agent's name in the policy."""
    agent_version: str | None = None
    """The agent's version, when known."""
    principal: str | None = None
    """The id of the person the agent acts for."""
    tool: str | None = None
    """The tool's name, for call and approval events."""
    args: Mapping[str, Any] | None = None
    """The call's arguments, redacted."""
    why: str | None = None
    """The model's stated reason for the call."""
    decision: Mapping[str, Any] | None = None
    """On ``call.decided``: ``kind`` (allow, deny, needs_approval), ``rules``, ``reasons``,
    ``policy_version``, ``effect``, ``shadow`` and, for approvals, ``approval``."""
    approval: Mapping[str, Any] | None = None
    """On approval events: ``request_id``, ``approvers``, ``quorum``, ``expires_at``; when
    decided also ``verdict`` (approved, rejected, expired), ``by``, ``decided_at``,
    ``comment``, ``edited_args`` and, when the person the agent acted for decided on a
    rule that asked them to confirm, ``confirmation: true``."""
    effect: Mapping[str, Any] | None = None
    """On ``call.executed``: the effect class and, where the connector can tell, what
    changed: ``{"class": "write", "changes": [{"system", "record", "before", "after"}]}``;
    for a tool that reads back what it changed, ``outcome``: what the system shows
    happened, ``{"status": "confirmed" | "discrepancy" | "unread", "system", "before",
    "after", "discrepancies": [{"path", "answer", "system"}], "error"}``."""
    result: Any = None
    """On ``call.executed``: the checked, redacted result."""
    error: str | None = None
    """On ``call.failed`` (and ``run.stopped``): what went wrong, redacted."""
    duration_seconds: float | None = None
    """How long the tool ran, on ``call.executed`` and ``call.failed``."""
    trace_id: str | None = None
    """The OpenTelemetry trace id (32 hex digits) the step belongs to."""
    span_id: str | None = None
    """The OpenTelemetry span id (16 hex digits) of the step."""
    details: Mapping[str, Any] | None = None
    """Anything else worth keeping (run status, model, counts), as JSON data."""
    actor: Mapping[str, Any] | None = None
    """On a person's decision (approval, stop switch, cancellation, undo): who made it
    and how they were authenticated: ``account``, ``surface`` (web, api, cli, python,
    gateway), ``method`` (password, api_token, oidc, local), ``assurance``."""

    def body(self) -> dict[str, Any]:
        """The event as stored, ``None`` and empty values left out.

        Values that are not JSON (dates, decimals, sets) are stored as
        :func:`~tether.audit.canonical_json` renders them: as text or lists.
        """
        body: dict[str, Any] = {"v": SCHEMA_VERSION, "type": self.type, "run": self.run_id}
        body["at"] = format_time(self.at)
        for key, value in (
            ("call", self.call_id),
            ("agent", self.agent),
            ("agent_version", self.agent_version),
            ("principal", self.principal),
            ("tool", self.tool),
            ("why", self.why),
            ("error", self.error),
            ("duration_seconds", self.duration_seconds),
            ("trace_id", self.trace_id),
            ("span_id", self.span_id),
        ):
            if value is not None and value != "":
                body[key] = value
        for key, data in (
            ("args", self.args),
            ("decision", self.decision),
            ("approval", self.approval),
            ("effect", self.effect),
            ("details", self.details),
            ("actor", self.actor),
        ):
            if data:
                body[key] = data
        if self.result is not None:
            body["result"] = self.result
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any], *, at: _dt.datetime | None = None) -> AuditEvent:
        """The event a stored body describes (the inverse of :meth:`body`)."""
        return cls(
            type=body["type"],
            run_id=body["run"],
            at=at or parse_time(body["at"]),
            call_id=body.get("call"),
            agent=body.get("agent"),
            agent_version=body.get("agent_version"),
            principal=body.get("principal"),
            tool=body.get("tool"),
            args=body.get("args"),
            why=body.get("why"),
            decision=body.get("decision"),
            approval=body.get("approval"),
            effect=body.get("effect"),
            result=body.get("result"),
            error=body.get("error"),
            duration_seconds=body.get("duration_seconds"),
            trace_id=body.get("trace_id"),
            span_id=body.get("span_id"),
            details=body.get("details"),
            actor=body.get("actor"),
        )


@dataclass(frozen=True, kw_only=True)
class StoredEvent:
    """An event as the trail holds it: its place in the chain and its hash."""

    seq: int
    """Its position: 1, 2, 3… with no gaps."""
    hash: str
    """SHA-256 of its record, in hex."""
    prev: str
    """The hash of the event before it (``GENESIS`` for the first)."""
    event: AuditEvent
    """The event itself, as stored (redacted)."""
    record: str
    """The exact stored text its hash covers: canonical JSON of ``{"body", "prev", "seq"}``."""
