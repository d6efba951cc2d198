"""The connector's settings, as ``tether.yaml`` gives them. Secrets are named, never given."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tether.errors import ConfigurationError
from tether.tools import Effect

_STRICT = ConfigDict(extra="forbid", frozen=True)


class BearerAuth(BaseModel):
    """``Authorization: Bearer <token>``."""

    model_config = _STRICT
    type: Literal["bearer"]
    token_env: str
    """The environment variable holding the token."""


class BasicAuth(BaseModel):
    """HTTP basic authentication."""

    model_config = _STRICT
    type: Literal["basic"]
    username: str | None = None
    """The user name, when it is not secret."""
    username_env: str | None = None
    """Or the environment variable holding it."""
    password_env: str
    """The environment variable holding the password."""


class HeaderAuth(BaseModel):
    """An API key in a header (``X-API-Key: <key>``)."""

    model_config = _STRICT
    type: Literal["header"]
    name: str
    """The header's name."""
    value_env: str
    """The environment variable holding its value."""
    prefix: str = ""
    """Put before the value (``Token ``)."""


class QueryAuth(BaseModel):
    """An API key in the query string (``?api_key=<key>``)."""

    model_config = _STRICT
    type: Literal["query"]
    name: str
    """The query parameter's name."""
    value_env: str
    """The environment variable holding its value."""


Auth = Annotated[BearerAuth | BasicAuth | HeaderAuth | QueryAuth, Field(discriminator="type")]


class OpenAPISettings(BaseModel):
    """``connectors: [{type: openapi, settings: {...}}]`` in ``tether.yaml``."""

    model_config = _STRICT
    base_dir: Path = Path()
    """The folder relative paths are read from (tether sets it)."""
    document: str
    """The OpenAPI 3.0/3.1 document, JSON or YAML; relative to ``base_dir``."""
    prefix: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    """Tools are named ``PREFIX.operationId``; by default the document's file name."""
    base_url: str | None = None
    """Where requests go; by default the document's first server."""
    auth: Auth | None = None
    """How to authenticate; every secret is read from an environment variable."""
    timeout_seconds: float = Field(30.0, gt=0)
    """Give up on a request after this long."""
    max_response_bytes: int = Field(1_000_000, gt=0)
    """Refuse larger responses."""
    idempotency_header: str | None = "Idempotency-Key"
    """Header sent with each non-read request carrying the call's idempotency key; null: none."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Fixed, non-secret headers sent with every request (``User-Agent``…)."""
    operations: list[str] | None = None
    """Only these operations (operationIds or generated names); by default all."""
    exclude: list[str] = Field(default_factory=list)
    """Leave these operations out."""
    effects: dict[str, Effect] = Field(default_factory=dict)
    """Effect class per operation, over the document's (``{deleteParty: irreversible}``)."""
    untrusted_output: bool = False
    """Responses carry outside content (free text customers wrote): reading one taints the run."""
    untrusted_fields: dict[str, list[str]] = Field(default_factory=dict)
    """Per operation, only these response fields carry outside content."""
    internal_hosts: list[str] | None = None
    """Hosts inside the company (``api.acme.example``, ``*.acme.example``). When set, a
    read operation on any other host sends its arguments outside: its effect is
    ``egress``, judged like a consequential call once the run has read untrusted content."""
    read_back: bool = True
    """After a change, GET the resource again (the GET on the same path, or for a POST on
    the path plus ``/{id}``) and record what the API shows beside its answer."""


def environment(variable: str, setting: str) -> str:
    """The value of an environment variable a setting names, or a ConfigurationError."""
    value = os.environ.get(variable)
    if not value:
        raise ConfigurationError(
            f"openapi connector: settings.auth.{setting} names the environment variable "
            f"{variable}, which is not set; set it to the credential"
        )
    return value
