"""Durable runs: a run is a chain of DBOS workflows ("segments"); a run waiting for a
person holds no thread, no process and no workflow.

    start ──► segment 1 ──► (needs approval) parked ──► approve/reject ──► segment 2 ──► …
                 │                                                           │
                 └──────────── completed / failed / stopped ◄────────────────┘

:class:`Runtime` is the facade; each concept is a part of its own:

- :mod:`._dbos`: DBOS (launch, the queue, the client), one per process;
- :mod:`._segments`: a segment, from its begin to its park or end;
- :mod:`._calls`: one call's path (decide, hold, execute once), with typed answers;
- :mod:`._resume`: resuming a parked run once its calls are decided;
- :mod:`._operators`: stop switches, cancel, undo;
- :mod:`._sweep`: a worker's periodic duties;
- :mod:`._handle`: following a run without polling; :mod:`._wake`: notifications.
"""

from __future__ import annotations

import getpass
import os
import threading
import uuid
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from tether.agents import Agent
from tether.approvals import ApprovalRequest, Approvals, Notifier
from tether.audit import AuditEvent, AuditLog, policy_version
from tether.calls import RunState
from tether.db import connect
from tether.errors import ConfigurationError
from tether.gate import Gate
from tether.identity import Actor, as_actor
from tether.policy import Policy
from tether.provenance import Identifier, Undetermined, identifiers_in_text, identifiers_of, merged
from tether.runtime import _answers as answer
from tether.runtime._calls import CallPath
from tether.runtime._ending import Endings
from tether.runtime._handle import RunHandle, Watch
from tether.runtime._protocol import (
    DEFAULT_APPLICATION_NAME,
    DEFAULT_APPLICATION_VERSION,
    DEFAULT_POLL_SECONDS,
    DURABLE_VERSION,
)
from tether.runtime._records import RunNotFound, RunRecord
from tether.runtime._store import RunStore
from tether.runtime._wake import RUNS, Listener
from tether.runtime._workers import heartbeat

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from tether.audit import LiveSpans, Witness
    from tether.runtime._dbos import Durability
    from tether.runtime._operators import Operators
    from tether.runtime._resume import Resumer
    from tether.runtime._segments import ModelChoice, Segments
    from tether.runtime._sweep import SweepReport

