"""tether as an MCP gateway: any MCP client, the same gate as tether's own runs.

``tether gateway serve`` is an MCP server (the official SDK; Streamable HTTP or stdio)
in front of the catalogue ``tether.yaml`` configures: upstream MCP servers and
tether's own connectors. Each client is authenticated (OAuth 2.1 access tokens, or
static API tokens for local use) and mapped to a principal and an agent; it is
offered only the tools they are granted, and every call passes the gate, approvals,
the effect ledger and the audit trail in a run bound to the token's subject. A call
held for approval can be an MCP task (``input_required`` until it is decided).
See docs/gateway.md.
"""

from tether.gateway._build import Assembled, assemble
from tether.gateway._catalogue import Catalogue
from tether.gateway._gateway import IDEMPOTENCY_KEY, WHY_KEY, Gateway, Pending
from tether.gateway._identity import Caller, Identities, TokenRefused, local_caller
from tether.gateway._pins import Pin, Pins, definition_hash
from tether.gateway._server import http_app, mcp_server, serve_http, serve_stdio
from tether.gateway._sessions import Sessions
from tether.gateway._settings import (
    GatewaySettings,
    IntrospectionSettings,
    OAuthSettings,
    StaticTokenSettings,
    parse_gateway_settings,
)
from tether.gateway._tasks import Tasks

__all__ = [
    "IDEMPOTENCY_KEY",
    "WHY_KEY",
    "Assembled",
    "Caller",
    "Catalogue",
    "Gateway",
    "GatewaySettings",
    "Identities",
    "IntrospectionSettings",
    "OAuthSettings",
    "Pending",
    "Pin",
    "Pins",
    "Sessions",
    "StaticTokenSettings",
    "Tasks",
    "TokenRefused",
    "assemble",
    "definition_hash",
    "http_app",
    "local_caller",
    "mcp_server",
    "parse_gateway_settings",
    "serve_http",
    "serve_stdio",
]
