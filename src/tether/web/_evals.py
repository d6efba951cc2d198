"""Evaluation reports: the stored results of ``tether eval`` (pages and API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tether.web._deps import ApiReader, Reader
from tether.web._errors import Refused
from tether.web._evalfiles import StoredReport, list_reports, read_report
from tether.web._render import render
from tether.web._state import Site, site

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/evals", tags=["evals"])


def _one(where: Site, name: str) -> StoredReport:
    found = read_report(where.evals_dir, name, where.service.redactor)
    if found is None:
        raise Refused(404, "not_found", f"no evaluation results named {name!r}")
    return found


def _summary(item: StoredReport) -> dict[str, Any]:
    report = item.report
    if report is None:
        return {"name": item.name, "error": item.error}
    return {
        "name": item.name,
        "suite": report.suite,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "k": report.k,
        "trials": report.trials,
        "metrics": report.metrics,
        "passed": report.count("passed"),
        "failed": report.count("failed"),
        "errored": report.count("errored"),
        "scenarios": len(report.scenarios),
    }


@pages.get("/evals")
def evals_page(request: Request, user: Reader) -> Response:
    where = site(request)
    items = [_summary(item) for item in list_reports(where.evals_dir, where.service.redactor)]
    return render(request, "evals.html", {"items": items, "folder": str(where.evals_dir)})


@pages.get("/evals/{name}")
def eval_page(request: Request, name: str, user: Reader) -> Response:
    item = _one(site(request), name)
    return render(
        request, "eval.html", {"name": item.name, "report": item.report, "error": item.error}
    )


@api.get("")
def list_evals(request: Request, user: ApiReader) -> list[dict[str, Any]]:
    """Stored evaluation results, newest first."""
    where = site(request)
    return [_summary(item) for item in list_reports(where.evals_dir, where.service.redactor)]


@api.get("/{name}")
def get_eval(request: Request, name: str, user: ApiReader) -> dict[str, Any]:
    """One stored result, as stored (secrets redacted)."""
    item = _one(site(request), name)
    if item.report is None:
        raise Refused(422, "unreadable", f"{name}.json cannot be read: {item.error}")
    return {"name": item.name, **item.report.model_dump(mode="json")}
