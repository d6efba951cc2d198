"""Tryton ERP and CRM over JSON-RPC: parties, opportunities, sales, invoices.

```yaml
connectors:
  - type: tryton
    settings:
      url: http://127.0.0.1:8000/
      database: demo
      username: admin
      password_env: TRYTON_PASSWORD   # the variable's name, never the password
```

Tools: ``crm.find_parties``, ``crm.read_party``, ``crm.list_opportunities``,
``erp.list_products``, ``erp.list_invoices`` (read); ``crm.create_party``,
``crm.update_party``, ``crm.create_opportunity``, ``crm.convert_opportunity``,
``erp.create_sale`` (write); ``erp.confirm_sale``, ``erp.issue_credit_note``
(irreversible). See ``docs/connectors/tryton.md``. A local Tryton with a demo
company: :class:`LocalTryton` (``tether tryton serve``); with the ``local`` setting
(``local: {state: .tether/tryton, port: 8000}``, no ``url``) the connector starts it
itself when it first cannot reach it, and stops it when the process exits.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.connectors.tryton._build import DEFAULT_ADMIN_PASSWORD
from tether.connectors.tryton._client import (
    TrytonClient,
    TrytonError,
    TrytonFault,
    TrytonLoginFailed,
    TrytonRecordNotFound,
    TrytonTimeout,
    TrytonUnreachable,
)
from tether.connectors.tryton._local import OnDemandTryton, on_demand
from tether.connectors.tryton._records import SaleLine, TrytonRecords, marker
from tether.connectors.tryton._server import (
    TEMPLATES_ENV,
    LocalTryton,
    TrytonServer,
    TrytonServerError,
    default_template_dir,
)
from tether.connectors.tryton._tools import TrytonTools
from tether.errors import ConfigurationError
from tether.tools import Tool, Toolset

_LOOPBACK = ("127.0.0.1", "localhost")


class LocalTrytonSettings(BaseModel):
    """The ``local`` setting: the Tryton is tether's own, started on demand."""

    model_config = ConfigDict(extra="forbid")

    state: str = Field(min_length=1)
    """The :class:`LocalTryton` state folder holding the database (relative to ``base_dir``)."""
    port: int = Field(default=8000, ge=1, le=65535)
    """The loopback port it is served on."""


class TrytonSettings(BaseModel):
    """The connector's settings, as written in ``tether.yaml``."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    """Base URL of the Tryton server, e.g. ``http://127.0.0.1:8000/`` (required unless
    ``local`` is set; then ``http://127.0.0.1:{local.port}/``)."""
    local: LocalTrytonSettings | None = None
    """Serve ``database`` from this local state folder, starting trytond when it is needed
    and nothing answers (stopped when the process exits)."""
    database: str = Field(min_length=1)
    """The Tryton database."""
    username: str = "admin"
    """The Tryton user the agent's calls run as."""
    password_env: str = "TRYTON_PASSWORD"
    """Name of the environment variable holding the password."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    """How long one request to Tryton may take."""
    untrusted_output: list[str] = []
    """Tools whose results carry text customers wrote (e.g. ``crm.list_opportunities``):
    reading them taints the run."""
    untrusted_fields: dict[str, list[str]] = {}
    """Per tool, only these result fields carry outside content (``crm.list_opportunities:
    [description, comment]``): the amounts and ids beside them stay trusted."""
    base_dir: str | None = None
    """The folder of ``tether.yaml``: ``local.state`` is relative to it."""

    @model_validator(mode="after")
    def _url_or_local(self) -> TrytonSettings:
        if self.url is None and self.local is None:
            raise ValueError("give url (a Tryton server) or local (tether's local Tryton)")
        if self.url is not None and self.local is not None:
            parts = urlsplit(self.url)
            if parts.hostname not in _LOOPBACK or parts.port != self.local.port:
                raise ValueError(
                    f"with local, url must be http://127.0.0.1:{self.local.port}/ "
                    f"(local.port) or be left out, not {self.url!r}"
                )
        return self

    @property
    def server_url(self) -> str:
        """The URL to call: ``url``, or the local Tryton's."""
        if self.url is not None or self.local is None:
            return self.url or ""
        return f"http://127.0.0.1:{self.local.port}/"

    def state_dir(self) -> Path | None:
        """``local.state`` resolved against ``base_dir``, or None without ``local``."""
        if self.local is None:
            return None
        path = Path(self.local.state).expanduser()
        return path if path.is_absolute() else Path(self.base_dir or ".") / path


