"""What a trial did, read from the audit trail: the calls, the gate's decisions, what ran.

The trail is the authority. A run that failed, hit a limit or was cancelled at its
timeout has executed whatever it executed, and its model history may be partial or
missing; the trail has every call that reached the gate (and, recorded as the gate's
default denial, every call of a tool the agent was never offered). The model's
messages add what only they hold: calls that never reached the gate (arguments that
failed the tool's schema), the arguments as the model wrote them (the trail's are
redacted), and the tokens and cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_ai import ModelMessagesTypeAdapter
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart

from tether.agents import tool_name_from_model
from tether.audit import StoredEvent
from tether.evals._results import Action


@dataclass
class _Call:
    tool: str
    args: dict[str, Any]
    decision: str | None = None
    executed: bool = False
    approval: str | None = None


def _from_trail(events: Iterable[StoredEvent]) -> dict[str, _Call]:
    """The calls of the trail, in the order they were first recorded."""
    calls: dict[str, _Call] = {}
    for stored in events:
        event = stored.event
        if event.call_id is None:
            continue
        call = calls.get(event.call_id)
        if call is None:
            if event.tool is None:
                continue
            call = calls[event.call_id] = _Call(tool=event.tool, args=dict(event.args or {}))
        if event.type == "call.decided" and event.decision:
            call.decision = str(event.decision.get("kind"))
        elif event.type == "call.executed":
            call.executed = True
        elif event.type == "approval.decided" and event.approval:
            call.approval = str(event.approval.get("verdict", "")) or None
    return calls


def _model_calls(messages: Sequence[ModelMessage]) -> list[tuple[str, str, dict[str, Any]]]:
    """(call id, tool, args) of every call the model proposed, in order, once each."""
    seen: set[str] = set()
    found = []
    for message in messages:
        if not isinstance(message, ModelResponse):
            continue
        for part in message.parts:
            if isinstance(part, ToolCallPart) and part.tool_call_id not in seen:
                seen.add(part.tool_call_id)
                found.append(
                    (part.tool_call_id, tool_name_from_model(part.tool_name), part.args_as_dict())
                )
    return found


def trial_actions(events: Iterable[StoredEvent], history: str | None) -> list[Action]:
    """The calls of a run, in order: the trail's, with the model's own calls that never
    reached the gate placed after the call the model made before them."""
    trail = _from_trail(events)
    messages = ModelMessagesTypeAdapter.validate_json(history) if history else []
    by_model = _model_calls(messages)
    model_args = {call_id: args for call_id, _, args in by_model}
    # Calls only the model knows, anchored to the call the model made before them.
    after: dict[str | None, list[tuple[str, str, dict[str, Any]]]] = {}
    anchor: str | None = None
    for call_id, tool, args in by_model:
        if call_id in trail:
            anchor = call_id
        else:
            after.setdefault(anchor, []).append((call_id, tool, args))

    def unreached(key: str | None) -> list[Action]:
        return [
            Action(tool=tool, args=args, decision=None, executed=False, call_id=call_id)
            for call_id, tool, args in after.get(key, [])
        ]

    actions = unreached(None)
    for call_id, call in trail.items():
        actions.append(
            Action(
                tool=call.tool,
                args=model_args.get(call_id, call.args),
                decision=call.decision,
                executed=call.executed,
                call_id=call_id,
                approval=call.approval,
            )
        )
        actions.extend(unreached(call_id))
    return actions


def usage_of(history: str | None) -> tuple[int | None, float | None]:
    """The tokens and cost of a run's model responses (None when unknown)."""
    messages = ModelMessagesTypeAdapter.validate_json(history) if history else []
    responses = [message for message in messages if isinstance(message, ModelResponse)]
    if not responses:
        return None, None
    tokens = sum(item.usage.input_tokens + item.usage.output_tokens for item in responses)
    cost: float | None = 0.0
    for item in responses:
        try:
            cost = (cost or 0.0) + float(item.cost().total_price)
        except Exception:  # no price for this model (scripted, local): unknown
            cost = None
            break
    return tokens, cost
