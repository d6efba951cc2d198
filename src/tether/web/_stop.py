"""The stop switch: halt one agent or every agent, after a confirmation (pages and API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from tether.service import ALL_AGENTS
from tether.web._deps import ApiOperator, ApiReader, OperateForm, Reader
from tether.web._errors import Refused
from tether.web._render import render, see_other
from tether.web._session import flash
from tether.web._state import Site, site

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/stop", tags=["stop"])

ALL = ALL_AGENTS


def switches(where: Site) -> list[dict[str, Any]]:
    """Every agent (and "all agents"): whether it is stopped, and its unfinished runs."""
    return [switch.to_dict() for switch in where.service.stop_switches()]


def _target(where: Site, agent: str) -> str | None:
    """The agent to stop (None: all of them); an unknown name is refused."""
    if agent == ALL:
        return None
    if agent not in where.service.agents():
        raise Refused(404, "unknown_agent", f"no agent {agent!r} in the policy")
    return agent


@pages.get("/stop")
def stop_page(request: Request, user: Reader) -> Response:
    where = site(request)
    may = user.holds(frozenset({"operator"}))
    return render(request, "stop.html", {"switches": switches(where), "may_operate": may})


@pages.post("/stop")
def stop_form(request: Request, posted: OperateForm) -> Response:
    where = site(request)
    agent = posted.text("agent") or ALL
    target = _target(where, agent)
    reason = posted.text("reason").strip() or "stopped by an operator"
    if posted.text("confirm") != "yes":
        row = next(item for item in switches(where) if item["agent"] == agent)
        return render(request, "confirm_stop.html", {"row": row, "reason": reason})
    halted = where.service.stop(agent=target, by=posted.user.actor("web"), reason=reason)
    flash(request, f"Stopped {target or 'all agents'}: {len(halted)} run(s) halted.")
    return see_other("/stop")


@pages.post("/stop/lift")
def lift_form(request: Request, posted: OperateForm) -> Response:
    where = site(request)
    target = _target(where, posted.text("agent") or ALL)
    count = where.service.lift(agent=target, by=posted.user.actor("web"))
    flash(request, f"Lifted {count} stop(s) for {target or 'all agents'}.")
    return see_other("/stop")


class StopBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str
    """An agent's name, or ``*`` for every agent."""
    reason: str = "stopped by an operator"
    confirm: bool = False
    """Must be true: the API acts only when told it is meant."""


class LiftBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str


@api.get("")
def list_switches(request: Request, user: ApiReader) -> list[dict[str, Any]]:
    """Each agent's stop switch (``*``: all agents) and its unfinished runs."""
    return switches(site(request))


@api.post("")
def stop(request: Request, body: StopBody, user: ApiOperator) -> dict[str, Any]:
    """Stop an agent (or ``*``, all): new calls refused, pending approvals cancelled."""
    where = site(request)
    target = _target(where, body.agent)
    if not body.confirm:
        raise Refused(400, "unconfirmed", "set confirm: true to stop; nothing was stopped")
    halted = where.service.stop(agent=target, by=user.actor("api"), reason=body.reason)
    return {"agent": body.agent, "halted_runs": halted, "by": user.name}


@api.post("/lift")
def lift(request: Request, body: LiftBody, user: ApiOperator) -> dict[str, Any]:
    """Lift the stop of an agent (or ``*``)."""
    where = site(request)
    count = where.service.lift(agent=_target(where, body.agent), by=user.actor("api"))
    return {"agent": body.agent, "lifted": count}
