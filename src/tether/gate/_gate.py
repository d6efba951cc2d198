"""The action gate: every proposed tool call passes here before it touches the world."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as _dt
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Engine

from tether.calls import ProposedCall
from tether.db import connect
from tether.errors import ToolCallError
from tether.gate._decision import Allow, Decision, Deny, Finding, NeedsApproval
from tether.gate._evaluate import evaluate
from tether.gate._events import GateEvent, GateEventType, Recorder, record_all
from tether.gate._limits import LimitLedger
from tether.gate._outcome import AwaitingApproval, CallOutcome, Executed, Failed, Refused
from tether.gate._output import CheckedOutput, check_output, vouched_args
from tether.gate._readback import Observed, read_after, read_before
from tether.policy import Policy
from tether.redaction import Redactor
from tether.tools import Tool, ToolContext

_LIMIT_DENIAL = "A limit on this action has been reached; do not retry it now."


def _with_vouched_args(
    tool: Tool, decision: Allow | NeedsApproval, args: dict[str, Any], output: CheckedOutput
) -> CheckedOutput:
    """What a successful call vouches for through its arguments: those its tool
    declares, and, when a person approved the call, the arguments that steered it."""
    by_tool = vouched_args(tool, args, tool.vouches_args)
    approved = (
        vouched_args(tool, args, tool.target_args) if isinstance(decision, NeedsApproval) else ()
    )
    if not by_tool and not approved:
        return output
    return dataclasses.replace(
        output, vouched=tuple(sorted({*output.vouched, *by_tool})), approved=approved
    )


class _Ask:
    """The gate asks its stop switch (the caller has not)."""


ASK = _Ask()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Assessment:
    """A call located and decided, with the events that say so (not yet recorded)."""

    call: ProposedCall
    decision: Decision
    events: tuple[GateEvent, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Recheck:
    """A call decided again after a person changed it (an approver's edit)."""

    decision: Decision
    """The policy's decision for the changed call."""
    over_limits: tuple[str, ...] = ()
    """Enforced limits the changed call would breach (then nothing was claimed anew)."""

    @property
    def passes(self) -> bool:
        return not isinstance(self.decision, Deny) and not self.over_limits


class Gate:
    """identify → permit → check inputs → approve? → execute → check output → record.

    ``decide`` runs the first steps and answers allow, deny or needs_approval;
    ``call`` runs the whole pipeline for an allowed call. Approval waits are the
    runtime's business: it calls :meth:`execute` once a person has approved.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        database: Engine | str | None = None,
        recorder: Recorder | None = None,
        timeout_seconds: float = 60.0,
        stop_switch: Callable[[str], str | None] | None = None,
    ) -> None:
        self.policy = policy
        self.recorder = recorder
        """Where the gate's events go (the audit trail: ``tether.audit.AuditLog``, or
        ``tether.audit.audited_gate``); None records nothing: only for tests and dry runs."""
        self.stop_switch = stop_switch
        """Given an agent's name, why it is stopped (None when it may act)."""
        self.timeout_seconds = timeout_seconds
        self._database = database
        self._owned_engine: Engine | None = None
        self._ledger: LimitLedger | None = None
        self.redactor = Redactor(
            secret_fields=policy.secret_fields, pii_fields=policy.redacted_fields
        )

    # --- deciding ---------------------------------------------------------------

    def decide(
        self,
        call: ProposedCall,
        *,
        now: _dt.datetime | None = None,
        stopped: str | _Ask | None = ASK,
    ) -> Decision:
        """Allow, deny or needs_approval for ``call``; settles limits in the database.

        ``stopped``: why the agent is stopped (None: it is not), when the caller has
        just read it; by default the gate asks its ``stop_switch``.
        """
        if isinstance(stopped, _Ask):
            stopped = self.stop_switch(call.agent) if self.stop_switch else None
        if stopped is not None:
            return Deny(
                rules=("stop-switch",),
                reasons=(f"agent {call.agent} is stopped: {stopped}",),
                policy_version=self.policy.version,
                effect=None,
                model_message="This agent has been stopped by an operator; do not act further.",
            )
        evaluation = evaluate(self.policy, call, now=now)
        decision = evaluation.decision
        if isinstance(decision, Deny) or not evaluation.claims:
            return decision
        breaches = self.ledger.settle(evaluation.claims, call_id=call.idempotency_key, now=now)
        enforced = [b for b in breaches if not (b.claim.limit.shadow or self._shadowing(call))]
        if enforced:
            return Deny(
                rules=tuple(b.claim.limit.rule for b in enforced),
                reasons=tuple(b.message for b in enforced),
                policy_version=decision.policy_version,
                effect=decision.effect,
                shadow=decision.shadow,
                model_message=_LIMIT_DENIAL,
            )
        rules = tuple(dict.fromkeys([*decision.rules, *(c.limit.rule for c in evaluation.claims)]))
        shadow = decision.shadow + tuple(
            Finding(rule=b.claim.limit.rule, message=b.message) for b in breaches
        )
        return dataclasses.replace(decision, rules=rules, shadow=shadow)

    def _shadowing(self, call: ProposedCall) -> bool:
        agent = self.policy.agents.get(call.agent)
        return self.policy.shadow or bool(agent and agent.shadow)

    @property
    def engine(self) -> Engine:
        """tether's database (limits, the audit trail); opened on first use."""
        if isinstance(self._database, Engine):
            return self._database
        if self._owned_engine is None:
            self._owned_engine = connect(self._database)
        return self._owned_engine

    @property
    def ledger(self) -> LimitLedger:
        """Where limits are settled."""
        if self._ledger is None:
            self._ledger = LimitLedger(self.engine)
        return self._ledger

    def close(self) -> None:
        """Close the database connections the gate opened itself (not an engine it was given)."""
        if self._owned_engine is not None:
            self._owned_engine.dispose()
            self._owned_engine = None
            self._ledger = None

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the whole pipeline -------------------------------------------------------

    def propose(self, call: ProposedCall) -> tuple[ProposedCall, Decision]:
        """Identify the call's target, decide it and record both steps; runs nothing."""
        assessed = self.assess(call)
        self.record(list(assessed.events))
        return assessed.call, assessed.decision

    def assess(self, call: ProposedCall, *, stopped: str | _Ask | None = ASK) -> Assessment:
        """:meth:`propose` without recording: the events are returned for the caller to
        record (the runtime records an allowed read's together with its execution).

        When deciding fails, the proposal is recorded here, with the error raised.
        """
        call = self.locate(call)
        proposed = self._event("call.proposed", call)
        try:
            decision = self.decide(call, stopped=stopped)
        except BaseException:
            self.record([proposed])
            raise
        decided = self._event("call.decided", call, decision=decision)
        return Assessment(call=call, decision=decision, events=(proposed, decided))

    async def call(self, call: ProposedCall) -> CallOutcome:
        """Decide ``call``; run it if allowed. Every step is recorded."""
        call, decision = self.propose(call)
        if isinstance(decision, Deny):
            return Refused(decision=decision)
        if isinstance(decision, NeedsApproval):
            return AwaitingApproval(decision=decision)
        return await self.execute(call, decision)

    def locate(self, call: ProposedCall) -> ProposedCall:
        """The call with its target's attributes, looked up by the tool, for data scopes."""
        if call.resource is not None or call.tool not in self.policy.tools:
            return call
        tool = self.policy.tools.get(call.tool)
        if tool.locate is None:
            return call
        try:
            resource = tool.locate(**tool.validate_args(call.args))
        except Exception:  # a target that cannot be found cannot be in scope
            return call
        return dataclasses.replace(call, resource=resource)

    async def execute(
        self,
        call: ProposedCall,
        decision: Allow | NeedsApproval,
        *,
        args: dict[str, Any] | None = None,
    ) -> Executed | Failed:
        """Run an allowed (or approved) call, check its output and record the effect."""
        outcome, event = await self.run(call, decision, args=args)
        # Recorded off the event loop: other runs' calls share it.
        await asyncio.to_thread(self.record, [event])
        return outcome

    async def run(
        self,
        call: ProposedCall,
        decision: Allow | NeedsApproval,
        *,
        args: dict[str, Any] | None = None,
    ) -> tuple[Executed | Failed, GateEvent]:
        """:meth:`execute` without recording: the outcome and its event, for the caller
        to record."""
        tool = self.policy.tools.get(call.tool)
        redactor = self.redactor_for(tool, call.args)
        started = time.perf_counter()
        try:
            valid_args = tool.validate_args(args if args is not None else call.args)
            before = await self._read_before(tool, valid_args)
            result = await self._run(tool, valid_args, call)
            output = check_output(
                tool, result, redactor=redactor, max_chars=self.policy.spec.output.max_chars
            )
            output = _with_vouched_args(tool, decision, valid_args, output)
        except ToolCallError as exc:
            return self._failed(call, decision, redactor.redact_text(exc.message), started)
        except TimeoutError:
            return self._failed(
                call, decision, f"timed out after {self.timeout_seconds:g}s", started
            )
        except Exception as exc:
            message = redactor.redact_text(f"{type(exc).__name__}: {exc}")
            return self._failed(call, decision, message, started)
        elapsed = time.perf_counter() - started
        observed = None
        if tool.read_back is not None:
            observed = await read_after(
                tool.read_back,
                valid_args,
                result,
                before=before,
                redactor=redactor,
                timeout_seconds=self.timeout_seconds,
            )
        event = self._event(
            "call.executed",
            call,
            decision=decision,
            output=output,
            duration=elapsed,
            observed=observed,
        )
        return Executed(decision=decision, output=output, duration_seconds=elapsed), event

    async def _read_before(self, tool: Tool, args: dict[str, Any]) -> tuple[Any, str | None]:
        """The state before the effect, for tools whose read-back reads one."""
        if tool.read_back is None or tool.read_back.before is None:
            return None, None
        return await read_before(tool.read_back, args, timeout_seconds=self.timeout_seconds)

    def recheck(self, call: ProposedCall) -> Recheck:
        """Decide ``call`` again after a person changed its arguments: located, evaluated
        and, unless refused, its limits settled anew in place of what the call claimed
        before (in one locked transaction). Nothing is recorded."""
        call = self.locate(call)
        evaluation = evaluate(self.policy, call)
        if isinstance(evaluation.decision, Deny):
            return Recheck(decision=evaluation.decision)
        breaches = self.ledger.resettle(evaluation.claims, call_id=call.idempotency_key)
        enforced = tuple(b.message for b in breaches if not b.claim.limit.shadow)
        return Recheck(decision=evaluation.decision, over_limits=enforced)

    def reclaim_limits(self, call: ProposedCall) -> None:
        """Claim the limits of ``call`` again (a change to it did not go through)."""
        claims = evaluate(self.policy, self.locate(call)).claims
        self.ledger.resettle(claims, call_id=call.idempotency_key)

    def release_limits(self, idempotency_key: str) -> None:
        """A call that will not run gives back what it claimed of its limits."""
        self.ledger.release(idempotency_key)

    def shown_args(self, tool: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments as people and records see them: the tool's secret arguments
        and the policy's redacted fields replaced."""
        if tool not in self.policy.tools:
            shown: dict[str, Any] = self.redactor.redact(dict(args)).value
            return shown
        redactor = self.redactor_for(self.policy.tools.get(tool), dict(args))
        redacted: dict[str, Any] = redactor.redact(dict(args)).value
        return redacted

    def secret_values(self, tool: str, args: Mapping[str, Any]) -> tuple[str, ...]:
        """The values of a call's secret arguments: those its tool marks secret, and
        those whose names say so (``password``, ``api_key``…)."""
        marked = self.policy.tools.get(tool).secret_args if tool in self.policy.tools else ()
        return tuple(
            str(value)
            for name, value in args.items()
            if value not in (None, "")
            and (name in marked or self.redactor.is_secret_key(name))
            and isinstance(value, str | int | float)
        )

    def scrubber(self, call: ProposedCall) -> Redactor:
        """The redactor for everything a call's text goes into: the policy's, its own
        secret arguments, and the run's earlier secrets (``call.secrets``)."""
        tool = self.policy.tools.get(call.tool) if call.tool in self.policy.tools else None
        redactor = self.redactor_for(tool, dict(call.args)) if tool else self.redactor
        return redactor.with_secrets(values=call.secrets) if call.secrets else redactor

    def redactor_for(self, tool: Tool, args: Any = None) -> Redactor:
        """The redactor for this tool: the policy's, plus the tool's secret arguments' values."""
        if not tool.secret_args:
            return self.redactor
        values = [
            str(args[name])
            for name in tool.secret_args
            if isinstance(args, dict) and args.get(name) not in (None, "")
        ]
        return self.redactor.with_secrets(fields=tool.secret_args, values=values)

    async def _run(self, tool: Tool, args: dict[str, Any], call: ProposedCall) -> Any:
        if tool.context_param:
            args = {
                **args,
                tool.context_param: ToolContext(
                    run_id=call.run.id, call_id=call.call_id, idempotency_key=call.idempotency_key
                ),
            }
        if inspect.iscoroutinefunction(tool.function):
            return await asyncio.wait_for(tool.function(**args), self.timeout_seconds)
        return await asyncio.wait_for(
            asyncio.to_thread(tool.function, **args), self.timeout_seconds
        )

    def _failed(
        self, call: ProposedCall, decision: Allow | NeedsApproval, error: str, started: float
    ) -> tuple[Failed, GateEvent]:
        elapsed = time.perf_counter() - started
        event = self._event("call.failed", call, decision=decision, error=error, duration=elapsed)
        return Failed(decision=decision, error=error), event

    def _event(
        self,
        kind: GateEventType,
        call: ProposedCall,
        *,
        decision: Decision | None = None,
        output: CheckedOutput | None = None,
        error: str | None = None,
        duration: float | None = None,
        observed: Observed | None = None,
    ) -> GateEvent:
        redactor = self.scrubber(call)
        if call.why:  # the model may repeat a secret in its reason
            call = dataclasses.replace(call, why=redactor.redact_text(call.why))
        return GateEvent(
            type=kind,
            call=call,
            at=_dt.datetime.now(_dt.UTC),
            args=redactor.redact(dict(call.args)).value,
            decision=decision,
            output=output,
            error=error,
            duration_seconds=duration,
            observed=observed,
        )

    def record(self, events: Sequence[GateEvent]) -> None:
        """Give events from :meth:`assess` or :meth:`run` to the recorder, in one write
        when it can take a batch."""
        recorder = self.recorder
        if recorder is not None:
            record_all(recorder, events)
