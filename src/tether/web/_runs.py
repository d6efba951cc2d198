"""Runs: the list, each run's timeline, and cancelling one (pages and API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tether.errors import ConfigurationError
from tether.runtime import FINISHED, RUN_STATUSES, RunNotFound, RunRecord
from tether.web._deps import ApiOperator, ApiReader, OperateForm, Reader
from tether.web._errors import Refused
from tether.web._present import describe
from tether.web._render import render, see_other
from tether.web._session import flash
from tether.web._state import Site, site
from tether.web._timeline import timeline

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/runs", tags=["runs"])


def _record(where: Site, run_id: str) -> RunRecord:
    try:
        return where.service.run(run_id)
    except RunNotFound as exc:
        raise Refused(404, "not_found", str(exc)) from None


def _status(value: str | None) -> str | None:
    if value and value not in RUN_STATUSES:
        raise Refused(
            400, "bad_filter", f"no run status {value!r}; one of {', '.join(RUN_STATUSES)}"
        )
    return value or None


def detail(where: Site, run_id: str, user: str) -> dict[str, Any]:
    """A run with its timeline, its calls and its approvals."""
    record = _record(where, run_id)
    service = where.service
    now = where.clock()
    return {
        **record.summary(),
        "finished": record.status in FINISHED,
        "timeline": [entry.to_dict() for entry in timeline(service, record)],
        "calls": [
            {
                "call": effect.call_id,
                "tool": effect.tool,
                "status": effect.status,
                "args": effect.args,
                "reversed_by": effect.reversed_by,
            }
            for effect in service.calls(run_id)
        ],
        "approvals": [
            describe(service, item, now=now, user=user)
            for item in service.approvals(run_id=run_id, status=None)
        ],
    }


@pages.get("/runs")
def runs_page(
    request: Request, user: Reader, status: str | None = None, agent: str | None = None
) -> Response:
    where = site(request)
    records = where.service.runs(status=_status(status), agent=agent or None)
    context = {
        "runs": [record.summary() for record in records],
        "status": status or "",
        "agent": agent or "",
        "statuses": RUN_STATUSES,
        "agents": where.service.agents(),
    }
    return render(request, "runs.html", context)


@pages.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, user: Reader) -> Response:
    return render(request, "run.html", {"run": detail(site(request), run_id, user.name)})


@pages.post("/runs/{run_id}/cancel")
def cancel_form(request: Request, run_id: str, posted: OperateForm) -> Response:
    where = site(request)
    record = _record(where, run_id)
    if posted.text("confirm") != "yes":
        return render(request, "confirm_cancel.html", {"run": record.summary()})
    cancelled = where.service.cancel(run_id, by=posted.user.actor("web"))
    flash(request, f"Run {run_id} is {cancelled.status}.")
    return see_other(f"/runs/{run_id}")


@api.get("")
def list_runs(
    request: Request, user: ApiReader, status: str | None = None, agent: str | None = None
) -> list[dict[str, Any]]:
    """The latest runs, as ``tether runs list --json``."""
    records = site(request).service.runs(status=_status(status), agent=agent)
    return [record.summary() for record in records]


@api.get("/{run_id}")
def get_run(request: Request, run_id: str, user: ApiReader) -> dict[str, Any]:
    """A run with its timeline (model steps, calls, decisions, approvals, effects)."""
    return detail(site(request), run_id, user.name)


@api.post("/{run_id}/calls/{call_id}/undo")
def undo(request: Request, run_id: str, call_id: str, user: ApiOperator) -> dict[str, Any]:
    """Undo an executed call with its reversing tool (itself a call through the gate)."""
    where = site(request)
    _record(where, run_id)
    try:
        result = where.service.undo(run_id, call_id, by=user.actor("api"))
    except ConfigurationError as exc:
        raise Refused(409, "cannot_undo", str(exc)) from None
    return {
        "kind": result.kind,
        "text": getattr(result, "text", None),
        "request_id": getattr(result, "request_id", None),
    }


@api.post("/{run_id}/cancel")
def cancel(request: Request, run_id: str, user: ApiOperator) -> dict[str, Any]:
    """Cancel a run: its pending approvals are cancelled, it takes no further step."""
    where = site(request)
    _record(where, run_id)
    return where.service.cancel(run_id, by=user.actor("api")).summary()
