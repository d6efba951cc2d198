"""``toolset(settings)``: read the document, check it, make one tool per operation."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import ValidationError

from tether.connectors.openapi._document import Document, read_document
from tether.connectors.openapi._errors import OpenAPIDocumentError
from tether.connectors.openapi._http import Credentials, Endpoint
from tether.connectors.openapi._operations import Operation, getter_for, operations
from tether.connectors.openapi._settings import OpenAPISettings
from tether.connectors.openapi._tools import ToolOptions, build_tool
from tether.errors import ConfigurationError
from tether.tools import Effect, Toolset


def toolset(settings: Mapping[str, Any]) -> Toolset:
    """The tools of one OpenAPI document: one per operation. See ``docs/connectors/openapi.md``."""
    config = _settings(settings)
    path = config.base_dir / config.document
    document = read_document(path)
    credentials = Credentials.from_settings(config)
    endpoint = Endpoint(
        base_url=_base_url(document, config),
        credentials=credentials,
        timeout_seconds=config.timeout_seconds,
        max_response_bytes=config.max_response_bytes,
        headers=dict(config.headers),
    )
    options = ToolOptions(
        prefix=tool_prefix(config.prefix, str(config.document)),
        endpoint=endpoint,
        idempotency_header=config.idempotency_header,
        reserved_headers=credentials.header_names(),
        reserved_query=frozenset(credentials.query),
        untrusted_output=config.untrusted_output,
    )
    found = operations(document)
    chosen = _chosen(document, found, config)
    tools = Toolset()
    names: dict[str, str] = {}
    for operation in chosen:
        effect = config.effects.get(operation.name, operation.effect)
        if operation.operation_id:
            effect = config.effects.get(operation.operation_id, effect)
        if operation.name in names:
            document.fail(
                operation.pointer,
                f"two operations would both be tool {options.prefix}.{operation.name} "
                f"(the other is at {names[operation.name]}): give them distinct operationIds",
            )
        names[operation.name] = operation.pointer
        url = _operation_url(operation, endpoint.base_url, config)
        here = options
        if url != endpoint.base_url:
            here = dataclasses.replace(options, endpoint=_elsewhere(endpoint, url))
        if effect is Effect.READ and not _internal(url, config.internal_hosts):
            effect = Effect.EGRESS
        try:
            getter = getter_for(operation, found) if config.read_back else None
            tool = build_tool(document, operation, here, effect, getter=getter)
            fields = config.untrusted_fields.get(operation.name) or config.untrusted_fields.get(
                operation.operation_id or ""
            )
            if fields:
                tool = dataclasses.replace(tool, untrusted_fields=tuple(fields))
            tools.add(tool)
        except OpenAPIDocumentError:
            raise
        except Exception as exc:  # Pydantic refusing a generated model: still a document problem
            document.fail(operation.pointer, f"cannot make a tool of this operation: {exc}")
    return tools


def _internal(url: str, hosts: list[str] | None) -> bool:
    """Whether a request to ``url`` stays inside the company (always, with no list)."""
    if hosts is None:
        return True
    host = (urlsplit(url).hostname or "").lower()
    for entry in hosts:
        allowed = entry.lower().removeprefix("*.")
        if host == allowed or (entry.startswith("*.") and host.endswith(f".{allowed}")):
            return True
    return False


def _settings(settings: Mapping[str, Any]) -> OpenAPISettings:
    try:
        return OpenAPISettings.model_validate(dict(settings))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(
            f"openapi connector settings are invalid: {problems} "
            "(secrets are given by environment variable name: token_env, password_env, value_env)"
        ) from None


def _base_url(document: Document, config: OpenAPISettings) -> str:
    if config.base_url:
        return config.base_url.rstrip("/")
    url = _server_url(document.data.get("servers"))
    if url is None:
        raise ConfigurationError(
            f"openapi connector: {document.file} lists no servers: set settings.base_url"
        )
    if not re.match(r"https?://", url) or "{" in url:
        raise ConfigurationError(
            f"openapi connector: the first server of {document.file} is {url!r}, not an "
            "absolute http(s) URL: set settings.base_url"
        )
    return url.rstrip("/")


def _operation_url(operation: Operation, base_url: str, config: OpenAPISettings) -> str:
    """An operation's own ``servers`` (resolved against the document's), unless settings say."""
    url = None if config.base_url else _server_url(operation.servers)
    if url is None or "{" in url:
        return base_url
    return urljoin(f"{base_url}/", url).rstrip("/")


def _elsewhere(endpoint: Endpoint, url: str) -> Endpoint:
    """The endpoint for another server; credentials go only to the document's own origin."""
    if _origin(url) == _origin(endpoint.base_url):
        return dataclasses.replace(endpoint, base_url=url)
    return dataclasses.replace(endpoint, base_url=url, credentials=Credentials())


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _server_url(servers: Any) -> str | None:
    """The first server's URL, its variables set to their defaults."""
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], Mapping):
        return None
    server = servers[0]
    url = str(server.get("url", ""))
    variables = server.get("variables")
    for name, variable in (variables if isinstance(variables, Mapping) else {}).items():
        if isinstance(variable, Mapping) and "default" in variable:
            url = url.replace(f"{{{name}}}", str(variable["default"]))
    return url


def _chosen(document: Document, found: list[Operation], config: OpenAPISettings) -> list[Operation]:
    known = {key for op in found for key in (op.name, op.operation_id) if key}
    for listed in [*(config.operations or []), *config.exclude]:
        if listed not in known:
            raise ConfigurationError(
                f"openapi connector: settings name operation {listed!r}, which {document.file} "
                f"does not have; it has {', '.join(sorted(known))}"
            )
    for key in config.effects:
        if key not in known:
            raise ConfigurationError(
                f"openapi connector: settings.effects names operation {key!r}, which "
                f"{document.file} does not have"
            )

    def keys(op: Operation) -> set[str]:
        return {key for key in (op.name, op.operation_id) if key}

    return [
        op
        for op in found
        if (config.operations is None or keys(op) & set(config.operations))
        and not keys(op) & set(config.exclude)
    ]


def tool_prefix(prefix: str | None, document: str) -> str:
    """The prefix of the connector's tool names: ``prefix``, else the document's name."""
    return prefix or _slug(Path(document).stem)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "api"
