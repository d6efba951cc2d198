"""Pages: templates with the user, the CSRF token and the flashed messages."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from tether.web._session import CSRF_FIELD, csrf_token, take_flashes

TEMPLATES = Path(__file__).parent / "templates"


def _common(request: Request) -> dict[str, Any]:
    return {
        "user": getattr(request.state, "account", None),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(request),
        "flashes": take_flashes(request),
    }


def _when(value: _dt.datetime | str | None) -> str:
    if value is None:
        return "-"
    at = _dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float | int | None) -> str:
    """``11,927`` for whole numbers, else four significant digits (``0.975``)."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.4g}"


def templates() -> Jinja2Templates:
    made = Jinja2Templates(directory=TEMPLATES, context_processors=[_common])
    made.env.filters["when"] = _when
    made.env.filters["number"] = _number
    made.env.globals["roles_text"] = lambda user: ", ".join(sorted(user.roles)) if user else ""
    return made


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    found: Jinja2Templates = request.app.state.site.templates
    return found.TemplateResponse(request, template, context, status_code=status_code)


def see_other(url: str) -> RedirectResponse:
    """After a form: the browser GETs ``url`` (303)."""
    return RedirectResponse(url, status_code=303)