def _parse(settings: Mapping[str, Any]) -> TrytonSettings:
    try:
        return TrytonSettings.model_validate(dict(settings))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"tryton connector settings: {problems}") from None


def local_service(settings: Mapping[str, Any]) -> OnDemandTryton | None:
    """This process's on-demand local Tryton for the settings' ``local``, or None."""
    return _service(_parse(settings))


def _service(parsed: TrytonSettings) -> OnDemandTryton | None:
    state = parsed.state_dir()
    if state is None or parsed.local is None:
        return None
    return on_demand(state, parsed.local.port)


def _starter(parsed: TrytonSettings) -> Callable[[], None] | None:
    service = _service(parsed)
    if service is None:
        return None
    return functools.partial(service.ensure_running, parsed.database)


def client_from_settings(settings: Mapping[str, Any]) -> TrytonClient:
    """A :class:`TrytonClient` from the connector's settings (reads the password now).

    With ``local``, the client starts the local Tryton when its login finds nothing."""
    parsed = _parse(settings)
    password = os.environ.get(parsed.password_env)
    if password is None:
        raise ConfigurationError(
            f"tryton connector: the environment variable {parsed.password_env} "
            "(settings.password_env) holding the Tryton password is not set"
        )
    return TrytonClient(
        url=parsed.server_url,
        database=parsed.database,
        username=parsed.username,
        password=password,
        timeout_seconds=parsed.timeout_seconds,
        on_unreachable=_starter(parsed),
    )


def toolset(settings: dict[str, Any]) -> Toolset:
    """The Tryton tools for one server and database."""
    tools = TrytonTools(client_from_settings(settings)).tools()
    parsed = TrytonSettings.model_validate(dict(settings))
    untrusted = set(parsed.untrusted_output)
    names = {item.name for item in tools}
    for key, listed in (
        ("untrusted_output", untrusted),
        ("untrusted_fields", parsed.untrusted_fields),
    ):
        unknown = set(listed) - names
        if unknown:
            raise ConfigurationError(
                f"tryton connector settings: {key} names unknown tools {sorted(unknown)}"
            )
    return Toolset(_marked(item, untrusted, parsed.untrusted_fields) for item in tools)


def _marked(item: Tool, untrusted: set[str], fields: dict[str, list[str]]) -> Tool:
    """A tool as the settings mark it: its results carry outside content (and then it
    vouches for nothing), or only these fields of them do."""
    changes: dict[str, Any] = {}
    if item.name in untrusted:
        changes["untrusted_output"] = True
        changes["vouches"] = ()
    if item.name in fields:
        changes["untrusted_fields"] = tuple(fields[item.name])
    return dataclasses.replace(item, **changes) if changes else item


__all__ = [
    "DEFAULT_ADMIN_PASSWORD",
    "TEMPLATES_ENV",
    "LocalTryton",
    "LocalTrytonSettings",
    "OnDemandTryton",
    "SaleLine",
    "TrytonClient",
    "TrytonError",
    "TrytonFault",
    "TrytonLoginFailed",
    "TrytonRecordNotFound",
    "TrytonRecords",
    "TrytonServer",
    "TrytonServerError",
    "TrytonSettings",
    "TrytonTimeout",
    "TrytonTools",
    "TrytonUnreachable",
    "client_from_settings",
    "default_template_dir",
    "local_service",
    "marker",
    "on_demand",
    "toolset",
]
