"""How a Pydantic AI agent runs under tether: its model calls and its tools become steps.

- :class:`StepModel`: every model response inside a run is kept in tether's effect
  ledger with the first call it led to (:mod:`._journal`), and given again when the
  segment is replayed after a crash.
- :class:`GateToolset`: every tool the model sees is this wrapper. A proposed call
  goes through the gate: decide and record; then, if allowed, execute (with the
  effect ledger) or, if a person must approve, open the request. An approved call is
  checked again and executed when the run resumes. Nothing reaches a tool otherwise.

A call is not a DBOS step: tether's effect ledger already notes every call it decided
(refused, held, started, done, failed) by the call's idempotency key, so a segment
replayed after a crash gets each call's answer from the ledger, as a step would have
given it from DBOS's checkpoint, and a step would only write the same answer twice
(see docs/architecture.md, "Steps tether does not checkpoint").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbos import DBOS
from pydantic_ai import (
    ApprovalRequired,
    FunctionToolset,
    RunContext,
    Tool,
    ToolDenied,
    ToolFailed,
    WrapperToolset,
)
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.wrapper import WrapperModel

from tether.agents import Agent, model_tool_name, tool_name_from_model
from tether.calls import Principal, ProposedCall, RunState
from tether.errors import RunHalted
from tether.gate import Gate
from tether.runtime import _answers as answer
from tether.runtime._calls import CallPath
from tether.runtime._journal import current


async def step(name: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``function`` as a DBOS step when inside a run's workflow, else directly."""
    if DBOS.workflow_id is None or DBOS.step_id is not None:
        result = function(*args, **kwargs)
        return await result if isinstance(result, Awaitable) else result
    return await DBOS.run_step_async({"name": name}, function, *args, **kwargs)


class StepModel(WrapperModel):
    async def request(
        self, messages: list[ModelMessage], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        journal = current()
        if journal is None:  # outside a segment
            return await self.wrapped.request(messages, *args, **kwargs)
        journal.check()
        replayed = journal.replayed()
        if replayed is not None:
            return replayed
        response = await self.wrapped.request(messages, *args, **kwargs)
        journal.keep(response)
        return response


def run_secrets(
    gate: Gate, messages: Sequence[ModelMessage], *, seen: SecretsSeen | None = None
) -> frozenset[str]:
    """The secret values a run has handed to its tools so far (from its history): the
    model may repeat them in its words, which are scrubbed of them. ``seen`` keeps
    each response's values, for a run that asks at every call."""
    found = seen if seen is not None else SecretsSeen()
    return frozenset(
        value
        for message in messages
        if isinstance(message, ModelResponse)
        for value in found.handed(gate, message)
    )


@dataclass(eq=False)
class SecretsSeen:
    """The secret values each of a run's model responses handed to its tools, worked
    out once per response (the response is kept with them: its id stays its own)."""

    _by_response: dict[int, tuple[ModelResponse, tuple[str, ...]]] = field(default_factory=dict)

    def handed(self, gate: Gate, response: ModelResponse) -> tuple[str, ...]:
        known = self._by_response.get(id(response))
        if known is not None and known[0] is response:
            return known[1]
        values = tuple(
            value
            for part in response.parts
            if isinstance(part, ToolCallPart)
            for value in gate.secret_values(
                tool_name_from_model(part.tool_name), part.args_as_dict()
            )
        )
        self._by_response[id(response)] = (response, values)
        return values


@dataclass(frozen=True, kw_only=True)
class RunDeps:
    """What the tools' wrapper needs to know about the run it serves."""

    calls: CallPath
    run_id: str
    agent: Agent
    principal: Principal
    secrets: SecretsSeen = field(default_factory=SecretsSeen)
    """The secret values the run's responses handed to tools, as they are found."""


def why_of(ctx: RunContext[Any]) -> str:
    """The model's words in the response that proposed this call."""
    for message in reversed(ctx.messages):
        if isinstance(message, ModelResponse) and any(
            isinstance(part, ToolCallPart) and part.tool_call_id == ctx.tool_call_id
            for part in message.parts
        ):
            return " ".join(part.content for part in message.parts if isinstance(part, TextPart))
    return ""


MAX_REFUSED_REPEATS = 3
"""After the same call is refused this many times in a run, the run ends: the model is
not correcting, and would loop until its request limit."""


def refusals_before(ctx: RunContext[Any], name: str, args: dict[str, Any]) -> int:
    """How often this run's model proposed exactly this call before and was refused."""
    denied = {
        part.tool_call_id
        for message in ctx.messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.outcome == "denied"
    }
    return sum(
        1
        for message in ctx.messages
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart)
        and part.tool_call_id in denied
        and part.tool_name == name
        and part.args_as_dict() == args
    )


def _not_called(**_: Any) -> None:
    raise RuntimeError("tether runs tools through the gate, never directly")


def offered_tools(agent: Agent) -> FunctionToolset[RunDeps]:
    """The tool definitions the model is offered: the agent's granted tools."""
    return FunctionToolset(
        [
            Tool.from_schema(
                _not_called,
                name=model_tool_name(item.name),
                description=item.description,
                json_schema=item.json_schema(),
            )
            for item in agent.tools
        ],
        id=f"tether-{agent.name}",
    )


class GateToolset(WrapperToolset[RunDeps]):
    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[RunDeps], tool: Any
    ) -> Any:
        deps = ctx.deps
        call = ProposedCall(
            tool=tool_name_from_model(name),
            args=tool_args,
            agent=deps.agent.name,
            agent_version=deps.agent.version,
            principal=deps.principal,
            run=RunState(id=deps.run_id),
            call_id=ctx.tool_call_id or f"call-{ctx.run_step}",
            why=why_of(ctx),
            secrets=run_secrets(deps.calls.gate, ctx.messages, seen=deps.secrets),
        )
        if ctx.tool_call_approved:
            recorded = await deps.calls.execute_approved(call)
        else:
            recorded = await deps.calls.propose(call)
        match recorded:
            case answer.Executed(text=text):
                return text
            case answer.Refused(text=text):
                times = refusals_before(ctx, name, tool_args) + 1
                if times >= MAX_REFUSED_REPEATS:
                    raise RunHalted(call.tool, times, text)
                return ToolDenied(text)
            case answer.AwaitingApproval(request_id=request_id):
                raise ApprovalRequired(metadata={"request_id": request_id})
            case answer.Failed(text=text):
                raise ToolFailed(text)
