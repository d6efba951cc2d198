"""The MCP server's tools as tether tools."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from mcp_types import Tool as MCPTool

from tether.connectors.mcp._result import result_value
from tether.connectors.mcp._schema import ArgumentsModel, arguments_model
from tether.connectors.mcp._session import Connection, MCPConnectError
from tether.connectors.mcp._settings import IDEMPOTENCY_META_KEY, MCPSettings
from tether.errors import ConfigurationError, ToolCallError
from tether.tools import Tool, Toolset

_CONTEXT = "_tether_call"  # never an argument's field name: those do not start with "_"


class MCPToolset(Toolset):
    """The tools of one MCP server. ``close()`` (or ``with``) ends the connection.

    The connection also closes when the last of its tools is garbage-collected, and
    at interpreter exit.
    """

    def __init__(
        self,
        tools: list[Tool],
        connection: Connection,
        listed: Mapping[str, MCPTool] | None = None,
    ) -> None:
        super().__init__(tools)
        self._connection = connection
        self._prefix = connection.settings.prefix
        self._listed = {name: definition_of(item) for name, item in (listed or {}).items()}

    def definitions(self) -> dict[str, dict[str, Any]]:
        """Each tool's definition as the server listed it when connecting (by tether name):
        ``name``, ``title``, ``description``, ``inputSchema``, ``outputSchema``, ``annotations``."""
        return {name: dict(value) for name, value in self._listed.items()}

    def current_definitions(self) -> dict[str, dict[str, Any]]:
        """The same, as the server lists its tools now (a tool it dropped is absent);
        :class:`~tether.errors.ToolCallError` when the server cannot be listed."""
        try:
            listed = self._connection.list_tools()
        except MCPConnectError as exc:
            raise ToolCallError(self._prefix, f"cannot list its tools: {exc}") from None
        ours = set(self.names())
        found = {f"{self._prefix}.{item.name}": item for item in listed}
        return {name: definition_of(item) for name, item in found.items() if name in ours}

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
    listed_by_name = {f"{settings.prefix}.{item.name}": item for item in listed}
    return MCPToolset(tools, connection, {t.name: listed_by_name[t.name] for t in tools})


def definition_of(listed: MCPTool) -> dict[str, Any]:
    """What a client is told about an MCP tool (its ``_meta`` and icons aside)."""
    wire = listed.model_dump(by_alias=True, mode="json", exclude_none=True)
    keys = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
    return {key: wire[key] for key in keys if key in wire}


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
