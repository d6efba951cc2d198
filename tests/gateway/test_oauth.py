"""The gateway as an OAuth 2.1 resource server, against a real authorization server
process on loopback (the `oidc-provider` package under Node.js)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.harness import Running, free_port, serving, write_config

HERE = Path(__file__).parent
SERVER = HERE / "authorization_server.mjs"


def _node_ready() -> bool:
    return shutil.which("node") is not None and (HERE / "node_modules" / "oidc-provider").is_dir()


pytestmark = pytest.mark.skipif(
    not _node_ready(),
    reason="needs Node.js and `npm install` in tests/gateway (the oidc-provider package)",
)


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        ["node", str(SERVER), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready"), line
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def gateway(
    tmp_path: Path, sqlite_url: str, issuer: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Running]:
    monkeypatch.setenv("GATEWAY_INTROSPECTION_SECRET", "gateway-secret")
    settings = {
        "oauth": {
            "issuer": issuer,
            "required_scopes": ["tools"],
            "leeway_seconds": 0,
            "clients": {"desk-assistant": "desk", "opaque-client": "desk"},
            "agent_claim": "tether_agent",
            "agents": ["desk"],
            "users": {
                "desk-assistant": "alice",
                "claims-agent": "alice",
                "short-lived": "alice",
                "opaque-client": "alice",
            },
            "introspection": {
                "client_id": "tether-gateway",
                "client_secret_env": "GATEWAY_INTROSPECTION_SECRET",
            },
        }
    }
    with serving(write_config(tmp_path / "desk", database=sqlite_url, gateway=settings)) as r:
        yield r


def token(issuer: str, client: str, secret: str, *, resource: str, scope: str = "tools") -> str:
    response = httpx.post(
        f"{issuer}/token",
        auth=(client, secret),
        data={"grant_type": "client_credentials", "scope": scope, "resource": resource},
    )
    response.raise_for_status()
    value: str = response.json()["access_token"]
    return value


def _refusals(gateway: Running) -> list[str]:
    return [
        str((e.event.details or {}).get("why"))
        for e in gateway.service.events(type="access.refused")
    ]


def test_the_gateway_publishes_its_metadata_and_points_to_it_when_refusing(
    gateway: Running, issuer: str
) -> None:
    base = gateway.url.removesuffix("/mcp")
    metadata = httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp").json()
    assert metadata["resource"] == gateway.url
    assert metadata["authorization_servers"] == [issuer]
    answer = httpx.post(gateway.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"' in challenge


async def test_a_token_of_a_client_registered_as_an_agent_acts_for_its_user(
    gateway: Running, issuer: str
) -> None:
    access = token(issuer, "desk-assistant", "desk-secret", resource=gateway.url)
    async with gateway.client(access) as client:
        listed = await client.list_tools()
        found = await client.call_tool("up.lookup", {"customer": "c1"})
    assert "up.lookup" in {tool.name for tool in listed.tools}
    assert "Ada Lovelace" in found.content[0].text  # type: ignore[union-attr]
    run = next(r for r in gateway.service.runs() if r.id.startswith("gw_"))
    assert (run.principal, run.agent) == ("alice", "desk")
    started = next(iter(gateway.service.events(run=run.id, type="run.started"))).event
    assert started.details is not None
    assert started.details["caller"]["issuer"] == issuer
    assert started.details["caller"]["method"] == "oidc"
    assert access not in str(started.details)


async def test_an_agent_named_by_a_claim(gateway: Running, issuer: str) -> None:
    access = token(issuer, "claims-agent", "claims-secret", resource=gateway.url)
    async with gateway.client(access) as client:
        found = await client.call_tool("up.lookup", {"customer": "c1"})
    assert not found.is_error


REFUSED = [
    ("desk-assistant", "desk-secret", "http://127.0.0.1:1/other", "tools", "issued for"),
    ("desk-assistant", "desk-secret", None, "", "lacks the scopes"),
    ("tether-gateway", "gateway-secret", None, "tools", "not a user of the policy"),
]


@pytest.mark.parametrize("case", REFUSED, ids=["audience", "scope", "subject"])
def test_tokens_not_for_this_gateway_are_refused_and_recorded(
    gateway: Running, issuer: str, case: tuple[str, str, str | None, str, str]
) -> None:
    client, secret, resource, scope, why = case
    access = token(issuer, client, secret, resource=resource or gateway.url, scope=scope)
    answer = httpx.post(
        gateway.url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {access}", "Accept": "application/json"},
    )
    assert answer.status_code == 401
    assert any(why in reason for reason in _refusals(gateway)), _refusals(gateway)


def test_an_expired_a_revoked_and_a_forged_token_are_refused(gateway: Running, issuer: str) -> None:
    def status(access: str) -> int:
        return httpx.post(
            gateway.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={
                "Authorization": f"Bearer {access}",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2026-07-28",
            },
        ).status_code

    short = token(issuer, "short-lived", "short-secret", resource=gateway.url)
    revoked = token(issuer, "opaque-client", "opaque-secret", resource=gateway.url)
    assert revoked.count(".") != 2  # opaque: checked by introspection
    good = token(issuer, "desk-assistant", "desk-secret", resource=gateway.url)
    head, body, signature = good.split(".")
    forged = f"{head}.{body}.{signature[::-1]}"
    assert status(revoked) != 401
    httpx.post(
        f"{issuer}/token/revocation",
        auth=("opaque-client", "opaque-secret"),
        data={"token": revoked},
    ).raise_for_status()
    time.sleep(2.2)  # past the short-lived token's expiry (1 s, no leeway)
    assert status(short) == 401
    assert status(revoked) == 401
    assert status(forged) == 401
    assert status(good) != 401
    reasons = " | ".join(_refusals(gateway))
    assert "expired" in reasons
    assert "not active" in reasons
    assert "signature" in reasons or "not a valid signed token" in reasons


def test_calls_keep_working_while_tokens_are_checked_concurrently(
    gateway: Running, issuer: str
) -> None:
    access = token(issuer, "desk-assistant", "desk-secret", resource=gateway.url)

    async def some_calls() -> list[bool]:
        async def one() -> bool:
            async with gateway.client(access) as client:
                result = await client.call_tool("up.lookup", {"customer": "c1"})
                return not result.is_error

        return await asyncio.gather(*(one() for _ in range(4)))

    assert all(asyncio.run(some_calls()))