_PYTHON_MODEL = "python:"
"""The prefix of a run's model key when ``Runtime.start`` was given a model object."""


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
        application_name: str = DEFAULT_APPLICATION_NAME,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        stale_after_seconds: float = 30.0,
        telemetry: LiveSpans | None = None,
        witnesses: Sequence[Witness] = (),
        require_witness: bool = False,
    ) -> None:
        self.policy = policy
        self.agents = {agent.name: agent for agent in agents}
        for agent in agents:
            if agent.policy.version != policy.version:
                raise ConfigurationError(f"agent {agent.name} uses another policy")
        self.database_url = database
        self.engine: Engine = connect(database)
        self.store = RunStore(self.engine)
        self.telemetry = telemetry
        """Live OpenTelemetry export of what the trail records (None: none)."""
        self.audit: AuditLog
        if telemetry is None:
            self.audit = AuditLog(
                self.engine, keys=keys, witnesses=witnesses, require_witness=require_witness
            )
        else:  # OpenTelemetry is loaded only when spans are exported
            from tether.audit import ObservedAuditLog

            self.audit = ObservedAuditLog(
                self.engine,
                keys=keys,
                telemetry=telemetry,
                witnesses=witnesses,
                require_witness=require_witness,
            )
        self._decide_with_policy()
        self.gate = Gate(
            policy, database=self.engine, recorder=self.audit, stop_switch=self.store.stopped
        )
        self.approvals = Approvals(
            self.gate,
            self.engine,
            audit=self.audit,
            notifiers=notifiers,
            run_state=self._decision_state,
        )
        self._application_version = application_version or DEFAULT_APPLICATION_VERSION
        self._application_name = application_name
        self._executor_id = executor_id or os.environ.get("DBOS__VMID") or "local"
        self._poll_seconds = poll_seconds
        self._launch_when_needed: int | None = None
        """The concurrency to launch with once a segment is to start here, if asked."""
        self.watch = Watch()
        """Runs that parked or ended, for their handles' waiters."""
        self._runs_listener: Listener | None = None
        self._listening = threading.Lock()
        self.stale_after_seconds = stale_after_seconds
        """A worker whose heartbeat is older than this is taken to be dead."""
        self._models: dict[str, Model] = {}
        self.calls = CallPath(
            policy=policy,
            engine=self.engine,
            gate=self.gate,
            store=self.store,
            audit=self.audit,
            approvals=self.approvals,
        )
        self.endings = Endings(self.store, self.audit, watch=self.watch)

    # --- the parts that run segments, built when first used -----------------------------
    # A runtime that only reads and decides (``tether approvals list``) never loads
    # DBOS or Pydantic AI: they are imported with the first part that needs them.

    @cached_property
    def durability(self) -> Durability:
        """DBOS for this runtime (see :mod:`._dbos`)."""
        from tether.runtime._dbos import Durability

        durability = Durability(
            self.database_url,
            application_version=self._application_version,
            application_name=self._application_name,
            executor_id=self._executor_id,
            poll_seconds=self._poll_seconds,
            engine=self.engine,
            live_after_seconds=self.stale_after_seconds,
        )
        if self._launch_when_needed is not None:
            durability.before_start = self._launch_on_demand
        return durability

    @cached_property
    def resumer(self) -> Resumer:
        from tether.runtime._resume import Resumer

        return Resumer(
            engine=self.engine,
            store=self.store,
            approvals=self.approvals,
            durability=self.durability,
        )

    @cached_property
    def segments(self) -> Segments:
        from tether.runtime._segments import Segments

        return Segments(
            policy=self.policy,
            agents=self.agents,
            store=self.store,
            gate=self.gate,
            calls=self.calls,
            endings=self.endings,
            resumer=self.resumer,
            models=self._model_object,
            watch=self.watch,
        )

    @cached_property
    def operators(self) -> Operators:
        from tether.runtime._operators import Operators

        return Operators(
            policy=self.policy,
            engine=self.engine,
            store=self.store,
            audit=self.audit,
            approvals=self.approvals,
            calls=self.calls,
            endings=self.endings,
            durability=self.durability,
        )

    # --- lifecycle --------------------------------------------------------------------

    @property
    def executor_id(self) -> str:
        """This process's id among the workers (DBOS's executor id)."""
        if "durability" in self.__dict__:
            return self.durability.executor_id
        return self._executor_id

    @executor_id.setter
    def executor_id(self, value: str) -> None:
        if "durability" in self.__dict__:
            if self.durability.launched:
                raise RuntimeError("the executor id cannot change once the runtime is launched")
            self.durability.executor_id = value
        self._executor_id = value

    @property
    def application_version(self) -> str:
        """The version DBOS knows this runtime's workflows by (the durable protocol's)."""
        return self._application_version

    def launch(self, *, concurrency: int = 4, when_needed: bool = False) -> None:
        """Start executing runs in this process (a worker).

        ``when_needed``: only once a segment is to start here (a run started or resumed
        by this process); until then neither DBOS nor the agents' framework is loaded,
        so a command that ends up running nothing (``tether approvals approve`` refused,
        or one vote of a quorum) starts quickly and launches nothing.
        """
        if when_needed:
            self._launch_when_needed = concurrency
            if "durability" in self.__dict__:
                self.durability.before_start = self._launch_on_demand
            return
        self._launch_when_needed = None
        self.audit.record_deciding_policy()
        # The runtime runs the segments: their parts (Pydantic AI, the agents) are built
        # with the first one, or by prepare_segments, not before DBOS can hand one over.
        self.durability.launch(self, concurrency=concurrency)
        heartbeat(self)

    def prepare_segments(self) -> None:
        """Build now what running a segment needs (Pydantic AI, the agents' models): a
        worker does it in the background once it is launched, so that neither its start
        nor its first segment waits for the whole import."""
        _ = self.segments

    def _launch_on_demand(self) -> None:
        if self._launch_when_needed is not None and not self.durability.launched:
            self.launch(concurrency=self._launch_when_needed)

    def _decide_with_policy(self) -> None:
        """Name the policy this process decides with to the audit trail, which keeps its
        text (once per version) before the first decision it makes, and who started
        deciding with it: the audit trail's policy snapshots."""
        text = self.policy.text
        if not text or policy_version(text) != self.policy.version:
            return  # a policy built by hand, not from a text: nothing to keep
        actor = {"account": getpass.getuser(), "surface": "python", "method": "local"}
        self.audit.deciding_with(text, actor=actor, source=self.policy.source)

    def close(self) -> None:
        """Stop executing runs (if launched) and close connections; other runtimes of
        this process keep theirs."""
        if self._runs_listener is not None:
            self._runs_listener.stop()
            self._runs_listener = None
        if "durability" in self.__dict__:  # else DBOS was never used here
            self.durability.close()
        self.audit.close()
        if self.telemetry is not None:
            self.telemetry.shutdown()
        self.engine.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def recover_segments(self, executor_ids: list[str]) -> int:
        """Put the segments these (dead) workers left in flight back on the queue."""
        return self.durability.recover(executor_ids)

    # --- starting and following runs ------------------------------------------------------

    def start(
        self,
        agent: str,
        task: str,
        *,
        principal: str,
        model: ModelChoice | None = None,
        vouched: Iterable[str] = (),
    ) -> RunRecord:
        """Start a new run of ``agent`` on ``task``, acting for ``principal``: at once in
        this process when it runs segments and has room, else by a worker.

        ``model`` replaces the agent's model for this run: a name (a live model, a
        script file), or a Pydantic AI model object (which only this process can run).
        ``vouched``: values (addresses, URLs, IBANs, ids) the person starting the run
        vouches for (source ``start``); with the agent's ``vouch.task``, identifiers
        named in the task are vouched for too (source ``task``).
        Follow the run with :meth:`handle`.
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
        vouched = tuple(vouched)
        provenance = self._vouched_at_start(agent, task, vouched)
        run_id = f"run_{uuid.uuid4().hex[:16]}"
        created: list[RunRecord] = []

        def create(conn: Connection) -> bool:  # the run and its first event: one write
            created.append(
                self.store.create(
                    run_id=run_id,
                    agent=agent,
                    agent_version=definition.version,
                    principal=principal,
                    task=task,
                    model=self._model_key(model),
                    provenance=provenance,
                    state_version=DURABLE_VERSION,
                    conn=conn,
                )
            )
            return True

        self.audit.append_many(
            [
                AuditEvent(
                    type="run.started",
                    run_id=run_id,
                    agent=agent,
                    agent_version=definition.version,
                    principal=principal,
                    details={
                        "task": task,
                        "model": _model_label(model, definition.model),
                        **({"vouched": list(vouched)} if vouched else {}),
                    },
                )
            ],
            alongside=create,
        )
        self.durability.start(run_id, 1)
        return created[0]

    def _decision_state(self, run_id: str) -> RunState:
        """A run's state as an approver's edit is decided again: with what the run did
        so far when a sequence condition reads it (the call itself included, held)."""
        return self.calls.run_state(run_id)

    def _vouched_at_start(
        self, agent: str, task: str, vouched: Iterable[str]
    ) -> dict[str, list[str]]:
        learned: list[tuple[Identifier, str]] = []
        for value in vouched:
            try:
                learned += [(identifier, "start") for identifier in identifiers_of(value)]
            except Undetermined as exc:
                raise ConfigurationError(f"cannot vouch for {value!r}: {exc}") from None
        if self.policy.agents[agent].vouch_task:
            learned += [(identifier, "task") for identifier in sorted(identifiers_in_text(task))]
        return merged({}, learned)

    def open_session(
        self,
        run_id: str,
        *,
        agent: str,
        principal: str,
        task: str,
        details: dict[str, Any] | None = None,
    ) -> RunRecord:
        """The run of calls that come from outside the runtime (an MCP gateway session):
        created ``running`` (no worker ever runs it) unless it exists; its calls go
        through :attr:`calls` like a run's own, and it carries their taint."""
        try:
            return self.store.get(run_id)
        except RunNotFound:
            pass
        if agent not in self.policy.agents:
            raise ConfigurationError(f"unknown agent {agent!r}: not an agent of the policy")
        person = self.policy.principal(principal)
        if person is None:
            raise ConfigurationError(f"unknown principal {principal!r}: not a user of the policy")
        if not self.policy.agents[agent].may_act_for(person):
            raise ConfigurationError(f"agent {agent} may not act for {principal}")
        definition = self.agents.get(agent)
        version = definition.version if definition is not None else "external"
        try:
            record = self.store.create(
                run_id=run_id,
                agent=agent,
                agent_version=version,
                principal=principal,
                task=task,
                state_version=DURABLE_VERSION,
                status="running",
            )
        except IntegrityError:  # another process opened it first
            return self.store.get(run_id)
        self.audit.append(
            AuditEvent(
                type="run.started",
                run_id=run_id,
                agent=agent,
                agent_version=version,
                principal=principal,
                details={"task": task, **(details or {})},
            )
        )
        return record

    def _model_key(self, model: ModelChoice | None) -> str | None:
        if model is None or isinstance(model, str):
            return model
        key = f"{_PYTHON_MODEL}{uuid.uuid4().hex[:12]}"
        self._models[key] = model
        return key

    def _model_object(self, key: str) -> Model | None:
        if not key.startswith(_PYTHON_MODEL):
            return None
        found = self._models.get(key)
        if found is None:
            raise ConfigurationError(
                "this run was started with a Python model object in another process; "
                "only that process can run it (start runs that workers pick up with a "
                "model name)"
            )
        return found

    def handle(self, run_id: str) -> RunHandle:
        """A handle to wait for the run to end or to ask for approval, without polling
        (see :mod:`tether.runtime._handle`)."""
        if not self.store.exists(run_id):  # RunNotFound now, not at the first wait
            raise RunNotFound(run_id)
        return RunHandle(
            run_id,
            self.store.get,
            self._requests,
            self.watch,
            self._told,
        )

    def wait(self, run_id: str, *, timeout_seconds: float = 120.0) -> RunRecord:
        """The run once it has stopped moving (finished, or waiting for a person)."""
        return self.handle(run_id).wait(timeout_seconds=timeout_seconds)

    def _requests(self, request_ids: list[str]) -> list[ApprovalRequest]:
        return [self.approvals.get(request_id) for request_id in request_ids]

    def _told(self) -> bool:
        """Whether this process hears of runs that park or end: those it runs itself,
        and on PostgreSQL every run (a listener, started with the first waiter)."""
        if self.engine.dialect.name != "postgresql":
            return "durability" in self.__dict__ and self.durability.launched
        with self._listening:
            if self._runs_listener is None:
                self._runs_listener = Listener(self.durability.url, {RUNS: self.watch.changed})
                self._runs_listener.start()
        return True

    async def run_segment(self, run_id: str, segment: int) -> str:
        """Run one segment of a run in this process (what a worker's workflow does)."""
        return await self.segments.run_segment(run_id, segment)

    # --- deciding approvals -----------------------------------------------------------

    def approve(
        self,
        request_id: str,
        *,
        by: str | Actor,
        edit: dict[str, Any] | None = None,
        comment: str | None = None,
    ) -> ApprovalRequest:
        """Approve (optionally with edited arguments); the run resumes once all is decided."""
        request = self.approvals.approve(request_id, by=as_actor(by), edit=edit, comment=comment)
        self.resumer.resume_if_ready(request.run_id, just_decided=request)
        return request

    def reject(self, request_id: str, *, by: str | Actor, comment: str) -> ApprovalRequest:
        """Reject with a comment; the agent is told and may re-plan."""
        request = self.approvals.reject(request_id, by=as_actor(by), comment=comment)
        self.resumer.resume_if_ready(request.run_id, just_decided=request)
        return request

    def resume_if_ready(self, run_id: str, *, just_decided: ApprovalRequest | None = None) -> bool:
        """Queue the run's next segment once every call it waits on is decided."""
        return self.resumer.resume_if_ready(run_id, just_decided=just_decided)

    # --- operators --------------------------------------------------------------------

    def stop(
        self, *, agent: str | None, by: str | Actor, reason: str = "stopped by an operator"
    ) -> list[str]:
        """Halt an agent (or all): new calls are refused, pending approvals cancelled."""
        return self.operators.stop(agent=agent, by=as_actor(by), reason=reason)

    def lift(self, *, agent: str | None, by: str | Actor) -> int:
        """Let a stopped agent (or all, for a stop of all) act again; recorded."""
        return self.operators.lift(agent=agent, by=as_actor(by))

    def cancel(self, run_id: str, *, by: str | Actor) -> RunRecord:
        """Cancel a run: its pending approvals are cancelled, it takes no further step."""
        return self.operators.cancel(run_id, by=as_actor(by))

    async def undo(self, run_id: str, call_id: str, *, by: str | Actor) -> answer.Answer:
        """Undo an executed call with its tool's reversing tool (a call through the gate)."""
        return await self.operators.undo(run_id, call_id, by=as_actor(by))

    def sweep(self) -> SweepReport:
        """Periodic duties of a worker (see :mod:`tether.runtime._sweep`)."""
        from tether.runtime._sweep import sweep

        return sweep(
            worker=self,
            durability=self.durability,
            store=self.store,
            approvals=self.approvals,
            resumer=self.resumer,
            stale_after_seconds=self.stale_after_seconds,
        )


def _model_label(choice: ModelChoice | None, default: str | Model) -> str:
    """The run's model as ``provider:name`` for the record (a script is just ``scripted``)."""
    chosen = choice if choice is not None else default
    if isinstance(chosen, str):
        return "scripted" if chosen.split(":", 1)[0] == "scripted" else chosen
    return f"{chosen.system}:{chosen.model_name}"
