"""Approval requests: who may decide, quorum, edits, expiry, escalation, single use."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tests.helpers import TOOLS, call
from tether.approvals import (
    ApprovalClosed,
    ApprovalExpired,
    ApprovalInvalid,
    ApprovalNotFound,
    ApprovalRequest,
    Approvals,
    DuplicateVote,
    EditRefused,
    NotAnApprover,
    NotTheRequester,
    SelfApproval,
)
from tether.audit import AuditEvent
from tether.calls import Principal
from tether.db import connect
from tether.gate import Gate, NeedsApproval
from tether.identity import Actor
from tether.policy import load_policy_text

POLICY = """
version: 1
roles:
  clerk: {may: ["*"]}
  lead: {may: ["*"]}
  director: {may: ["*"]}
users:
  alice: {roles: [clerk]}
  carl: {roles: [clerk, lead]}
  fiona: {roles: [lead]}
  frank: {roles: [lead]}
  dora: {roles: [director]}
defaults:
  approval: {approvers: [role:lead]}
agents:
  bot:
    may_act_for: [role:clerk]
    tools:
      - id: refund
        tool: erp.refund
        when: args.amount <= 1000.0
        approval:
          approvers: [role:lead]
          quorum: QUORUM
          expires: 2h
          escalate: {after: 1h, to: [role:director]}
