"""Scripted models: deterministic turns from a file, for tests, evaluations and the demo.

```yaml
turns:
  - text: Let me find the customer.        # what the model says (the "why" of its calls)
    calls:
      - {tool: crm.find_party, args: {name: Acme}}
  - calls:
      - {tool: erp.list_invoices, args: {party_id: 1}}
  - text: Done.                             # a turn without calls ends the run
```

The model takes turn N at its N-th request, whatever the tools answered: it is a
script, not a planner. Misbehaving scripts (calling forbidden tools, following
injected instructions) are scripts like any other.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from tether.errors import ConfigurationError, FileIssue, FileIssues
from tether.policy import YamlProblem, line_of, load_with_lines, schema_problems


def model_tool_name(name: str) -> str:
    """The name the model sees: providers allow only letters, digits, ``_`` and ``-``."""
    return name.replace(".", "__")


def tool_name_from_model(name: str) -> str:
    return name.replace("__", ".")


class ScriptedCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tool: str
    args: dict[str, Any] = {}


class ScriptedTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    calls: list[ScriptedCall] = []
    seconds: float = Field(default=0.0, ge=0, le=3600)
    """How long the model takes to answer this turn: a slow model, for timeouts."""


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")
    turns: list[ScriptedTurn] = Field(min_length=1)
    done: str = "(the script has no more turns)"
    """What the model says once it has run out of turns."""


def load_script(path: str | Path) -> Script:
    """A script file; :class:`~tether.errors.FileIssues` names each problem and its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read scripted model {path}: {exc.strerror}") from None

    def refused(problems: list[tuple[int | None, str]]) -> ScriptError:
        return ScriptError([FileIssue(file=str(path), line=n, message=m) for n, m in problems])

    try:
        data, lines = load_with_lines(text)
    except YamlProblem as exc:
        raise refused([(exc.line, exc.message)]) from None
    try:
        return Script.model_validate(data)
    except ValidationError as exc:
        problems = [
            (line_of(lines, where), message)
            for where, message in schema_problems(exc, data, Script)
        ]
        raise refused(sorted(problems, key=lambda problem: problem[0] or 0)) from None


class ScriptError(FileIssues):
    """A scripted model's file could not be loaded. ``issues`` lists every problem."""

    invalid = "scripted model is invalid"


def scripted_model(script: Script, *, name: str = "scripted") -> FunctionModel:
    """A Pydantic AI model that plays ``script``."""

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        taken = sum(1 for message in messages if isinstance(message, ModelResponse))
        if taken >= len(script.turns):
            return ModelResponse(parts=[TextPart(script.done)])
        turn = script.turns[taken]
        if turn.seconds:
            await asyncio.sleep(turn.seconds)
        parts: list[TextPart | ToolCallPart] = []
        if turn.text:
            parts.append(TextPart(turn.text))
        for index, call in enumerate(turn.calls):
            parts.append(
                ToolCallPart(
                    tool_name=model_tool_name(call.tool),
                    args=dict(call.args),
                    tool_call_id=f"call-{taken + 1}-{index + 1}",
                )
            )
        return ModelResponse(parts=parts)

    return FunctionModel(respond, model_name=name)
