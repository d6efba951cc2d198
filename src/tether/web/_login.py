"""Logging in and out, changing one's password, and the tokens of ``tether login``.

Pages: forms with CSRF tokens, like every other. API: ``POST /api/login`` exchanges a
password for an API token (what ``tether login`` stores); tokens and sessions are
listed and revoked; operators end a user's sessions and clear lock-outs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tether.web._auth import OPERATE, User
from tether.web._client import client_address
from tether.web._deps import AnyForm, ApiReader, Reader, any_user
from tether.web._deps import api as api_guard
from tether.web._errors import Refused
from tether.web._render import render, see_other
from tether.web._session import CSRF_FIELD, check_csrf, flash, log_in, log_out
from tether.web._state import site
from tether.web._throttle import account_key, client_key

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["accounts"])
ApiAccountOperator = Annotated[User, Depends(api_guard(OPERATE, "manage other users' logins"))]


def _safe_next(value: str) -> str:
    """Only a path of this site (no ``//host``): no open redirect after login."""
    return value if value.startswith("/") and not value.startswith("//") else "/"


@pages.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", login_context(request, _safe_next(next), None))


def login_context(request: Request, next_path: str, error: str | None) -> dict[str, Any]:
    sso = site(request).sso
    return {"next": next_path, "error": error, "sso_label": sso.label if sso else None}


@pages.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    name = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    where = site(request)
    if not name or not password:
        raise Refused(401, "bad_login", "give a user name and a password")
    address = client_address(request, where.trusted_proxies)
    user = await run_in_threadpool(where.accounts.password_login, name, password, client=address)
    secret, _ = await run_in_threadpool(
        where.accounts.start, user, kind="session", method="password", client="web", address=address
    )
    log_in(request, secret)
    return see_other(target)


@pages.post("/logout")
async def logout(request: Request) -> Response:
    user = any_user(request)
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    await run_in_threadpool(site(request).accounts.log_out, user)
    log_out(request)
    return see_other("/login")


@pages.get("/account")
def account_page(request: Request, user: Reader) -> Response:
    where = site(request)
    mine = where.accounts.credentials.listed(account_name=user.name)
    return render(
        request,
        "account.html",
        {
            "nav": "account",
            "credentials": [item.to_dict() for item in mine],
            "current": user.credential,
            "has_password": where.users.has_password(user.name),
            "error": None,
        },
    )


@pages.post("/account/password")
async def change_password_form(request: Request, posted: AnyForm) -> Response:
    new = posted.text("new_password")
    if new != posted.text("again"):
        raise Refused(422, "password_mismatch", "the new passwords differ")
    await run_in_threadpool(
        site(request).accounts.change_password, posted.user, posted.text("current_password"), new
    )
    log_out(request)
    flash(request, "Password changed: every session of yours has ended. Log in again.")
    return see_other("/login")


@pages.post("/account/credentials/{credential_id}/revoke")
def revoke_form(request: Request, credential_id: str, posted: AnyForm) -> Response:
    if not site(request).accounts.revoke(credential_id, by=posted.user):
        raise Refused(404, "not_found", f"no live session or token {credential_id} of yours")
    if credential_id == posted.user.credential:
        log_out(request)
        return see_other("/login")
    flash(request, f"{credential_id} revoked.")
    return see_other("/account")


# --- the API: what `tether login`, `tether logout` and `tether tokens` use -------------


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    client: Literal["cli", "api"] = "cli"
    name: str | None = Field(default=None, max_length=200)
    """A label for the token (the host it is used on)."""


def issued(request: Request, secret: str, user: User) -> dict[str, Any]:
    where = site(request)
    return {
        "token": secret,
        "token_id": user.credential,
        "user": user.name,
        "roles": sorted(user.roles),
        "method": user.method,
        "console_id": where.accounts.console_id,
    }


@api.post("/login")
def api_login(request: Request, body: LoginBody) -> dict[str, Any]:
    """Exchange a user's password for an API token (shown once)."""
    where = site(request)
    address = client_address(request, where.trusted_proxies)
    user = where.accounts.password_login(body.username, body.password, client=address)
    secret, made = where.accounts.start(
        user, kind="token", method="password", client=body.client, name=body.name, address=address
    )
    return issued(request, secret, made)


@api.get("/whoami")
def whoami(request: Request, user: ApiReader) -> dict[str, Any]:
    """Who the token acts for, and how they logged in."""
    return {
        "user": user.name,
        "roles": sorted(user.roles),
        "method": user.method,
        "client": user.client,
        "credential": user.credential,
        "console_id": site(request).accounts.console_id,
    }


@api.post("/logout")
def api_logout(request: Request, user: ApiReader) -> dict[str, Any]:
    """End the token this request carries."""
    site(request).accounts.log_out(user)
    return {"ended": user.credential}


@api.get("/tokens")
def list_tokens(request: Request, user: ApiReader, every: bool = False) -> list[dict[str, Any]]:
    """Live sessions and tokens: yours (``every``: everyone's, for operators)."""
    if every and not user.holds(OPERATE):
        raise Refused(403, "forbidden", f"{user.name} needs the operator role to list everyone's")
    found = site(request).accounts.credentials.listed(account_name=None if every else user.name)
    return [item.to_dict() for item in found]


@api.delete("/tokens/{credential_id}")
def revoke_token(request: Request, credential_id: str, user: ApiReader) -> dict[str, Any]:
    """Revoke a session or token (yours; anyone's for an operator)."""
    if not site(request).accounts.revoke(credential_id, by=user):
        raise Refused(404, "not_found", f"no live session or token {credential_id} you may end")
    return {"revoked": credential_id}


@api.post("/accounts/{account_name}/sessions/end")
def end_sessions(request: Request, account_name: str, user: ApiAccountOperator) -> dict[str, Any]:
    """End every session and token of a user at once (after removing a role, say)."""
    return {"ended": site(request).accounts.end_sessions(account_name, by=user)}


class UnlockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str | None = None
    client: str | None = None


@api.get("/lockouts")
def lockouts(request: Request, user: ApiAccountOperator) -> list[dict[str, Any]]:
    """Accounts and clients with failed logins, and whether they are locked."""
    return site(request).accounts.throttle.listed()


@api.post("/lockouts/clear")
def unlock(request: Request, body: UnlockBody, user: ApiAccountOperator) -> dict[str, Any]:
    """Clear an account's or a client's failed logins and lock (recorded)."""
    if (body.account is None) == (body.client is None):
        raise Refused(422, "bad_request", "give account or client (one of them)")
    key = account_key(body.account) if body.account else client_key(str(body.client))
    return {"key": key, "cleared": site(request).accounts.unlock(key, by=user)}
