"""One call's path inside a run: decided by the gate, held for people, or executed once.

    proposed ──► CallPath.decide ──► refused | awaiting_approval (a request) | allowed
                                                                               │
    approved ──► CallPath.execute_approved: claimed, checked again ─────────────┤
                                                                               ▼
                                   CallPath.execute: effect ledger ─► Gate.run ─► settle
                                   (the execution's events and its ledger row: one write)

Each entry point answers with an :mod:`~tether.runtime._answers` value, the one thing
that crosses DBOS's step boundary. Database work runs off the event loop, which the
worker's other runs share.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as _dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine

from tether.approvals import ApprovalError, Approvals
from tether.audit import AuditEvent, AuditLog, from_gate_event
from tether.calls import PastCall, ProposedCall, RunState
from tether.db import reading, sync_to_disk
from tether.gate import Allow, Deny, Executed, Failed, Gate, GateEvent, NeedsApproval, evaluate
from tether.policy import Policy
from tether.provenance import addresses_in
from tether.runtime import _answers as answer
from tether.runtime._journal import current
from tether.runtime._records import CallStatus, EffectRecord
from tether.runtime._store import RunStore
from tether.tools import Effect


@dataclass(frozen=True, kw_only=True)
class Allowed:
    """The gate allowed the call: what to execute, and events still to record."""

    call: ProposedCall
    """The call as decided: located, with the run's state."""
    decision: Allow
    events: tuple[GateEvent, ...] = ()
    """The decision's events when they are to be recorded with the execution."""
    begun: bool = False
    """The ledger already notes the execution as started."""


REPLAYED = "re-executed after a restart: the call was allowed when it first started"


