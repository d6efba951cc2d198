"""The MCP connector against a real MCP server: over stdio, and over streamable HTTP."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tether.calls import Principal, ProposedCall, RunState
from tether.connectors import build_toolset
from tether.connectors.mcp import MCPToolset, toolset
from tether.errors import ConfigurationError, ToolArgumentsError, ToolCallError
from tether.gate import AwaitingApproval, Executed, Failed, Gate, GateEvent, Refused
from tether.policy import load_policy_text
from tether.tools import Effect, Toolset

SERVER = Path(__file__).with_name("mcp_server.py")
ROOT = Path(__file__).resolve().parents[2]
TOKEN_VAR = "TETHER_TEST_MCP_TOKEN"

POLICY = """
version: 1
roles:
  staff: {may: ["*"]}
  boss: {may: ["*"]}
users:
  alice: {roles: [staff]}
  fiona: {roles: [boss]}
defaults:
  approval: {approvers: [role:boss]}
agents:
  bot:
    may_act_for: [role:staff]
    tools:
      - tool: notes.read_note
      - tool: notes.write_note
        effect: read
      - {tool: notes.fail, approval: never}
      - {tool: notes.sleep, approval: never}
      - {tool: notes.crash, approval: never}
      - {tool: notes.exit_soon, approval: never}
      - {tool: notes.big, approval: never}
      - {tool: notes.picture, approval: never}
      - {tool: notes.find, approval: never}
      - {tool: notes.idempotency_key, approval: never}
"""


def stdio_settings(**extra: Any) -> dict[str, Any]:
    return {
        "base_dir": str(ROOT),
        "prefix": "notes",
        "command": sys.executable,
        "args": [str(SERVER)],
        **extra,
    }


@pytest.fixture(scope="module")
def notes() -> Iterator[MCPToolset]:
    """One server for the tests that leave it running; its reads are declared ``read``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_VAR, "s3cret-token")
        tools = toolset(
            stdio_settings(
                effects={"read_note": "read", "env": "read", "big": "read", "picture": "read"},
                untrusted_output=["read_note"],
                env={"NOTES_MODE": "test"},
                cwd="tests",  # relative to base_dir
                env_from_env={"NOTES_TOKEN": TOKEN_VAR},
                max_result_chars=5000,
            )
        )
    with tools:
        yield tools


class Events:
    def __init__(self) -> None:
        self.events: list[GateEvent] = []

    def record(self, event: GateEvent) -> None:
        self.events.append(event)

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]


def gate_for(tools: Toolset, events: Events, timeout_seconds: float = 30.0) -> Gate:
    policy = load_policy_text(POLICY, tools=tools)
    return Gate(policy, recorder=events, timeout_seconds=timeout_seconds)


def proposed(tool: str, **args: Any) -> ProposedCall:
    return ProposedCall(
        tool=tool,
        args=args,
        agent="bot",
        principal=Principal(id="alice", roles=frozenset({"staff"})),
        run=RunState(id="run-1"),
        call_id="call-1",
    )


# --- listing -------------------------------------------------------------------------


def test_tools_are_listed_with_prefix_schema_and_cautious_default_effect(
    notes: MCPToolset,
) -> None:
    assert notes.names() == [
        "notes.big",
        "notes.crash",
        "notes.env",
        "notes.exit_soon",
        "notes.fail",
        "notes.find",
        "notes.headers",
        "notes.idempotency_key",
        "notes.picture",
        "notes.read_note",
        "notes.sleep",
        "notes.where",
        "notes.write_note",
    ]
    read = notes.get("notes.read_note")
    assert read.effect is Effect.READ
    assert read.description == "Read a note by name."
    assert read.untrusted_output
    assert read.json_schema()["required"] == ["name"]
    write = notes.get("notes.write_note")
    assert write.effect is Effect.IRREVERSIBLE  # not declared in the settings: most cautious
    assert not write.untrusted_output
    schema = write.json_schema()
    assert schema["additionalProperties"] is False
    assert sorted(schema["properties"]) == ["name", "tags", "text"]
    assert schema["required"] == ["name", "text"]
    assert write.validate_args({"name": "a", "text": "b"}) == {
        "name": "a",
        "text": "b",
        "tags": None,
    }


def test_unknown_and_missing_arguments_are_refused(notes: MCPToolset) -> None:
    write = notes.get("notes.write_note")
    with pytest.raises(ToolArgumentsError, match="bogus"):
        write.validate_args({"name": "a", "text": "b", "bogus": 1})
    with pytest.raises(ToolArgumentsError, match="text"):
        write.validate_args({"name": "a"})
    with pytest.raises(ToolArgumentsError, match="tags"):
        write.validate_args({"name": "a", "text": "b", "tags": "not a list"})


