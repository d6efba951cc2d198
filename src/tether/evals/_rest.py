"""REST services as a scenario's system: canned answers from a local server.

Each runner process starts one HTTP server on 127.0.0.1 (a free port) when a scenario
first needs it; every ``openapi`` connector the scenario gives fixtures for is pointed
at ``http://127.0.0.1:PORT/SERVICE``. Before each trial the server forgets what it
received and takes the trial's fixtures, so no trial sees another's requests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tether.evals._matchers import describe, matches, tool_matches
from tether.evals._scenario import RestFixture, RestQuery

MAX_BODY_BYTES = 1_000_000


def connector_services(connectors: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """The service name of each connector (its prefix; the document's name by default),
    ``""`` for a connector that is not ``openapi``."""
    from tether.connectors.openapi import tool_prefix

    names = []
    for kind, settings in connectors:
        if kind != "openapi":
            names.append("")
            continue
        prefix = settings.get("prefix")
        document = str(settings.get("document", "api"))
        names.append(tool_prefix(str(prefix) if prefix else None, document))
    return names


@dataclass(frozen=True, kw_only=True)
class RestRequest:
    """A request a fixture server received."""

    service: str
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    """The JSON body, a form as a mapping, text, or None when empty."""


@dataclass
class _State:
    fixtures: dict[str, list[RestFixture]] = field(default_factory=dict)
    received: list[RestRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class RestServer:
    """An HTTP server answering every service's fixtures under ``/SERVICE``."""

    def __init__(self) -> None:
        self.state = _State()
        handler = type("_Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="tether-eval-rest", daemon=True
        )
        self.thread.start()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port}/{service}"

    def reset(self, fixtures: Mapping[str, list[RestFixture]]) -> None:
        """Forget what was received; answer these fixtures from now on."""
        with self.state.lock:
            self.state.fixtures = {name: list(items) for name, items in fixtures.items()}
            self.state.received = []

    def received(self) -> list[RestRequest]:
        with self.state.lock:
            return list(self.state.received)

    def count(self, query: RestQuery) -> int:
        return sum(1 for request in self.received() if request_matches(query, request))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def request_matches(query: RestQuery, request: RestRequest) -> bool:
    if request.service != query.service:
        return False
    if query.method is not None and request.method != query.method:
        return False
    if query.path is not None and not tool_matches(query.path, request.path):
        return False
    if not query.body:
        return True
    body = request.body if isinstance(request.body, dict) else {}
    return all(
        matches(matcher, body[name]) if name in body else matches(matcher)
        for name, matcher in query.body.items()
    )


def describe_rest(query: RestQuery) -> str:
    shown = f"{query.method or '*'} {query.path or '*'}"
    if query.body:
        fields = ", ".join(f"{name}={describe(m)}" for name, m in query.body.items())
        shown += f" with {{{fields}}}"
    return shown


def _fixture_for(fixtures: list[RestFixture], method: str, path: str) -> RestFixture | None:
    for fixture in fixtures:
        if fixture.method == method and tool_matches(fixture.path, path):
            return fixture
    return None


class _Handler(BaseHTTPRequestHandler):
    state: _State
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        service, _, rest = parts.path.lstrip("/").partition("/")
        path = "/" + unquote(rest)
        method = self.command.upper()
        body = self._body()
        with self.state.lock:
            known = service in self.state.fixtures
            if known:
                self.state.received.append(
                    RestRequest(
                        service=service,
                        method=method,
                        path=path,
                        query=parse_qs(parts.query),
                        body=body,
                    )
                )
            fixture = _fixture_for(self.state.fixtures.get(service, []), method, path)
        if fixture is None:
            what = f"{method} {path}" if known else f"service {service!r}"
            self._send(404, {"Content-Type": "application/json"}, _error(what))
            return
        headers = dict(fixture.headers)
        payload = b""
        if fixture.json_ is not None:
            payload = json.dumps(fixture.json_).encode()
            headers.setdefault("Content-Type", "application/json")
        elif fixture.text is not None:
            payload = fixture.text.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        self._send(fixture.status, headers, b"" if fixture.status in (204, 304) else payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0:
            return None
        data = self.rfile.read(min(length, MAX_BODY_BYTES))
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        text = data.decode("utf-8", errors="replace")
        if kind == "application/json" or kind.endswith("+json"):
            try:
                return json.loads(text)
            except ValueError:
                return text
        if kind == "application/x-www-form-urlencoded":
            form = parse_qs(text)
            return {key: values[0] if len(values) == 1 else values for key, values in form.items()}
        return text

    def _send(self, status: int, headers: Mapping[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def log_message(self, *args: object) -> None:
        pass


def _error(what: str) -> bytes:
    return json.dumps({"error": f"no fixture for {what}"}).encode()
