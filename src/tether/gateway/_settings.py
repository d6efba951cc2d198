"""The gateway's settings: the ``gateway:`` section of ``tether.yaml`` (strict)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.errors import ConfigurationError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaticTokenSettings(_Strict):
    """A fixed API token for local use: whoever holds it acts as ``user`` through ``agent``."""

    name: str
    """Recorded as the credential (never the token)."""
    user: str
    """The policy's user the calls are made for."""
    agent: str
    """The policy's agent the calls are made by."""
    sha256: str | None = None
    """The SHA-256 (hex) of the token."""
    token_env: str | None = None
    """Or: the environment variable holding the token."""

    @model_validator(mode="after")
    def _one_secret(self) -> StaticTokenSettings:
        if (self.sha256 is None) == (self.token_env is None):
            raise ValueError("give sha256 or token_env (one of them)")
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256):
            raise ValueError("sha256 must be 64 hex digits")
        return self


class IntrospectionSettings(_Strict):
    """Opaque access tokens: ask the authorization server about each (RFC 7662), so a
    revoked token is refused at once. (JWT access tokens are checked locally, against
    the issuer's keys: keep their lifetime short.)"""

    client_id: str
    """The gateway's own client at the authorization server."""
    client_secret_env: str
    """The environment variable holding that client's secret."""


class OAuthSettings(_Strict):
    """The gateway as an OAuth 2.1 resource server: which tokens it accepts, and whom
    they stand for."""

    issuer: str
    """The authorization server (its ``iss``)."""
    audience: str | None = None
    """The ``aud`` a token must carry: by default the gateway's ``url``."""
    jwks_url: str | None = None
    """Where the signing keys are; by default from the issuer's discovery document."""
    algorithms: list[str] = ["RS256", "PS256", "ES256", "EdDSA"]
    """Signature algorithms accepted (never ``none``, never HMAC with a public key)."""
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    """Clock skew tolerated on ``exp`` and ``nbf``."""
    required_scopes: list[str] = []
    """Scopes every token must hold."""
    user_claim: str = "sub"
    """The claim naming the person; ``users`` maps its values to the policy's users."""
    users: dict[str, str] = {}
    """Claim value -> policy user. A value not listed is taken as the user id itself."""
    agent_claim: str | None = None
    """A claim naming the agent (checked against ``agents``, if that is given)."""
    clients: dict[str, str] = {}
    """OAuth client id -> the policy's agent it is registered as."""
    agents: list[str] | None = None
    """The agents a token's claim may name (all of the policy's when unset)."""
    introspection: IntrospectionSettings | None = None

    def audience_for(self, url: str) -> str:
        return self.audience or url


class GatewaySettings(_Strict):
    """``gateway:`` in ``tether.yaml``."""

    url: str = "http://127.0.0.1:8765/mcp"
    """The gateway's public URL (its MCP endpoint): the resource clients get tokens for."""
    console_url: str | None = None
    """The console where approvers decide (links in pending answers)."""
    oauth: OAuthSettings | None = None
    tokens: list[StaticTokenSettings] = []
    recheck_seconds: float = Field(default=30.0, ge=0)
    """How often upstream MCP servers' tool definitions are listed again to catch a
    changed one (0: before every call)."""
    repeat_window_seconds: float = Field(default=600.0, ge=0)
    """A consequential call with no idempotency key that is identical to one settled
    less than this long ago (in the same session) is taken as its retry and answered
    as it was; made later, it is a new call."""
    max_request_bytes: int = Field(default=1_000_000, gt=0)
    """A larger HTTP request body is refused (413)."""
    allowed_hosts: list[str] = []
    """Host headers accepted besides the ``url``'s host (DNS rebinding protection)."""

    @property
    def path(self) -> str:
        from urllib.parse import urlparse

        return urlparse(self.url).path or "/mcp"


def parse_gateway_settings(data: dict[str, Any] | None) -> GatewaySettings:
    """The settings, or :class:`~tether.errors.ConfigurationError` naming what is wrong."""
    try:
        return GatewaySettings.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'gateway'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(f"gateway settings are invalid: {problems}") from None
