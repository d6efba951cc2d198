"""One ``tools/call`` through the whole gate, and how its answer reaches the client.

    tools/call ──► caller (token) ──► the caller's run ──► pinned? ──► ProposedCall
        ──► Service.propose: identify, permit, check inputs, approval?, execute once
            with the idempotency key, check output, record (the runtime's call path)
        ──► Executed | Refused | Failed ──► a tool result (errors flagged)
        ──► AwaitingApproval ──► by what the client supports: an input-required
            result with a URL elicitation (2026-07-28), a URL elicitation (2025-11-25),
            or a plain result naming the request; then the store is asked, never the
            client: approved → executed once with the approved arguments.

A call's id is derived from what it does (tool, arguments, the client's idempotency
key if it sends one), so a request retried after a lost stream, or the same call made
again once its approval is decided, is the same call: it is answered from the effect
ledger and never takes effect twice. Reads, which change nothing, get fresh ids.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tether.approvals import ApprovalRequest
from tether.audit import AuditEvent
from tether.calls import Principal, ProposedCall, RunState, first_attempt
from tether.gateway._catalogue import Catalogue
from tether.gateway._identity import Caller
from tether.runtime import Answer, AwaitingApproval, Executed, Failed, Refused
from tether.service import Service
from tether.tools import Effect

IDEMPOTENCY_KEY = "tether/idempotency-key"
DEFAULT_REPEAT_WINDOW = _dt.timedelta(minutes=10)
"""An identical call settled less than this long ago is a retry (``repeat_window_seconds``)."""
"""The ``_meta`` key a client may set to tell two identical consequential calls apart
(and to name a call it retries)."""
WHY_KEY = "tether/why"
"""The ``_meta`` key for the client's stated reason for the call."""
_TRACE_KEYS = ("traceparent", "tracestate")
_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("tether.gateway")


@dataclass(frozen=True, kw_only=True)
class Pending:
    """A call waiting for people: the request, and where to decide it."""

    request: ApprovalRequest
    url: str | None

    @property
    def message(self) -> str:
        where = f" at {self.url}" if self.url else " in the tether console"
        return (
            f"Not executed yet: this call needs approval. Request {self.request.id} is "
            f"pending until {self.request.expires_at.isoformat(timespec='minutes')}; an "
            f"approver decides it{where}. Call the tool again with the same arguments "
            "once it is decided: it then runs once, as approved."
        )


Outcome = types.CallToolResult | Pending


