"""Operators' levers: the stop switch, cancelling a run, undoing an action."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tests.runtime.conftest import EXAMPLE, MakeRuntime
from tether.approvals import ApprovalClosed
from tether.errors import ConfigurationError
from tether.gate import Deny
from tether.provenance import Identifier
from tether.runtime import RunNotFound

ROUTINE = f"scripted:{EXAMPLE / 'scripts' / 'routine-refund.yaml'}"


def credit_notes(desk: Path) -> list[tuple[int, float, int]]:
    with sqlite3.connect(desk) as db:
        return db.execute("SELECT id, amount, voided FROM credit_note").fetchall()


def test_stop_switch_halts_an_agent(
    database_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(database_url)
    parked = rt.start("support-desk", "Acme was charged twice", principal="alice")
    assert rt.wait(parked.id).status == "waiting_approval"
    (request,) = rt.approvals.find(run_id=parked.id)

    halted = rt.stop(agent="support-desk", by="fiona", reason="incident 42")
    assert halted == [parked.id]
    assert rt.store.get(parked.id).status == "stopped"
    assert rt.approvals.get(request.id).status == "cancelled"
    with pytest.raises(ApprovalClosed, match="cancelled"):
        rt.approve(request.id, by="fiona")

    # New calls are refused by the gate itself.
    from tether.calls import ProposedCall, RunState

    principal = rt.policy.principal("alice")
    assert principal is not None
    decision = rt.gate.decide(
        ProposedCall(
            tool="crm.find_party",
            args={"name": "Acme"},
            agent="support-desk",
            principal=principal,
            run=RunState(id="r"),
            call_id="c",
        )
    )
    assert isinstance(decision, Deny)
    assert decision.rules == ("stop-switch",)
    assert "incident 42" in decision.reasons[0]

    # A new run of the stopped agent stops at once; other agents go on.
    fresh = rt.start("support-desk", "anything", principal="alice", model=ROUTINE)
    assert rt.wait(fresh.id).status == "stopped"
    assert credit_notes(desk) == []
    billing = rt.start("billing", "refund", principal="fiona")
    assert rt.wait(billing.id).status == "waiting_approval"

    kinds = [s.event.type for s in rt.audit.events(run=parked.id)]
    assert "run.stopped" in kinds
    verdicts = [
        s.event.approval.get("verdict")
        for s in rt.audit.events(run=parked.id)
        if s.event.type == "approval.decided" and s.event.approval
    ]
    assert verdicts == ["cancelled"]

    assert rt.lift(agent="support-desk", by="olga") == 1
    switches = [s.event for s in rt.audit.events(run="-") if s.event.type.startswith("agent.")]
    assert [(e.type, e.agent, e.principal) for e in switches] == [
        ("agent.stopped", "support-desk", "fiona"),
        ("agent.resumed", "support-desk", "olga"),
    ]
    assert switches[0].details is not None and "incident 42" in switches[0].details["reason"]
    assert rt.lift(agent="support-desk", by="olga") == 0  # nothing left to lift: not recorded
    assert len([s for s in rt.audit.events(run="-") if s.event.type.startswith("agent.")]) == 2
    again = rt.start("support-desk", "Acme was charged twice", principal="alice", model=ROUTINE)
    assert rt.wait(again.id).status == "completed"


def test_stop_all_agents(sqlite_url: str, make_runtime: MakeRuntime) -> None:
    rt = make_runtime(sqlite_url)
    billing = rt.start("billing", "refund", principal="fiona")
    assert rt.wait(billing.id).status == "waiting_approval"
    assert rt.stop(agent=None, by="fiona") == [billing.id]
    assert rt.store.stopped("support-desk") is not None
    assert rt.store.stopped("billing") is not None
    with pytest.raises(ConfigurationError, match="unknown agent"):
        rt.stop(agent="nobody", by="fiona")


def test_cancel_a_run(sqlite_url: str, make_runtime: MakeRuntime, desk: Path) -> None:
    rt = make_runtime(sqlite_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    rt.wait(run.id)
    cancelled = rt.cancel(run.id, by="fiona")
    assert cancelled.status == "cancelled"
    (request,) = rt.approvals.find(run_id=run.id, status=None)
    assert request.status == "cancelled"
    assert credit_notes(desk) == []


def test_undo_reverses_through_the_gate_and_links_both(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(sqlite_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice", model=ROUTINE)
    assert rt.wait(run.id).status == "completed"
    refund = next(e for e in rt.store.effects(run.id) if e.tool == "erp.create_credit_note")
    assert credit_notes(desk) == [(1, 180.0, 0)]

    mail = next(e for e in rt.store.effects(run.id) if e.tool == "email.send")
    with pytest.raises(ConfigurationError, match="cannot be undone"):
        asyncio.run(rt.undo(run.id, mail.call_id, by="alice"))

    result = asyncio.run(rt.undo(run.id, refund.call_id, by="alice"))
    assert result.kind == "executed"
    assert credit_notes(desk) == [(1, 180.0, 1)]
    assert rt.store.effect(refund.idempotency_key).reversed_by == f"{run.id}:undo-{refund.call_id}"  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="already undone"):
        asyncio.run(rt.undo(run.id, refund.call_id, by="alice"))

    undo_events = [
        s.event for s in rt.audit.events(run=run.id) if s.event.call_id == f"undo-{refund.call_id}"
    ]
    assert [e.type for e in undo_events] == ["call.proposed", "call.decided", "call.executed"]
    assert undo_events[0].principal == "alice"
    assert f"undoes {refund.call_id}" in (undo_events[0].why or "")


def test_undo_by_a_user_of_another_team_is_refused_by_the_scope(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    """Issue 15, item 7: erp.void_credit_note had no resource, so bob (us) voided an
    emea customer's refund."""
    rt = make_runtime(sqlite_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice", model=ROUTINE)
    rt.wait(run.id)
    refund = next(e for e in rt.store.effects(run.id) if e.tool == "erp.create_credit_note")
    result = asyncio.run(rt.undo(run.id, refund.call_id, by="bob"))
    assert result.kind == "refused"
    assert credit_notes(desk) == [(1, 180.0, 0)]
    decided = next(
        s.event
        for s in rt.audit.events(run=run.id)
        if s.event.call_id == f"undo-{refund.call_id}" and s.event.type == "call.decided"
    )
    assert decided.decision is not None
    assert decided.decision["rules"] == ["support-desk.scope"]


def test_a_refused_undo_does_not_answer_for_the_next_operator(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    """bob may not undo this refund (another team); alice, who may, undoes it after him:
    his refusal is not replayed to her, and a third attempt finds it undone."""
    rt = make_runtime(sqlite_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice", model=ROUTINE)
    rt.wait(run.id)
    refund = next(e for e in rt.store.effects(run.id) if e.tool == "erp.create_credit_note")
    assert asyncio.run(rt.undo(run.id, refund.call_id, by="bob")).kind == "refused"
    assert asyncio.run(rt.undo(run.id, refund.call_id, by="bob")).kind == "refused"
    result = asyncio.run(rt.undo(run.id, refund.call_id, by="alice"))
    assert result.kind == "executed"
    assert credit_notes(desk) == [(1, 180.0, 1)]
    undone = rt.store.effect(refund.idempotency_key)
    assert undone is not None
    assert undone.reversed_by == f"{run.id}:undo-{refund.call_id}.3"
    with pytest.raises(ConfigurationError, match="already undone"):
        asyncio.run(rt.undo(run.id, refund.call_id, by="alice"))
    decided = [
        (s.event.call_id, s.event.principal, (s.event.decision or {}).get("kind"))
        for s in rt.audit.events(run=run.id, type="call.decided")
        if (s.event.call_id or "").startswith("undo-")
    ]
    base = f"undo-{refund.call_id}"
    assert decided == [
        (base, "bob", "deny"),
        (f"{base}.2", "bob", "deny"),
        (f"{base}.3", "alice", "allow"),
    ]


def test_undo_is_refused_when_the_operator_may_not(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(sqlite_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice", model=ROUTINE)
    rt.wait(run.id)
    refund = next(e for e in rt.store.effects(run.id) if e.tool == "erp.create_credit_note")
    result = asyncio.run(rt.undo(run.id, refund.call_id, by="sam"))  # sales: not for support-desk
    assert result.kind == "refused"
    assert credit_notes(desk) == [(1, 180.0, 0)]


def test_a_calls_context_is_the_runs_state_and_the_agents_stop_switch(
    database_url: str, make_runtime: MakeRuntime
) -> None:
    rt = make_runtime(database_url, launch=False)
    rt.store.create(run_id="r1", agent="billing", agent_version="1", principal="fiona", task="t")
    with rt.engine.begin() as conn:
        rt.store.note_learned(
            conn,
            "r1",
            untrusted=True,
            contacts=("a@x.example",),
            provenance=[(Identifier("email", "b@y.example"), "untrusted:email.read_inbox")],
        )
    state, stopped = rt.store.call_context("r1", "billing")
    assert (state.untrusted, state.known_contacts, stopped) == (True, {"a@x.example"}, None)
    assert state.provenance == {"email:b@y.example": ("untrusted:email.read_inbox",)}
    rt.store.stop(agent="support-desk", by="olga", reason="other agent")
    assert rt.store.call_context("r1", "billing")[1] is None
    rt.store.stop(agent="*", by="olga", reason="incident | 7")
    assert rt.store.call_context("r1", "billing")[1] == "all agents stopped by olga: incident | 7"
    assert rt.store.call_context("r1", "billing")[1] == rt.store.stopped("billing")
    rt.store.lift(agent="*")
    assert rt.store.call_context("r1", "billing")[1] is None
    with pytest.raises(RunNotFound):
        rt.store.call_context("nope", "billing")


def test_built_agents_are_bounded(
    sqlite_url: str, make_runtime: MakeRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tether.runtime import _segments

    monkeypatch.setattr(_segments, "MAX_BUILT_AGENTS", 2)
    rt = make_runtime(sqlite_url, launch=False)
    agent = rt.agents["support-desk"]
    models = []
    for n in range(3):
        script = tmp_path / f"s{n}.yaml"
        script.write_text("turns: [{text: hi}]\n")
        models.append(f"scripted:{script}")
        rt.segments.built(agent, models[-1])
    kept = list(rt.segments._built)
    assert kept == [f"support-desk|{models[1]}", f"support-desk|{models[2]}"]
    assert rt.segments.built(agent, models[2]) is rt.segments._built[kept[1]]  # reused
