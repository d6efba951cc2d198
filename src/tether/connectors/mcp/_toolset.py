"""The MCP server's tools as tether tools."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from mcp_types import Tool as MCPTool

from tether.connectors.mcp._result import result_value
from tether.connectors.mcp._schema import ArgumentsModel, arguments_model
from tether.connectors.mcp._session import Connection, MCPConnectError
from tether.connectors.mcp._settings import IDEMPOTENCY_META_KEY, MCPSettings
from tether.errors import ConfigurationError
from tether.tools import Tool, Toolset

_CONTEXT = "_tether_call"  # never an argument's field name: those do not start with "_"


class MCPToolset(Toolset):
    """The tools of one MCP server. ``close()`` (or ``with``) ends the connection.

    The connection also closes when the last of its tools is garbage-collected, and
    at interpreter exit.
    """

    def __init__(self, tools: list[Tool], connection: Connection) -> None:
        super().__init__(tools)
        self._connection = connection

    def close(self) -> None:
        """End the connection (a stdio server is stopped); calls then fail. Idempotent."""
        self._connection.close()

    def __enter__(self) -> MCPToolset:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def build(settings: MCPSettings) -> MCPToolset:
    connection = Connection(settings)
    try:
        listed = connection.list_tools()
        tools = _tools(settings, connection, listed)
    except MCPConnectError as exc:
        connection.close()
        raise ConfigurationError(
            f"mcp connector: cannot list the tools of the {settings.server_label}: {exc}"
        ) from None
    except BaseException:
        connection.close()
        raise
    return MCPToolset(tools, connection)


def _tools(settings: MCPSettings, connection: Connection, listed: list[MCPTool]) -> list[Tool]:
    offered = {item.name: item for item in listed}
    declared = (
        ("effects", list(settings.effects)),
        ("tools", settings.tools or []),
        ("untrusted_fields", list(settings.untrusted_fields)),
        ("vouches", list(settings.vouches)),
        ("recipients", list(settings.recipients)),
        ("targets", list(settings.targets)),
    )
    for key, names in declared:
        unknown = sorted(set(names) - set(offered))
        if unknown:
            raise ConfigurationError(
                f"mcp connector: {key} names {', '.join(map(repr, unknown))}, which the "
                f"{settings.server_label} does not offer; it offers: {', '.join(sorted(offered))}"
            )
    if isinstance(settings.untrusted_output, list):
        unknown = sorted(set(settings.untrusted_output) - set(offered))
        if unknown:
            raise ConfigurationError(
                f"mcp connector: untrusted_output names {', '.join(map(repr, unknown))}, which the "
                f"{settings.server_label} does not offer"
            )
    chosen = settings.tools if settings.tools is not None else list(offered)
    return [_tool(settings, connection, offered[name]) for name in chosen]


def _tool(settings: MCPSettings, connection: Connection, listed: MCPTool) -> Tool:
    name = f"{settings.prefix}.{listed.name}"
    arguments = arguments_model(_model_name(name), listed.input_schema)
    return Tool(
        name=name,
        function=_caller(settings, connection, name, listed.name, arguments),
        description=listed.description or listed.title or f"The MCP tool {listed.name}.",
        effect=settings.effect_of(listed.name),
        # Unclassified tools are irreversible until the policy says what they are.
        effect_from_policy=listed.name not in settings.effects,
        args_model=arguments.model,
        untrusted_output=settings.is_untrusted(listed.name),
        untrusted_fields=tuple(settings.untrusted_fields.get(listed.name, ())),
        vouches=tuple(settings.vouches.get(listed.name, ())),
        recipients=tuple(settings.recipients.get(listed.name, ())),
        targets=tuple(settings.targets[listed.name]) if listed.name in settings.targets else None,
        context_param=_CONTEXT,
    )


def _caller(
    settings: MCPSettings,
    connection: Connection,
    name: str,
    mcp_name: str,
    arguments: ArgumentsModel,
) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def call_mcp_tool(**values: Any) -> Any:
        context = values.pop(_CONTEXT, None)
        meta = {IDEMPOTENCY_META_KEY: context.idempotency_key} if context else None
        result = await connection.call(name, mcp_name, arguments.to_wire(values), meta=meta)
        return result_value(
            name, result, server=settings.server_label, max_chars=settings.max_result_chars
        )

    call_mcp_tool.__name__ = call_mcp_tool.__qualname__ = _model_name(name)
    return call_mcp_tool


def _model_name(name: str) -> str:
    return re.sub(r"\W", "_", name) + "_args"