class Gateway:
    """The gate in front of a catalogue, for MCP clients."""

    def __init__(
        self,
        service: Service,
        catalogue: Catalogue,
        *,
        console_url: str | None,
        repeat_window: _dt.timedelta = DEFAULT_REPEAT_WINDOW,
    ) -> None:
        from tether.gateway._sessions import Sessions

        self.service = service
        self.repeat_window = repeat_window
        """How long after an identical call was settled a call without an idempotency
        key is still taken as its retry (answered as it was), not as a new call."""
        self.catalogue = catalogue
        self.console_url = console_url.rstrip("/") if console_url else None
        self.sessions = Sessions(service)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    # --- listing ------------------------------------------------------------------------

    async def list_tools(self, caller: Caller) -> types.ListToolsResult:
        await self.catalogue.recheck()
        return self.catalogue.listing(caller)

    # --- calling ------------------------------------------------------------------------

    async def call_tool(
        self,
        caller: Caller,
        name: str,
        arguments: Mapping[str, Any] | None,
        meta: Mapping[str, Any],
    ) -> Outcome:
        """The call through the gate; a :class:`Pending` while it waits for approval."""
        with _traced(name, meta):
            run_id = await self.sessions.run_for(caller)
            args = dict(arguments or {})
            call = ProposedCall(
                tool=name,
                args=args,
                agent=caller.agent,
                principal=self._principal(caller),
                run=RunState(id=run_id),
                call_id=self._call_id(caller, run_id, name, args, meta),
                why=_text(meta.get(WHY_KEY)),
            )
            await self.catalogue.recheck()
            if self.catalogue.standing(name) == "quarantined":
                return await self._quarantined(call)
            return await self._once(call, self._through_gate)

    async def _through_gate(self, call: ProposedCall) -> Outcome:
        answer = await self.service.propose(call, repeats_after=self.repeat_window)
        if isinstance(answer, AwaitingApproval):
            return await self.after_approval(call, answer.request_id)
        return _result(answer)

    async def _once(
        self, call: ProposedCall, work: Callable[[ProposedCall], Awaitable[Outcome]]
    ) -> Outcome:
        """``work`` for this call, one at a time per call in this process, and shielded
        from the client: a stream that drops mid-call does not abandon an effect half
        done, and its retry waits for the first attempt's answer (from the ledger)."""
        key = call.idempotency_key
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)

        async def locked() -> Outcome:
            try:
                async with lock:
                    return await work(call)
            finally:
                held, left = self._locks[key]
                if left <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (held, left - 1)

        return await asyncio.shield(asyncio.ensure_future(locked()))

    async def after_approval(self, call: ProposedCall, request_id: str) -> Outcome:
        """What a held call comes to now: still pending, executed once as approved, or
        refused (rejected, expired, cancelled), as the approvals store says."""
        request = self.service.approval(request_id)
        if request.status == "pending" and request.expires_at <= self.service.clock():
            return _error(f"Not executed: approval request {request.id} expired undecided.")
        if request.status == "pending":
            return Pending(request=request, url=self.approval_url(request.id))
        if request.status in ("approved", "executed"):
            if self.catalogue.standing(call.tool) == "quarantined":
                return await self._quarantined(call)
            return _result(await self.service.execute_approved(call))
        said = f": {request.comment}" if request.comment else ""
        verdict = {"rejected": "was rejected", "expired": "expired undecided"}.get(
            request.status, f"was {request.status}"
        )
        return _error(f"Not executed: approval request {request.id} {verdict}{said}.")

    async def held(self, caller: Caller, request: ApprovalRequest) -> Outcome:
        """What ``caller``'s call held by ``request`` comes to now (see
        :meth:`after_approval`), one at a time with any retry of the same call."""
        call = ProposedCall(
            tool=request.tool,
            args=dict(request.args),
            agent=request.agent,
            principal=self._principal(caller),
            run=RunState(id=request.run_id),
            call_id=request.call_id,
            why=request.why,
        )
        return await self._once(call, lambda held: self.after_approval(held, request.id))

    def approval_url(self, request_id: str) -> str | None:
        return f"{self.console_url}/approvals/{request_id}" if self.console_url else None

    def _principal(self, caller: Caller) -> Principal:
        person = self.service.policy.principal(caller.principal)
        if person is None:  # the identity layer checked it; the policy may have changed
            raise PermissionError(f"{caller.principal} is no longer a user of the policy")
        return person

    def _call_id(
        self,
        caller: Caller,
        run_id: str,
        name: str,
        args: Mapping[str, Any],
        meta: Mapping[str, Any],
    ) -> str:
        key = meta.get(IDEMPOTENCY_KEY)
        effect = self.catalogue.effect_of(caller, name)
        if key is None and effect is Effect.READ:
            return f"gw-{uuid.uuid4().hex[:20]}"
        text = json.dumps({"tool": name, "args": args, "key": key}, sort_keys=True, default=str)
        same = "gw-" + hashlib.sha256(text.encode()).hexdigest()[:24]
        if key is not None:  # the client's key says what a retry is
            return same
        return self._attempt(run_id, same)

    def _attempt(self, run_id: str, same: str) -> str:
        """``same`` (``same.2``, ``.3``…): the identical call's id, while that call runs, is
        held or was settled less than :attr:`repeat_window` ago (a retry, answered from
        the ledger); once it was settled longer ago, the next id (a call made again)."""
        now = self.service.clock()

        def settled_long_ago(attempt: str) -> bool:
            settled = self._settled_at(run_id, attempt)
            return settled is not None and now - settled >= self.repeat_window

        return first_attempt(same, settled_long_ago)

    def _settled_at(self, run_id: str, call_id: str) -> _dt.datetime | None:
        """When the call was executed, failed, refused, or its approval closed undone;
        None while it is unused, runs, or waits for (or has) an approval to run."""
        record = self.service.executed(run_id, call_id)
        if record is None:
            return None
        if record.status != "held":
            return record.finished_at
        request = self.service.approval_for_call(run_id, call_id)
        if request is None or request.status in ("pending", "approved", "executed"):
            return None
        return request.decided_at

    async def _quarantined(self, call: ProposedCall) -> types.CallToolResult:
        text = (
            f"Refused: the tool {call.tool} is quarantined: its upstream definition "
            "changed (or was never accepted) and an operator must review and accept it "
            "(`tether gateway accept`)."
        )
        self.service.record(
            AuditEvent(
                type="access.refused",
                run_id=call.run.id,
                call_id=call.call_id,
                agent=call.agent,
                principal=call.principal.id,
                tool=call.tool,
                details={"surface": "gateway", "reason": "tool-quarantined"},
            )
        )
        return _error(text)


def _result(answer: Answer) -> types.CallToolResult:
    if isinstance(answer, Executed):
        return types.CallToolResult(content=[types.TextContent(text=answer.text)])
    if isinstance(answer, Refused | Failed):
        return _error(answer.text)
    raise TypeError(f"unexpected answer {answer!r}")


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def _text(value: Any) -> str:
    return value[:2000] if isinstance(value, str) else ""


def _traced(name: str, meta: Mapping[str, Any]) -> AbstractContextManager[Any]:
    """A span for the call, child of the client's W3C trace context when it sends one."""
    carrier = {key: str(meta[key]) for key in _TRACE_KEYS if isinstance(meta.get(key), str)}
    parent = _propagator.extract(carrier) if carrier else otel_context.get_current()
    return _tracer.start_as_current_span(
        f"tools/call {name}", context=parent, kind=trace.SpanKind.SERVER
    )
