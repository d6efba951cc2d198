"""The operator surface of one runtime: what the CLI, the console and the gateway read
and do, each decision made by an :class:`~tether.identity.Actor`.

The surfaces are thin clients of this one class: they never reach into the runtime's
parts (its store, approvals, audit log or gate), so every rule about who may do what,
and every record of who did, lives below them.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.audit import AuditEvent
from tether.errors import UnknownAccountError, UnknownToolError
from tether.runtime import FINISHED, RUN_STATUSES

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tether.approvals import ApprovalRequest, Status
    from tether.audit import StoredEvent, VerifyReport
    from tether.calls import ProposedCall
    from tether.identity import Actor
    from tether.policy import Policy
    from tether.redaction import Redactor
    from tether.runtime import Answer, EffectRecord, RunRecord, Runtime, SweepReport
    from tether.tools import Tool


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@dataclass(frozen=True, kw_only=True)
class StopSwitch:
    """One agent's stop switch (``*``: all agents) and its unfinished runs."""

    agent: str
    label: str
    stopped: str | None
    """Why it is stopped (who, and the reason), or None when it may act."""
    active: int
    """Its runs that have not finished."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "label": self.label,
            "stopped": self.stopped,
            "active": self.active,
        }


ALL_AGENTS = "*"


class Service:
    """Queries, decisions and operator actions on one runtime."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        accounts: Container[str] = frozenset(),
        clock: Callable[[], _dt.datetime] = _now,
    ) -> None:
        self._runtime = runtime
        self._accounts = accounts
        """Users besides the policy's: the console's (``web.users``, single sign-on)."""
        self.clock = clock

    def is_account(self, name: str) -> bool:
        """Whether ``name`` is a user: of the policy, or of the console (``accounts``)."""
        return name in self._accounts or self._runtime.policy.principal(name) is not None

    def _known(self, by: Actor, action: str) -> Actor:
        """``by``, if they are a user; else the attempt is recorded and refused."""
        if not self.is_account(by.account):
            self.record_access_refusal(
                {
                    "by": by.account,
                    "refusal": UnknownAccountError.reason,
                    "action": action,
                    "message": f"{by.account!r} is not a user",
                },
                actor=by,
            )
            raise UnknownAccountError(by.account)
        return by

    @property
    def runtime(self) -> Runtime:
        """The runtime served (for the process that serves it: launch, sweep, close)."""
        return self._runtime

    # --- the policy ---------------------------------------------------------------------

    def agents(self) -> list[str]:
        """The agents of the policy, by name."""
        return sorted(self._runtime.policy.agents)

    def tool(self, name: str) -> Tool | None:
        """The tool of that name, if the policy knows it."""
        try:
            return self._runtime.policy.tools.get(name)
        except UnknownToolError:
            return None

    def effect_class(self, request: ApprovalRequest) -> str:
        """The call's effect class: the tool's, raised by the agent's grant if it says more."""
        tool = self.tool(request.tool)
        if tool is None:
            return "unknown"
        agent = self._runtime.policy.agents.get(request.agent)
        grant = agent.grant_for(request.tool) if agent else None
        return tool.effect_under(grant.effect if grant else None).value

    def eligible(self, request: ApprovalRequest) -> set[str]:
        """The users who may decide ``request`` now (the requester aside)."""
        refs = request.eligible_refs(self.clock())
        return self._runtime.policy.users_holding(refs) - {request.requested_by}

    @property
    def redactor(self) -> Redactor:
        """The policy's redactor, for text shown that no tool call carries."""
        return self._runtime.gate.redactor

    def shown_args(self, tool: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """A call's arguments as people see them: secrets and personal data replaced."""
        return self._runtime.gate.shown_args(tool, args)

    def scrub(self, tool: str, args: Mapping[str, Any], text: str) -> str:
        """``text`` with the secrets of a call with these arguments (and anything that
        looks like one) hidden."""
        found = self.tool(tool)
        gate = self._runtime.gate
        redactor = gate.redactor_for(found, dict(args)) if found else gate.redactor
        return redactor.redact_text(text)

    def run_scrubber(self, record: RunRecord) -> Redactor:
        """The redactor for what a run's model wrote: the policy's, and the secret
        values the run handed to its tools (the model may repeat them)."""
        if not record.history:
            return self.redactor
        from pydantic_ai import ModelMessagesTypeAdapter

        from tether.runtime import run_secrets

        messages = ModelMessagesTypeAdapter.validate_json(record.history)
        return self.redactor.with_secrets(values=run_secrets(self._runtime.gate, messages))

    # --- runs ---------------------------------------------------------------------------

    def runs(
        self, *, status: str | None = None, agent: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        """The latest runs, newest first."""
        return self._runtime.store.find(status=status, agent=agent, limit=limit)

    def run(self, run_id: str) -> RunRecord:
        """A run (:class:`~tether.runtime.RunNotFound` if there is none)."""
        return self._runtime.store.get(run_id)

    def calls(self, run_id: str) -> list[EffectRecord]:
        """The calls a run executed (the effect ledger), oldest first."""
        return self._runtime.store.effects(run_id)

    def start(
        self,
        agent: str,
        task: str,
        *,
        principal: str,
        model: str | None = None,
        vouched: Sequence[str] = (),
    ) -> RunRecord:
        """Queue a new run (see :meth:`tether.runtime.Runtime.start`); ``vouched``: the
        values the person starting it vouches for."""
        return self._runtime.start(agent, task, principal=principal, model=model, vouched=vouched)

    def wait(self, run_id: str, *, timeout_seconds: float = 120.0) -> RunRecord:
        """The run once it stops moving (finished, or waiting for people)."""
        return self._runtime.wait(run_id, timeout_seconds=timeout_seconds)

    def cancel(self, run_id: str, *, by: Actor) -> RunRecord:
        """Cancel a run: its pending approvals are cancelled, it takes no further step."""
        return self._runtime.cancel(run_id, by=self._known(by, "cancel"))

    def undo(self, run_id: str, call_id: str, *, by: Actor) -> Answer:
        """Undo an executed call with its reversing tool, itself a call through the gate."""
        return asyncio.run(self._runtime.undo(run_id, call_id, by=self._known(by, "undo")))

    # --- approvals ------------------------------------------------------------------------

    def approvals(
        self,
        *,
        status: Status | None = "pending",
        agent: str | None = None,
        run_id: str | None = None,
    ) -> list[ApprovalRequest]:
        """Approval requests, oldest first (``status=None``: decided ones too)."""
        return self._runtime.approvals.find(status=status, agent=agent, run_id=run_id)

    def approvals_for(self, user: str) -> list[ApprovalRequest]:
        """The pending requests ``user`` may decide."""
        return self._runtime.approvals.for_approver(user)

    def approval(self, request_id: str) -> ApprovalRequest:
        """A request (:class:`~tether.approvals.ApprovalNotFound` if there is none)."""
        return self._runtime.approvals.get(request_id)

    def policy_change(self, request: ApprovalRequest) -> str | None:
        """How the policy in force would decide an open request's call otherwise than
        the version that asked for it (None: alike; see ``Approvals.policy_change``)."""
        if request.status not in ("pending", "approved"):
            return None
        return self._runtime.approvals.policy_change(request)

    def approve(
        self,
        request_id: str,
        *,
        by: Actor,
        edit: dict[str, Any] | None = None,
        comment: str | None = None,
        resume: bool = True,
    ) -> ApprovalRequest:
        """Approve (optionally with edited arguments, checked again by the gate).

        ``resume=False``: only the decision; the caller moves the run on with
        :meth:`resume` once it has shown it (see :meth:`tether.runtime.Runtime.approve`).
        """
        return self._runtime.approve(
            request_id,
            by=self._known_decider(request_id, by),
            edit=edit,
            comment=comment,
            resume=resume,
        )

    def resume(self, request: ApprovalRequest) -> bool:
        """Move on the run of a request decided with ``resume=False``, once every call
        it waits on is decided; whether it was queued to go on now."""
        return self._runtime.resume_if_ready(request.run_id, just_decided=request)

    def withdraw(self, request_id: str, *, by: Actor) -> ApprovalRequest:
        """The person a held call was made for withdraws it: cancelled, never run."""
        return self._runtime.approvals.withdraw(request_id, by=by)

    def reject(
        self, request_id: str, *, by: Actor, comment: str, resume: bool = True
    ) -> ApprovalRequest:
        """Reject with a comment; the agent is told and may re-plan (``resume``: as
        :meth:`approve`)."""
        return self._runtime.reject(
            request_id, by=self._known_decider(request_id, by), comment=comment, resume=resume
        )

    def _known_decider(self, request_id: str, by: Actor) -> Actor:
        if not self.is_account(by.account):
            message = f"{by.account!r} is not a user"
            self.record_refusal(
                request_id, by=by, reason=UnknownAccountError.reason, message=message
            )
            raise UnknownAccountError(by.account)
        return by

    def may_break_glass(self, name: str) -> bool:
        """Whether ``name`` holds the policy's break-glass role (after a login)."""
        spec = self._runtime.policy.spec.break_glass
        return spec is not None and name in self._runtime.policy.users_holding(
            tuple(spec.approvers)
        )

    def record_refusal(
        self,
        request_id: str,
        *,
        by: Actor | str,
        reason: str,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a refused attempt to decide ``request_id`` (``approval.refused``)."""
        self._runtime.approvals.record_refusal(
            request_id, by=by, reason=reason, message=message, details=details
        )

    # --- stop switches --------------------------------------------------------------------

    def stop_switches(self) -> list[StopSwitch]:
        """Every agent (and all agents): whether it is stopped, and its unfinished runs."""
        store = self._runtime.store
        active = [
            record
            for status in RUN_STATUSES
            if status not in FINISHED
            for record in store.find(status=status, limit=100_000)
        ]
        switches = [
            StopSwitch(
                agent=ALL_AGENTS,
                label="all agents",
                stopped=store.stopped(ALL_AGENTS),
                active=len(active),
            )
        ]
        for name in self.agents():
            switches.append(
                StopSwitch(
                    agent=name,
                    label=name,
                    stopped=store.stopped(name),
                    active=sum(1 for record in active if record.agent == name),
                )
            )
        return switches

    def stop(self, *, agent: str | None, by: Actor, reason: str) -> list[str]:
        """Halt an agent (None: all): new calls refused, pending approvals cancelled."""
        return self._runtime.stop(agent=agent, by=self._known(by, "stop"), reason=reason)

    def lift(self, *, agent: str | None, by: Actor) -> int:
        """Lift the stop of an agent (None: of all agents)."""
        return self._runtime.lift(agent=agent, by=self._known(by, "lift"))

    # --- the audit trail ------------------------------------------------------------------

    def events(self, **query: Any) -> list[StoredEvent]:
        """Audit events (see :meth:`tether.audit.AuditLog.events` for the filters)."""
        return list(self._runtime.audit.events(**query))

    def verify(self) -> VerifyReport:
        """Check the audit trail's hash chain and signatures."""
        return self._runtime.audit.verify()

    def record_access_refusal(
        self, details: Mapping[str, Any], *, actor: Actor | None = None
    ) -> None:
        """Record a request a surface refused (no login, wrong role): ``access.refused``."""
        self._runtime.audit.append(
            AuditEvent(
                type="access.refused",
                run_id="-",
                details=details,
                actor=actor.record() if actor else None,
            )
        )

    def record(self, event: AuditEvent) -> None:
        """Append an event of a surface's own (logins, sessions, tokens, a quarantined
        tool) to the trail."""
        self._runtime.audit.append(event)

    # --- calls from outside the runtime (the MCP gateway) ----------------------------------

    @property
    def engine(self) -> Engine:
        """The database the runtime keeps its state in (a surface's own tables live there)."""
        return self._runtime.engine

    @property
    def policy(self) -> Policy:
        """The policy every call is decided by."""
        return self._runtime.policy

    def open_session(
        self,
        run_id: str,
        *,
        agent: str,
        principal: str,
        task: str,
        details: Mapping[str, Any] | None = None,
    ) -> RunRecord:
        """The run a client's calls belong to (see :meth:`tether.runtime.Runtime.open_session`)."""
        return self._runtime.open_session(
            run_id, agent=agent, principal=principal, task=task, details=dict(details or {})
        )

    async def propose(
        self, call: ProposedCall, *, repeats_after: _dt.timedelta | None = None
    ) -> Answer:
        """A call from outside the runtime through the whole gate: decided, held for
        approval, or executed once with its idempotency key, and recorded.
        ``repeats_after``: how long after an identical action was approved it may be
        asked for again in the same run (default: never)."""
        return await self._runtime.calls.propose(call, repeats_after=repeats_after)

    async def execute_approved(self, call: ProposedCall) -> Answer:
        """The approved call, checked again and executed once with the approved arguments
        (its answer again if it ran already)."""
        return await self._runtime.calls.execute_approved(call)

    def approval_for_call(self, run_id: str, call_id: str) -> ApprovalRequest | None:
        """The approval request of a run's call, if one was made."""
        return self._runtime.approvals.for_call(run_id, call_id)

    def executed(self, run_id: str, call_id: str) -> EffectRecord | None:
        """The effect ledger's record of a run's call, if it was decided or executed."""
        return self._runtime.store.effect(f"{run_id}:{call_id}")

    # --- a worker's duties ------------------------------------------------------------------

    def sweep(self) -> SweepReport:
        """Expire and escalate approvals, resume decided runs (a worker's periodic duty)."""
        return self._runtime.sweep()
