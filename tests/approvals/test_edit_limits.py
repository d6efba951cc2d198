"""An approval's call and its limits: an edit is settled against them again; a call that
will not run (rejected, expired, cancelled) gives back what it claimed."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator

import pytest

from tests.helpers import TOOLS, call
from tether.approvals import ApprovalRequest, Approvals, EditRefused
from tether.calls import Principal, RunState
from tether.db import connect
from tether.gate import Allow, Deny, Gate, NeedsApproval
from tether.policy import load_policy_text

POLICY = """
version: 1
roles:
  clerk: {may: ["*"]}
  lead: {may: ["*"]}
users:
  alice: {roles: [clerk]}
  fiona: {roles: [lead]}
agents:
  bot:
    may_act_for: [role:clerk]
    tools:
      - id: refund
        tool: erp.refund
        when: "!run.untrusted"
        limits:
          - {id: budget, per: agent, window: 24h, sum: args.amount, max: 1000}
        approval: {approvers: [role:lead], expires: 2h}
"""

ALICE = Principal(id="alice", roles=frozenset({"clerk"}))
T0 = _dt.datetime.now(_dt.UTC)
TAINTED: set[str] = set()


def run_state(run_id: str) -> RunState:
    return RunState(id=run_id, untrusted=run_id in TAINTED)


@pytest.fixture
def approvals(database_url: str) -> Iterator[Approvals]:
    TAINTED.clear()
    engine = connect(database_url)
    gate = Gate(load_policy_text(POLICY, tools=TOOLS), database=engine, recorder=None)
    clock = Clock()
    yield Approvals(gate, engine, clock=clock, run_state=run_state)
    engine.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> _dt.datetime:
        return self.now


def refund(approvals: Approvals, amount: float, run: str) -> ApprovalRequest:
    proposed = call("erp.refund", {"invoice": 7, "amount": amount}, principal=ALICE, run_id=run)
    decision = approvals.gate.decide(proposed)
    assert isinstance(decision, NeedsApproval), decision
    return approvals.request(proposed, decision)


def fits(approvals: Approvals, amount: float, run: str = "probe") -> bool:
    """Whether ``amount`` still fits the budget (asked without claiming it)."""
    proposed = call("erp.refund", {"invoice": 7, "amount": amount}, principal=ALICE, run_id=run)
    decision = approvals.gate.decide(proposed)
    approvals.gate.ledger.release(proposed.idempotency_key)
    assert isinstance(decision, Allow | NeedsApproval | Deny)
    return not isinstance(decision, Deny)


def test_an_edit_is_settled_against_the_limits_again(approvals: Approvals) -> None:
    request = refund(approvals, 600.0, "r1")
    assert fits(approvals, 400.0) and not fits(approvals, 401.0)
    edited = approvals.approve(request.id, by="fiona", edit={"amount": 900.0})
    assert edited.status == "approved" and edited.args["amount"] == 900.0
    assert fits(approvals, 100.0) and not fits(approvals, 101.0)  # 900 claimed, not 600


def test_an_edit_over_a_limit_is_refused_and_the_old_claim_stays(approvals: Approvals) -> None:
    request = refund(approvals, 600.0, "r1")
    with pytest.raises(EditRefused, match="over a limit"):
        approvals.approve(request.id, by="fiona", edit={"amount": 1200.0})
    assert approvals.get(request.id).status == "pending"
    assert approvals.get(request.id).args["amount"] == 600.0
    assert fits(approvals, 400.0) and not fits(approvals, 401.0)


def test_an_edit_is_checked_with_what_the_run_has_read(approvals: Approvals) -> None:
    request = refund(approvals, 600.0, "r1")
    TAINTED.add("r1")  # the run read untrusted content after asking
    with pytest.raises(EditRefused, match="refused by the policy"):
        approvals.approve(request.id, by="fiona", edit={"amount": 500.0})
    assert fits(approvals, 400.0) and not fits(approvals, 401.0)


@pytest.mark.parametrize("ending", ["rejected", "expired", "cancelled"])
def test_a_call_that_will_not_run_gives_its_claim_back(approvals: Approvals, ending: str) -> None:
    request = refund(approvals, 600.0, "r1")
    assert not fits(approvals, 401.0)
    if ending == "rejected":
        approvals.reject(request.id, by="fiona", comment="not a duplicate")
    elif ending == "expired":
        approvals.clock.now = T0 + _dt.timedelta(hours=3)  # type: ignore[attr-defined]
        assert [r.id for r in approvals.expire_due()] == [request.id]
    else:
        approvals.cancel(run_id="r1", reason="run cancelled")
    assert approvals.get(request.id).status == ending
    assert fits(approvals, 1000.0)
