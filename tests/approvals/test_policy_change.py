"""A policy change that would decide a held call otherwise shows on its request, and its
approval can no longer be claimed; an equivalent policy leaves it usable (issue 17, item 3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.approvals.test_edit_requirement import POLICY, Inbox, Sink, hold
from tests.helpers import TOOLS
from tether.approvals import ApprovalInvalid, Approvals
from tether.calls import RunState
from tether.db import connect
from tether.gate import Gate
from tether.policy import load_policy_text


def approvals_under(url: str, text: str) -> Approvals:
    engine = connect(url)
    return Approvals(
        Gate(load_policy_text(text, tools=TOOLS), database=engine),
        engine,
        audit=Sink(),
        notifiers=[Inbox()],
        run_state=lambda run_id: RunState(id=run_id, untrusted=True),
    )


@pytest.fixture
def approved(sqlite_url: str) -> Iterator[tuple[str, str]]:
    """A refund held under the policy, approved by a lead: (database, request id)."""
    before = approvals_under(sqlite_url, POLICY.replace("QUORUM", "1"))
    request = hold(before, 100.0)
    before.approve(request.id, by="fiona")
    yield sqlite_url, request.id
    before.engine.dispose()


def test_equivalent_policy_keeps_the_approval_usable(approved: tuple[str, str]) -> None:
    url, request_id = approved
    after = approvals_under(url, POLICY.replace("QUORUM", "1") + "\n# reviewed in March\n")
    request = after.get(request_id)
    assert request.policy_version != after.policy.version
    assert after.policy_change(request) is None
    claimed = after.claim_call(request.run_id, request.call_id)
    assert claimed is not None and claimed.status == "executed"


def test_changed_requirement_is_shown_and_the_claim_refused(approved: tuple[str, str]) -> None:
    url, request_id = approved
    stricter = (
        POLICY.replace("QUORUM", "1")
        .replace(
            "untrusted: needs_approval",
            "untrusted: needs_approval\n        approval: "
            "{when: args.amount > 50.0, approvers: [role:cfo], quorum: 2}",
        )
        .replace(
            "        approval: {when: args.amount > 3000.0, approvers: [role:cfo], quorum: 2}\n", ""
        )
    )
    after = approvals_under(url, stricter)
    request = after.get(request_id)
    change = after.policy_change(request)
    assert change is not None and "role:cfo" in change and "quorum 2" in change
    with pytest.raises(ApprovalInvalid, match=r"the policy changed since approval .* role:cfo"):
        after.claim_call(request.run_id, request.call_id)
    assert after.get(request_id).status == "approved"  # nothing was executed


def test_a_policy_that_now_refuses_is_shown(approved: tuple[str, str]) -> None:
    url, request_id = approved
    refusing = POLICY.replace("QUORUM", "1").replace(
        "      - id: refund\n        tool: erp.refund", "      - id: refund\n        tool: crm.find"
    )
    after = approvals_under(url, refusing)
    change = after.policy_change(after.get(request_id))
    assert change is not None and change.startswith("it now refuses this call")
