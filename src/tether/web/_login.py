"""Logging in and out (forms with CSRF tokens, like every other)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tether.web._deps import any_user
from tether.web._errors import Refused
from tether.web._render import render, see_other
from tether.web._session import CSRF_FIELD, check_csrf, log_in, log_out
from tether.web._state import site

pages = APIRouter(include_in_schema=False)


def _safe_next(value: str) -> str:
    """Only a path of this site (no ``//host``): no open redirect after login."""
    return value if value.startswith("/") and not value.startswith("//") else "/"


@pages.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@pages.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    name = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    users = site(request).users
    user = (
        await run_in_threadpool(users.authenticate, name, password) if name and password else None
    )
    if user is None:
        raise Refused(401, "bad_login", "unknown user or wrong password")
    log_in(request, user.name)
    return see_other(target)


@pages.post("/logout")
async def logout(request: Request) -> Response:
    any_user(request)
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    log_out(request)
    return see_other("/login")
