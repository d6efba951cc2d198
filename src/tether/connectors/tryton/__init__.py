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
company: :class:`LocalTryton` (``tether tryton serve``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.connectors.tryton._client import (
    TrytonClient,
    TrytonError,
    TrytonFault,
    TrytonLoginFailed,
    TrytonRecordNotFound,
    TrytonTimeout,
    TrytonUnreachable,
)
from tether.connectors.tryton._server import LocalTryton, TrytonServer, TrytonServerError
from tether.connectors.tryton._tools import SaleLine, TrytonTools, marker
from tether.errors import ConfigurationError
from tether.tools import Tool, Toolset


class TrytonSettings(BaseModel):
    """The connector's settings, as written in ``tether.yaml``."""

    model_config = ConfigDict(extra="forbid")

    url: str
    """Base URL of the Tryton server, e.g. ``http://127.0.0.1:8000/``."""
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
    base_dir: str | None = None
    """The folder of ``tether.yaml`` (unused; every connector is given it)."""


def client_from_settings(settings: Mapping[str, Any]) -> TrytonClient:
    """A :class:`TrytonClient` from the connector's settings (reads the password now)."""
    try:
        parsed = TrytonSettings.model_validate(dict(settings))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"tryton connector settings: {problems}") from None
    password = os.environ.get(parsed.password_env)
    if password is None:
        raise ConfigurationError(
            f"tryton connector: the environment variable {parsed.password_env} "
            "(settings.password_env) holding the Tryton password is not set"
        )
    return TrytonClient(
        url=parsed.url,
        database=parsed.database,
        username=parsed.username,
        password=password,
        timeout_seconds=parsed.timeout_seconds,
    )


def toolset(settings: dict[str, Any]) -> Toolset:
    """The Tryton tools for one server and database."""
    tools = TrytonTools(client_from_settings(settings)).tools()
    untrusted = set(TrytonSettings.model_validate(dict(settings)).untrusted_output)
    unknown = untrusted - {item.name for item in tools}
    if unknown:
        raise ConfigurationError(
            f"tryton connector settings: untrusted_output names unknown tools {sorted(unknown)}"
        )
    return Toolset(_marked(item, untrusted) for item in tools)


def _marked(item: Tool, untrusted: set[str]) -> Tool:
    changes: dict[str, Any] = {}
    if item.name in untrusted:
        changes["untrusted_output"] = True
    if item.name in ("crm.read_party", "crm.find_parties"):
        changes["contacts"] = _emails  # a customer's address on record may be written to
    return dataclasses.replace(item, **changes) if changes else item


def _emails(result: Any) -> list[str]:
    rows = result if isinstance(result, list) else [result]
    return [row["email"] for row in rows if isinstance(row, dict) and row.get("email")]


__all__ = [
    "LocalTryton",
    "SaleLine",
    "TrytonClient",
    "TrytonError",
    "TrytonFault",
    "TrytonLoginFailed",
    "TrytonRecordNotFound",
    "TrytonServer",
    "TrytonServerError",
    "TrytonSettings",
    "TrytonTimeout",
    "TrytonTools",
    "TrytonUnreachable",
    "client_from_settings",
    "marker",
    "toolset",
]
