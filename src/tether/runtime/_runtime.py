"""Durable runs: a run is a chain of DBOS workflows ("segments"); a run waiting for a
person holds no thread, no process and no workflow.

    start ──► segment 1 ──► (needs approval) parked ──► approve/reject ──► segment 2 ──► …
                 │                                                           │
                 └──────────── completed / failed / stopped ◄────────────────┘

Each segment begins the run (a conditional write: only a run queued or running in
that segment begins), runs the Pydantic AI agent loop with every model request and
every gate decision and tool execution as a step, and parks or ends the run (a
conditional write again, with its audit event). After ``kill -9`` a segment resumes
from its last finished step; the effect ledger and the tools' idempotency keys make a
repeated execution a no-op.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSClient, DBOSConfig
from dbos._error import DBOSException
from pydantic import TypeAdapter
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import (
    DeferredToolRequests,
    DeferredToolResults,
    ModelMessagesTypeAdapter,
    ToolApproved,
    ToolDenied,
)
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from sqlalchemy.engine import Connection, Engine

from tether._version import __version__
from tether.agents import Agent, model_tool_name, resolve_model, tool_name_from_model
from tether.approvals import ApprovalError, ApprovalRequest, Approvals, Notifier
from tether.approvals._tables import approval_request
from tether.audit import AuditEvent, AuditLog, EventType
from tether.calls import ProposedCall, RunState
from tether.db import connect, reading
from tether.errors import ConfigurationError
from tether.gate import (
    Allow,
    Deny,
    Executed,
    Failed,
    Gate,
    GateEvent,
    NeedsApproval,
    evaluate,
)
from tether.policy import Policy
from tether.runtime._store import FINISHED, EffectRecord, RunRecord, RunStore
from tether.runtime._tables import run as run_table
from tether.runtime._toolset import GateToolset, RunDeps, StepModel, offered_tools, step
from tether.runtime._workers import heartbeat, recover_dead_workers
from tether.tools import Effect


class _StderrNow(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is logged.

    DBOS binds its console handler to the ``sys.stderr`` of the moment it starts; when
    that stream is later replaced and closed (a test runner, a redirected CLI), logging
    would fail. Installed first, this handler is the one DBOS keeps.
    """

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        return


def _install_dbos_log_handler() -> None:
    dbos_logger = logging.getLogger("dbos")
    if not dbos_logger.handlers:
        handler = _StderrNow()
        handler.name = "__dbos_console_log_handler__"
        handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)8s] (dbos) %(message)s"))
        dbos_logger.addHandler(handler)


_install_dbos_log_handler()

QUEUE = "tether-runs"
WORKFLOW = "tether.run_segment"
_DEFERRED_RESULTS = TypeAdapter(DeferredToolResults)
_DEFERRED_REQUESTS = TypeAdapter(DeferredToolRequests)


class _Process:
    """The runtime this process executes runs for (DBOS is one per process)."""

    runtime: Runtime | None = None


def current_runtime() -> Runtime:
    if _Process.runtime is None:
        raise RuntimeError("no tether runtime is launched in this process")
    return _Process.runtime


@DBOS.workflow(name=WORKFLOW)
async def run_segment(run_id: str, segment: int) -> str:
    return await current_runtime().run_segment(run_id, segment)