class CallPath:
    """Decide, hold and execute the calls of runs under one policy."""

    def __init__(
        self,
        *,
        policy: Policy,
        engine: Engine,
        gate: Gate,
        store: RunStore,
        audit: AuditLog,
        approvals: Approvals,
    ) -> None:
        self.policy = policy
        self.engine = engine
        self.gate = gate
        self.store = store
        self.audit = audit
        self.approvals = approvals
        self._limited: dict[str, bool] = {}
        """Per agent: whether a grant of its claims limits."""

    # --- deciding -------------------------------------------------------------------

    def decide(
        self,
        call: ProposedCall,
        *,
        defer_reads: bool = False,
        repeats_after: _dt.timedelta | None = None,
    ) -> Allowed | answer.Answer:
        """The gate's decision, recorded with the call's row in the ledger (one
        transaction); a request for approval when one is needed.

        A call the ledger knows was decided before (its step ran again after a crash)
        is answered as it was, and recorded once. With ``defer_reads``, an allowed
        read's events are not recorded here but returned, to be recorded with its
        execution: one write instead of two.
        """
        with reading(self.engine) as conn:
            state, stopped, prior, (status, segment) = self.store.call_state(
                call.run.id, call.agent, key=call.idempotency_key, conn=conn
            )
            state = self._with_history(conn, state, call.call_id)
        journal = current()
        if journal is not None:  # no DBOS step tells a segment it was cancelled: this does
            journal.still_running(status, segment)
        call = dataclasses.replace(call, run=state)
        if prior is not None:
            return self._replayed(call, prior)
        self._responses_before_limits(call)
        assessed = self.gate.assess(call, stopped=stopped)
        call, decision, events = assessed.call, assessed.decision, list(assessed.events)
        if isinstance(decision, Deny):
            refusal: answer.RefusalKind = "stopped" if "stop-switch" in decision.rules else "policy"
            return self._refuse(call, events, decision.model_message, refusal)
        if isinstance(decision, NeedsApproval):
            return self._hold(call, decision, events, repeats_after=repeats_after)
        if self.reads(call, decision):
            if defer_reads:
                return Allowed(call=call, decision=decision, events=assessed.events)
            self.gate.record(events)
            return Allowed(call=call, decision=decision)
        self.audit.record_many(events, alongside=self._noting(call, "started"))
        self._durable_before_acting()
        return Allowed(call=call, decision=decision, begun=True)

    def run_state(self, run_id: str) -> RunState:
        """The run's state as the gate decides with it (outside a call's own step)."""
        with reading(self.engine) as conn:
            state, _ = self.store.call_context(run_id, "", conn=conn)
            return self._with_history(conn, state, call_id="")

    def _with_history(self, conn: Connection, state: RunState, call_id: str) -> RunState:
        """The run's state with what it did so far, when a condition reads it: every
        call not refused, in flight and awaiting approval included, but this one."""
        if not self.policy.reads_history:
            return state
        past = tuple(
            self._past(record)
            for record in self.store.past_calls(conn, state.id)
            if record.call_id != call_id
        )
        return dataclasses.replace(state, calls=past)

    def _past(self, record: EffectRecord) -> PastCall:
        tool = self.policy.tools.get(record.tool) if record.tool in self.policy.tools else None
        addresses = (
            [a for name in tool.recipients for a in addresses_in(record.args.get(name))]
            if tool
            else []
        )
        return PastCall(
            tool=record.tool,
            effect=tool.effect.value if tool else "",
            status=record.status,
            args=record.args,
            recipients=tuple(dict.fromkeys(addresses)),
        )

    def _refuse(
        self,
        call: ProposedCall,
        events: list[GateEvent],
        text: str,
        refusal: answer.RefusalKind,
        *,
        also: Sequence[AuditEvent] = (),
    ) -> answer.Refused:
        """Record the refusal with the call's row in the ledger (``refused``)."""
        noting = self._noting(call, "refused", text=text, result={"refusal": refusal})
        self.audit.append_many(
            [*(from_gate_event(event) for event in events), *also], alongside=noting
        )
        _check_journal()
        return answer.Refused(text=text, refusal=refusal)

    def _hold(
        self,
        call: ProposedCall,
        decision: NeedsApproval,
        events: list[GateEvent],
        *,
        repeats_after: _dt.timedelta | None = None,
    ) -> answer.Refused | answer.AwaitingApproval:
        """Ask people, once: an identical action already waiting (or approved) in the
        run is not asked for again; nor one executed, unless ``repeats_after`` says how
        long after its approval the same action may be asked for anew (a long-lived
        session's next reminder is not a loop's repeat)."""
        since = None if repeats_after is None else _dt.datetime.now(_dt.UTC) - repeats_after
        same = self.approvals.duplicate_of(call, executed_since=since)
        if same is not None:
            duplicate = AuditEvent(
                type="approval.duplicate",
                run_id=call.run.id,
                call_id=call.call_id,
                agent=call.agent,
                principal=call.principal.id,
                tool=call.tool,
                approval={"request_id": same.id, "status": same.status},
            )
            text = (
                f"This exact action was already sent for approval ({same.id}, now "
                f"{same.status}); it is not asked again. Do not propose it again."
            )
            return self._refuse(call, events, text, "repeated", also=[duplicate])
        self.audit.record_many(events, alongside=self._noting(call, "held"))
        _check_journal()
        request = self.approvals.request(call, decision)
        return answer.AwaitingApproval(request_id=request.id)

    def _noting(
        self, call: ProposedCall, status: CallStatus, *, text: str | None = None, result: Any = None
    ) -> Callable[[Connection], bool]:
        """The call's row in the ledger, with the model's responses it followed."""
        journal = current()  # here: the write may be led by another thread

        def note(conn: Connection) -> bool:
            if journal is not None and not journal.write(conn):
                return False
            return self.store.note_call(
                conn,
                key=call.idempotency_key,
                run_id=call.run.id,
                call_id=call.call_id,
                tool=call.tool,
                args=self.shown(call, None),
                status=status,
                model_text=text,
                result=result,
            )

        return note

    def _replayed(self, call: ProposedCall, prior: EffectRecord) -> Allowed | answer.Answer:
        """The answer of a call decided before, recording nothing again."""
        if prior.status == "done":
            return answer.Executed(text=prior.model_text or "")
        if prior.status == "failed":
            return answer.Failed(text=prior.model_text or "")
        if prior.status == "refused":
            refusal = (prior.result or {}).get("refusal", "policy")
            return answer.Refused(text=prior.model_text or "", refusal=refusal)
        located = self.gate.locate(call)
        decision = evaluate(self.policy, located).decision
        if prior.status == "held":
            request = self.approvals.for_call(call.run.id, call.call_id)
            if request is None and isinstance(decision, NeedsApproval):
                request = self.approvals.request(located, decision)
            if request is None:
                return _refused_approval(
                    "The approval request for this action was lost in a restart; "
                    "propose it again if it is still needed."
                )
            return answer.AwaitingApproval(request_id=request.id)
        # started: it was allowed, and may have begun to act; finish it, with the same key.
        if not isinstance(decision, Allow):
            decision = Allow(
                rules=("replay",),
                reasons=(REPLAYED,),
                policy_version=self.policy.version,
                effect=self.policy.tools.get(call.tool).effect,
            )
        return Allowed(call=located, decision=decision)  # begun again: one more attempt

    def _responses_before_limits(self, call: ProposedCall) -> None:
        """The model's responses held, written before the gate claims limits for the
        call (in a transaction of its own, before the call's row): a replay then makes
        the same call, with the same id, and finds its claims (see ``_journal``)."""
        journal = current()
        if journal is None or not journal.held or not self._claims_limits(call.agent):
            return
        with self.engine.begin() as conn:
            journal.write(conn)
        journal.check()

    def _durable_before_acting(self) -> None:
        """Before a call acts outside the database: its row and the model's response
        that proposed it survive a power loss (a replay then makes the same call, by
        the same idempotency key, which the systems it calls deduplicate by)."""
        _check_journal()
        if current() is not None:
            sync_to_disk(self.engine)

    def _claims_limits(self, agent: str) -> bool:
        found = self._limited.get(agent)
        if found is None:
            grants = self.policy.agents[agent].grants if agent in self.policy.agents else ()
            found = self._limited[agent] = any(grant.limits for grant in grants)
        return found

    def reads(self, call: ProposedCall, decision: Allow | NeedsApproval) -> bool:
        return self.policy.tools.get(call.tool).effect_under(decision.effect) is Effect.READ

    # --- the steps of a run -----------------------------------------------------------

    async def propose(
        self, call: ProposedCall, *, repeats_after: _dt.timedelta | None = None
    ) -> answer.Answer:
        """A proposed call, decided and, when allowed, executed: one step of a run.

        Deciding and executing share a step because a step replayed after a crash
        repeats neither: the ledger answers for a call decided or executed before, and
        the limits a call claimed are claimed once per call. ``repeats_after``: see
        :meth:`_hold`.
        """
        verdict = await asyncio.to_thread(
            functools.partial(self.decide, call, defer_reads=True, repeats_after=repeats_after)
        )
        if not isinstance(verdict, Allowed):
            return verdict
        return await self.execute(
            verdict.call, verdict.decision, None, decided=verdict.events, begun=verdict.begun
        )

    async def execute_approved(self, call: ProposedCall) -> answer.Answer:
        """Run an approved call: checked again, exactly as approved, once."""
        checked = await asyncio.to_thread(self._claim_approved, call)
        _check_journal()
        if isinstance(checked, answer.Refused):
            return checked
        if isinstance(checked, EffectRecord):  # it ran before a crash: its answer again
            return answer.Executed(text=checked.model_text or "")
        call, decision = checked
        return await self.execute(call, decision, dict(call.args), begun=True)

    def _claim_approved(
        self, call: ProposedCall
    ) -> tuple[ProposedCall, Allow | NeedsApproval] | EffectRecord | answer.Refused:
        """The approved call, claimed, checked again and noted in the effect ledger as
        starting, in one transaction; the ledger's record if it already ran; or why
        it may not run (the approval stays used: it was for this one call)."""
        journal = current()
        with self.engine.begin() as conn:
            if journal is not None and not journal.write(conn):
                return _refused_approval("This run is being executed elsewhere.")
            try:  # a request already "executed": this step ran before a crash
                request = self.approvals.claim_call(call.run.id, call.call_id, conn=conn)
            except ApprovalError as exc:  # closed, invalid
                return _refused_approval(f"The approval cannot be used: {exc}")
            if request is None:
                return _refused_approval("No approval was found for this action.")
            state, stopped = self.store.call_context(call.run.id, call.agent, conn=conn)
            state = self._with_history(conn, state, call.call_id)
            call = dataclasses.replace(call, args=request.args, run=state)
            if stopped is not None:
                return answer.Refused(
                    text=f"The agent has been stopped: {stopped}", refusal="stopped"
                )
            decision = evaluate(self.policy, self.gate.locate(call)).decision
            if isinstance(decision, Deny):
                return answer.Refused(text=decision.model_message)
            # Limits that reserve only once approved are taken now, in this transaction.
            if over := self.gate.settle_approved(call, conn=conn):
                return answer.Refused(
                    text="The approved action is over a limit: " + "; ".join(over)
                )
            # NeedsApproval: this is the approval it needed.
            if not self.reads(call, decision):
                done = self.store.effect_begin(
                    key=call.idempotency_key,
                    run_id=call.run.id,
                    call_id=call.call_id,
                    tool=call.tool,
                    args=self.shown(call, None),
                    conn=conn,
                )
                if done is not None:
                    return done
            return call, decision

    # --- executing --------------------------------------------------------------------

    def shown(self, call: ProposedCall, args: dict[str, Any] | None) -> dict[str, Any]:
        """The arguments as the effect ledger keeps them: secrets redacted."""
        return self.gate.shown_args(call.tool, dict(args or call.args))

    async def execute(
        self,
        call: ProposedCall,
        decision: Allow | NeedsApproval,
        args: dict[str, Any] | None,
        *,
        decided: Sequence[GateEvent] = (),
        begun: bool = False,
    ) -> answer.Executed | answer.Failed:
        """Execute through the gate with the effect ledger; ``decided``: the decision's
        events, when they are to be recorded with the execution (an allowed read);
        ``begun``: the ledger already notes that it starts."""
        shown = self.shown(call, args)
        read = self.reads(call, decision)
        if not read and not begun:  # a read changes nothing: it needs no record before it runs
            done = await asyncio.to_thread(self._begin, call, shown)
            if done is not None:
                return answer.Executed(text=done.model_text or "")
        outcome, event = await self.gate.run(call, decision, args=args)
        await asyncio.to_thread(
            self._settle, call, outcome, [*decided, event], shown=shown, read=read
        )
        if isinstance(outcome, Executed):
            return answer.Executed(text=outcome.model_text)
        return answer.Failed(text=outcome.model_text)

    def _begin(self, call: ProposedCall, shown: dict[str, Any]) -> EffectRecord | None:
        """The execution noted as starting, with the model's responses it follows."""
        journal = current()
        with self.engine.begin() as conn:
            if journal is not None and not journal.write(conn):
                journal.check()
            done = self.store.effect_begin(
                key=call.idempotency_key,
                run_id=call.run.id,
                call_id=call.call_id,
                tool=call.tool,
                args=shown,
                conn=conn,
            )
        self._durable_before_acting()
        return done

    def _settle(
        self,
        call: ProposedCall,
        outcome: Executed | Failed,
        events: list[GateEvent],
        *,
        shown: dict[str, Any],
        read: bool,
    ) -> None:
        """Record the execution, settle the effect ledger and note what the call taught
        the run (taint, contacts, provenance) in one transaction: a crash keeps all of
        them or none, so a replayed step never finds an effect done without its taint."""
        key = call.idempotency_key
        journal = current()  # here: the write may be led by another thread

        def ledger(conn: Connection) -> bool:
            if journal is not None and not journal.write(conn):
                return False
            if isinstance(outcome, Executed):
                self._note_learned(conn, call, outcome)
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
            return True

        self.audit.record_many(events, alongside=ledger)
        _check_journal()

    def _note_learned(self, conn: Connection, call: ProposedCall, outcome: Executed) -> None:
        output = outcome.output
        learned = [
            *((identifier, f"tool:{call.tool}") for identifier in output.vouched),
            *((identifier, "approval") for identifier in output.approved),
            *((identifier, f"untrusted:{call.tool}") for identifier in output.seen),
        ]
        self.store.note_learned(
            conn,
            call.run.id,
            untrusted=output.untrusted,
            contacts=output.contacts,
            provenance=learned,
        )


def _check_journal() -> None:
    """Stop when another execution of this segment wrote a model response first."""
    journal = current()
    if journal is not None:
        journal.check()


def _refused_approval(text: str) -> answer.Refused:
    return answer.Refused(text=text, refusal="approval")
