"""Sending one operation's request over HTTP, with the connector's credentials."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tether.connectors.openapi._settings import (
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    OpenAPISettings,
    QueryAuth,
    environment,
)
from tether.errors import ToolCallError
from tether.redaction import Redactor

_TEXT_TYPES = ("text/", "application/xml", "application/x-www-form-urlencoded")


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """What the connector adds to every request; never part of a tool's arguments."""

    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    """Every secret value (and its encodings), to scrub from errors and results."""

    @classmethod
    def from_settings(cls, settings: OpenAPISettings) -> Credentials:
        auth = settings.auth
        if auth is None:
            return cls()
        if isinstance(auth, BearerAuth):
            token = environment(auth.token_env, "token_env")
            return cls(headers={"Authorization": f"Bearer {token}"}, secrets=(token,))
        if isinstance(auth, BasicAuth):
            user = auth.username or ""
            if auth.username_env:
                user = environment(auth.username_env, "username_env")
            password = environment(auth.password_env, "password_env")
            encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
            return cls(headers={"Authorization": f"Basic {encoded}"}, secrets=(password, encoded))
        if isinstance(auth, HeaderAuth):
            value = environment(auth.value_env, "value_env")
            return cls(headers={auth.name: f"{auth.prefix}{value}"}, secrets=(value,))
        if isinstance(auth, QueryAuth):
            value = environment(auth.value_env, "value_env")
            return cls(query={auth.name: value}, secrets=(value,))
        raise AssertionError(auth)  # pragma: no cover - the union is exhaustive

    def header_names(self) -> frozenset[str]:
        return frozenset(name.lower() for name in self.headers)


@dataclass(frozen=True, kw_only=True)
class Request:
    """One operation's request, built from validated arguments."""

    method: str
    path: str
    """The path with its parameters filled in."""
    query: list[tuple[str, str]]
    headers: dict[str, str]
    json_body: Any = None
    form_body: Mapping[str, Any] | None = None
    quote_errors: bool = True
    """Show the model the start of an error response (not when responses are untrusted)."""


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where and how the connector sends requests."""

    base_url: str
    credentials: Credentials
    timeout_seconds: float
    max_response_bytes: int
    headers: Mapping[str, str]

    @property
    def redactor(self) -> Redactor:
        return Redactor(secret_values=self.credentials.secrets)

    async def send(self, tool: str, request: Request) -> Any:
        """The response as data (JSON) or text; a ToolCallError, scrubbed of secrets, if not."""
        try:
            return await self._send(tool, request)
        except ToolCallError as exc:
            raise ToolCallError(tool, self.redactor.redact_text(exc.message)) from None
        except httpx.TimeoutException:
            message = f"{self.base_url} did not answer within {self.timeout_seconds:g}s"
        except httpx.TransportError as exc:
            message = f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            message = f"the request to {self.base_url} failed: {type(exc).__name__}: {exc}"
        raise ToolCallError(tool, self.redactor.redact_text(message)) from None

    async def _send(self, tool: str, request: Request) -> Any:
        headers = {**self.headers, **request.headers, **self.credentials.headers}
        query: list[tuple[str, str | int | float | bool | None]] = [
            *request.query,
            *self.credentials.query.items(),
        ]
        async with (
            httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout_seconds, follow_redirects=False
            ) as client,
            client.stream(
                request.method.upper(),
                request.path,
                params=query,
                headers=headers,
                content=None if request.json_body is None else _json(request.json_body),
                data=request.form_body,
            ) as response,
        ):
            body = await self._read(tool, response)
        return self._result(tool, request, response, body)

    async def _read(self, tool: str, response: httpx.Response) -> bytes:
        limit = self.max_response_bytes
        declared = response.headers.get("content-length", "")
        has_body = response.request.method != "HEAD"
        if has_body and declared.isdigit() and int(declared) > limit:
            raise ToolCallError(tool, _too_big(int(declared), limit))
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ToolCallError(tool, _too_big(None, limit))
            chunks.append(chunk)
        return b"".join(chunks)

    def _result(self, tool: str, request: Request, response: httpx.Response, body: bytes) -> Any:
        status = f"{response.status_code} {response.reason_phrase}".strip()
        raw_type = response.headers.get("content-type", "")
        content_type = raw_type.split(";", maxsplit=1)[0].strip().lower()
        text = _text(body, content_type, response.charset_encoding or "utf-8")
        if response.status_code >= 400:
            detail = f": {text[:500]}" if text and request.quote_errors else ""
            raise ToolCallError(
                tool, f"{request.method.upper()} {request.path} answered {status}{detail}"
            )
        if response.status_code >= 300:
            where = response.headers.get("location", "elsewhere")
            raise ToolCallError(tool, f"the server redirected ({status}) to {where}; not followed")
        if text is None:
            raise ToolCallError(
                tool,
                f"the server answered with {len(body)} bytes of binary data "
                f"({content_type or 'no content type'}); this tool only returns text or JSON",
            )
        if not body:
            return status
        if content_type == "application/json" or content_type.endswith("+json"):
            try:
                data = json.loads(text)
            except ValueError:
                return self.redactor.redact_text(text)
            return self.redactor.redact(data).value
        return self.redactor.redact_text(text)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _text(body: bytes, content_type: str, charset: str) -> str | None:
    """The body as text, or None when it is binary."""
    textual = (
        content_type.startswith(_TEXT_TYPES)
        or content_type.endswith(("json", "+xml"))
        or not content_type
    )
    if not textual:
        return None
    try:
        return body.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return None


def _too_big(size: int | None, limit: int) -> str:
    told = f" of {size} bytes" if size is not None else ""
    return (
        f"the server sent a response{told} larger than the {limit}-byte limit "
        "(settings.max_response_bytes); ask for less (filters, paging)"
    )
