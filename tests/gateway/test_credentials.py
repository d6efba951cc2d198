"""A client's token never goes upstream: an HTTP upstream server gets the gateway's own
credentials for it (from its connector settings), whatever the client sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connectors.test_mcp import http_url  # noqa: F401 - the fixture
from tests.gateway.harness import TOKEN, Running, serving, write_config

GRANT = "      - {id: headers, tool: hdr.headers, effect: read}\n"


@pytest.fixture
def fronting_http(
    tmp_path: Path,
    sqlite_url: str,
    http_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Running]:
    monkeypatch.setenv("HDR_UPSTREAM_KEY", "gateway-key-1")
    upstream = {
        "type": "mcp",
        "settings": {
            "prefix": "hdr",
            "url": http_url,
            "tools": ["headers"],
            "effects": {"headers": "read"},
            "headers_from_env": {"X-Upstream-Key": "HDR_UPSTREAM_KEY"},
            "untrusted_output": False,
        },
    }
    config = write_config(
        tmp_path / "desk", database=sqlite_url, extra_connectors=[upstream], extra_grants=GRANT
    )
    policy = config.parent / "policy.yaml"
    text = policy.read_text().replace(
        'support:\n    may: ["up.*"]', 'support:\n    may: ["up.*", "hdr.*"]'
    )
    policy.write_text(text)
    with serving(config) as running:
        yield running


async def test_the_clients_token_is_never_passed_upstream(fronting_http: Running) -> None:
    async with fronting_http.client() as client:
        result = await client.call_tool("hdr.headers", {})
    assert not result.is_error, result.content
    seen = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert seen["x-upstream-key"] == "gateway-key-1"  # the gateway's own, per server
    assert "authorization" not in seen  # the client's bearer token stayed at the gateway
    assert TOKEN not in json.dumps(seen)
    trail = json.dumps([e.record for e in fronting_http.service.events()])
    assert TOKEN not in trail
