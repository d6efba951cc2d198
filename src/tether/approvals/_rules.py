"""The rules of deciding a request, as pure functions of the request, the policy and
the time: who may decide, whether it is still open, when it is settled.

- the approver must be a known user holding an approver role of the rule (or an
  escalation role, once escalation is due);
- nobody approves their own request, unless the rule names ``principal`` among its
  approvers (a confirmation by the person the agent acts for); each approver counts once;
- a request past its expiry is expired, not decided.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from tether.approvals._errors import (
    ApprovalClosed,
    ApprovalExpired,
    AssuranceRequired,
    BreakGlassRefused,
    NotAnApprover,
    SelfApproval,
)
from tether.approvals._model import ApprovalRequest, Status, Verdict
from tether.audit import canonical_json
from tether.identity import Actor
from tether.policy import Policy
from tether.tools import Tool

PRINCIPAL = "principal"
"""An approver reference: the person the agent acts for confirms their own call
(separation of duties is otherwise the rule: nobody approves their own request)."""


def check_open(request: ApprovalRequest, now: _dt.datetime) -> ApprovalRequest:
    """The request, if it can still be decided; else why not."""
    if request.status != "pending":
        raise ApprovalClosed(request.id, f"the request is already {request.status}")
    if now >= request.expires_at:
        raise ApprovalExpired(
            request.id, f"the request expired at {request.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    return request


def check_approver(policy: Policy, request: ApprovalRequest, user: str, now: _dt.datetime) -> None:
    """Refuse ``user`` unless they may decide ``request`` now."""
    if policy.principal(user) is None:
        raise NotAnApprover(request.id, f"{user!r} is not a user of the policy")
    refs = request.eligible_refs(now)
    if user == request.requested_by:
        if PRINCIPAL in refs:  # the rule asks the person acted for to confirm their own call
            return
        raise SelfApproval(request.id, f"{user} asked for this action and cannot approve it")
    if user not in policy.users_holding(refs):
        raise NotAnApprover(
            request.id,
            f"{user} is not an approver for {request.rule} (needs {', '.join(refs)})",
        )


def check_assurance(request: ApprovalRequest, actor: Actor) -> None:
    """Refuse a decision made without a login when the rule demands an authenticated one."""
    if request.assurance == "authenticated" and actor.assurance != "authenticated":
        raise AssuranceRequired(
            request.id,
            f"{request.rule} needs an authenticated approver; {actor.account} decided "
            f"through {actor.surface} without a login ({actor.method}): log in first",
        )


def check_break_glass(
    policy: Policy, request: ApprovalRequest, actor: Actor, reason: str | None
) -> None:
    """Refuse a break-glass approval unless the policy has the path, the actor holds
    its role after a login, and gives a written reason; never one's own request."""
    spec = policy.spec.break_glass
    if spec is None:
        raise BreakGlassRefused(request.id, "the policy has no break-glass path")
    if actor.assurance != "authenticated":
        raise BreakGlassRefused(
            request.id, f"break-glass needs a login; {actor.account} is only named ({actor.method})"
        )
    if actor.account == request.requested_by:
        raise SelfApproval(
            request.id, f"{actor.account} asked for this action and cannot approve it"
        )
    if actor.account not in policy.users_holding(tuple(spec.approvers)):
        raise BreakGlassRefused(
            request.id,
            f"{actor.account} may not break glass (needs {', '.join(spec.approvers)})",
        )
    if len((reason or "").strip()) < spec.min_reason_chars:
        raise BreakGlassRefused(
            request.id,
            f"break-glass needs a written reason of at least {spec.min_reason_chars} characters",
        )


def may_decide(policy: Policy, request: ApprovalRequest, user: str, now: _dt.datetime) -> bool:
    """Whether ``user`` may decide ``request`` now (the inbox's "mine")."""
    refs = request.eligible_refs(now)
    if user == request.requested_by:
        return PRINCIPAL in refs
    return user in policy.users_holding(refs)


def settled_status(
    request: ApprovalRequest, verdict: Verdict, *, break_glass: bool = False
) -> Status:
    """The request's status once ``verdict`` is counted (its votes include it); a
    break-glass approval settles it alone."""
    if verdict == "reject":
        return "rejected"
    if break_glass:
        return "approved"
    return "approved" if len(set(request.approvals)) >= request.quorum else "pending"


def preview(tool: Tool, args: dict[str, Any], *, fallback: str) -> str:
    """The tool's own dry run as text, else the arguments rendered readably."""
    if tool.preview is None:
        return fallback
    try:
        result = tool.preview(**tool.validate_args(args))
    except Exception as exc:  # the approver still sees exactly what would run
        return f"(the tool's preview failed: {type(exc).__name__}: {exc})\n{fallback}"
    return result if isinstance(result, str) else canonical_json(result)


def render_args(tool: str, args: dict[str, Any]) -> str:
    """A call's (shown) arguments, one per line."""
    lines = [f"{tool}("]
    lines += [f"  {key} = {value!r}" for key, value in args.items()]
    lines.append(")")
    return "\n".join(lines)
