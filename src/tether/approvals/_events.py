"""The audit events of approvals: asked, decided (approved, rejected, edited, expired,
cancelled), and refused attempts to decide, as the trail records them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tether.approvals._model import ApprovalRequest
from tether.audit import AuditEvent, EventType
from tether.gate import Released
from tether.identity import Actor


def approval_event(
    kind: EventType,
    request: ApprovalRequest,
    *,
    by: Actor | None = None,
    verdict: str | None = None,
    comment: str | None = None,
    edited_args: dict[str, Any] | None = None,
    reopened: dict[str, Any] | None = None,
    released: Sequence[Released] = (),
) -> AuditEvent:
    """An approval event of ``request``; ``released``: the limit reservations the
    request's end gave back (kept under ``details.limits_released``)."""
    approval: dict[str, Any] = {
        "request_id": request.id,
        "rule": request.rule,
        "approvers": list(request.approvers),
        "quorum": request.quorum,
        "expires_at": request.expires_at.isoformat(),
        "status": request.status,
        "approved_by": list(request.approvals),
    }
    for key, value in (
        ("verdict", verdict),
        ("by", by.account if by else None),
        ("comment", comment),
        ("edited_args", edited_args),
        ("reopened", reopened),
        ("break_glass", True if by is not None and by.break_glass else None),
        # the rule asked the person acted for to confirm: not another person's oversight
        ("confirmation", True if by is not None and by.account == request.requested_by else None),
    ):
        if value is not None:
            approval[key] = value
    return AuditEvent(
        type=kind,
        run_id=request.run_id,
        call_id=request.call_id,
        agent=request.agent,
        principal=request.requested_by,
        tool=request.tool,
        args=request.shown_args,
        why=request.why,
        approval=approval,
        actor=by.record() if by else None,
        details=(
            {"limits_released": [item.as_record() for item in released]} if released else None
        ),
    )


def refusal_event(
    request_id: str,
    request: ApprovalRequest | None,
    *,
    by: str | Actor,
    reason: str,
    message: str,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """A refused attempt to decide ``request_id`` (``request``: None when there is none)."""
    return AuditEvent(
        type="approval.refused",
        run_id=request.run_id if request else "-",
        call_id=request.call_id if request else None,
        agent=request.agent if request else None,
        principal=request.requested_by if request else None,
        tool=request.tool if request else None,
        approval={
            "request_id": request_id,
            "by": by.account if isinstance(by, Actor) else by,
            "refusal": reason,
            "message": message,
        },
        details=details,
        actor=by.record() if isinstance(by, Actor) else None,
    )