def test_enums_nested_objects_and_defaults_come_from_the_schema(notes: MCPToolset) -> None:
    find = notes.get("notes.find")
    assert find.validate_args({"kind": "person"}) == {"kind": "person", "where": None, "limit": 10}
    with pytest.raises(ToolArgumentsError, match="kind"):
        find.validate_args({"kind": "animal"})
    with pytest.raises(ToolArgumentsError, match="where"):
        find.validate_args({"kind": "person", "where": "Paris"})
    args = find.validate_args({"kind": "company", "where": {"city": "Paris"}, "limit": "3"})
    assert args == {"kind": "company", "where": {"city": "Paris"}, "limit": 3}
    schema = find.json_schema()
    assert schema["properties"]["kind"]["enum"] == ["person", "company"]


def test_argument_names_that_are_not_python_names_keep_their_wire_names() -> None:
    from tether.connectors.mcp._schema import arguments_model

    arguments = arguments_model(
        "odd_args",
        {
            "type": "object",
            "properties": {
                "from": {"type": "string"},
                "model_config": {"type": ["integer", "null"]},
                "x-y": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                "any": {},
                "json": {"type": "boolean", "default": False},
                "_id": {"type": "integer"},
            },
            "required": ["from"],
            "$defs": {"Item": {"type": "object"}},
        },
    )
    model = arguments.model
    wire = ["_id", "any", "from", "json", "model_config", "x-y"]
    assert sorted(model.model_json_schema()["properties"]) == wire
    assert sorted(model.model_fields) == ["any", "from", "id_", "json_", "model_config_", "x-y"]
    values = model.model_validate({"from": "a", "x-y": [{"k": 1}], "any": [1], "_id": 7})
    plain = {name: getattr(values, name) for name in type(values).model_fields}
    assert plain["id_"] == 7
    assert arguments.to_wire(plain) == {
        "from": "a",
        "x-y": [{"k": 1}],
        "any": [1],
        "json": False,
        "_id": 7,
    }
    with pytest.raises(ValueError, match="x-y"):
        model.model_validate({"from": "a", "x-y": ["not an object"]})


# --- through the gate -----------------------------------------------------------------


async def test_granted_read_is_allowed_and_executed(notes: MCPToolset) -> None:
    events = Events()
    with gate_for(notes, events) as gate:
        outcome = await gate.call(proposed("notes.read_note", name="welcome"))
    assert isinstance(outcome, Executed), outcome
    assert outcome.output.value == {"result": "hello from the MCP server"}
    assert outcome.output.untrusted
    assert "<untrusted-data" in outcome.model_text
    assert events.types == ["call.proposed", "call.decided", "call.executed"]


async def test_ungranted_tool_is_denied_and_not_called(notes: MCPToolset) -> None:
    events = Events()
    with gate_for(notes, events) as gate:
        outcome = await gate.call(proposed("notes.env", name="NOTES_MODE"))
    assert isinstance(outcome, Refused)
    assert outcome.decision.rules == ("default-deny",)
    assert events.types == ["call.proposed", "call.decided"]


async def test_unclassified_tools_are_irreversible_until_the_policy_classifies_them(
    notes: MCPToolset,
) -> None:
    # POLICY grants notes.write_note with `effect: read`: the policy decides its class.
    with gate_for(notes, Events()) as gate:
        classified = await gate.call(proposed("notes.write_note", name="memo", text="hi"))
    assert isinstance(classified, Executed)
    assert classified.decision.effect is Effect.READ
    # Without `effect:` on the grant the cautious default holds: irreversible, approval.
    policy = load_policy_text(POLICY.replace("        effect: read\n", "", 1), tools=notes)
    with Gate(policy, recorder=Events()) as gate:
        call = proposed("notes.write_note", name="memo", text="hi")
        held = await gate.call(call)
        assert isinstance(held, AwaitingApproval)
        assert held.decision.effect is Effect.IRREVERSIBLE
        # Once a person approves, the runtime executes it.
        executed = await gate.execute(call, held.decision)
    assert isinstance(executed, Executed)
    assert executed.output.value == {"name": "memo", "text": "hi", "tags": []}


