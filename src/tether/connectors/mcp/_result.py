"""An MCP tool result as tether data: structured content, else text; binary is refused."""

from __future__ import annotations

import json
from typing import Any

from mcp_types import (
    AudioContent,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from tether.errors import ToolCallError


def result_value(tool: str, result: CallToolResult, *, server: str, max_chars: int) -> Any:
    """What the tool returns to the gate, or a :class:`ToolCallError`."""
    if result.is_error:
        message = _texts(tool, result, server=server, for_error=True)
        detail = " ".join(message).strip() or "no details given"
        raise ToolCallError(tool, f"the {server} reported an error: {_cut(detail, 2000)}")
    if result.structured_content is not None:
        value: Any = result.structured_content
    else:
        texts = _texts(tool, result, server=server, for_error=False)
        value = texts[0] if len(texts) == 1 else texts
    size = len(value) if isinstance(value, str) else len(json.dumps(value, default=str))
    if size > max_chars:
        raise ToolCallError(
            tool,
            f"the {server} returned {size} characters, more than the connector's "
            f"max_result_chars ({max_chars}); ask for less (a narrower query, a page)",
        )
    return value


def _texts(tool: str, result: CallToolResult, *, server: str, for_error: bool) -> list[str]:
    texts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            texts.append(block.text)
        elif isinstance(block, EmbeddedResource) and isinstance(
            block.resource, TextResourceContents
        ):
            texts.append(block.resource.text)
        elif isinstance(block, ResourceLink):
            texts.append(f"[resource {block.uri}]")
        elif for_error:
            continue
        else:
            raise ToolCallError(tool, f"the {server} returned {_binary(block)}; {_ONLY_TEXT}")
    return texts


_ONLY_TEXT = "tether passes on text and structured results only"


def _binary(block: Any) -> str:
    if isinstance(block, ImageContent | AudioContent):
        kind = "an image" if isinstance(block, ImageContent) else "audio"
        return f"{kind} ({block.mime_type}, {len(block.data) * 3 // 4} bytes)"
    if isinstance(block, EmbeddedResource):
        mime = block.resource.mime_type or "unknown type"
        return f"a binary resource ({mime})"
    return f"content of type {getattr(block, 'type', type(block).__name__)!r}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"
