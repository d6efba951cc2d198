"""The audit explorer: filter events, see whether the chain verifies, export."""

from __future__ import annotations

import datetime as _dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tether.audit import EVENT_TYPES, StoredEvent, export_jsonl
from tether.web._deps import ApiExporter, ApiReader, Exporter, Reader
from tether.web._errors import Refused
from tether.web._render import render
from tether.web._state import Site, site

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/audit", tags=["audit"])

SHOWN = 500
"""The most events a page or an API answer holds (the newest); export has no limit."""
DECISIONS = ("allow", "deny", "needs_approval", "error")


def _time(name: str, value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    try:
        at = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise Refused(400, "bad_filter", f"{name}: {value!r} is not an ISO date and time") from None
    return at if at.tzinfo else at.replace(tzinfo=_dt.UTC)


@dataclass(frozen=True, kw_only=True)
class Filters:
    """The explorer's filters, from the query string; unset ones match everything."""

    run: str | None = None
    agent: str | None = None
    principal: str | None = None
    tool: str | None = None
    type: str | None = None
    decision: str | None = None
    since: str | None = None
    until: str | None = None

    def query(self) -> dict[str, Any]:
        if self.type and self.type not in EVENT_TYPES:
            raise Refused(400, "bad_filter", f"type: no event type {self.type!r}")
        if self.decision and self.decision not in DECISIONS:
            raise Refused(400, "bad_filter", f"decision: one of {', '.join(DECISIONS)}")
        return {
            "run": self.run or None,
            "agent": self.agent or None,
            "principal": self.principal or None,
            "tool": self.tool or None,
            "type": "call.decided" if self.decision else (self.type or None),
            "since": _time("since", self.since),
            "until": _time("until", self.until),
        }

    def matches(self, stored: StoredEvent) -> bool:
        if not self.decision:
            return True
        return (stored.event.decision or {}).get("kind") == self.decision

    def as_dict(self) -> dict[str, str]:
        return {key: value or "" for key, value in self.__dict__.items()}


def filters(
    *,
    run: str | None = None,
    agent: str | None = None,
    principal: str | None = None,
    tool: str | None = None,
    type: str | None = None,
    decision: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Filters:
    return Filters(
        run=run,
        agent=agent,
        principal=principal,
        tool=tool,
        type=type,
        decision=decision,
        since=since,
        until=until,
    )


Chosen = Annotated[Filters, Depends(filters)]


def _events(where: Site, chosen: Filters, limit: int | None) -> Iterator[StoredEvent]:
    query = chosen.query()
    # The decision filter narrows call.decided events further, so read more than shown.
    read = None if limit is None else (limit * 20 if chosen.decision else limit)
    found = where.service.events(**query, limit=read, newest=read is not None)
    matching = [stored for stored in found if chosen.matches(stored)]
    return iter(matching[-limit:] if limit is not None else matching)


def event_row(stored: StoredEvent) -> dict[str, Any]:
    """An event as the explorer shows it (stored redacted)."""
    return {"seq": stored.seq, "hash": stored.hash, **stored.event.body()}


def verification(where: Site) -> dict[str, Any]:
    report = where.service.verify()
    first = report.first_problem
    return {
        **report.to_dict(),
        "summary": (
            f"intact: {report.events} events, signed through {report.signed_through}"
            if report.intact
            else f"damaged: {first.kind} at event {first.seq}: {first.message}"
            if first
            else "damaged"
        ),
    }


@pages.get("/audit")
def audit_page(request: Request, user: Reader, chosen: Chosen) -> Response:
    where = site(request)
    rows = [event_row(stored) for stored in _events(where, chosen, SHOWN)]
    context = {
        "rows": list(reversed(rows)),
        "filters": chosen.as_dict(),
        "types": EVENT_TYPES,
        "decisions": DECISIONS,
        "verify": verification(where),
        "shown": SHOWN,
        "may_export": user.holds(frozenset({"auditor", "operator"})),
        "export_query": str(request.url.query),
    }
    return render(request, "audit.html", context)


def _export(where: Site, chosen: Filters) -> StreamingResponse:
    events = list(_events(where, chosen, None))

    def lines() -> Iterator[str]:
        for stored in events:
            buffer = io.StringIO()
            export_jsonl([stored], buffer)
            yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="tether-audit.jsonl"'},
    )


@pages.get("/audit/export.jsonl")
def export_page(request: Request, user: Exporter, chosen: Chosen) -> Response:
    return _export(site(request), chosen)


@api.get("/events")
def list_events(request: Request, user: ApiReader, chosen: Chosen) -> list[dict[str, Any]]:
    """The newest matching events (up to 500), oldest first."""
    return [event_row(stored) for stored in _events(site(request), chosen, SHOWN)]


@api.get("/verify")
def verify(request: Request, user: ApiReader) -> dict[str, Any]:
    """Whether the hash chain and its signed checkpoints verify (as ``tether audit verify``)."""
    return verification(site(request))


@api.get("/export")
def export(request: Request, user: ApiExporter, chosen: Chosen) -> Response:
    """Every matching event as JSON Lines (as ``tether audit export``)."""
    return _export(site(request), chosen)