async def test_connector_settings_declare_an_effect_and_config_loads_the_connector(
    capsys: pytest.CaptureFixture[str],  # sys.stderr without a file descriptor, as in a notebook
) -> None:
    settings = stdio_settings(tools=["write_note"], effects={"write_note": "write"})
    tools = build_toolset("mcp", settings)
    assert isinstance(tools, MCPToolset)
    with tools:
        assert tools.names() == ["notes.write_note"]
        assert tools.get("notes.write_note").effect is Effect.WRITE
        events = Events()
        policy = load_policy_text(
            POLICY.split("      - tool: notes.read_note", maxsplit=1)[0]
            + "      - tool: notes.write_note\n",
            tools=tools,
        )
        with Gate(policy, recorder=events) as gate:
            outcome = await gate.call(proposed("notes.write_note", name="a", text="b", tags=["x"]))
    assert isinstance(outcome, Executed), outcome
    assert outcome.output.value == {"name": "a", "text": "b", "tags": ["x"]}
    # Closed (the `with` above): calls fail clearly; closing again is harmless.
    with pytest.raises(ToolCallError, match="closed"):
        await tools.get("notes.write_note").function(name="a", text="b")
    tools.close()


async def test_unknown_arguments_are_refused_by_the_gate(notes: MCPToolset) -> None:
    events = Events()
    with gate_for(notes, events) as gate:
        outcome = await gate.call(proposed("notes.read_note", name="welcome", bogus=True))
    assert isinstance(outcome, Refused)
    assert outcome.decision.rules == ("notes.read_note.schema",)


async def test_server_error_is_a_failed_call_with_its_message(notes: MCPToolset) -> None:
    events = Events()
    with gate_for(notes, events) as gate:
        outcome = await gate.call(proposed("notes.fail", message="customer 42 does not exist"))
        assert isinstance(outcome, Failed)
        assert "reported an error:" in outcome.error
        assert "customer 42 does not exist" in outcome.error
        assert events.types[-1] == "call.failed"
        assert events.events[-1].error == outcome.error
        # The connection is still good.
        again = await gate.call(proposed("notes.read_note", name="welcome"))
    assert isinstance(again, Executed)


async def test_binary_and_oversized_results_are_failed_calls(notes: MCPToolset) -> None:
    events = Events()
    with gate_for(notes, events) as gate:
        picture = await gate.call(proposed("notes.picture"))
        big = await gate.call(proposed("notes.big", size=6000))
        small = await gate.call(proposed("notes.big", size=10))
    assert isinstance(picture, Failed)
    assert "returned an image (image/png" in picture.error
    assert isinstance(big, Failed)
    assert "max_result_chars (5000)" in big.error
    assert isinstance(small, Executed)


async def test_the_gate_s_idempotency_key_reaches_the_server(notes: MCPToolset) -> None:
    events = Events()
    with gate_for(notes, events) as gate:
        outcome = await gate.call(proposed("notes.idempotency_key"))
    assert isinstance(outcome, Executed), outcome
    assert outcome.output.value == {"result": "run-1:call-1"}


async def test_calls_from_threads_and_loops_share_one_connection(notes: MCPToolset) -> None:
    read = notes.get("notes.read_note").function

    async def two() -> list[Any]:
        return list(await asyncio.gather(read(name="welcome"), read(name="welcome")))

    def in_thread() -> list[Any]:
        return asyncio.run(two())

    results = await asyncio.gather(two(), asyncio.to_thread(in_thread))
    assert [len(each) for each in results] == [2, 2]
    assert {value["result"] for each in results for value in each} == {"hello from the MCP server"}


async def test_server_environment_comes_from_settings_and_named_variables(
    notes: MCPToolset,
) -> None:
    env = notes.get("notes.env").function
    assert await env(name="NOTES_MODE") == {"result": "test"}
    assert await env(name="NOTES_TOKEN") == {"result": "s3cret-token"}
    assert await env(name=TOKEN_VAR) == {"result": ""}  # tether's own environment stays out
    where = await notes.get("notes.where").function()
    assert where == {"result": str(ROOT / "tests")}


# --- a server that dies, hangs or is gone ---------------------------------------------


@pytest.fixture(scope="module")
def fragile() -> Iterator[MCPToolset]:
    """A server the tests crash and hang; each test leaves it usable (reconnected)."""
    with toolset(stdio_settings(timeout_seconds=1)) as tools:
        yield tools


async def test_server_dying_mid_call_fails_and_the_next_call_reconnects(
    fragile: MCPToolset,
) -> None:
    events = Events()
    with gate_for(fragile, events) as gate:
        outcome = await gate.call(proposed("notes.crash"))
        assert isinstance(outcome, Failed)
        assert "closed the connection during the call" in outcome.error
        assert events.types[-1] == "call.failed"
        again = await gate.call(proposed("notes.big", size=3))
    assert isinstance(again, Executed), again
    assert again.output.value == {"result": "xxx"}


