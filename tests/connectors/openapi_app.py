"""A small CRM over HTTP (stdlib only) and the OpenAPI document that describes it.

``CrmServer`` runs on a free loopback port in a background thread and keeps every
request it received, so tests can see exactly what the connector sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PARTY = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "description": "The party's name."},
        "email": {"type": "string", "format": "email"},
        "kind": {"type": "string", "enum": ["person", "company"], "default": "company"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {"$ref": "#/components/schemas/Address"},
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Small CRM", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:9/api"}],
    "paths": {
        "/parties": {
            "get": {
                "operationId": "listParties",
                "summary": "List parties.",
                "description": "Filter by name; at most `limit` results.",
                "x-tether-resource": "party",
                "parameters": [
                    {"name": "name", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
                    {"name": "api_key", "in": "query", "schema": {"type": "string"}},
                ],
            },
            "post": {
                "operationId": "createParty",
                "summary": "Create a party.",
                "x-tether-resource": "party",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": PARTY}},
                },
            },
        },
        "/parties/{party_id}": {
            "parameters": [{"$ref": "#/components/parameters/PartyId"}],
            "get": {"operationId": "getParty", "summary": "Read one party."},
            "delete": {
                "operationId": "deleteParty",
                "summary": "Delete a party for good.",
                "x-tether-effect": "irreversible",
            },
        },
        "/parties/{party_id}/notify": {
            "post": {
                "summary": "Email the party.",
                "x-tether-effect": "communicate",
                "parameters": [{"$ref": "#/components/parameters/PartyId"}],
                "requestBody": {
                    "content": {"application/json": {"schema": {"type": "string"}}},
                },
            },
        },
        "/echo": {"get": {"operationId": "echo", "summary": "What the server received."}},
        "/health": {"head": {"operationId": "health"}},
        "/boom": {"get": {"operationId": "boom"}},
        "/slow": {"get": {"operationId": "slow"}},
        "/logo": {"get": {"operationId": "logo"}},
        "/big": {"get": {"operationId": "big"}},
        "/motd": {"get": {"operationId": "motd"}},
    },
    "components": {
        "parameters": {
            "PartyId": {
                "name": "party_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer"},
            },
        },
        "schemas": {
            "Address": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
}


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class CrmServer:
    """The state behind the app, and every request it received."""

    parties: dict[int, dict[str, Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    stores_otherwise: dict[str, Any] = field(default_factory=dict)
    """Fields a created party is stored with, whatever was sent and answered (a system
    that silently changes data)."""
    reads_fail: bool = False
    """Reading one party answers 503."""

    def handle(self, request: Received) -> tuple[int, str, bytes]:
        self.received.append(request)
        route = request.path.removeprefix("/api")
        if route == "/parties" and request.method == "GET":
            names = request.query.get("name", [""])
            found = [p for p in self.parties.values() if names[0].lower() in p["name"].lower()]
            limit = int(request.query.get("limit", ["100"])[0])
            return _json(200, found[:limit])
        if route == "/parties" and request.method == "POST":
            party = {"id": len(self.parties) + 1, **request.body}
            self.parties[party["id"]] = {**party, **self.stores_otherwise}
            return _json(201, party)
        if route.startswith("/parties/"):
            party_id = int(route.split("/")[2])
            if party_id not in self.parties:
                return _json(404, {"detail": f"no party {party_id}"})
            if request.method == "DELETE":
                del self.parties[party_id]
                return 204, "", b""
            if route.endswith("/notify"):
                return _json(202, {"queued": request.body})
            if self.reads_fail:
                return _json(503, {"detail": "try later"})
            return _json(200, self.parties[party_id])
        return self._special(route, request)

    def _special(self, route: str, request: Received) -> tuple[int, str, bytes]:
        if route == "/echo":
            seen = [*request.headers.values(), *(v for vs in request.query.values() for v in vs)]
            return _json(200, {"headers": request.headers, "query": request.query, "seen": seen})
        if route == "/health":
            return 200, "text/plain", b""
        if route == "/boom":
            seen = f"headers {request.headers}, query {request.query}"
            return 500, "text/plain", f"database exploded (request had {seen})".encode()
        if route == "/slow":
            self.release.wait(5)
            return _json(200, {"late": True})
        if route == "/logo":
            return 200, "image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256))
        if route == "/big":
            return 200, "text/plain", b"x" * 5000
        if route == "/motd":
            return 200, "text/plain; charset=utf-8", "Bonjour, équipe".encode()
        return _json(404 if request.method == "GET" else 200, {"route": route})


def _json(status: int, value: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(value).encode()


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if content_type.startswith("application/json"):
        return json.loads(raw)
    return raw.decode()


def _handler(server: CrmServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            received = Received(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=_decode(raw, self.headers.get("content-type", "")),
            )
            status, content_type, body = server.handle(received)
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
                self.close_connection = True

    return Handler


@contextmanager
def running_crm() -> Iterator[CrmServer]:
    """The app on a free loopback port, stopped and closed afterwards."""
    state = CrmServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/api"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
