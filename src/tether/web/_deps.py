"""Route guards: authenticated (401), CSRF-checked (403), in the right role (403)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.datastructures import FormData
from starlette.requests import Request

from tether.web._auth import DECIDE, EXPORT, OPERATE, READ, User
from tether.web._errors import Refused
from tether.web._session import CSRF_FIELD, check_csrf, log_out, session_secret_of
from tether.web._state import site


def _page_user(request: Request) -> User:
    """The user of the session, read from the database at every request."""
    secret = session_secret_of(request)
    if secret is None:
        raise Refused(401, "unauthenticated", "log in to use the console")
    try:
        user = site(request).accounts.session_user(secret)
    except Refused:
        log_out(request)  # the cookie's session ended: forget it
        raise
    request.state.user = user.name
    request.state.account = user
    return user


def _api_user(request: Request) -> User:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "unauthenticated", "send an API token: Authorization: Bearer TOKEN")
    user = site(request).accounts.token_user(token.strip())
    request.state.user = user.name
    request.state.account = user
    return user


def _require(user: User, roles: frozenset[str], action: str) -> None:
    if not user.holds(roles):
        needed = " or ".join(sorted(roles))
        raise Refused(403, "forbidden", f"{user.name} needs the {needed} role to {action}")


def page(roles: frozenset[str], action: str) -> Callable[[Request], User]:
    """A page (GET) only for a logged-in user holding one of ``roles``."""

    def guard(request: Request) -> User:
        user = _page_user(request)
        _require(user, roles, action)
        return user

    return guard


@dataclass(frozen=True)
class Posted:
    """A submitted form: who sent it and what it says (its CSRF token checked)."""

    user: User
    form: FormData

    def text(self, name: str) -> str:
        value = self.form.get(name)
        return value if isinstance(value, str) else ""


def posted(roles: frozenset[str], action: str) -> Callable[[Request], Awaitable[Posted]]:
    """A form (POST): logged in, with this session's CSRF token, holding one of ``roles``."""

    async def guard(request: Request) -> Posted:
        user = _page_user(request)
        form = await request.form()
        check_csrf(request, form.get(CSRF_FIELD))
        _require(user, roles, action)
        return Posted(user, form)

    return guard


def api(roles: frozenset[str], action: str) -> Callable[[Request], User]:
    """A JSON API route: an API token whose user holds one of ``roles``."""

    def guard(request: Request) -> User:
        user = _api_user(request)
        _require(user, roles, action)
        return user

    return guard


def any_user(request: Request) -> User:
    """Logged in, whatever the role (to log out)."""
    return _page_user(request)


Reader = Annotated[User, Depends(page(READ, "read the console"))]
Exporter = Annotated[User, Depends(page(EXPORT, "export the audit trail"))]
Operator = Annotated[User, Depends(page(OPERATE, "operate agents"))]
DecideForm = Annotated[Posted, Depends(posted(DECIDE, "decide approvals"))]
OperateForm = Annotated[Posted, Depends(posted(OPERATE, "stop agents and cancel runs"))]
AnyForm = Annotated[Posted, Depends(posted(READ | DECIDE | OPERATE | EXPORT, "use the console"))]
ApiReader = Annotated[User, Depends(api(READ, "read the console"))]
ApiDecider = Annotated[User, Depends(api(DECIDE, "decide approvals"))]
ApiOperator = Annotated[User, Depends(api(OPERATE, "stop agents and cancel runs"))]
ApiExporter = Annotated[User, Depends(api(EXPORT, "export the audit trail"))]
