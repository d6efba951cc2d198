"""Limits per targeted record and per argument value, and when held calls reserve
(issue 15, item 8: twenty-five refunds of 199.99 on one invoice of 1,250 ran; five held
refunds blocked another user's routine one)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.helpers import call
from tether.approvals import Approvals
from tether.audit import AuditEvent
from tether.calls import Principal
from tether.db import connect
from tether.gate import Allow, Deny, Gate, NeedsApproval
from tether.policy import load_policy_text
from tether.tools import Effect, Toolset, tool

INVOICE_TOTALS = {101: 1250.0, 102: 300.0}


def _invoice(invoice: int, **_: Any) -> Mapping[str, Any] | None:
    total = INVOICE_TOTALS.get(invoice)
    return None if total is None else {"id": invoice, "total": total}


@tool(name="erp.refund", effect=Effect.IRREVERSIBLE, resource="invoice", locate=_invoice)
def refund(invoice: int, amount: float) -> str:
    return f"refunded {amount}"


@tool(name="erp.note", effect=Effect.WRITE)
def note(invoice: int, text: str) -> str:
    return text


POLICY = """
version: 1
roles:
  clerk: {may: ["*"]}
  lead: {may: ["*"]}
users:
  alice: {roles: [clerk]}
  bob: {roles: [clerk]}
  fiona: {roles: [lead]}
defaults:
  approval: {approvers: [role:lead]}
agents:
  bot:
    may_act_for: [role:clerk]
    tools:
      - id: refund
        tool: erp.refund
        approval: {when: args.amount > 100.0}
        limits:
          - {id: per-invoice, per: resource, sum: args.amount, max: resource.total}
          - {id: daily, per: agent, window: 24h, sum: args.amount, max: DAILY, reserve: RESERVE}
      - id: note
        tool: erp.note
        approval: never
        limits:
          - {id: notes-per-invoice, per: run, key: args.invoice, count: 2}
"""
ALICE = Principal(id="alice", roles=frozenset({"clerk"}))
BOB = Principal(id="bob", roles=frozenset({"clerk"}))


@pytest.fixture
def gate(database_url: str) -> Iterator[Gate]:
    yield from _gate(database_url, "request")


@pytest.fixture
def roomy_gate(database_url: str) -> Iterator[Gate]:
    yield from _gate(database_url, "request", daily=50_000)


def _gate(database_url: str, reserve: str, daily: int = 1000) -> Iterator[Gate]:
    text = POLICY.replace("RESERVE", reserve).replace("DAILY", str(daily))
    policy = load_policy_text(text, tools=Toolset([refund, note]))
    built = Gate(policy, database=database_url)
    yield built
    built.close()


def propose(gate: Gate, tool: str, args: dict[str, Any], n: int, who: Principal = ALICE) -> Any:
    return gate.propose(call(tool, args, principal=who, call_id=f"c{n}"))[1]


def test_refunds_on_one_invoice_stop_at_its_total(roomy_gate: Gate) -> None:
    gate = roomy_gate
    decisions = [
        propose(gate, "erp.refund", {"invoice": 101, "amount": 99.99}, n) for n in range(25)
    ]
    allowed = [d for d in decisions if isinstance(d, Allow)]
    assert len(allowed) == 12  # 12 x 99.99 = 1199.88; a 13th would pass 1,250
    refused = decisions[12]
    assert isinstance(refused, Deny)
    assert refused.rules == ("per-invoice",)
    assert "the limit is 1250" in refused.reasons[0]
    # Another invoice has a counter of its own, capped at its own total.
    other = propose(gate, "erp.refund", {"invoice": 102, "amount": 99.0}, 99)
    assert isinstance(other, Allow)


def test_a_per_resource_limit_refuses_a_target_it_cannot_identify(gate: Gate) -> None:
    decision = propose(gate, "erp.refund", {"invoice": 999, "amount": 10.0}, 1)
    assert isinstance(decision, Deny)
    assert "per resource, but the call's target was not identified" in decision.reasons[0]


def test_a_key_splits_the_counter_by_argument_value(gate: Gate) -> None:
    first = [propose(gate, "erp.note", {"invoice": 101, "text": "x"}, n) for n in range(3)]
    assert [type(d) for d in first] == [Allow, Allow, Deny]
    assert isinstance(propose(gate, "erp.note", {"invoice": 102, "text": "x"}, 9), Allow)


# --- reservation: on request (the default) or on approval ---------------------------------


class Sink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> None:
        self.events.append(event)


def approvals_for(gate: Gate, database_url: str, sink: Sink) -> Approvals:
    return Approvals(gate, connect(database_url), audit=sink)


def hold_refunds(gate: Gate, approvals: Approvals, count: int) -> list[str]:
    held = []
    for n in range(count):
        proposed = call(
            "erp.refund", {"invoice": 101, "amount": 190.0}, principal=ALICE, call_id=f"h{n}"
        )
        located, decision = gate.propose(proposed)
        assert isinstance(decision, NeedsApproval)
        held.append(approvals.request(located, decision).id)
    return held


def test_held_requests_reserve_by_default_and_a_rejection_records_the_release(
    gate: Gate, database_url: str
) -> None:
    sink = Sink()
    approvals = approvals_for(gate, database_url, sink)
    held = hold_refunds(gate, approvals, 5)  # 950 of the 1,000 a day reserved
    routine = propose(gate, "erp.refund", {"invoice": 102, "amount": 60.0}, 1, who=BOB)
    assert isinstance(routine, Deny)
    assert routine.rules == ("daily",)

    approvals.reject(held[0], by="fiona", comment="duplicate")
    (decided,) = [e for e in sink.events if e.type == "approval.decided"]
    assert decided.details is not None
    released = decided.details["limits_released"]
    assert {"counter": "agent:bot|daily", "amount": 190.0} in released
    assert {"counter": "resource:invoice:101|per-invoice", "amount": 190.0} in released
    again = propose(gate, "erp.refund", {"invoice": 102, "amount": 60.0}, 2, who=BOB)
    assert isinstance(again, Allow)
    approvals.engine.dispose()


def test_reserving_on_approval_leaves_the_budget_to_routine_calls(database_url: str) -> None:
    for gate in _gate(database_url, "approval"):
        approvals = approvals_for(gate, database_url, Sink())
        hold_refunds(gate, approvals, 5)  # 950 asked for, nothing reserved yet
        routine = propose(gate, "erp.refund", {"invoice": 102, "amount": 60.0}, 1, who=BOB)
        assert isinstance(routine, Allow)
        # Approved, each held refund takes its share then: the fifth would pass 1,000.
        over: list[tuple[str, ...]] = []
        for n in range(5):
            approved = call(
                "erp.refund", {"invoice": 101, "amount": 190.0}, principal=ALICE, call_id=f"h{n}"
            )
            with gate.engine.begin() as conn:
                over.append(gate.settle_approved(approved, conn=conn))
        assert over[:4] == [(), (), (), ()]
        assert "limit daily: 820 of args.amount used in 1 day" in over[4][0]
        with gate.engine.begin() as conn:  # settled once, whatever the replays
            again = call(
                "erp.refund", {"invoice": 101, "amount": 190.0}, principal=ALICE, call_id="h0"
            )
            assert gate.settle_approved(again, conn=conn) == ()
        approvals.engine.dispose()
