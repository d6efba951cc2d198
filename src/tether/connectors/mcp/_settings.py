"""The MCP connector's settings, as read from ``tether.yaml`` (strict: unknown keys are errors)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.errors import ConfigurationError
from tether.tools import Effect

IDEMPOTENCY_META_KEY = "tether/idempotency-key"
"""The ``_meta`` key of each call that carries tether's idempotency key to the server."""


class MCPSettings(BaseModel):
    """How to reach one MCP server and how to present its tools."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_dir: str = "."
    """The folder of the ``tether.yaml``: a relative ``cwd`` is resolved against it."""
    prefix: str = Field(default="mcp", pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
    """Tools are named ``PREFIX.tool_name``; give each server its own prefix."""

    command: str | None = None
    """stdio: the program that runs the server (e.g. ``npx``, ``uvx``, a Python)."""
    args: list[str] = []
    """stdio: the program's arguments."""
    env: dict[str, str] = {}
    """stdio: environment variables for the server (not secrets: see ``env_from_env``)."""
    env_from_env: dict[str, str] = {}
    """stdio: server variable -> name of the variable in tether's environment holding its value."""
    cwd: str | None = None
    """stdio: the server's working folder, relative to ``base_dir``."""

    url: str | None = None
    """streamable HTTP: the server's endpoint, e.g. ``https://mcp.example.com/mcp``."""
    headers: dict[str, str] = {}
    """streamable HTTP: headers sent as written (not secrets: see ``headers_from_env``)."""
    headers_from_env: dict[str, str] = {}
    """streamable HTTP: header -> name of the environment variable that holds its value."""

    tools: list[str] | None = None
    """Only these of the server's tools (by their MCP names); all when unset."""
    effects: dict[str, Effect] = {}
    """Effect class per MCP tool name; a tool not listed is ``irreversible``."""
    untrusted_output: bool | list[str] = True
    """Whether results carry outside content (taint the run): all tools, none, or these."""
    untrusted_fields: dict[str, list[str]] = {}
    """Per MCP tool name, only these fields of its (structured) result carry outside
    content (``read_channel: [messages.text, topic]``)."""
    vouches: dict[str, list[str]] = {}
    """Per MCP tool name, result fields whose values the server vouches for."""
    recipients: dict[str, list[str]] = {}
    """Per MCP tool name, its address arguments (seen by conditions as ``recipients``)."""
    targets: dict[str, list[str]] = {}
    """Per MCP tool name, the arguments that steer it (all of them when unset)."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    """How long one tool call may take before it fails (and the connection is reset)."""
    connect_timeout_seconds: float = Field(default=30.0, gt=0)
    """How long starting or reaching the server and listing its tools may take."""
    max_result_chars: int = Field(default=1_000_000, gt=0)
    """A larger result fails the call instead of being passed on."""

    @model_validator(mode="after")
    def _one_transport(self) -> MCPSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("set either `command` (stdio) or `url` (streamable HTTP), not both")
        if self.url is None and (self.headers or self.headers_from_env):
            raise ValueError("`headers` and `headers_from_env` are for `url` servers only")
        if self.command is None and (self.args or self.env or self.env_from_env or self.cwd):
            raise ValueError("`args`, `env`, `env_from_env` and `cwd` are for `command` servers")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "streamable HTTP"

    @property
    def server_label(self) -> str:
        """How messages name the server (never with credentials)."""
        if self.command is not None:
            return f"MCP server {self.prefix!r} ({Path(self.command).name})"
        return f"MCP server {self.prefix!r} ({_without_userinfo(self.url or '')})"

    def working_dir(self) -> Path | None:
        if self.cwd is None:
            return None
        path = Path(self.cwd)
        return path if path.is_absolute() else Path(self.base_dir) / path

    def server_env(self) -> dict[str, str]:
        """The stdio server's extra environment, secrets read from tether's environment now."""
        return {**self.env, **_from_env(self.env_from_env, "env_from_env")}

    def http_headers(self) -> dict[str, str]:
        return {**self.headers, **_from_env(self.headers_from_env, "headers_from_env")}

    def effect_of(self, tool_name: str) -> Effect:
        return self.effects.get(tool_name, Effect.IRREVERSIBLE)

    def is_untrusted(self, tool_name: str) -> bool:
        if isinstance(self.untrusted_output, bool):
            return self.untrusted_output
        return tool_name in self.untrusted_output


def _from_env(names: dict[str, str], key: str) -> dict[str, str]:
    values = {}
    for target, variable in names.items():
        value = os.environ.get(variable)
        if value is None:
            raise ConfigurationError(
                f"mcp connector: {key}.{target} names the environment variable "
                f"{variable!r}, which is not set; set it (or the `env:` of tether.yaml)"
            )
        values[target] = value
    return values


def _without_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.rpartition('@')[2]}{slash}{path}"


def parse_settings(settings: dict[str, Any]) -> MCPSettings:
    """Validated settings, or a :class:`ConfigurationError` naming each bad key."""
    try:
        return MCPSettings.model_validate(settings)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{where}: {error['msg']}")
        raise ConfigurationError("mcp connector settings: " + "; ".join(problems)) from None
