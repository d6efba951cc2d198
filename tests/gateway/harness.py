"""The gateway's test harness: a tether.yaml with an upstream MCP server, the gateway
serving Streamable HTTP on loopback (uvicorn, in a thread), and MCP clients for it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tether.config import Config, load_config
from tether.gateway import Assembled, assemble, http_app
from tether.service import Service

UPSTREAM = Path(__file__).with_name("upstream.py")
TOKEN = "gw-test-token-alice"
OTHER_TOKEN = "gw-test-token-sam"

POLICY = """
version: 1
roles:
  support:
    may: ["up.*"]
  finance-lead:
    may: ["up.*"]
  sales:
    may: [up.lookup]
users:
  alice: {roles: [support], attributes: {email: alice@acme.example}}
  fiona: {roles: [finance-lead], attributes: {email: fiona@acme.example}}
  sam: {roles: [sales]}
defaults:
  approval: {approvers: [role:finance-lead], quorum: 1, expires: 1h}
  untrusted: {effects: [write, communicate, irreversible], decision: deny}
redact:
  fields: [phone]
agents:
  desk:
    may_act_for: [role:support, role:sales]
    tools:
      - {id: lookup, tool: up.lookup, effect: read}
      - {id: inbox, tool: up.inbox, effect: read}
      - {id: notice, tool: up.notice, effect: read}
      - {id: slow, tool: up.slow, effect: read}
      - {id: huge, tool: up.huge, effect: read}
      - {id: ping, tool: up.ping, effect: read}
      - {id: crash, tool: up.crash, effect: write, approval: never}
      - id: mail
        tool: up.send_mail
        effect: communicate
        when: args.to.endsWith("@acme.example") || args.to in run.known_contacts
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    folder: Path,
    *,
    database: str,
    gateway: dict[str, Any] | None = None,
    upstream_env: dict[str, str] | None = None,
    port: int | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.yaml").write_text(POLICY, encoding="utf-8")
    (folder / "desk.yaml").write_text(
        "name: desk\nversion: '1'\nmodel: test\npolicy: policy.yaml\n", encoding="utf-8"
    )
    port = port or free_port()
    settings: dict[str, Any] = {
        "url": f"http://127.0.0.1:{port}/mcp",
        "console_url": "http://127.0.0.1:8000",
        "recheck_seconds": 0,
        "tokens": [
            {"name": "laptop", "user": "alice", "agent": "desk", "sha256": _sha(TOKEN)},
            {"name": "sales", "user": "sam", "agent": "desk", "sha256": _sha(OTHER_TOKEN)},
        ],
        **(gateway or {}),
    }
    config = {
        "database": database,
        "policy": "policy.yaml",
        "agents": ["desk.yaml"],
        "keys": str(folder / "keys"),
        "connectors": [
            {
                "type": "mcp",
                "settings": {
                    "prefix": "up",
                    "command": sys.executable,
                    "args": [str(UPSTREAM)],
                    "env": {
                        "UPSTREAM_LOG": str(folder / "effects.jsonl"),
                        "UPSTREAM_NOTICE": str(folder / "notice.txt"),
                        **(upstream_env or {}),
                    },
                    "effects": {"lookup": "read", "inbox": "read", "ping": "read"},
                    "untrusted_output": ["inbox"],
                    "timeout_seconds": 5,
                    "max_result_chars": 50_000,
                },
            }
        ],
        "gateway": settings,
    }
    path = folder / "tether.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Running:
    """A gateway serving on loopback, and what tests look at."""

    config: Config
    service: Service
    parts: Assembled
    url: str
    folder: Path

    def effects(self) -> list[dict[str, Any]]:
        path = self.folder / "effects.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def accept_all(self) -> None:
        from tether.identity import Actor

        for pin in self.parts.pins.all():
            if pin.status == "quarantined":
                self.parts.pins.accept(pin.name, by=Actor(account="fiona", surface="cli"))

    @contextlib.asynccontextmanager
    async def client(
        self, token: str | None = TOKEN, *, mode: str = "auto", **options: Any
    ) -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as http,
            Client(
                streamable_http_client(self.url, http_client=http),
                mode=mode,
                **options,  # type: ignore[arg-type]
            ) as client,
        ):
            yield client


@contextlib.contextmanager
def serving(config_path: Path, *, accept: bool = True) -> Iterator[Running]:
    """The gateway of ``config_path`` on its url's port, until the block ends."""
    config = load_config(config_path)
    runtime = config.runtime()
    service = Service(runtime)
    parts = assemble(config, service)
    url = parts.settings.url
    port = int(url.split(":")[2].split("/")[0])
    app = http_app(parts.gateway, parts.identities, parts.settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    running = Running(
        config=config, service=service, parts=parts, url=url, folder=config_path.parent
    )
    if accept:
        running.accept_all()
    try:
        yield running
    finally:
        server.should_exit = True
        thread.join(10)
        for toolset in config.toolsets:
            close = getattr(toolset, "close", None)
            if close is not None:
                close()
        runtime.close()