def dbos_url(url: str) -> str:
    """DBOS takes plain ``postgresql://`` URLs; SQLite URLs as they are."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


MAX_BUILT_AGENTS = 64
"""Pydantic AI agents kept built, one per agent and model (the oldest goes first)."""


class Runtime:
    """Runs agents durably under one policy, with approvals and the audit trail."""

    def __init__(
        self,
        *,
        policy: Policy,
        agents: Sequence[Agent],
        database: str,
        keys: str | None = None,
        notifiers: Sequence[Notifier] = (),
        executor_id: str | None = None,
        application_version: str | None = None,
        stale_after_seconds: float = 30.0,
    ) -> None:
        self.policy = policy
        self.agents = {agent.name: agent for agent in agents}
        for agent in agents:
            if agent.policy.version != policy.version:
                raise ConfigurationError(f"agent {agent.name} uses another policy")
        self.database_url = database
        self.engine: Engine = connect(database)
        self.store = RunStore(self.engine)
        self.audit = AuditLog(self.engine, keys=keys)
        self.gate = Gate(
            policy, database=self.engine, recorder=self.audit, stop_switch=self.store.stopped
        )
        self.approvals = Approvals(
            self.gate,
            self.engine,
            audit=self.audit,
            notifiers=notifiers,
            run_state=self.store.run_state,
        )
        self.executor_id = executor_id or os.environ.get("DBOS__VMID") or "local"
        self.application_version = application_version or f"tether-{__version__}"
        self.stale_after_seconds = stale_after_seconds
        """A worker whose heartbeat is older than this is taken to be dead."""
        self._client: DBOSClient | None = None
        self._launched = False
        self._pydantic_agents: dict[str, PydanticAgent[RunDeps, str | DeferredToolRequests]] = {}

    # --- lifecycle --------------------------------------------------------------------

    def launch(self, *, concurrency: int = 4) -> None:
        """Start executing runs in this process (a worker)."""
        if _Process.runtime is not None and _Process.runtime is not self:
            raise RuntimeError("another tether runtime is already launched in this process")
        _Process.runtime = self
        config: DBOSConfig = {
            "name": "tether",
            "system_database_url": dbos_url(self.database_url),
            "application_version": self.application_version,
            "executor_id": self.executor_id,
            "log_level": "WARNING",
            "notification_listener_polling_interval_sec": 0.2,
        }
        DBOS(config=config)
        DBOS.launch()
        # Poll the queue often: a run waits for the next poll before it starts or resumes.
        DBOS.register_queue(QUEUE, worker_concurrency=concurrency, polling_interval_sec=0.1)
        self._launched = True
        heartbeat(self)

    def close(self) -> None:
        if self._launched:
            DBOS.destroy(workflow_completion_timeout_sec=5)
            self._launched = False
            _Process.runtime = None
        if self._client is not None:
            self._client.destroy()
            self._client = None
        self.engine.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def client(self) -> DBOSClient:
        if self._client is None:
            self._client = DBOSClient(
                system_database_url=dbos_url(self.database_url), application_name="tether"
            )
            # A client alone does not create DBOS's tables; a fresh database needs them
            # before the first run can be queued (DBOS has no public call for this).
            self._client._sys_db.run_migrations()
        return self._client

    # --- starting and following runs ------------------------------------------------------

    def start(
        self, agent: str, task: str, *, principal: str, model: str | None = None
    ) -> RunRecord:
        """Queue a new run of ``agent`` on ``task``, acting for ``principal``.

        ``model`` replaces the agent's model for this run (a live model, another script).
        """
        definition = self.agents.get(agent)
        if definition is None:
            known = ", ".join(sorted(self.agents)) or "(none)"
            raise ConfigurationError(f"unknown agent {agent!r}; agents: {known}")
        person = self.policy.principal(principal)
        if person is None:
            raise ConfigurationError(f"unknown principal {principal!r}: not a user of the policy")
        if not self.policy.agents[agent].may_act_for(person):
            raise ConfigurationError(f"agent {agent} may not act for {principal}")
        run_id = f"run_{uuid.uuid4().hex[:16]}"
        record = self.store.create(
            run_id=run_id,
            agent=agent,
            agent_version=definition.version,
            principal=principal,
            task=task,
            model=model,
        )
        self.audit.append(
            AuditEvent(
                type="run.started",
                run_id=run_id,
                agent=agent,
                agent_version=definition.version,
                principal=principal,
                details={"task": task},
            )
        )
        self._enqueue(run_id, 1)
        return record

    def wait(self, run_id: str, *, timeout_seconds: float = 120.0) -> RunRecord:
        """The run once it has stopped moving (finished, or waiting for a person)."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            record = self.store.get(run_id)
            if record.status not in ("queued", "running"):
                return record
            if time.monotonic() > deadline:
                return record
            time.sleep(0.05)

    def _enqueue(self, run_id: str, segment: int) -> None:
        # The workflow id makes this idempotent: enqueuing a segment twice runs it once.
        self.client.enqueue(
            {
                "queue_name": QUEUE,
                "workflow_name": WORKFLOW,
                "workflow_id": f"{run_id}/seg-{segment}",
            },
            run_id,
            segment,
        )

    # --- a segment ------------------------------------------------------------------------

    async def run_segment(self, run_id: str, segment: int) -> str:
        record: RunRecord | None = None
        try:
            record, stopped = await asyncio.to_thread(self.store.begin_segment, run_id, segment)
            if record is None:
                return "skipped"
            if stopped is not None:
                return await self._end(record, "stopped", error=stopped)
            return await self._segment(record)
        except DBOSException:
            raise
        except Exception as exc:  # a bug or a broken tool set: the run fails, recorded
            error = self.gate.redactor.redact_text(f"{type(exc).__name__}: {exc}")
            if record is None:
                record = await asyncio.to_thread(self.store.get, run_id)
            return await self._end(record, "failed", error=error)

    async def _segment(self, record: RunRecord) -> str:
        """Run the agent from where the run stands; park it or end it.

        Beginning and ending the segment are not steps: both are conditional writes
        (only a run queued or running in this segment begins; only one not yet ended
        ends), so a segment run again after a crash begins only if it had not ended,
        and then replays its steps from DBOS's checkpoints to the same point.
        """
        agent = self.agents[record.agent]
        principal = self.policy.principal(record.principal)
        if principal is None:
            error = f"principal {record.principal} is no longer a user of the policy"
            return await self._end(record, "failed", error=error)
        history = ModelMessagesTypeAdapter.validate_json(record.history) if record.history else None
        results = _DEFERRED_RESULTS.validate_python(record.results) if record.results else None
        deps = RunDeps(runtime=self, run_id=record.id, agent=agent, principal=principal)
        try:
            with PydanticAgent.parallel_tool_call_execution_mode("sequential"):
                result = await self._agent(agent, record.model).run(
                    None if history else record.task,
                    message_history=history,
                    deferred_tool_results=results,
                    deps=deps,
                )
        except Exception as exc:  # the model or the loop failed: the run fails, recorded
            error = self.gate.redactor.redact_text(f"{type(exc).__name__}: {exc}")
            return await self._end(record, "failed", error=error)
        unoffered = _unoffered_calls(result.new_messages(), agent)
        if unoffered:
            await step("tether.record_unoffered", self._record_unoffered, record.id, unoffered)
        history_json = result.all_messages_json().decode()
        usage = dataclasses.asdict(result.usage)
        if isinstance(result.output, DeferredToolRequests):
            pending = _DEFERRED_REQUESTS.dump_python(result.output, mode="json")
            return await asyncio.to_thread(
                self._park, record.id, record.segment, history_json, pending, usage
            )
        return await self._end(
            record, "completed", output=result.output, history=history_json, usage=usage
        )

    async def _end(self, record: RunRecord, status: str, **values: Any) -> str:
        """End the run from its segment (off the event loop)."""
        return await asyncio.to_thread(
            self._finish, record.id, status, segment=record.segment, record=record, **values
        )

    def _agent(
        self, agent: Agent, model: str | None
    ) -> PydanticAgent[RunDeps, str | DeferredToolRequests]:
        key = f"{agent.name}|{model or ''}"
        built = self._pydantic_agents.get(key)
        if built is None:
            resolved = resolve_model(model, base_dir=Path.cwd()) if model else agent.resolve_model()
            built = PydanticAgent(
                StepModel(resolved),
                instructions=agent.instructions or None,
                deps_type=RunDeps,
                toolsets=[GateToolset(offered_tools(agent))],
                output_type=[str, DeferredToolRequests],
            )
            if len(self._pydantic_agents) >= MAX_BUILT_AGENTS:  # runs may name many models
                self._pydantic_agents.pop(next(iter(self._pydantic_agents)))
            self._pydantic_agents[key] = built
        return built

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
                    run=self.run_state(run_id),
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
        self.resume_if_ready(run_id)  # all of them may have been decided already
        return "waiting_approval"

    def _finish(
        self,
        run_id: str,
        status: str,
        *,
        output: str | None = None,
        error: str | None = None,
        history: str | None = None,
        usage: dict[str, Any] | None = None,
        segment: int | None = None,
        record: RunRecord | None = None,
    ) -> str:
        """End a run (from its segment, or an operator's stop or cancel), recorded: the
        event and the run's end in one transaction, or neither when the run had already
        ended or gone on to another segment. ``record``: the run as the caller has it."""
        allowed = ("queued", "running", "waiting_approval")
        if record is None:
            record = self.store.get(run_id)
            if record.status not in allowed:
                return record.status
        values: dict[str, Any] = {
            "status": status,
            "output": output,
            "error": error,
            "pending": None,
            "results": None,
        }
        if history is not None:
            values["history"] = history
        if usage is not None:
            values["usage"] = usage
        kind: EventType = "run.stopped" if status in ("stopped", "cancelled") else "run.finished"
        event = AuditEvent(
            type=kind,
            run_id=run_id,
            agent=record.agent,
            agent_version=record.agent_version,
            principal=record.principal,
            error=error,
            details={"status": status, "output": output} if output else {"status": status},
        )

        def end(conn: Connection) -> bool:
            return self.store.update(
                run_id, only_if=allowed, in_segment=segment, conn=conn, **values
            )

        if not self.audit.append_many([event], alongside=end):
            return self.store.get(run_id).status
        return status

    # --- the steps of a call ------------------------------------------------------------

    def run_state(self, run_id: str) -> RunState:
        return self.store.run_state(run_id)

    def decide_call(self, call: ProposedCall, *, defer_reads: bool = False) -> dict[str, Any]:
        """The gate's decision (recorded); a request for approval when one is needed.

        With ``defer_reads``, an allowed read's events are not recorded here but
        returned, to be recorded with its execution: one write instead of two.
        """
        state, stopped = self.store.call_context(call.run.id, call.agent)
        assessed = self.gate.assess(dataclasses.replace(call, run=state), stopped=stopped)
        call, decision = assessed.call, assessed.decision
        if defer_reads and isinstance(decision, Allow) and self._reads(call, decision):
            return {"kind": "allow", "decision": decision, "call": call, "events": assessed.events}
        self.gate.record(assessed.events)
        if isinstance(decision, Deny):
            return {"kind": "deny", "message": decision.model_message}
        if isinstance(decision, NeedsApproval):
            request = self.approvals.request(call, decision)
            return {"kind": "needs_approval", "request_id": request.id}
        return {"kind": "allow", "decision": decision, "call": call, "events": ()}

    def _reads(self, call: ProposedCall, decision: Allow | NeedsApproval) -> bool:
        return self.policy.tools.get(call.tool).effect_under(decision.effect) is Effect.READ

    async def gate_call(self, call: ProposedCall) -> dict[str, str]:
        """A proposed call, decided and, when allowed, executed: one step of a run.

        Deciding and executing share a step because a step replayed after a crash
        repeats neither: the limits a call claimed are claimed once per call, and the
        effect ledger answers for an execution that already happened. Database work
        runs off the event loop, which the worker's other runs share.
        """
        verdict = await asyncio.to_thread(self.decide_call, call, defer_reads=True)
        if verdict["kind"] == "deny":
            return {"kind": "refused", "text": verdict["message"]}
        if verdict["kind"] == "needs_approval":
            return {"kind": "needs_approval", "request_id": verdict["request_id"]}
        return await self._execute(
            verdict["call"], verdict["decision"], None, decided=verdict["events"]
        )

    async def execute_approved(self, call: ProposedCall) -> dict[str, str]:
        """Run an approved call: checked again, exactly as approved, once."""
        checked = await asyncio.to_thread(self._claim_approved, call)
        if isinstance(checked, str):
            return {"kind": "refused", "text": checked}
        if isinstance(checked, EffectRecord):  # it ran before a crash: its answer again
            return {"kind": "executed", "text": checked.model_text or ""}
        call, decision = checked
        return await self._execute(call, decision, dict(call.args), begun=True)

    def _claim_approved(
        self, call: ProposedCall
    ) -> tuple[ProposedCall, Allow | NeedsApproval] | EffectRecord | str:
        """The approved call, claimed, checked again and noted in the effect ledger as
        starting, in one transaction; the ledger's record if it already ran; or why
        it may not run (the approval stays used: it was for this one call)."""
        with self.engine.begin() as conn:
            try:  # a request already "executed": this step ran before a crash
                request = self.approvals.claim_call(call.run.id, call.call_id, conn=conn)
            except ApprovalError as exc:  # closed, invalid
                return f"The approval cannot be used: {exc}"
            if request is None:
                return "No approval was found for this action."
            state, stopped = self.store.call_context(call.run.id, call.agent, conn=conn)
            call = dataclasses.replace(call, args=request.args, run=state)
            if stopped is not None:
                return f"The agent has been stopped: {stopped}"
            decision = evaluate(self.policy, self.gate.locate(call)).decision
            if isinstance(decision, Deny):
                return decision.model_message
            # NeedsApproval: this is the approval it needed.
            if not self._reads(call, decision):
                done = self.store.effect_begin(
                    key=call.idempotency_key,
                    run_id=call.run.id,
                    call_id=call.call_id,
                    tool=call.tool,
                    args=self._shown(call, None),
                    conn=conn,
                )
                if done is not None:
                    return done
            return call, decision

    def _shown(self, call: ProposedCall, args: dict[str, Any] | None) -> dict[str, Any]:
        """The arguments as the effect ledger keeps them: secrets redacted."""
        tool = self.policy.tools.get(call.tool)
        shown: dict[str, Any] = (
            self.gate.redactor_for(tool, dict(call.args)).redact(dict(args or call.args)).value
        )
        return shown

    async def _execute(
        self,
        call: ProposedCall,
        decision: Allow | NeedsApproval,
        args: dict[str, Any] | None,
        *,
        decided: Sequence[GateEvent] = (),
        begun: bool = False,
    ) -> dict[str, str]:
        """Execute through the gate with the effect ledger; ``decided``: the decision's
        events, when they are to be recorded with the execution (an allowed read);
        ``begun``: the ledger already notes that it starts."""
        shown = self._shown(call, args)
        read = self._reads(call, decision)
        if not read and not begun:  # a read changes nothing: it needs no record before it runs
            done = await asyncio.to_thread(
                self.store.effect_begin,
                key=call.idempotency_key,
                run_id=call.run.id,
                call_id=call.call_id,
                tool=call.tool,
                args=shown,
            )
            if done is not None:
                return {"kind": "executed", "text": done.model_text or ""}
        outcome, event = await self.gate.run(call, decision, args=args)
        await asyncio.to_thread(
            self._settle_effect, call, outcome, [*decided, event], shown=shown, read=read
        )
        kind = "executed" if isinstance(outcome, Executed) else outcome.kind
        return {"kind": kind, "text": outcome.model_text}

    def _settle_effect(
        self,
        call: ProposedCall,
        outcome: Executed | Failed,
        events: list[GateEvent],
        *,
        shown: dict[str, Any],
        read: bool,
    ) -> None:
        """Record the execution and settle the effect ledger in one transaction; then
        note what the output taught the run (taint, contacts)."""
        key = call.idempotency_key

        def ledger(conn: Connection) -> None:
            if isinstance(outcome, Executed) and read:
                self.store.effect_read(
                    conn,
                    key=key,
                    run_id=call.run.id,
                    call_id=call.call_id,
                    tool=call.tool,
                    args=shown,
                    result=outcome.output.value,
                    model_text=outcome.model_text,
                )
            elif isinstance(outcome, Executed):
                self.store.effect_end(
                    key,
                    status="done",
                    result=outcome.output.value,
                    model_text=outcome.model_text,
                    conn=conn,
                )
            elif not read:
                self.store.effect_end(
                    key, status="failed", result=None, model_text=outcome.model_text, conn=conn
                )

        self.audit.record_many(events, alongside=ledger)
        if isinstance(outcome, Executed) and (outcome.output.untrusted or outcome.output.contacts):
            self.store.note_output(
                call.run.id, untrusted=outcome.output.untrusted, contacts=outcome.output.contacts
            )

    # --- deciding approvals, resuming runs -------------------------------------------------

    def approve(
        self,
        request_id: str,
        *,
        by: str,
        edit: dict[str, Any] | None = None,
        comment: str | None = None,
    ) -> ApprovalRequest:
        request = self.approvals.approve(request_id, by=by, edit=edit, comment=comment)
        self.resume_if_ready(request.run_id, just_decided=request)
        return request

    def reject(self, request_id: str, *, by: str, comment: str) -> ApprovalRequest:
        request = self.approvals.reject(request_id, by=by, comment=comment)
        self.resume_if_ready(request.run_id, just_decided=request)
        return request

    def resume_if_ready(self, run_id: str, *, just_decided: ApprovalRequest | None = None) -> bool:
        """Queue the next segment once every call the run waits on has been decided.

        ``just_decided``: a request as its decision left it; when it is the only call
        the run waits on, the requests need not be read again.
        """
        parked = self.store.parked(run_id)
        if parked is None:
            return False
        segment, pending = parked
        waiting = [part["tool_call_id"] for part in pending.get("approvals", [])]
        decided: dict[str, ApprovalRequest] | None
        if just_decided is not None and waiting == [just_decided.call_id]:
            pending_still = just_decided.status == "pending"  # a quorum still to reach
            decided = None if pending_still else {just_decided.call_id: just_decided}
        else:
            decided = self.approvals.decided_calls(run_id, waiting)
        if decided is None:
            return False
        approvals = {call_id: _result_for(decided[call_id]) for call_id in waiting}
        results = _DEFERRED_RESULTS.dump_python(
            DeferredToolResults(approvals=approvals), mode="json"
        )
        if not self.store.update(
            run_id,
            only_if=("waiting_approval",),
            in_segment=segment,
            status="queued",
            segment=segment + 1,
            results=results,
            pending=None,
        ):
            return False
        self._enqueue(run_id, segment + 1)
        return True

    # --- operators ----------------------------------------------------------------------------

    def stop(
        self, *, agent: str | None, by: str, reason: str = "stopped by an operator"
    ) -> list[str]:
        """Halt an agent (or all): new calls are refused, pending approvals cancelled."""
        target = agent or "*"
        if agent is not None and agent not in self.policy.agents:
            raise ConfigurationError(f"unknown agent {agent!r}")
        self.store.stop(agent=target, by=by, reason=reason)
        self._record_switch("agent.stopped", agent, by=by, reason=reason)
        self.approvals.cancel(agent=agent, reason=f"{reason} ({by})")
        stopped = []
        for record in self.store.find(agent=agent, limit=100_000):
            if record.status in FINISHED:
                continue
            if self._finish(record.id, "stopped", error=f"{reason} ({by})") == "stopped":
                stopped.append(record.id)
                self._cancel_workflow(record)
        return stopped

    def lift(self, *, agent: str | None, by: str) -> int:
        """Let a stopped agent (or all, for a stop of all) act again; recorded."""
        lifted = self.store.lift(agent=agent or "*")
        if lifted:
            self._record_switch("agent.resumed", agent, by=by, reason=f"{lifted} stop(s) lifted")
        return lifted

    def _record_switch(self, kind: EventType, agent: str | None, *, by: str, reason: str) -> None:
        self.audit.append(
            AuditEvent(
                type=kind,
                run_id="-",
                agent=agent,
                principal=by,
                details={"scope": agent or "all agents", "by": by, "reason": reason},
            )
        )

    def cancel(self, run_id: str, *, by: str) -> RunRecord:
        record = self.store.get(run_id)
        self.approvals.cancel(run_id=run_id, reason=f"run cancelled by {by}")
        self._finish(run_id, "cancelled", error=f"cancelled by {by}")
        self._cancel_workflow(record)
        return self.store.get(run_id)

    def _decided_waiting_runs(self) -> list[str]:
        """Runs waiting for approval none of whose requests is still pending."""
        # NOT IN, not a correlated NOT EXISTS: SQLite would answer that with the
        # requests' status index once per run (10,000 parked runs: 11 s a sweep).
        still_pending = sa.select(approval_request.c.run_id).where(
            approval_request.c.status == "pending"
        )
        waiting = sa.select(run_table.c.id).where(
            run_table.c.status == "waiting_approval", run_table.c.id.not_in(still_pending)
        )
        with reading(self.engine) as conn:
            return list(conn.execute(waiting).scalars())

    def _cancel_workflow(self, record: RunRecord) -> None:
        try:
            self.client.cancel_workflow(f"{record.id}/seg-{record.segment}")
        except Exception:  # no such workflow (parked runs have none)
            return

    async def undo(self, run_id: str, call_id: str, *, by: str) -> dict[str, str]:
        """Undo an executed call with its tool's reversing tool: a call through the gate.

        The reversal acts for ``by`` (the operator), so the policy decides whether this
        agent may do it for them; both calls are linked in the audit trail.
        """
        record = self.store.get(run_id)
        key = f"{run_id}:{call_id}"
        done = self.store.effect(key)
        if done is None or done.status != "done":
            raise ConfigurationError(
                f"call {call_id} of run {run_id} did not execute; nothing to undo"
            )
        if done.reversed_by:
            raise ConfigurationError(f"call {call_id} was already undone by {done.reversed_by}")
        tool = self.policy.tools.get(done.tool)
        if tool.reversed_by is None or tool.reverse_args is None:
            raise ConfigurationError(f"{tool.name} declares no reversing tool; it cannot be undone")
        operator = self.policy.principal(by)
        if operator is None:
            raise ConfigurationError(f"unknown user {by!r}")
        call = ProposedCall(
            tool=tool.reversed_by,
            args=tool.reverse_args(done.args, done.result),
            agent=record.agent,
            agent_version=record.agent_version,
            principal=operator,
            run=self.run_state(run_id),
            call_id=f"undo-{call_id}",
            why=f"{by} undoes {call_id} ({tool.name})",
        )
        verdict = self.decide_call(call)
        if verdict["kind"] == "deny":
            return {"kind": "refused", "text": verdict["message"]}
        if verdict["kind"] == "needs_approval":
            return {"kind": "awaiting_approval", "text": f"approval {verdict['request_id']}"}
        answer = await self._execute(verdict["call"], verdict["decision"], None)
        if answer["kind"] == "executed":
            self.store.mark_reversed(key, f"{run_id}:undo-{call_id}")
        return answer

    def sweep(self) -> dict[str, int]:
        """Periodic duties of a worker: a heartbeat, taking over dead workers' segments,
        expiries, escalations, and runs to (re)queue."""
        recovered: list[str] = []
        if self._launched:
            heartbeat(self)
            recovered = recover_dead_workers(self, self.stale_after_seconds)
        expired = self.approvals.expire_due()
        escalated = self.approvals.escalate_due()
        resumed = sum(self.resume_if_ready(run_id) for run_id in self._decided_waiting_runs())
        queued = self.store.queued()
        for run_id, segment in queued:
            self._enqueue(run_id, segment)
        return {
            "recovered_workers": len(recovered),
            "expired": len(expired),
            "escalated": len(escalated),
            "resumed": resumed,
            "queued": len(queued),
        }


def _unoffered_calls(messages: Sequence[ModelMessage], agent: Agent) -> list[dict[str, Any]]:
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


def _result_for(request: ApprovalRequest) -> bool | ToolApproved | ToolDenied:
    if request.status in ("approved", "executed"):
        return ToolApproved(override_args=request.args) if request.edited else True
    if request.status == "rejected":
        why = f": {request.comment}" if request.comment else ""
        return ToolDenied(f"A person rejected this action{why}. Do not try it again as is.")
    if request.status == "expired":
        return ToolDenied("Nobody approved this action in time; it was not done.")
    return ToolDenied(f"This action was {request.status}; it was not done.")
