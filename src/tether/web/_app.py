"""The console's application: pages, the JSON API, sessions, refusals, headers."""

from __future__ import annotations

import datetime as _dt
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles

from tether.config import Config, WebSettings
from tether.runtime import Runtime
from tether.service import Service
from tether.web import _approvals, _audit, _evals, _login, _runs, _sso, _stop
from tether.web._accounts import Accounts
from tether.web._auth import Users
from tether.web._body import BodyLimit
from tether.web._client import client_address, networks
from tether.web._deps import ApiReader
from tether.web._errors import Refused
from tether.web._record import record_refusal
from tether.web._render import render, templates
from tether.web._session import SESSION_COOKIE, session_secret
from tether.web._sso_client import SingleSignOn
from tether.web._state import Site, site

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def create_app(
    runtime: Runtime,
    settings: WebSettings | None = None,
    *,
    session_secret: str | None = None,
    secure_cookies: bool = False,
    evals_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], _dt.datetime] = _now,
) -> FastAPI:
    """The console for ``runtime``: a thin client of its approvals, runs, audit and stops.

    ``settings`` names the users and API tokens (``web:`` in ``tether.yaml``). Sessions
    are signed with ``session_secret`` (a random one, if not given: sessions then end
    with the process). The runtime is not launched here: whoever serves the app
    decides whether this process also executes runs (``tether serve`` does, on SQLite).
    """
    web = settings or WebSettings()
    app = FastAPI(
        title="tether console",
        summary="The operator console's JSON API: the same operations as the tether CLI.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan,
    )
    users = Users(web, env=env)
    known = _KnownAccounts()
    service = Service(runtime, accounts=known, clock=clock)
    accounts = Accounts(web, users, service, clock=clock)
    known.site_accounts = accounts
    app.state.site = Site(
        service=service,
        users=users,
        accounts=accounts,
        trusted_proxies=networks(web.trusted_proxies),
        sso=SingleSignOn(web.oidc, env=env) if web.oidc else None,
        templates=templates(),
        evals_dir=Path(evals_dir if evals_dir is not None else web.evals),
        clock=clock,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret or secrets.token_urlsafe(48),
        session_cookie=SESSION_COOKIE,
        max_age=web.session_max_age_seconds,
        same_site="lax",
        https_only=secure_cookies,
    )
    app.middleware("http")(_security_headers)
    # Outermost: a body too large is refused before a session or a token is looked at.
    app.add_middleware(BodyLimit, max_bytes=web.max_body_bytes)
    app.add_exception_handler(Refused, _refused)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(_sso.pages)
    app.include_router(_sso.api_routes)
    for module in (_login, _approvals, _runs, _audit, _stop, _evals):
        app.include_router(module.pages)
        if hasattr(module, "api"):
            app.include_router(module.api)
    app.add_api_route("/api/openapi.json", _openapi, methods=["GET"], include_in_schema=False)
    return app


def reload_users(
    app: FastAPI, settings: WebSettings, *, env: Mapping[str, str] | None = None
) -> None:
    """Put changed users and roles in force (``tether.yaml`` edited): a session granted
    a role the user no longer has ends at its next request."""
    where: Site = app.state.site
    users = Users(settings, env=env)
    where.users = users
    where.accounts.users = users


class _KnownAccounts:
    """The console's users: of ``web.users``, or holding a live login (single sign-on)."""

    site_accounts: Accounts | None = None

    def __contains__(self, name: object) -> bool:
        accounts = self.site_accounts
        if not isinstance(name, str) or accounts is None:
            return False
        if name in accounts.users:
            return True
        return bool(accounts.credentials.listed(account_name=name))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    # The counts of refusals still being tallied are recorded before the console stops.
    await run_in_threadpool(app.state.site.accounts.flush_refusals, force=True)


def _openapi(request: Request, user: ApiReader) -> dict[str, Any]:
    """The JSON API's OpenAPI document (for API token holders)."""
    document: dict[str, Any] = request.app.openapi()
    return document


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    accounts = site(request).accounts
    if accounts.refusals.due():
        await run_in_threadpool(accounts.flush_refusals)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _refused(request: Request, exc: Refused) -> Response:
    """Record the refusal, then say why: JSON for the API, a page for people."""
    user = getattr(request.state, "user", None)
    where: Site = request.app.state.site
    if not exc.recorded and user is None and exc.status_code == 401:
        # Nobody authenticated: counted per client and reason, so it cannot flood the trail.
        address = client_address(request, where.trusted_proxies)
        details = {
            "by": "-",
            "refusal": exc.reason,
            "status": exc.status_code,
            "message": exc.message,
            "method": request.method,
            "path": request.url.path,
            "client": address,
        }
        await run_in_threadpool(where.accounts.record_unauthenticated, address, exc.reason, details)
    elif not exc.recorded:
        await run_in_threadpool(record_refusal, where, request, exc, user)
    headers: dict[str, str] = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if request.url.path.startswith("/api/"):
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        body = {"error": exc.reason, "message": exc.message}
        return JSONResponse(body, status_code=exc.status_code, headers=headers)
    if exc.status_code == 401:
        context = _login.login_context(request, _next_of(request), exc.message)
        return render(request, "login.html", context, status_code=401)
    response = render(request, "refused.html", {"refusal": exc}, status_code=exc.status_code)
    response.headers.update(headers)
    return response


def _next_of(request: Request) -> str:
    if request.method != "GET" or request.url.path in ("/login", "/logout"):
        return "/"
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


def app_from_config(config: Config, runtime: Runtime, *, https: bool = False) -> FastAPI:
    """The console as ``tether.yaml`` configures it (``tether serve``)."""
    web = config.spec.web
    secret = os.environ.get(web.session_secret_env) if web.session_secret_env else None
    if not secret:
        keys = Path(config.keys) if config.keys else Path(".tether/keys")
        secret = session_secret(keys.parent / "web-session.key")
    secure = https if web.secure_cookies is None else web.secure_cookies
    return create_app(runtime, web, session_secret=secret, secure_cookies=secure)
