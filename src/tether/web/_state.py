"""What every route reaches: the runtime, the users, the templates."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from tether.service import Service
from tether.web._accounts import Accounts
from tether.web._auth import Users
from tether.web._client import Network
from tether.web._sso_client import SingleSignOn


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@dataclass(kw_only=True)
class Site:
    """The console's state: a thin client of the operator service."""

    service: Service
    users: Users
    accounts: Accounts
    trusted_proxies: tuple[Network, ...] = ()
    sso: SingleSignOn | None = None
    """Single sign-on (OpenID Connect), when ``web.oidc`` configures it."""
    templates: Jinja2Templates
    evals_dir: Path
    """Where ``tether eval`` results are read from."""
    clock: Callable[[], _dt.datetime] = _now


def site(request: Request) -> Site:
    found: Site = request.app.state.site
    return found
