"""The gate records every step through the audit log: Gate(policy, recorder=AuditLog(...))."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace import TracerProvider

from tests.audit.gate_setup import policy, proposed, run_calls
from tether.audit import AuditLog, StoredEvent
from tether.gate import Gate, Recorder


def by_call(log: AuditLog) -> dict[str, list[StoredEvent]]:
    calls: dict[str, list[StoredEvent]] = {}
    for stored in log.events():
        calls.setdefault(str(stored.event.call_id), []).append(stored)
    return calls


def test_every_step_is_recorded(db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(db)
    recorder: Recorder = log  # AuditLog is a gate Recorder
    the_policy = policy()
    run_calls(Gate(the_policy, database=db, recorder=recorder))
    calls = by_call(log)
    types = {call: [s.event.type for s in events] for call, events in calls.items()}
    assert types == {
        "c1": ["call.proposed", "call.decided", "call.executed"],
        "c2": ["call.proposed", "call.decided", "call.executed"],
        "c3": ["call.proposed", "call.decided", "call.failed"],
        "c4": ["call.proposed", "call.decided"],
        "c5": ["call.proposed", "call.decided"],
    }
    proposed_event = calls["c1"][0].event
    assert proposed_event.run_id == "run-1"
    assert (proposed_event.agent, proposed_event.agent_version) == ("desk", "2.1")
    assert (proposed_event.principal, proposed_event.tool) == ("alice", "crm.read")
    assert proposed_event.args == {"party_id": 1}
    assert proposed_event.why == "the customer asked (step c1)"
    assert proposed_event.trace_id and len(proposed_event.trace_id) == 32
    assert proposed_event.span_id and len(proposed_event.span_id) == 16

    allowed = calls["c1"][1].event.decision
    assert allowed is not None
    assert allowed["kind"] == "allow"
    assert allowed["rules"][0] == "read"
    assert allowed["policy_version"] == the_policy.version
    assert allowed["effect"] == "read"

    executed = calls["c1"][2].event
    assert executed.effect == {
        "class": "read",
        "untrusted": False,
        "truncated": False,
        "redacted": ["phone", "note"],
    }
    assert executed.result == {
        "id": 1,
        "name": "Acme",
        "phone": "[MASKED]",
        "note": "call with [REDACTED]",
    }
    assert executed.duration_seconds is not None

    waiting = calls["c4"][1].event.decision
    assert waiting is not None
    assert waiting["kind"] == "needs_approval"
    assert waiting["approval"]["approvers"] == ["role:finance"]
    assert "defaults.approval" in waiting["rules"]

    denied = calls["c5"][1].event.decision
    assert denied is not None
    assert denied["kind"] == "deny"
    assert denied["rules"] == ["default-deny"]
    assert "no rule grants 'crm.delete'" in denied["reasons"][0]
    assert denied["model_message"]

    failed = calls["c3"][2].event
    assert failed.error is not None and failed.error.startswith("ValueError: login failed")
    assert log.verify().intact


def test_events_of_a_call_share_trace_and_span(
    sqlite_db: str, open_log: Callable[..., AuditLog]
) -> None:
    log = open_log(sqlite_db)
    run_calls(Gate(policy(), database=sqlite_db, recorder=log))
    calls = by_call(log)
    traces = {s.event.trace_id for events in calls.values() for s in events}
    assert len(traces) == 1  # one run, one trace
    for events in calls.values():
        assert len({s.event.span_id for s in events}) == 1
    assert len({events[0].event.span_id for events in calls.values()}) == len(calls)


def test_live_trace_context_is_recorded(sqlite_db: str, open_log: Callable[..., AuditLog]) -> None:
    log = open_log(sqlite_db)
    tracer = TracerProvider().get_tracer("agent-framework")
    gate = Gate(policy(), database=sqlite_db, recorder=log)
    with tracer.start_as_current_span("running tool") as span:
        import asyncio

        asyncio.run(gate.call(proposed("crm.read", {"party_id": 2}, call_id="live")))
    context = span.get_span_context()
    (first, *_) = log.events()
    assert first.event.trace_id == format(context.trace_id, "032x")
    assert first.event.span_id == format(context.span_id, "016x")
