"""A run's timeline: model steps (from its history) and audit events, in order.

Each entry has a time, its offset from the run's start, a status and the ids of the
rules that decided it. Arguments come from the audit trail (redacted when recorded);
the model's proposed arguments in its history are redacted here the same way.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import ModelMessagesTypeAdapter
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart

from tether.agents import tool_name_from_model
from tether.audit import StoredEvent
from tether.runtime import RunRecord
from tether.service import Service
from tether.web._present import how


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One line of the timeline."""

    at: _dt.datetime
    kind: str
    """``model.step`` or an audit event type (``call.decided``…)."""
    title: str
    status: str = ""
    call_id: str | None = None
    tool: str | None = None
    rules: tuple[str, ...] = ()
    text: str = ""
    args: dict[str, Any] | None = None
    by: str | None = None
    """Who decided, for approval events."""
    how: str | None = None
    """How they were authenticated: ``web, password``, ``cli, local (no login)``…"""
    duration_seconds: float | None = None
    offset_seconds: float = 0.0
    outcome: dict[str, Any] | None = None
    """On an executed call whose tool reads back: what the system shows happened
    (``status`` confirmed, discrepancy or unread; ``discrepancies``)."""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "offset_seconds": round(self.offset_seconds, 3),
            "kind": self.kind,
            "title": self.title,
            "status": self.status,
            "call_id": self.call_id,
            "tool": self.tool,
            "rules": list(self.rules),
            "text": self.text,
            "args": self.args,
            "by": self.by,
            "how": self.how,
            "duration_seconds": self.duration_seconds,
            "outcome": self.outcome,
        }


def timeline(service: Service, record: RunRecord) -> list[Entry]:
    """Everything that happened in the run, oldest first."""
    entries = _model_steps(service, record) + [
        _from_event(stored) for stored in service.events(run=record.id)
    ]
    ordered = sorted(enumerate(entries), key=lambda pair: (pair[1].at, pair[0]))
    start = record.created_at
    shown: dict[str, dict[str, Any] | None] = {}
    result = []
    for _, entry in ordered:
        args = entry.args
        if entry.call_id is not None and args is not None:
            # A call's arguments are shown once, and again only where they changed (an edit).
            args = None if shown.get(entry.call_id) == args else args
            shown[entry.call_id] = entry.args
        offset = (entry.at - start).total_seconds()
        result.append(dataclasses.replace(entry, args=args, offset_seconds=offset))
    return result


def _model_steps(service: Service, record: RunRecord) -> list[Entry]:
    if not record.history:
        return []
    steps = []
    scrub = service.run_scrubber(record)
    messages = ModelMessagesTypeAdapter.validate_json(record.history)
    responses = [message for message in messages if isinstance(message, ModelResponse)]
    for number, response in enumerate(responses, start=1):
        text = " ".join(part.content for part in response.parts if isinstance(part, TextPart))
        calls = [part for part in response.parts if isinstance(part, ToolCallPart)]
        proposed = ", ".join(tool_name_from_model(call.tool_name) for call in calls)
        tokens = response.usage.input_tokens + response.usage.output_tokens
        steps.append(
            Entry(
                at=response.timestamp,
                kind="model.step",
                title=f"model step {number}" + (f": proposes {proposed}" if proposed else ""),
                status="calls" if calls else "answer",
                text=scrub.redact_text(text),
                details={
                    "calls": [_call(service, call) for call in calls],
                    "tokens": tokens,
                    "model": response.model_name,
                },
            )
        )
    return steps


def _call(service: Service, part: ToolCallPart) -> dict[str, Any]:
    name = tool_name_from_model(part.tool_name)
    args = part.args_as_dict()
    return {"tool": name, "call_id": part.tool_call_id, "args": service.shown_args(name, args)}


def _from_event(stored: StoredEvent) -> Entry:
    event = stored.event
    decision = dict(event.decision or {})
    approval = dict(event.approval or {})
    details = dict(event.details or {})
    status = str(
        decision.get("kind")
        or approval.get("verdict")
        or approval.get("refusal")
        or details.get("status")
        or _STATUS.get(event.type, "")
    )
    text = "; ".join(str(reason) for reason in decision.get("reasons", []))
    if event.type.startswith("approval."):
        text = str(approval.get("comment") or approval.get("message") or "")
    if event.error:
        text = event.error
    return Entry(
        at=event.at,
        kind=event.type,
        title=_TITLES.get(event.type, event.type) + (f" {event.tool}" if event.tool else ""),
        status=status,
        call_id=event.call_id,
        tool=event.tool,
        rules=tuple(str(rule) for rule in decision.get("rules", [])),
        text=text,
        args=dict(event.args) if event.args else None,
        by=_by(approval, event.actor),
        how=how(event.actor) if event.actor else None,
        duration_seconds=event.duration_seconds,
        outcome=_outcome(event.effect),
        details={"seq": stored.seq, "effect": dict(event.effect or {}), "approval": approval},
    )


def _by(approval: Mapping[str, Any], actor: Mapping[str, Any] | None) -> str | None:
    """Who decided: the approval's voter, else the actor of an operator's action."""
    name = approval.get("by") or (actor or {}).get("account")
    return str(name) if name else None


def _outcome(effect: Any) -> dict[str, Any] | None:
    outcome = (effect or {}).get("outcome")
    return dict(outcome) if isinstance(outcome, dict) else None


_TITLES = {
    "run.started": "run started",
    "call.proposed": "proposed",
    "call.decided": "decided",
    "approval.requested": "approval requested for",
    "approval.decided": "approval decided for",
    "approval.refused": "approval refused for",
    "approval.escalated": "approval escalated for",
    "call.executed": "executed",
    "call.failed": "failed",
    "run.finished": "run finished",
    "run.stopped": "run stopped",
}
_STATUS = {
    "call.proposed": "proposed",
    "call.executed": "executed",
    "call.failed": "failed",
    "approval.requested": "pending",
    "run.started": "started",
}
