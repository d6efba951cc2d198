"""Single sign-on routes: the browser's login, and the CLI's (``tether login --sso``).

``GET /login/sso`` sends the browser to the provider (authorization code with PKCE);
``GET /login/sso/callback`` takes the code back, once. The CLI starts a login with
``POST /api/login/sso``, the person signs on in a browser, and the CLI collects its
token with ``POST /api/login/sso/poll``. A user the role mapping gives no role is
refused; every refusal is recorded with its reason.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tether.web._auth import User
from tether.web._client import client_address
from tether.web._errors import Refused
from tether.web._flows import Flow, FlowRefused, LoginFlows
from tether.web._render import render, see_other
from tether.web._session import log_in
from tether.web._sso_client import Identity, SingleSignOn, SsoRefused
from tether.web._state import Site, site

pages = APIRouter(include_in_schema=False)
api_routes = APIRouter(prefix="/api/login/sso", tags=["accounts"])


def _sso(where: Site) -> SingleSignOn:
    if where.sso is None:
        raise Refused(404, "sso_off", "single sign-on is not configured (web.oidc)")
    return where.sso


def _flows(where: Site) -> LoginFlows:
    return LoginFlows(where.service.runtime.engine, clock=where.clock)


def _redirect_uri(request: Request, sso: SingleSignOn) -> str:
    return sso.settings.redirect_url or str(request.url_for("sso_callback"))


def _safe_next(value: str) -> str:
    return value if value.startswith("/") and not value.startswith("//") else "/"


def _refuse(where: Site, reason: str, message: str, address: str) -> Refused:
    where.accounts.record(
        "login.refused",
        {"refusal": reason, "message": message, "method": "oidc", "client": address},
    )
    return Refused(401, reason, message, recorded=True)


def _begin(request: Request, *, client: str, next_path: str, poll: str | None) -> tuple[str, str]:
    """The provider's authorization URL for a new sign-on, and its state."""
    where = site(request)
    sso = _sso(where)
    address = client_address(request, where.trusted_proxies)
    try:
        begun = sso.begin(_redirect_uri(request, sso))
    except SsoRefused as refused:
        raise _refuse(where, refused.reason, refused.message, address) from None
    flow = Flow(
        state=begun.state,
        nonce=begun.nonce,
        verifier=begun.verifier,
        next=next_path,
        client="cli" if client == "cli" else "web",
    )
    _flows(where).begin(flow, poll_secret=poll)
    if client == "web":
        request.session["sso_state"] = begun.state
    return begun.url, begun.state


@pages.get("/login/sso")
async def sso_start(request: Request, next: str = "/") -> Response:
    url, _ = await run_in_threadpool(
        _begin, request, client="web", next_path=_safe_next(next), poll=None
    )
    return RedirectResponse(url, status_code=303)


@pages.get("/login/sso/callback", name="sso_callback")
async def sso_callback(request: Request) -> Response:
    return await run_in_threadpool(_callback, request)


def _callback(request: Request) -> Response:
    where = site(request)
    sso = _sso(where)
    address = client_address(request, where.trusted_proxies)
    params = request.query_params
    state = params.get("state", "")
    try:
        flow = _flows(where).take(state)
    except FlowRefused as refused:
        raise _refuse(where, refused.reason, refused.message, address) from None
    try:
        if flow.client == "web" and request.session.pop("sso_state", None) != state:
            raise SsoRefused("sso_state_mismatch", "this sign-on was started in another browser")
        if params.get("error"):
            raise SsoRefused(
                "sso_denied",
                f"the provider refused: {params.get('error')}: "
                f"{params.get('error_description', '')}",
            )
        identity = sso.finish(
            params.get("code", ""),
            nonce=flow.nonce,
            verifier=flow.verifier,
            redirect_uri=_redirect_uri(request, sso),
        )
        user = _mapped(where, identity)
    except SsoRefused as refused:
        if flow.client == "cli":
            _flows(where).failed(state)
        raise _refuse(where, refused.reason, refused.message, address) from None
    if flow.client == "cli":
        _flows(where).authenticated(state, user.name, identity.groups)
        return render(request, "sso_done.html", {"account": user.name})
    secret, _ = where.accounts.start(
        user, kind="session", method="oidc", client="web", groups=identity.groups, address=address
    )
    log_in(request, secret)
    return see_other(flow.next)


def _mapped(where: Site, identity: Identity) -> User:
    """The user with the roles their groups map to; refused when they map to none."""
    roles = where.users.sso_roles(identity.username, identity.groups)
    if not roles:
        raise SsoRefused(
            "sso_unmapped",
            f"{identity.username} signed on, but web.oidc.roles gives them no role here",
        )
    return User(name=identity.username, roles=roles, method="oidc")


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    poll_secret: str = Field(min_length=32, max_length=200)
    """A secret the CLI made: only its holder collects the token."""


class PollBody(StartBody):
    state: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=200)


@api_routes.post("")
def cli_start(request: Request, body: StartBody) -> dict[str, Any]:
    """Start a CLI's sign-on: open ``url`` in a browser, then poll with ``state``."""
    url, state = _begin(request, client="cli", next_path="/", poll=body.poll_secret)
    return {"url": url, "state": state, "poll_every_seconds": 1}


@api_routes.post("/poll")
def cli_poll(request: Request, body: PollBody) -> dict[str, Any]:
    """The CLI's token once its sign-on finished (``pending`` until then)."""
    where = site(request)
    address = client_address(request, where.trusted_proxies)
    try:
        done = _flows(where).collect(body.state, body.poll_secret)
    except FlowRefused as refused:
        raise _refuse(where, refused.reason, refused.message, address) from None
    if done is None:
        return {"status": "pending"}
    account, groups = done
    roles = where.users.sso_roles(account, groups)
    if not roles:
        raise _refuse(where, "sso_unmapped", f"{account} has no role here", address)
    user = User(name=account, roles=roles, method="oidc")
    secret, made = where.accounts.start(
        user,
        kind="token",
        method="oidc",
        client="cli",
        name=body.name,
        groups=groups,
        address=address,
    )
    return {
        "status": "done",
        "token": secret,
        "token_id": made.credential,
        "user": made.name,
        "roles": sorted(made.roles),
        "method": "oidc",
        "console_id": where.accounts.console_id,
    }
