"""Turn what the gate reports (:class:`~tether.gate.GateEvent`) into audit events."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from tether.audit._event import AuditEvent

if TYPE_CHECKING:
    from tether.gate import GateEvent


def trace_ids(run_id: str, call_id: str | None = None) -> tuple[str, str]:
    """The current OpenTelemetry trace and span ids, or ones derived from the run and call.

    Derived ids are stable: every event of a run shares a trace id, every event of a
    call a span id, so an export can rebuild the spans.
    """
    from opentelemetry import trace  # when first recorded: reading the trail needs none

    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return format(context.trace_id, "032x"), format(context.span_id, "016x")
    return derived_trace_id(run_id), derived_span_id(run_id, call_id)


def derived_trace_id(run_id: str) -> str:
    return hashlib.sha256(f"tether.run:{run_id}".encode()).hexdigest()[:32]


def derived_span_id(run_id: str, call_id: str | None) -> str:
    name = f"tether.call:{run_id}:{call_id}" if call_id is not None else f"tether.run-span:{run_id}"
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def from_gate_event(event: GateEvent) -> AuditEvent:
    """The audit event for one step of the gate (arguments and output already redacted)."""
    call = event.call
    trace_id, span_id = trace_ids(call.run.id, call.call_id)
    decision = event.decision
    effect: dict[str, Any] | None = None
    details: dict[str, Any] = {}
    if call.run.untrusted:
        details["run_untrusted"] = True
    if decision is not None and event.type in ("call.executed", "call.failed"):
        effect = {"class": decision.effect.value if decision.effect else None}
        details["decision"] = decision.kind
    output = event.output
    if output is not None and effect is not None:
        effect.update(
            untrusted=output.untrusted, truncated=output.truncated, redacted=list(output.redacted)
        )
    if event.observed is not None and effect is not None:
        effect["outcome"] = event.observed.to_dict()
    return AuditEvent(
        type=event.type,
        run_id=call.run.id,
        at=event.at,
        call_id=call.call_id,
        agent=call.agent,
        agent_version=call.agent_version,
        principal=call.principal.id,
        tool=call.tool,
        args=event.args,
        why=call.why or None,
        decision=decision.to_dict()
        if decision is not None and event.type == "call.decided"
        else None,
        effect=effect,
        result=output.value if output is not None else None,
        error=event.error,
        duration_seconds=event.duration_seconds,
        trace_id=trace_id,
        span_id=span_id,
        details=details or None,
    )
