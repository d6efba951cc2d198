"""Refusals go into the audit trail, like the approvals service's own."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from tether.web._errors import Refused
from tether.web._state import Site


def record_refusal(site: Site, request: Request, refused: Refused, user: str | None) -> None:
    """One ``approval.refused`` (a decision refused) or ``access.refused`` event."""
    where: dict[str, Any] = {"method": request.method, "path": request.url.path}
    if request.client is not None:
        where["client"] = request.client.host
    request_id = refused.request_id or request.path_params.get("request_id")
    if isinstance(request_id, str):
        _record_approval_refusal(site, request_id, refused, user, where)
        return
    site.service.record_access_refusal(
        {
            "by": user or "-",
            "refusal": refused.reason,
            "status": refused.status_code,
            "message": refused.message,
            **where,
        }
    )


def _record_approval_refusal(
    site: Site, request_id: str, refused: Refused, user: str | None, where: dict[str, Any]
) -> None:
    site.service.record_refusal(
        request_id,
        by=user or "-",
        reason=refused.reason,
        message=refused.message,
        details={"status": refused.status_code, **where},
    )
