"""A segment: one DBOS workflow that runs the agent from where its run stands.

    begin (conditional) ──► agent loop (model responses and calls in the ledger) ──► park | end

Beginning and ending are not steps: both are conditional writes (only a run queued or
running in this segment begins; only one not yet ended ends), so a segment run again
after a crash begins only if it had not ended, and then replays to the same point:
the model's responses from the journal (:mod:`._journal`), the calls' answers from the
effect ledger.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import DeferredToolRequests, ModelMessagesTypeAdapter, capture_run_messages
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models import Model

from tether.agents import (
    Agent,
    limit_message,
    model_tool_name,
    resolve_model,
    tool_name_from_model,
)
from tether.calls import ProposedCall
from tether.gate import Gate
from tether.policy import Policy
from tether.runtime._calls import CallPath
from tether.runtime._dbos import ENDED_ELSEWHERE, DBOSError, segment_id
from tether.runtime._ending import Endings
from tether.runtime._handle import Watch
from tether.runtime._journal import CURRENT, Journal
from tether.runtime._records import RunRecord
from tether.runtime._resume import DEFERRED_RESULTS, Resumer
from tether.runtime._store import RunStore
from tether.runtime._toolset import (
    GateToolset,
    RunDeps,
    StepModel,
    offered_tools,
    run_secrets,
    step,
)

DEFERRED_REQUESTS = TypeAdapter(DeferredToolRequests)
MAX_BUILT_AGENTS = 64
"""Pydantic AI agents kept built, one per agent and model (the oldest goes first)."""

BuiltAgent = PydanticAgent[RunDeps, str | DeferredToolRequests]
ModelChoice = str | Model
"""A model by name (``openai-chat:gpt-4o``, a script file) or a Pydantic AI model object."""


class Segments:
    """Runs the segments of runs in this process."""

    def __init__(
        self,
        *,
        policy: Policy,
        agents: Mapping[str, Agent],
        store: RunStore,
        gate: Gate,
        calls: CallPath,
        endings: Endings,
        resumer: Resumer,
        models: Callable[[str], Model | None],
        watch: Watch,
    ) -> None:
        self.policy = policy
        self.agents = agents
        self.store = store
        self.gate = gate
        self.calls = calls
        self.endings = endings
        self.resumer = resumer
        self.models = models
        """Model objects handed to ``Runtime.start`` (by the run's model key), else None."""
        self._built: dict[str, BuiltAgent] = {}
        self.watch = watch

    async def run_segment(self, run_id: str, segment: int) -> str:
        record: RunRecord | None = None
        try:
            record, stopped, recorded = await asyncio.to_thread(self.store.begin, run_id, segment)
            if record is None:
                return "skipped"
            if stopped is not None:
                return await self._end(record, "stopped", error=stopped)
            journal = Journal(
                run_id=run_id,
                segment=segment,
                workflow_id=segment_id(run_id, segment),
                recorded=recorded,
            )
            token = CURRENT.set(journal)
            try:
                return await self._segment(record)
            finally:
                CURRENT.reset(token)
        except DBOSError:
            raise
        except Exception as exc:  # a bug or a broken tool set: the run fails, recorded
            error = self.gate.redactor.redact_text(f"{type(exc).__name__}: {exc}")
            if record is None:
                record = await asyncio.to_thread(self.store.get, run_id)
            return await self._end(record, "failed", error=error)

    async def _segment(self, record: RunRecord) -> str:
        """Run the agent from where the run stands; park it or end it."""
        agent = self.agents[record.agent]
        principal = self.policy.principal(record.principal)
        if principal is None:
            error = f"principal {record.principal} is no longer a user of the policy"
            return await self._end(record, "failed", error=error)
        history = ModelMessagesTypeAdapter.validate_json(record.history) if record.history else None
        results = DEFERRED_RESULTS.validate_python(record.results) if record.results else None
        deps = RunDeps(calls=self.calls, run_id=record.id, agent=agent, principal=principal)
        known = len(history or ())
        with capture_run_messages() as messages:
            try:
                with PydanticAgent.parallel_tool_call_execution_mode("sequential"):
                    result = await self.built(agent, record.model).run(
                        None if history else record.task,
                        message_history=history,
                        deferred_tool_results=results,
                        deps=deps,
                        model_settings=agent.model_settings.settings(),
                        usage_limits=agent.limits.usage_limits(),
                    )
            except ENDED_ELSEWHERE:
                await self._record_unoffered_when_cancelled(record.id, messages[known:], agent)
                raise
            except DBOSError:
                raise
            except Exception as exc:  # the model or the loop failed: the run fails, recorded
                # What the model did before it failed stays on the record: its calls of
                # tools it was never offered, and its history.
                await self._record_unoffered_in(record.id, messages[known:], agent)
                secrets = run_secrets(self.gate, messages, seen=deps.secrets)
                scrub = self.gate.redactor.with_secrets(values=secrets)
                limit = limit_message(exc, agent=agent.name, limits=agent.limits)
                error = scrub.redact_text(limit or f"{type(exc).__name__}: {exc}")
                trail = ModelMessagesTypeAdapter.dump_json(messages).decode() if messages else None
                return await self._end(record, "failed", error=error, history=trail)
        try:
            await self._record_unoffered_in(record.id, result.new_messages(), agent)
        except ENDED_ELSEWHERE:
            await self._record_unoffered_when_cancelled(record.id, result.new_messages(), agent)
            raise
        history_json = result.all_messages_json().decode()
        usage = dataclasses.asdict(result.usage)
        if isinstance(result.output, DeferredToolRequests):
            pending = DEFERRED_REQUESTS.dump_python(result.output, mode="json")
            return await asyncio.to_thread(
                self._park, record.id, record.segment, history_json, pending, usage
            )
        scrub = self.gate.redactor.with_secrets(
            values=run_secrets(self.gate, result.all_messages(), seen=deps.secrets)
        )
        if result.output is None:  # the model ended without a word: its actions stand
            return await self._end(
                record,
                "completed",
                history=history_json,
                usage=usage,
                details={"answer": "the model ended the run without a final answer"},
            )
        return await self._end(
            record,
            "completed",
            output=scrub.redact_text(result.output),
            history=history_json,
            usage=usage,
        )

    async def _record_unoffered_in(
        self, run_id: str, messages: Sequence[ModelMessage], agent: Agent
    ) -> None:
        unoffered = unoffered_calls(messages, agent)
        if unoffered:
            # The responses that proposed them first: the step's record must be of the
            # responses a replay is given.
            await asyncio.to_thread(self._write_journal)
            await step("tether.record_unoffered", self._record_unoffered, run_id, unoffered)

    def _write_journal(self) -> None:
        journal = CURRENT.get()
        if journal is None or not journal.held:
            return
        with self.store.engine.begin() as conn:
            journal.write(conn)
        journal.check()

    async def _record_unoffered_when_cancelled(
        self, run_id: str, messages: Sequence[ModelMessage], agent: Agent
    ) -> None:
        """The same record, made directly, when the run was cancelled or stopped: its
        workflow takes no more steps (and is never replayed), but what its model proposed
        stays on the trail. (A segment another worker took over records them itself.)"""
        unoffered = unoffered_calls(messages, agent)
        if not unoffered:
            return
        status = await asyncio.to_thread(self.store.status, run_id)
        if status in ("cancelled", "stopped"):
            await asyncio.to_thread(self._record_unoffered, run_id, unoffered)

    async def _end(self, record: RunRecord, status: Any, **values: Any) -> str:
        """End the run from its segment (off the event loop)."""
        return await asyncio.to_thread(
            self.endings.finish, record.id, status, segment=record.segment, record=record, **values
        )

    def built(self, agent: Agent, model: str | None) -> BuiltAgent:
        """The Pydantic AI agent for ``agent`` with ``model`` (the agent's own when None)."""
        key = f"{agent.name}|{model or ''}"
        found = self._built.get(key)
        if found is None:
            chosen = self.models(model) if model else None
            if chosen is None:
                chosen = resolve_model(model, base_dir=Path.cwd()) if model else None
            found = PydanticAgent(
                StepModel(chosen or agent.resolve_model()),
                instructions=agent.instructions or None,
                deps_type=RunDeps,
                toolsets=[GateToolset(offered_tools(agent))],
                # None: a model may end with no words once its actions are done.
                output_type=[str, DeferredToolRequests, type(None)],
            )
            if len(self._built) >= MAX_BUILT_AGENTS:  # runs may name many models
                self._built.pop(next(iter(self._built)))
            self._built[key] = found
        return found

    def _record_unoffered(self, run_id: str, calls: list[dict[str, Any]]) -> None:
        """Calls of tools the agent was never offered: refused by the model framework before
        they reached the gate, and recorded here as the gate's default denial."""
        record = self.store.get(run_id)
        principal = self.policy.principal(record.principal)
        if principal is None:
            return
        for item in calls:
            self.gate.propose(
                ProposedCall(
                    tool=item["tool"],
                    args=item["args"],
                    agent=record.agent,
                    agent_version=record.agent_version,
                    principal=principal,
                    run=self.store.run_state(run_id),
                    call_id=item["call_id"],
                    why=item["why"],
                )
            )

    def _park(
        self,
        run_id: str,
        segment: int,
        history: str,
        pending: dict[str, Any],
        usage: dict[str, Any],
    ) -> str:
        parked = self.store.update(
            run_id,
            only_if=("running",),
            in_segment=segment,
            status="waiting_approval",
            history=history,
            pending=pending,
            results=None,
            usage=usage,
        )
        if not parked:  # a replay of a segment the run has left behind
            return self.store.get(run_id).status
        self.watch.changed(run_id)
        self.resumer.resume_if_ready(run_id)  # all of them may have been decided already
        return "waiting_approval"


def unoffered_calls(messages: Sequence[ModelMessage], agent: Agent) -> list[dict[str, Any]]:
    """The calls in ``messages`` of tools ``agent`` was not offered."""
    offered = {model_tool_name(item.name) for item in agent.tools}
    calls = []
    for message in messages:
        if not isinstance(message, ModelResponse):
            continue
        why = " ".join(part.content for part in message.parts if isinstance(part, TextPart))
        for part in message.parts:
            if isinstance(part, ToolCallPart) and part.tool_name not in offered:
                calls.append(
                    {
                        "tool": tool_name_from_model(part.tool_name),
                        "args": part.args_as_dict(),
                        "call_id": part.tool_call_id,
                        "why": why,
                    }
                )
    return calls