"""

T0 = _dt.datetime(2026, 11, 25, 9, 0, tzinfo=_dt.UTC)
ALICE = Principal(id="alice", roles=frozenset({"clerk"}))
CARL = Principal(id="carl", roles=frozenset({"clerk", "lead"}))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> _dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += _dt.timedelta(**delta)


class Sink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[AuditEvent]:
        return [event for event in self.events if event.type == kind]


class Inbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str]]] = []

    def notify(self, request: ApprovalRequest, recipients: Sequence[str]) -> None:
        self.sent.append((request.id, list(recipients)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def make(database_url: str, clock: Clock, sink: Sink, inbox: Inbox, quorum: int = 1) -> Approvals:
    policy = load_policy_text(POLICY.replace("QUORUM", str(quorum)), tools=TOOLS)
    engine = connect(database_url)
    return Approvals(
        Gate(policy, database=engine), engine, audit=sink, notifiers=[inbox], clock=clock
    )


@pytest.fixture
def approvals(database_url: str, clock: Clock, sink: Sink, inbox: Inbox) -> Iterator[Approvals]:
    service = make(database_url, clock, sink, inbox)
    yield service
    service.engine.dispose()


@pytest.fixture
def two_of_three(sqlite_url: str, clock: Clock, sink: Sink, inbox: Inbox) -> Iterator[Approvals]:
    service = make(sqlite_url, clock, sink, inbox, quorum=2)
    yield service
    service.engine.dispose()


def hold(
    approvals: Approvals, amount: float = 500.0, principal: Principal = ALICE, **kw: Any
) -> ApprovalRequest:
    proposed = call("erp.refund", {"invoice": 7, "amount": amount}, principal=principal, **kw)
    decision = approvals.gate.decide(proposed)
    assert isinstance(decision, NeedsApproval)
    return approvals.request(proposed, decision)


def test_request_holds_everything_the_approver_needs(
    approvals: Approvals, sink: Sink, inbox: Inbox
) -> None:
    request = hold(approvals)
    assert request.status == "pending"
    assert request.tool == "erp.refund"
    assert request.args == {"invoice": 7, "amount": 500.0}
    assert "amount = 500.0" in request.preview
    assert request.rule == "refund.approval"
    assert request.approvers == ("role:lead",)
    assert request.requested_by == "alice"
    assert request.expires_at == T0 + _dt.timedelta(hours=2)
    assert request.policy_version == approvals.policy.version
    assert [e.approval["request_id"] for e in sink.of("approval.requested")] == [request.id]
    # Every lead is told, nobody else.
    assert inbox.sent == [(request.id, ["carl", "fiona", "frank"])]


def test_an_approver_approves(approvals: Approvals, sink: Sink) -> None:
    request = hold(approvals)
    decided = approvals.approve(request.id, by="fiona", comment="fine")
    assert decided.status == "approved"
    assert decided.approvals == ("fiona",)
    (event,) = sink.of("approval.decided")
    assert event.approval is not None
    assert event.approval["by"] == "fiona" and event.approval["verdict"] == "approve"


def test_nobody_approves_their_own_request(approvals: Approvals, sink: Sink) -> None:
    request = hold(approvals, principal=CARL)  # carl is a lead, and asked for this
    with pytest.raises(SelfApproval, match="carl asked for this action"):
        approvals.approve(request.id, by="carl")
    assert approvals.get(request.id).status == "pending"
    (refused,) = sink.of("approval.refused")
    assert refused.approval == {
        "request_id": request.id,
        "by": "carl",
        "refusal": "self_approval",
        "message": "carl asked for this action and cannot approve it",
    }
    # The requester is not even told to approve it.
    assert approvals.for_approver("carl") == []


def test_an_approver_must_hold_the_role(approvals: Approvals) -> None:
    request = hold(approvals)
    with pytest.raises(NotAnApprover, match="needs role:lead"):
        approvals.approve(request.id, by="dora")
    with pytest.raises(NotAnApprover, match="not a user of the policy"):
        approvals.approve(request.id, by="mallory")


def test_unknown_request(approvals: Approvals, sink: Sink) -> None:
    with pytest.raises(ApprovalNotFound):
        approvals.approve("apr_nope", by="fiona")
    assert sink.of("approval.refused")[0].approval["refusal"] == "not_found"  # type: ignore[index]


def test_decided_requests_stay_decided(approvals: Approvals) -> None:
    request = hold(approvals)
    approvals.reject(request.id, by="fiona", comment="no refunds this week")
    with pytest.raises(ApprovalClosed, match="already rejected"):
        approvals.approve(request.id, by="frank")
    assert approvals.get(request.id).comment == "no refunds this week"


def test_rejection_needs_a_comment(approvals: Approvals) -> None:
    request = hold(approvals)
    with pytest.raises(EditRefused, match="needs a comment"):
        approvals.reject(request.id, by="fiona", comment="  ")
    assert approvals.get(request.id).status == "pending"


def test_quorum_of_distinct_approvers(two_of_three: Approvals) -> None:
    request = hold(two_of_three)
    after_one = two_of_three.approve(request.id, by="fiona")
    assert after_one.status == "pending"
    with pytest.raises(DuplicateVote):
        two_of_three.approve(request.id, by="fiona")
    after_two = two_of_three.approve(request.id, by="frank")
    assert after_two.status == "approved"
    assert set(after_two.approvals) == {"fiona", "frank"}


def test_edit_is_checked_again_and_resets_the_quorum(two_of_three: Approvals) -> None:
    request = hold(two_of_three)
    two_of_three.approve(request.id, by="fiona")
    edited = two_of_three.approve(request.id, by="frank", edit={"amount": 250.0})
    # frank approved the new arguments; fiona's vote was for the old ones.
    assert edited.status == "pending"
    assert edited.args == {"invoice": 7, "amount": 250.0}
    assert edited.approvals == ("frank",)
    assert "amount = 250.0" in edited.preview
    done = two_of_three.approve(request.id, by="fiona")
    assert done.status == "approved"


def test_edit_that_fails_validation_is_refused(approvals: Approvals) -> None:
    request = hold(approvals)
    with pytest.raises(EditRefused, match="amount"):
        approvals.approve(request.id, by="fiona", edit={"amount": "lots"})
    with pytest.raises(EditRefused, match="Extra inputs"):
        approvals.approve(request.id, by="fiona", edit={"iban": "XX00"})
    assert approvals.get(request.id).args["amount"] == 500.0


def test_edit_that_the_policy_refuses_is_refused(approvals: Approvals, sink: Sink) -> None:
    request = hold(approvals)
    with pytest.raises(EditRefused, match="refused by the policy"):
        approvals.approve(request.id, by="fiona", edit={"amount": 5000.0})
    assert approvals.get(request.id).status == "pending"
    assert sink.of("approval.refused")[-1].approval["refusal"] == "edit_refused"  # type: ignore[index]


def test_expired_request_is_rejected_and_recorded(
    approvals: Approvals, clock: Clock, sink: Sink
) -> None:
    request = hold(approvals)
    clock.advance(hours=2, seconds=1)
    with pytest.raises(ApprovalExpired):
        approvals.approve(request.id, by="fiona")
    assert approvals.get(request.id).status == "expired"
    verdicts = [e.approval["verdict"] for e in sink.of("approval.decided")]  # type: ignore[index]
    assert verdicts == ["expired"]


def test_expire_due_sweeps_pending_requests(approvals: Approvals, clock: Clock) -> None:
    first = hold(approvals, run_id="r1")
    clock.advance(hours=1)
    second = hold(approvals, run_id="r2")
    clock.advance(hours=1, seconds=1)
    expired = approvals.expire_due()
    assert [request.id for request in expired] == [first.id]
    assert approvals.get(second.id).status == "pending"


def test_escalation_adds_approvers_after_a_while(
    approvals: Approvals, clock: Clock, inbox: Inbox
) -> None:
    request = hold(approvals)
    with pytest.raises(NotAnApprover):
        approvals.approve(request.id, by="dora")
    assert approvals.escalate_due() == []
    clock.advance(hours=1)
    (escalated,) = approvals.escalate_due()
    assert escalated.id == request.id
    assert inbox.sent[-1] == (request.id, ["dora"])
    assert approvals.escalate_due() == []  # once
    assert approvals.approve(request.id, by="dora").status == "approved"


def test_approval_is_single_use(approvals: Approvals) -> None:
    request = hold(approvals)
    with pytest.raises(ApprovalClosed, match="pending, not approved"):
        approvals.claim(request.id)
    approvals.approve(request.id, by="fiona")
    claimed = approvals.claim(request.id)
    assert claimed.args == {"invoice": 7, "amount": 500.0}
    with pytest.raises(ApprovalClosed, match="executed"):
        approvals.claim(request.id)


def test_approval_survives_an_equivalent_policy_version(
    database_url: str, clock: Clock, sink: Sink, inbox: Inbox, approvals: Approvals
) -> None:
    """Issue 17, item 3: a new version that decides the call alike leaves the approval
    usable (tests/approvals/test_policy_change.py: one that does not, refuses it)."""
    request = hold(approvals)
    approvals.approve(request.id, by="fiona")
    changed = load_policy_text(POLICY.replace("QUORUM", "1") + "\n# reviewed\n", tools=TOOLS)
    later = Approvals(Gate(changed, database=approvals.engine), approvals.engine, clock=clock)
    assert later.claim(request.id).status == "executed"


def test_approval_is_bound_to_the_exact_arguments(approvals: Approvals) -> None:
    import sqlalchemy as sa

    from tether.approvals._tables import approval_request

    request = hold(approvals)
    approvals.approve(request.id, by="fiona")
    with approvals.engine.begin() as conn:  # someone changes the stored call behind our back
        conn.execute(
            sa.update(approval_request)
            .where(approval_request.c.id == request.id)
            .values(args={"invoice": 7, "amount": 999.0})
        )
    with pytest.raises(ApprovalInvalid, match="arguments changed"):
        approvals.claim(request.id)


def test_cancel_pending_requests_of_an_agent(approvals: Approvals, sink: Sink) -> None:
    first = hold(approvals, run_id="r1")
    second = hold(approvals, run_id="r2")
    approvals.approve(second.id, by="fiona")
    cancelled = approvals.cancel(agent="bot", reason="stopped by operator")
    assert [request.id for request in cancelled] == [first.id]
    assert approvals.get(first.id).status == "cancelled"
    with pytest.raises(ApprovalClosed, match="cancelled"):
        approvals.approve(first.id, by="fiona")


def test_secret_arguments_are_not_shown_to_approvers(sqlite_url: str, clock: Clock) -> None:
    from tether.tools import Toolset, tool

    @tool(name="api.post", effect="irreversible", secret_args=["token"])
    def post(token: str, body: str) -> str:
        return "ok"

    policy = load_policy_text(
        "version: 1\nroles: {clerk: {may: ['*']}, lead: {may: ['*']}}\n"
        "users: {alice: {roles: [clerk]}, fiona: {roles: [lead]}}\n"
        "defaults: {approval: {approvers: [role:lead]}}\n"
        "agents: {bot: {may_act_for: [role:clerk], tools: [{tool: api.post}]}}\n",
        tools=Toolset([post]),
    )
    engine = connect(sqlite_url)
    approvals = Approvals(Gate(policy, database=engine), engine, clock=clock)
    proposed = call("api.post", {"token": "tok-very-secret", "body": "hello"}, principal=ALICE)
    decision = approvals.gate.decide(proposed)
    assert isinstance(decision, NeedsApproval)
    request = approvals.request(proposed, decision)
    assert "tok-very-secret" not in request.preview
    assert request.shown_args["token"] == "[REDACTED]"
    assert request.args["token"] == "tok-very-secret"  # kept to run the call, never shown
    engine.dispose()


def test_only_the_requester_withdraws_a_pending_request(approvals: Approvals, sink: Sink) -> None:
    request = hold(approvals)
    with pytest.raises(NotTheRequester, match="fiona did not ask for this call"):
        approvals.withdraw(request.id, by=Actor(account="fiona"))
    withdrawn = approvals.withdraw(request.id, by=Actor(account="alice", surface="gateway"))
    assert withdrawn.status == "cancelled"
    (event,) = sink.of("approval.decided")
    assert event.approval is not None and event.approval["verdict"] == "withdrawn"
    with pytest.raises(ApprovalClosed, match="already cancelled"):
        approvals.withdraw(request.id, by=Actor(account="alice"))
    decided = hold(approvals, amount=300.0, call_id="call-2")
    approvals.approve(decided.id, by="fiona")
    with pytest.raises(ApprovalClosed):  # approved: too late to withdraw
        approvals.withdraw(decided.id, by=Actor(account="alice"))
