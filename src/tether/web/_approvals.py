"""The approval inbox: what waits for a person, and deciding it (pages and API)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from tether.approvals import ApprovalError, ApprovalNotFound, ApprovalRequest, Status
from tether.identity import Surface
from tether.runtime import RunNotFound
from tether.service import Service
from tether.web._auth import User
from tether.web._deps import ApiDecider, ApiReader, DecideForm, Reader
from tether.web._errors import Refused, from_approval_error
from tether.web._forms import FormError, edited_args, fields_for
from tether.web._present import describe
from tether.web._render import render, see_other
from tether.web._session import flash
from tether.web._state import Site, site

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/approvals", tags=["approvals"])


def decide(
    where: Site,
    user: User,
    request_id: str,
    *,
    surface: Surface,
    verdict: Literal["approve", "reject"],
    edit: dict[str, Any] | None,
    comment: str | None,
    seen_hash: str | None,
    break_glass: bool = False,
) -> ApprovalRequest:
    """Approve or reject as ``user``, through the runtime (which resumes the run).

    ``seen_hash`` is the arguments' hash the approver saw: if another approver has
    edited the request since, the decision is refused (409) rather than applied to
    arguments this approver never saw.
    """
    service = where.service
    try:
        current = service.approval(request_id)
    except ApprovalNotFound:
        current = None
    if (
        current is not None
        and seen_hash
        and current.status == "pending"
        and seen_hash != current.args_hash
    ):
        raise Refused(
            409,
            "changed",
            "another approver edited this request after you opened it; review it again",
            request_id=request_id,
        )
    actor = dataclasses.replace(user.actor(surface), break_glass=break_glass)
    try:
        if verdict == "approve":
            return service.approve(
                request_id, by=actor, edit=edit or None, comment=comment or None
            )
        return service.reject(request_id, by=actor, comment=comment or "")
    except ApprovalError as exc:
        try:
            status: str | None = service.approval(request_id).status
        except ApprovalNotFound:
            status = None
        raise from_approval_error(exc, current_status=status) from None


# --- pages -----------------------------------------------------------------------------


@pages.get("/")
def inbox(request: Request, user: Reader, show: str = "all") -> Response:
    where = site(request)
    now = where.clock()
    requests = where.service.approvals(status="pending")
    items = [describe(where.service, item, now=now, user=user.name) for item in requests]
    if show == "mine":
        items = [item for item in items if item["may_decide"]]
    return render(request, "inbox.html", {"items": items, "show": show})


def _found(service: Service, request_id: str) -> ApprovalRequest:
    """The request, or a 404 that says there is no such request."""
    try:
        return service.approval(request_id)
    except ApprovalNotFound as exc:
        raise Refused(404, "not_found", exc.message) from None


def _detail(
    request: Request, user: User, request_id: str, *, error: str | None = None, status: int = 200
) -> Response:
    where = site(request)
    found = _found(where.service, request_id)
    tool = where.service.tool(found.tool)
    fields = fields_for(tool, found.args, found.shown_args) if tool else []
    item = describe(where.service, found, now=where.clock(), user=user.name)
    context = {
        "item": item,
        "fields": fields,
        "error": error,
        "may_break_glass": where.service.may_break_glass(user.name)
        and user.name != found.requested_by,
    }
    return render(request, "approval.html", context, status_code=status)


@pages.get("/approvals/{request_id}")
def approval_page(request: Request, request_id: str, user: Reader) -> Response:
    return _detail(request, user, request_id)


@pages.post("/approvals/{request_id}/approve")
def approve_form(request: Request, request_id: str, posted: DecideForm) -> Response:
    where = site(request)
    try:
        found = where.service.approval(request_id)
    except ApprovalNotFound:
        found = None
    edit: dict[str, Any] = {}
    tool = where.service.tool(found.tool) if found else None
    if found is not None and tool is not None and posted.text("edit") == "yes":
        try:
            edit = edited_args(tool, found.args, found.shown_args, posted.form)
        except FormError as exc:
            return _detail(request, posted.user, request_id, error=str(exc), status=422)
    decided = decide(
        where,
        posted.user,
        request_id,
        surface="web",
        verdict="approve",
        edit=edit,
        comment=posted.text("comment").strip(),
        seen_hash=posted.text("args_hash"),
    )
    changed = f" with {', '.join(sorted(edit))} changed" if edit else ""
    flash(
        request,
        f"You approved {decided.tool}{changed}: {len(decided.approvals)} of "
        f"{decided.quorum} approvals; the request is {decided.status}.",
    )
    return see_other(f"/runs/{decided.run_id}")


@pages.post("/approvals/{request_id}/break-glass")
def break_glass_form(request: Request, request_id: str, posted: DecideForm) -> Response:
    decided = decide(
        site(request),
        posted.user,
        request_id,
        surface="web",
        verdict="approve",
        edit=None,
        comment=posted.text("reason").strip(),
        seen_hash=posted.text("args_hash"),
        break_glass=True,
    )
    flash(request, f"BREAK-GLASS: you approved {decided.tool}; everyone concerned is told.")
    return see_other(f"/runs/{decided.run_id}")


@pages.post("/approvals/{request_id}/reject")
def reject_form(request: Request, request_id: str, posted: DecideForm) -> Response:
    decided = decide(
        site(request),
        posted.user,
        request_id,
        surface="web",
        verdict="reject",
        edit=None,
        comment=posted.text("comment").strip(),
        seen_hash=posted.text("args_hash"),
    )
    flash(request, f"You rejected {decided.tool}; the agent is told why.")
    return see_other(f"/runs/{decided.run_id}")


# --- API -------------------------------------------------------------------------------


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    edit: dict[str, Any] | None = None
    """Changed arguments (checked by the gate again)."""
    comment: str | None = None
    args_hash: str | None = None
    """The arguments' hash you reviewed: refused (409) if they changed since."""


class BreakGlassBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str
    """Why the emergency path: recorded and sent to everyone concerned."""
    args_hash: str | None = None


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str
    args_hash: str | None = None


@api.get("")
def list_approvals(
    request: Request,
    user: ApiReader,
    status: Status | Literal["all"] = "pending",
    mine: bool = False,
) -> list[dict[str, Any]]:
    """Approval requests (``status=all`` for every one); ``mine`` for what you may decide."""
    where = site(request)
    now = where.clock()
    found = where.service.approvals(status=None if status == "all" else status)
    items = [describe(where.service, item, now=now, user=user.name) for item in found]
    return [item for item in items if item["may_decide"]] if mine else items


@api.get("/{request_id}")
def get_approval(request: Request, request_id: str, user: ApiReader) -> dict[str, Any]:
    where = site(request)
    found = _found(where.service, request_id)
    tool = where.service.tool(found.tool)
    return {
        **describe(where.service, found, now=where.clock(), user=user.name),
        "schema": tool.json_schema() if tool else None,
    }


def _answer(where: Site, decided: ApprovalRequest, user: User) -> dict[str, Any]:
    try:
        run_status: str | None = where.service.run(decided.run_id).status
    except RunNotFound:  # a request made outside a run of this runtime
        run_status = None
    return {
        **describe(where.service, decided, now=where.clock(), user=user.name),
        "run_status": run_status,
    }


@api.post("/{request_id}/approve")
def approve(
    request: Request, request_id: str, body: ApproveBody, user: ApiDecider
) -> dict[str, Any]:
    """Approve as the token's user, optionally with edited arguments."""
    where = site(request)
    decided = decide(
        where,
        user,
        request_id,
        surface="api",
        verdict="approve",
        edit=body.edit,
        comment=body.comment,
        seen_hash=body.args_hash,
    )
    return _answer(where, decided, user)


@api.post("/{request_id}/break-glass")
def break_glass(
    request: Request, request_id: str, body: BreakGlassBody, user: ApiDecider
) -> dict[str, Any]:
    """Approve through the policy's break-glass path: its role, a written reason, a login."""
    where = site(request)
    decided = decide(
        where,
        user,
        request_id,
        surface="api",
        verdict="approve",
        edit=None,
        comment=body.reason,
        seen_hash=body.args_hash,
        break_glass=True,
    )
    return _answer(where, decided, user)


@api.post("/{request_id}/reject")
def reject(request: Request, request_id: str, body: RejectBody, user: ApiDecider) -> dict[str, Any]:
    """Reject with a comment; the agent is told and may re-plan."""
    where = site(request)
    decided = decide(
        where,
        user,
        request_id,
        surface="api",
        verdict="reject",
        edit=None,
        comment=body.comment,
        seen_hash=body.args_hash,
    )
    return _answer(where, decided, user)