async def _gone(pid: int) -> None:
    """Wait until the process has exited and been reaped (bounded)."""
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            await asyncio.sleep(0.2)  # and its end of stream has been read
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the MCP server {pid} did not exit")


async def test_server_exiting_between_calls_is_reconnected_before_the_next(
    fragile: MCPToolset,
) -> None:
    events = Events()
    with gate_for(fragile, events) as gate:
        bye = await gate.call(proposed("notes.exit_soon"))
        assert isinstance(bye, Executed), bye
        await _gone(bye.output.value["result"])
        again = await gate.call(proposed("notes.big", size=3))
    assert isinstance(again, Executed), again


async def test_connector_timeout_is_a_failed_call_and_the_next_call_works(
    fragile: MCPToolset,
) -> None:
    events = Events()
    with gate_for(fragile, events) as gate:
        outcome = await gate.call(proposed("notes.sleep", seconds=30))
        assert isinstance(outcome, Failed)
        assert "did not answer within 1s" in outcome.error
        again = await gate.call(proposed("notes.big", size=3))
    assert isinstance(again, Executed), again


async def test_gate_timeout_cancels_the_call_and_the_next_call_works(
    fragile: MCPToolset,
) -> None:
    events = Events()
    with gate_for(fragile, events, timeout_seconds=0.3) as gate:
        outcome = await gate.call(proposed("notes.sleep", seconds=30))
        assert isinstance(outcome, Failed)
        assert outcome.error == "timed out after 0.3s"
    with gate_for(fragile, events) as gate:
        again = await gate.call(proposed("notes.big", size=3))
    assert isinstance(again, Executed), again


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("/nonexistent/mcp-server", [], "cannot list the tools"),
        (sys.executable, ["-c", "pass"], "cannot list the tools"),
    ],
)
def test_a_server_that_cannot_start_is_a_configuration_error(
    command: str, args: list[str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        toolset({"base_dir": str(ROOT), "command": command, "args": args})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "set either `command`"),
        ({"command": "x", "url": "http://127.0.0.1:1/mcp"}, "not both"),
        ({"command": "x", "retries": 3}, "retries: Extra inputs are not permitted"),
        ({"command": "x", "effects": {"a": "harmless"}}, "effects.a"),
        ({"url": "http://127.0.0.1:1/mcp", "args": ["x"]}, "for `command` servers"),
        ({"url": "http://127.0.0.1:1/mcp", "headers_from_env": {"A": "TETHER_UNSET_VAR"}}, ""),
    ],
)
def test_bad_settings_are_configuration_errors(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message or "TETHER_UNSET_VAR"):
        toolset({"base_dir": ".", **settings})


def test_settings_naming_a_tool_the_server_lacks_are_an_error() -> None:
    with pytest.raises(ConfigurationError, match=r"effects names 'reed_note'.*offers: big"):
        toolset(stdio_settings(effects={"reed_note": "read"}))


def test_without_the_mcp_package_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(ConfigurationError, match=r"install tether\[mcp\]"):
        toolset(stdio_settings())


# --- streamable HTTP --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the MCP test server did not start over HTTP")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_streamable_http_server(http_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_VAR, "Bearer s3cret")
    settings = {
        "base_dir": str(ROOT),
        "prefix": "notes",
        "url": http_url,
        "headers": {"X-Tenant": "acme"},
        "headers_from_env": {"Authorization": TOKEN_VAR},
        "effects": {"read_note": "read"},
        "timeout_seconds": 1,
    }
    with toolset(settings) as tools:
        assert "notes.read_note" in tools
        headers = await tools.get("notes.headers").function()
        assert headers["authorization"] == "Bearer s3cret"
        assert headers["x-tenant"] == "acme"
        events = Events()
        with gate_for(tools, events) as gate:
            read = await gate.call(proposed("notes.read_note", name="welcome"))
            failed = await gate.call(proposed("notes.fail", message="nope"))
            slow = await gate.call(proposed("notes.sleep", seconds=30))
            after = await gate.call(proposed("notes.read_note", name="welcome"))
    assert isinstance(read, Executed)
    assert read.output.value == {"result": "hello from the MCP server"}
    assert isinstance(failed, Failed)
    assert "reported an error:" in failed.error
    assert "nope" in failed.error
    assert isinstance(slow, Failed)
    assert "did not answer within 1s" in slow.error
    assert isinstance(after, Executed)


def test_unreachable_http_server_is_a_configuration_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/mcp"
    with pytest.raises(ConfigurationError, match="cannot list the tools"):
        toolset({"base_dir": ".", "url": url, "connect_timeout_seconds": 5})
