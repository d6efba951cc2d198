"""What operators do to runs: stop and lift the switch, cancel a run, undo a call.

Each is recorded with its :class:`~tether.identity.Actor` (account, surface, method).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from tether.approvals import Approvals
from tether.audit import AuditEvent, AuditLog, EventType
from tether.calls import ProposedCall, first_attempt
from tether.errors import ConfigurationError
from tether.identity import Actor
from tether.policy import Policy
from tether.runtime import _answers as answer
from tether.runtime._calls import Allowed, CallPath
from tether.runtime._dbos import Durability
from tether.runtime._ending import Endings
from tether.runtime._records import FINISHED, RunRecord
from tether.runtime._store import RunStore


class Operators:
    """Stop switches, cancellation and undo, for one runtime."""

    def __init__(
        self,
        *,
        policy: Policy,
        engine: Engine,
        store: RunStore,
        audit: AuditLog,
        approvals: Approvals,
        calls: CallPath,
        endings: Endings,
        durability: Durability,
    ) -> None:
        self.policy = policy
        self.engine = engine
        self.store = store
        self.audit = audit
        self.approvals = approvals
        self.calls = calls
        self.endings = endings
        self.durability = durability

    def stop(self, *, agent: str | None, by: Actor, reason: str) -> list[str]:
        """Halt an agent (or all): new calls are refused, pending approvals cancelled."""
        if agent is not None and agent not in self.policy.agents:
            raise ConfigurationError(f"unknown agent {agent!r}")
        self.store.stop(agent=agent or "*", by=by.account, reason=reason)
        self._record_switch("agent.stopped", agent, by=by, reason=reason)
        self.approvals.cancel(agent=agent, reason=f"{reason} ({by.account})", by=by)
        stopped = []
        for record in self.store.find(agent=agent, limit=100_000):
            if record.status in FINISHED:
                continue
            ended = self.endings.finish(
                record.id, "stopped", error=f"{reason} ({by.account})", actor=by.record()
            )
            if ended == "stopped":
                stopped.append(record.id)
                self.durability.cancel(record.id, record.segment)
        return stopped

    def lift(self, *, agent: str | None, by: Actor) -> int:
        """Let a stopped agent (or all, for a stop of all) act again; recorded."""
        lifted = self.store.lift(agent=agent or "*")
        if lifted:
            self._record_switch("agent.resumed", agent, by=by, reason=f"{lifted} stop(s) lifted")
        return lifted

    def _record_switch(self, kind: EventType, agent: str | None, *, by: Actor, reason: str) -> None:
        self.audit.append(
            AuditEvent(
                type=kind,
                run_id="-",
                agent=agent,
                principal=by.account,
                details={"scope": agent or "all agents", "by": by.account, "reason": reason},
                actor=by.record(),
            )
        )

    def cancel(self, run_id: str, *, by: Actor) -> RunRecord:
        """Cancel a run: its pending approvals are cancelled, it takes no further step."""
        record = self.store.get(run_id)
        self.approvals.cancel(run_id=run_id, reason=f"run cancelled by {by.account}", by=by)
        self.endings.finish(
            run_id, "cancelled", error=f"cancelled by {by.account}", actor=by.record()
        )
        self.durability.cancel(record.id, record.segment)
        return self.store.get(run_id)

    async def undo(self, run_id: str, call_id: str, *, by: Actor) -> answer.Answer:
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
        operator = self.policy.principal(by.account)
        if operator is None:
            raise ConfigurationError(f"unknown user {by.account!r}")
        call = ProposedCall(
            tool=tool.reversed_by,
            args=tool.reverse_args(done.args, done.result),
            agent=record.agent,
            agent_version=record.agent_version,
            principal=operator,
            run=self.store.run_state(run_id),
            call_id=self._undo_call_id(run_id, call_id),
            why=f"{by.account} undoes {call_id} ({tool.name})",
        )
        verdict = self.calls.decide(call)
        if not isinstance(verdict, Allowed):
            return verdict
        outcome = await self.calls.execute(
            verdict.call, verdict.decision, None, begun=verdict.begun
        )
        if isinstance(outcome, answer.Executed):
            self.store.mark_reversed(key, f"{run_id}:{call.call_id}")
        return outcome

    def _undo_call_id(self, run_id: str, call_id: str) -> str:
        """The id of the reversing call: ``undo-<call>``, then ``undo-<call>.2``, ``.3``…
        after refused attempts. A refusal (this operator may not, the policy said no then)
        must not answer for the next operator's attempt, as a replayed call id would;
        an attempt in flight or held for approval answers for the next one, so that two
        operators undoing at once share one reversing call, executed at most once."""

        def refused(attempt: str) -> bool:
            tried = self.store.effect(f"{run_id}:{attempt}")
            return tried is not None and tried.status == "refused"

        return first_attempt(f"undo-{call_id}", refused)
