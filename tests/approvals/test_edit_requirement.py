"""An edit that changes what approval a call needs re-opens the request under the new
requirement, votes reset; and every approver counts once, whatever the edits
(issue 15: items 5 and 6)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import TOOLS, call
from tether.approvals import ApprovalRequest, Approvals, NotAnApprover
from tether.audit import AuditEvent
from tether.calls import Principal, RunState
from tether.db import connect
from tether.gate import Gate, NeedsApproval
from tether.policy import load_policy_text

POLICY = """
version: 1
roles:
  clerk: {may: ["*"]}
  lead: {may: ["*"]}
  cfo: {may: ["*"]}
users:
  alice: {roles: [clerk]}
  fiona: {roles: [lead]}
  frank: {roles: [lead]}
  gail: {roles: [lead]}
  carol: {roles: [cfo]}
  chen: {roles: [cfo]}
defaults:
  approval: {approvers: [role:lead], quorum: QUORUM}
agents:
  bot:
    may_act_for: [role:clerk]
    tools:
      - id: refund
        tool: erp.refund
        approval: {when: args.amount > 3000.0, approvers: [role:cfo], quorum: 2}
        untrusted: needs_approval     # after outside content, a lead confirms any refund
"""
ALICE = Principal(id="alice", roles=frozenset({"clerk"}))


class Sink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> None:
        self.events.append(event)


class Inbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, list[str]]] = []

    def notify(self, request: ApprovalRequest, recipients: list[str]) -> None:
        self.sent.append((request.id, request.rule, list(recipients)))


def service(url: str, quorum: int, sink: Sink, inbox: Inbox) -> Approvals:
    policy = load_policy_text(POLICY.replace("QUORUM", str(quorum)), tools=TOOLS)
    engine = connect(url)
    return Approvals(
        Gate(policy, database=engine),
        engine,
        audit=sink,
        notifiers=[inbox],
        run_state=lambda run_id: RunState(id=run_id, untrusted=True),
    )


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def one_lead(database_url: str, sink: Sink, inbox: Inbox) -> Iterator[Approvals]:
    approvals = service(database_url, 1, sink, inbox)
    yield approvals
    approvals.engine.dispose()


@pytest.fixture
def two_leads(sqlite_url: str, sink: Sink, inbox: Inbox) -> Iterator[Approvals]:
    approvals = service(sqlite_url, 2, sink, inbox)
    yield approvals
    approvals.engine.dispose()


def hold(approvals: Approvals, amount: float) -> ApprovalRequest:
    args = {"invoice": 7, "amount": amount}
    proposed = call("erp.refund", args, principal=ALICE, agent="bot", untrusted=True)
    decision = approvals.gate.decide(proposed)
    assert isinstance(decision, NeedsApproval)
    return approvals.request(proposed, decision)


def test_an_edit_into_a_stricter_rule_reopens_the_request_under_it(
    one_lead: Approvals, sink: Sink, inbox: Inbox
) -> None:
    request = hold(one_lead, 100.0)
    assert (request.rule, request.quorum) == ("refund.untrusted", 1)

    edited = one_lead.approve(request.id, by="fiona", edit={"amount": 4000.0})
    assert edited.status == "pending"  # fiona's vote does not execute it
    assert (edited.rule, edited.approvers, edited.quorum) == (
        "refund.approval",
        ("role:cfo",),
        2,
    )
    assert edited.approvals == ()  # votes reset: the editor's counts for nothing
    assert edited.args["amount"] == 4000.0
    stored = one_lead.get(request.id)
    assert (stored.rule, stored.quorum, stored.status, stored.approvals) == (
        "refund.approval",
        2,
        "pending",
        (),
    )
    assert inbox.sent[-1] == (request.id, "refund.approval", ["carol", "chen"])
    decided = [e for e in sink.events if e.type == "approval.decided"]
    assert decided[-1].approval is not None
    assert decided[-1].approval["verdict"] == "edited"
    assert decided[-1].approval["reopened"] == {"was": {"rule": "refund.untrusted", "quorum": 1}}

    with pytest.raises(NotAnApprover):  # a lead no longer decides it
        one_lead.approve(request.id, by="frank")
    assert one_lead.approve(request.id, by="carol").status == "pending"
    final = one_lead.approve(request.id, by="chen")
    assert (final.status, final.approvals) == ("approved", ("carol", "chen"))


def test_an_edit_within_the_same_rule_counts_as_the_editors_approval(one_lead: Approvals) -> None:
    request = hold(one_lead, 100.0)
    edited = one_lead.approve(request.id, by="fiona", edit={"amount": 150.0})
    assert (edited.status, edited.approvals, edited.rule) == (
        "approved",
        ("fiona",),
        "refund.untrusted",
    )


def test_one_approver_counts_once_whatever_the_edits(two_leads: Approvals) -> None:
    request = hold(two_leads, 100.0)
    two_leads.approve(request.id, by="frank")
    two_leads.approve(request.id, by="frank", edit={"amount": 120.0})
    back = two_leads.approve(request.id, by="frank", edit={"amount": 100.0})
    assert back.approvals == ("frank",)
    assert back.status == "pending"  # 1 of 2, not "2 of 2 (frank, frank)"
    assert two_leads.get(request.id).approvals == ("frank",)
    assert two_leads.get(request.id).summary(back.created_at)["approved_by"] == ["frank"]
    done = two_leads.approve(request.id, by="gail")
    assert (done.status, done.approvals) == ("approved", ("frank", "gail"))
