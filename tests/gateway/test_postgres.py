"""The gateway on PostgreSQL: a held call approved and retried concurrently runs once,
the pins and the trail hold. Skipped (visibly) without TETHER_TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.harness import Running, serving, write_config
from tether.identity import Actor


@pytest.fixture
def on_postgres(tmp_path: Path, postgres_url: str) -> Iterator[Running]:
    (tmp_path / "desk").mkdir()
    (tmp_path / "desk" / "notice.txt").write_text("A notice.")
    with serving(write_config(tmp_path / "desk", database=postgres_url)) as running:
        yield running


async def test_the_gateway_on_postgres(on_postgres: Running) -> None:
    gateway = on_postgres
    args = {"to": "bob@acme.example", "body": "on postgres"}
    async with gateway.client() as client:
        read = await client.call_tool("up.lookup", {"customer": "c1"})
        held = await client.call_tool("up.send_mail", args)
        request_id = held.structured_content["tether"]["approval"]  # type: ignore[index]
        gateway.service.approve(request_id, by=Actor(account="fiona", surface="web"))
        results = await asyncio.gather(*(client.call_tool("up.send_mail", args) for _ in range(3)))
        (gateway.folder / "notice.txt").write_text("A changed notice.")
        quarantined = await client.call_tool("up.notice", {})
    assert not read.is_error
    assert all("sent to" in r.content[0].text for r in results)  # type: ignore[union-attr]
    assert len(gateway.effects()) == 1
    assert quarantined.is_error and "quarantined" in quarantined.content[0].text  # type: ignore[union-attr]
    assert gateway.service.verify().intact
