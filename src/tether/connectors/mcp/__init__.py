"""Connector: the tools of any MCP server (stdio or streamable HTTP), governed by the gate.

```yaml
connectors:
  - type: mcp
    settings:
      prefix: notes
      command: uvx
      args: [some-mcp-server]
      effects: {read_note: read, write_note: write}
```

Each MCP tool becomes ``PREFIX.tool_name`` with an arguments model built from its
input schema (unknown arguments refused). A tool's effect class is what the
settings' ``effects`` say, else ``irreversible``: the most cautious, so by default
a person approves every call unless the policy says otherwise (a grant's
``effect:`` can raise it, never lower it). Results count as untrusted content
unless ``untrusted_output`` says otherwise. Failures (an error result, a server
that dies, a timeout, a binary or oversized result) raise ``ToolCallError``, so
the gate records a failed call. Needs ``tether[mcp]``; see docs/connectors/mcp.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tether.connectors.mcp._settings import IDEMPOTENCY_META_KEY, MCPSettings, parse_settings
from tether.errors import ConfigurationError

if TYPE_CHECKING:
    from tether.connectors.mcp._toolset import MCPToolset


def toolset(settings: dict[str, Any]) -> MCPToolset:
    """Connect to the MCP server, list its tools and return them as tether tools.

    Raises :class:`~tether.errors.ConfigurationError` when the settings are wrong,
    the ``mcp`` package is missing, or the server cannot be reached or listed.
    """
    parsed = parse_settings(settings)
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "the mcp connector needs the `mcp` package: install tether[mcp]"
        ) from None
    from tether.connectors.mcp._toolset import build

    return build(parsed)


def __getattr__(name: str) -> Any:
    if name == "MCPToolset":
        from tether.connectors.mcp._toolset import MCPToolset

        return MCPToolset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["IDEMPOTENCY_META_KEY", "MCPSettings", "MCPToolset", "toolset"]
