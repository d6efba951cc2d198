"""A small MCP server for the MCP connector's tests and docs.

Run over stdio: ``python tests/connectors/mcp_server.py``; over streamable HTTP:
``python tests/connectors/mcp_server.py --http PORT`` (loopback only).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from pydantic import BaseModel


class Filter(BaseModel):
    city: str
    min_age: int = 0


server = MCPServer("tether-test", log_level="WARNING")
NOTES: dict[str, str] = {"welcome": "hello from the MCP server"}


@server.tool()
def read_note(name: str) -> str:
    """Read a note by name."""
    if name not in NOTES:
        raise ToolError(f"no note named {name!r}")
    return NOTES[name]


@server.tool()
def write_note(name: str, text: str, tags: list[str] | None = None) -> dict[str, Any]:
    """Write a note; returns what was stored."""
    NOTES[name] = text
    return {"name": name, "text": text, "tags": tags or []}


@server.tool()
def fail(message: str = "it went wrong") -> str:
    """Always fails with the given message."""
    raise ToolError(message)


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def crash() -> str:
    """Make the server process exit at once, mid-call."""
    os._exit(3)


@server.tool()
def exit_soon() -> int:
    """Answer (with the server's process id), then exit a moment later (between calls)."""
    threading.Timer(0.1, os._exit, args=(0,)).start()
    return os.getpid()


@server.tool()
def big(size: int) -> str:
    """Return a text of ``size`` characters."""
    return "x" * size


@server.tool()
def picture() -> Image:
    """A tiny PNG image (binary content)."""
    return Image(data=b"\x89PNG\r\n\x1a\n" + bytes(16), format="png")


@server.tool()
def headers(ctx: Context) -> dict[str, str]:
    """The HTTP request headers (lower-cased) the call came with; empty over stdio."""
    return {key.lower(): value for key, value in (ctx.headers or {}).items()}


@server.tool()
def idempotency_key(ctx: Context) -> str:
    """The idempotency key tether sent with this call (in the request's _meta)."""
    meta = ctx.request_context.meta or {}
    return str(meta.get("tether/idempotency-key", ""))


@server.tool()
def find(kind: Literal["person", "company"], where: Filter | None = None, limit: int = 10) -> str:
    """Find records (an enum, a nested object and a default, for the schema tests)."""
    return f"{kind} {where.model_dump() if where else {}} {limit}"


@server.tool()
def where() -> str:
    """The server's working folder."""
    return os.getcwd()


@server.tool()
def env(name: str) -> str:
    """The value of one of the server's environment variables."""
    return os.environ.get(name, "")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
