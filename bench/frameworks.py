"""The competitors of bench/runtime.py, on the same scripted workloads and no network.

- LangGraph: ``langchain.agents.create_agent`` (a LangGraph graph) with a SQLite
  checkpointer (``SqliteSaver``), ``durability="sync"`` (each checkpoint written
  before the next step) and the default (``"async"``: written while the next step
  runs); the approval through its ``HumanInTheLoopMiddleware`` (an interrupt, resumed
  with ``Command(resume=...)``).
- The OpenAI Agents SDK: ``Runner.run`` with a ``SQLiteSession``; the approval through
  ``needs_approval`` (an interruption; the run state saved as a string, read back,
  approved and run again). Tracing is disabled: nothing leaves the machine.

Each model is scripted: it answers from the messages it is given (how many tool
results it has seen), like tether's scripted models, so a resumed run gets the same
answers as a fresh one.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CALLS = 20


def lookup_value(n: int) -> dict[str, int]:
    return {"n": n, "square": n * n}


# --- LangGraph ------------------------------------------------------------------------


def langgraph_agent(folder: Path, *, approval: bool) -> Any:
    """A LangGraph agent on a SQLite checkpointer: 20 lookups, or one commit that a
    person approves (HumanInTheLoopMiddleware)."""
    from langchain.agents import create_agent
    from langchain.agents.middleware import HumanInTheLoopMiddleware
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import tool
    from langgraph.checkpoint.sqlite import SqliteSaver

    class ScriptedChat(BaseChatModel):
        commits: bool = False

        @property
        def _llm_type(self) -> str:
            return "scripted"

        def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
            return self

        def _generate(
            self, messages: list[BaseMessage], stop: Any = None, **kwargs: Any
        ) -> ChatResult:
            seen = sum(isinstance(message, ToolMessage) for message in messages)
            wanted = 1 if self.commits else CALLS
            if seen < wanted:
                name, args = ("commit", {"n": 7}) if self.commits else ("lookup", {"n": seen})
                reply = AIMessage(
                    content=f"Step {seen}.",
                    tool_calls=[{"name": name, "args": args, "id": f"call_{seen}"}],
                )
            else:
                reply = AIMessage(content="Done.")
            return ChatResult(generations=[ChatGeneration(message=reply)])

    @tool
    def lookup(n: int) -> dict[str, int]:
        """Look a number up."""
        return lookup_value(n)

    @tool
    def commit(n: int) -> dict[str, int]:
        """Commit a number (a person approves it)."""
        return {"n": n}

    connection = sqlite3.connect(folder / "langgraph.db", check_same_thread=False)
    saver = SqliteSaver(connection)
    middleware = [HumanInTheLoopMiddleware(interrupt_on={"commit": True})] if approval else []
    return create_agent(
        ScriptedChat(commits=approval),
        tools=[commit] if approval else [lookup],
        middleware=middleware,
        checkpointer=saver,
    )


def langgraph_run(agent: Any, durability: str) -> str:
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    result = agent.invoke(
        {"messages": [{"role": "user", "content": "twenty lookups"}]},
        config,
        durability=durability,
    )
    return str(result["messages"][-1].content)


def langgraph_park(agent: Any) -> dict[str, Any]:
    """Start a run that stops at its approval; its config (the thread to resume)."""
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    agent.invoke({"messages": [{"role": "user", "content": "commit 7"}]}, config, durability="sync")
    return config


def langgraph_resume(agent: Any, config: dict[str, Any]) -> str:
    from langgraph.types import Command

    result = agent.invoke(
        Command(resume={"decisions": [{"type": "approve"}]}), config, durability="sync"
    )
    return str(result["messages"][-1].content)


# --- the OpenAI Agents SDK --------------------------------------------------------------


def openai_agent(*, approval: bool) -> Any:
    from agents import Agent, function_tool, set_tracing_disabled
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )

    set_tracing_disabled(True)

    class ScriptedModel(Model):
        async def get_response(
            self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
        ) -> ModelResponse:
            items = input if isinstance(input, list) else []
            seen = sum(
                1
                for item in items
                if (item.get("type") if isinstance(item, dict) else getattr(item, "type", None))
                == "function_call_output"
            )
            wanted = 1 if approval else CALLS
            if seen < wanted:
                name, args_ = ("commit", {"n": 7}) if approval else ("lookup", {"n": seen})
                output: list[Any] = [
                    ResponseFunctionToolCall(
                        type="function_call",
                        call_id=f"call_{seen}",
                        name=name,
                        arguments=json.dumps(args_),
                        id=f"fc_{seen}",
                        status="completed",
                    )
                ]
            else:
                output = [
                    ResponseOutputMessage(
                        id="msg_done",
                        type="message",
                        role="assistant",
                        status="completed",
                        content=[
                            ResponseOutputText(type="output_text", text="Done.", annotations=[])
                        ],
                    )
                ]
            return ModelResponse(output=output, usage=Usage(), response_id=None)

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    @function_tool
    def lookup(n: int) -> str:
        """Look a number up."""
        return json.dumps(lookup_value(n))

    @function_tool(needs_approval=True)
    def commit(n: int) -> str:
        """Commit a number (a person approves it)."""
        return json.dumps({"n": n})

    return Agent(name="bench", model=ScriptedModel(), tools=[commit] if approval else [lookup])


def openai_session(folder: Path) -> Any:
    from agents import SQLiteSession

    return SQLiteSession(uuid.uuid4().hex, str(folder / "openai-agents.db"))


async def openai_run(agent: Any, folder: Path) -> str:
    from agents import Runner

    result = await Runner.run(agent, "twenty lookups", session=openai_session(folder), max_turns=50)
    return str(result.final_output)


async def openai_park(agent: Any, folder: Path) -> tuple[str, Any]:
    """A run stopped at its approval: its state as a string, and its session."""
    from agents import Runner

    session = openai_session(folder)
    result = await Runner.run(agent, "commit 7", session=session)
    if not result.interruptions:
        raise RuntimeError("the OpenAI Agents run did not stop for approval")
    return result.to_state().to_string(), session


async def openai_resume(agent: Any, saved: str, session: Any) -> str:
    from agents import Runner, RunState

    state = await RunState.from_string(agent, saved)
    for item in state.get_interruptions():
        state.approve(item)
    result = await Runner.run(agent, state, session=session)
    return str(result.final_output)
