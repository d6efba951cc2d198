"""An approval request's call, checked by the gate again.

The gate decided the call when it was held; a person's edit, and a policy changed
since, are decided by the gate again here, as the call would be now: its arguments
validated, the policy's rules and conditions for the run as it stands (its taint, its
contacts), and its limits settled anew for the edited call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.approvals._errors import EditRefused
from tether.approvals._model import ApprovalRequest
from tether.calls import ProposedCall, RunState
from tether.errors import ToolArgumentsError
from tether.gate import ApprovalRequirement, Deny, Gate, NeedsApproval, evaluate
from tether.policy import Policy


@dataclass(frozen=True)
class Edit:
    """Edited arguments that passed the gate's checks, and the request they edit."""

    args: dict[str, Any]
    before: ApprovalRequest
    requirement: ApprovalRequirement | None = None
    """Set when the edited call needs other approvers (another rule, quorum or
    approvers): the request is then re-opened under it, every vote reset."""


class Rechecks:
    """The calls of approval requests, checked by ``gate`` again; ``run_state``: what
    the gate knows of a run (taint, known contacts), to check them with."""

    def __init__(self, gate: Gate, run_state: Callable[[str], RunState]) -> None:
        self.gate = gate
        self.run_state = run_state

    @property
    def policy(self) -> Policy:
        return self.gate.policy

    def edit(self, request: ApprovalRequest, edit: dict[str, Any]) -> Edit:
        """The edited arguments, if the gate would let the edited call through: valid,
        allowed by the policy for this run (its taint, its known contacts), and within
        the limits, which are settled again for the edited call."""
        tool = self.policy.tools.get(request.tool)
        merged = {**request.args, **edit}
        try:
            args = tool.validate_args(merged)
        except ToolArgumentsError as exc:
            raise EditRefused(request.id, exc.message) from None
        recheck = self.gate.recheck(self.call(request, args))
        if isinstance(recheck.decision, Deny):
            raise EditRefused(
                request.id,
                "the edited call is refused by the policy: " + "; ".join(recheck.decision.reasons),
            )
        if recheck.over_limits:
            raise EditRefused(
                request.id, "the edited call is over a limit: " + "; ".join(recheck.over_limits)
            )
        return Edit(
            args=tool.args_model.model_validate(args).model_dump(mode="json"),
            before=request,
            requirement=changed_requirement(request, recheck.decision),
        )

    def policy_change(self, request: ApprovalRequest) -> str | None:
        """How the policy in force decides the request's call otherwise than the version
        that asked for the approval (None: alike, or the same version).

        A policy that now refuses the call, or asks for other approvers or another
        quorum, changes the decision; one that holds it under the same requirement,
        or allows it outright, does not: such an approval stays usable.
        """
        if request.policy_version == self.policy.version:
            return None
        try:
            call = self.gate.locate(self.call(request, request.args))
        except EditRefused:
            return f"its requester {request.requested_by} is no longer a user"
        decision = evaluate(self.policy, call).decision
        if isinstance(decision, Deny):
            return "it now refuses this call (" + "; ".join(decision.reasons) + ")"
        if isinstance(decision, NeedsApproval):
            wanted = changed_requirement(request, decision)
            if wanted is not None:
                who = ", ".join(wanted.approvers)
                return (
                    f"it now needs approval by {who} (quorum {wanted.quorum}, rule "
                    f"{wanted.rule}) instead of {', '.join(request.approvers)} "
                    f"(quorum {request.quorum})"
                )
        return None

    def call(self, request: ApprovalRequest, args: Mapping[str, Any]) -> ProposedCall:
        principal = self.policy.principal(request.requested_by)
        if principal is None:
            raise EditRefused(
                request.id, f"the requester {request.requested_by!r} is no longer a user"
            )
        return ProposedCall(
            tool=request.tool,
            args=args,
            agent=request.agent,
            principal=principal,
            run=self.run_state(request.run_id),
            call_id=request.call_id,
        )

    def reclaim(self, request: ApprovalRequest) -> None:
        """Claim the limits of the request's arguments again (an edit did not go through)."""
        try:
            call = self.call(request, request.args)
        except EditRefused:
            return
        self.gate.reclaim_limits(call)


def changed_requirement(request: ApprovalRequest, decision: Any) -> ApprovalRequirement | None:
    """The requirement an edited call needs, when it is not the request's own."""
    if not isinstance(decision, NeedsApproval):
        return None  # it needs approval no longer; the request's requirement stays
    wanted = decision.approval
    same = (
        wanted.rule == request.rule
        and set(wanted.approvers) == set(request.approvers)
        and wanted.quorum == request.quorum
        and wanted.assurance == request.assurance
    )
    return None if same else wanted
