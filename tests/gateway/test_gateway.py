"""The gateway with the MCP SDK's own client: the catalogue, the whole gate on every
call, approvals, sessions bound to the token's subject, trace context."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.harness import OTHER_TOKEN, Running, serving, write_config
from tether.identity import Actor

FIONA = Actor(account="fiona", surface="web", method="password")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _types(running: Running, run_id: str | None = None, **query: str) -> list[str]:
    return [e.event.type for e in running.service.events(run=run_id, **query)]


def _run_of(running: Running) -> str:
    runs = [r for r in running.service.runs() if r.id.startswith("gw_")]
    assert runs, "no gateway session run"
    return runs[0].id


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_client_sees_only_the_tools_it_is_granted(gateway: Running, mode: str) -> None:
    async with gateway.client(mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        lookup = next(t for t in (await client.list_tools()).tools if t.name == "up.lookup")
    assert names == {
        "up.lookup",
        "up.send_mail",
        "up.inbox",
        "up.notice",
        "up.slow",
        "up.crash",
        "up.huge",
        "up.ping",
        "up.slow_write",
    }
    assert lookup.annotations is not None and lookup.annotations.read_only_hint is True
    async with gateway.client(OTHER_TOKEN, mode=mode) as client:  # sam: sales, lookups only
        listed = await client.list_tools()
    assert [tool.name for tool in listed.tools] == ["up.lookup"]


async def test_tools_list_is_private_to_its_caller(gateway: Running) -> None:
    async with gateway.client(mode="2026-07-28") as client:
        listed = await client.session.list_tools()
    assert listed.cache_scope == "private"


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_an_allowed_read_runs_through_the_gate_and_is_recorded(
    gateway: Running, mode: str
) -> None:
    async with gateway.client(mode=mode) as client:
        result = await client.call_tool(
            "up.lookup", {"customer": "c1"}, meta={"traceparent": TRACEPARENT}
        )
    assert not result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "Ada Lovelace" in text
    assert "+44" not in text  # the policy's redaction reached the client
    run_id = _run_of(gateway)
    record = gateway.service.run(run_id)
    assert (record.status, record.principal, record.agent) == ("running", "alice", "desk")
    types = _types(gateway, run_id)
    assert types[0] == "run.started"
    assert {"call.proposed", "call.decided", "call.executed"} <= set(types)
    executed = next(e.event for e in gateway.service.events(run=run_id, type="call.executed"))
    assert executed.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert gateway.service.verify().intact


async def test_a_tool_not_granted_is_refused_as_the_default_denial_and_recorded(
    gateway: Running,
) -> None:
    async with gateway.client() as client:
        result = await client.call_tool("up.rm_rf", {"path": "/"})
        sam = await client.call_tool("up.inbox", {})  # granted to the agent, alice may
    assert result.is_error
    assert "not permitted" in result.content[0].text  # type: ignore[union-attr]
    assert not sam.is_error
    decided = [e.event for e in gateway.service.events(type="call.decided")]
    denial = next(e for e in decided if e.tool == "up.rm_rf")
    assert denial.decision is not None and denial.decision["kind"] == "deny"
    assert "default-deny" in denial.decision["rules"]
    async with gateway.client(OTHER_TOKEN) as client:  # sam may not read the inbox himself
        refused = await client.call_tool("up.inbox", {})
    assert refused.is_error
    assert gateway.effects() == []


async def test_a_held_call_runs_once_approved_with_the_approved_arguments(
    gateway: Running,
) -> None:
    args = {"to": "bob@acme.example", "body": "your refund"}
    async with gateway.client() as client:
        first = await client.call_tool("up.send_mail", args)
        assert not first.is_error
        pending = first.structured_content["tether"]  # type: ignore[index]
        assert pending["status"] == "awaiting_approval"
        request_id = pending["approval"]
        assert request_id in first.content[0].text  # type: ignore[union-attr]
        assert pending["url"].endswith(f"/approvals/{request_id}")
        again = await client.call_tool("up.send_mail", args)  # still pending: asked once
        assert again.structured_content["tether"]["approval"] == request_id  # type: ignore[index]
        assert gateway.effects() == []
        edited = {"to": "bob@acme.example", "body": "your refund of 20 EUR"}
        gateway.service.approve(request_id, by=FIONA, edit=edited)
        done = await client.call_tool("up.send_mail", args)
        retried = await client.call_tool("up.send_mail", args)  # a retry after a lost answer
    assert not done.is_error and "sent to bob@acme.example" in done.content[0].text  # type: ignore[union-attr]
    assert retried.content[0].text == done.content[0].text  # type: ignore[union-attr]
    effects = gateway.effects()
    assert len(effects) == 1, effects
    assert effects[0]["body"] == "your refund of 20 EUR"  # as approved, not as first asked
    assert effects[0]["key"].startswith(_run_of(gateway) + ":gw-")  # the idempotency key
    assert gateway.service.approval(request_id).status == "executed"
    assert gateway.service.verify().intact


async def test_concurrent_retries_of_an_approved_call_take_effect_once(gateway: Running) -> None:
    args = {"to": "bob@acme.example", "body": "once"}
    async with gateway.client() as client:
        first = await client.call_tool("up.send_mail", args)
        request_id = first.structured_content["tether"]["approval"]  # type: ignore[index]
        gateway.service.approve(request_id, by=FIONA)
        results = await asyncio.gather(*(client.call_tool("up.send_mail", args) for _ in range(4)))
    assert len(gateway.effects()) == 1
    assert any("sent to" in r.content[0].text for r in results)  # type: ignore[union-attr]


async def test_a_rejected_call_is_a_clear_tool_error_and_never_runs(gateway: Running) -> None:
    args = {"to": "bob@acme.example", "body": "no"}
    async with gateway.client() as client:
        first = await client.call_tool("up.send_mail", args)
        request_id = first.structured_content["tether"]["approval"]  # type: ignore[index]
        gateway.service.reject(request_id, by=FIONA, comment="not this one")
        answer = await client.call_tool("up.send_mail", args)
    assert answer.is_error
    assert "rejected" in answer.content[0].text and "not this one" in answer.content[0].text  # type: ignore[union-attr]
    assert gateway.effects() == []


async def test_the_idempotency_key_makes_a_new_call_which_the_runtime_sees_as_a_repeat(
    gateway: Running,
) -> None:
    args = {"to": "bob@acme.example", "body": "same"}
    async with gateway.client() as client:
        one = await client.call_tool("up.send_mail", args, meta={"tether/idempotency-key": "a"})
        first = one.structured_content["tether"]["approval"]  # type: ignore[index]
        gateway.service.approve(first, by=FIONA)
        done = await client.call_tool("up.send_mail", args, meta={"tether/idempotency-key": "a"})
        two = await client.call_tool("up.send_mail", args, meta={"tether/idempotency-key": "b"})
    assert "sent to" in done.content[0].text  # type: ignore[union-attr]
    # another call (not the cached answer), refused as the session's exact repeat
    assert two.is_error and first in two.content[0].text  # type: ignore[union-attr]
    assert len(gateway.effects()) == 1


async def test_outside_content_taints_the_callers_session_across_connections(
    gateway: Running,
) -> None:
    async with gateway.client() as client:
        inbox = await client.call_tool("up.inbox", {})
    text = inbox.content[0].text  # type: ignore[union-attr]
    assert "<untrusted-data" in text  # delimited for the model
    async with gateway.client(mode="legacy") as client:  # a new MCP session: same run
        mail = await client.call_tool(
            "up.send_mail", {"to": "bob@acme.example", "body": "customer list"}
        )
    assert mail.is_error  # consequential calls after outside content: denied by the policy
    assert gateway.service.run(_run_of(gateway)).untrusted
    assert gateway.effects() == []


async def test_a_session_cancelled_by_an_operator_is_replaced_clean(gateway: Running) -> None:
    async with gateway.client() as client:
        await client.call_tool("up.inbox", {})
        first = _run_of(gateway)
        gateway.service.cancel(first, by=Actor(account="fiona", surface="cli"))
        await asyncio.sleep(2.1)  # past the gateway's short memory of open runs
        await client.call_tool("up.lookup", {"customer": "c1"})
    runs = {r.id: r for r in gateway.service.runs() if r.id.startswith("gw_")}
    assert len(runs) == 2
    assert runs[first].status == "cancelled"


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_a_client_that_elicits_urls_is_sent_to_the_console_and_never_decides(
    gateway: Running, mode: str
) -> None:
    import mcp_types as types

    asked: list[types.ElicitRequestURLParams] = []

    async def says_yes(_context: object, params: object) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestURLParams)
        asked.append(params)
        return types.ElicitResult(action="accept")  # typed into the client: not a decision

    args = {"to": "bob@acme.example", "body": "elicited"}
    async with gateway.client(mode=mode, elicitation_callback=says_yes) as client:
        answer = await client.call_tool("up.send_mail", args)
    assert asked and asked[0].url.startswith("http://127.0.0.1:8000/approvals/apr_")
    request_id = asked[0].url.rsplit("/", 1)[1]
    assert answer.structured_content["tether"]["status"] == "awaiting_approval"  # type: ignore[index]
    assert gateway.service.approval(request_id).status == "pending"
    assert gateway.effects() == []

    async def approves_meanwhile(_context: object, params: object) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestURLParams)
        gateway.service.approve(params.url.rsplit("/", 1)[1], by=FIONA)  # in the console
        return types.ElicitResult(action="accept")

    other = {"to": "bob@acme.example", "body": "approved while asked"}
    async with gateway.client(mode=mode, elicitation_callback=approves_meanwhile) as client:
        done = await client.call_tool("up.send_mail", other)
    assert "sent to bob@acme.example" in done.content[0].text  # type: ignore[union-attr]
    assert [e["body"] for e in gateway.effects()] == ["approved while asked"]


async def test_the_gateway_over_stdio_acts_for_the_person_who_started_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    import os
    import sys

    from mcp import Client, StdioServerParameters

    config = write_config(tmp_path / "desk", database=sqlite_url)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    command = "from tether.cli import main; main()"
    _accept_all(config)
    serve = ["gateway", "serve", "--stdio", "--as", "alice", "--agent", "desk", "-c", str(config)]
    params = StdioServerParameters(command=sys.executable, args=["-c", command, *serve], env=env)
    async with Client(params) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        found = await client.call_tool("up.lookup", {"customer": "c1"})
        held = await client.call_tool("up.send_mail", {"to": "bob@acme.example", "body": "hi"})
    assert "up.lookup" in names
    assert "Ada Lovelace" in found.content[0].text  # type: ignore[union-attr]
    assert held.structured_content["tether"]["status"] == "awaiting_approval"  # type: ignore[index]


def test_stateless_requests_of_the_current_revision_need_no_session(gateway: Running) -> None:
    import httpx

    from tests.gateway.harness import TOKEN

    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
        "traceparent": TRACEPARENT,
    }
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
    }

    def post(method: str, params: dict[str, object], **extra: str) -> dict[str, object]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
        answer = httpx.post(
            gateway.url, json=body, headers={**headers, "Mcp-Method": method, **extra}
        )
        assert answer.status_code == 200, answer.text
        assert "mcp-session-id" not in answer.headers
        result: dict[str, object] = answer.json()["result"]
        return result

    discovered = post("server/discover", {})
    assert "2026-07-28" in discovered["supportedVersions"]  # type: ignore[operator]
    called = post(
        "tools/call",
        {"name": "up.lookup", "arguments": {"customer": "c1"}},
        **{"Mcp-Name": "up.lookup"},
    )
    assert called["isError"] is False
    executed = [e.event for e in gateway.service.events(type="call.executed")]
    assert executed[-1].trace_id == TRACEPARENT.split("-")[1]


def _accept_all(config: Path) -> None:
    """What `tether gateway accept all` does, in this process."""
    from tether.config import load_config
    from tether.gateway import assemble
    from tether.service import Service

    loaded = load_config(config)
    runtime = loaded.runtime()
    try:
        pins = assemble(loaded, Service(runtime)).pins
        for pin in pins.all():
            pins.accept(pin.name, by=Actor(account="fiona", surface="cli"))
    finally:
        for toolset in loaded.toolsets:
            getattr(toolset, "close", lambda: None)()
        runtime.close()


@pytest.fixture
def short_repeats(tmp_path: Path, sqlite_url: str) -> Iterator[Running]:
    config = write_config(
        tmp_path / "desk", database=sqlite_url, gateway={"repeat_window_seconds": 1}
    )
    with serving(config) as running:
        yield running


async def test_the_same_call_made_again_later_is_a_new_call(short_repeats: Running) -> None:
    """In a long-lived session, an identical call without an idempotency key is a retry
    (answered as it was) only while the first runs, waits or was settled within the
    repeat window: sent again later, the same mail is a new call, asked for again."""
    gateway = short_repeats
    args = {"to": "bob@acme.example", "body": "the monthly reminder"}
    async with gateway.client() as client:
        first = await client.call_tool("up.send_mail", args)
        one = first.structured_content["tether"]["approval"]  # type: ignore[index]
        gateway.service.approve(one, by=FIONA)
        done = await client.call_tool("up.send_mail", args)
        retried = await client.call_tool("up.send_mail", args)  # at once: a retry
        assert retried.content[0].text == done.content[0].text  # type: ignore[union-attr]
        assert len(gateway.effects()) == 1
        await asyncio.sleep(1.2)  # past the window: the next one is made again
        later = await client.call_tool("up.send_mail", args)
        two = later.structured_content["tether"]["approval"]  # type: ignore[index]
        assert two != one  # asked again, not refused as a repeat of the first
        gateway.service.approve(two, by=FIONA)
        again = await client.call_tool("up.send_mail", args)
    assert "sent to" in again.content[0].text  # type: ignore[union-attr]
    assert len(gateway.effects()) == 2
    keys = {effect["key"] for effect in gateway.effects()}
    assert len(keys) == 2  # two calls, two idempotency keys
