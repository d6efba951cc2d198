"""Held calls as MCP tasks: the 2025-11-25 revision's task-augmented ``tools/call``,
and the tasks extension of 2026-07-28 (``io.modelcontextprotocol/tasks``).

    tools/call with ``task`` ──► the whole gate (Gateway.call_tool)
        ──► held for approval ──► a task in ``input_required``: its id is the approval
            request's (``apr_…``), its ttl runs until the request expires
        ──► decided at once ──► a finished task (``completed``/``failed``), kept in
            this process for its ttl
    tasks/get    ──► the approvals store says: pending → ``input_required``;
                     approved → ``working`` (executed once, in the background)
                     → ``completed`` | ``failed``; rejected, expired → ``failed``;
                     cancelled by an operator → ``cancelled``
    tasks/result ──► waits until the task ends; the tool's result, the same each time
    tasks/list   ──► the caller's tasks
    tasks/cancel ──► the caller withdraws the call while it waits: cancelled, never run

Under 2026-07-28 the same tasks take the extension's shapes: the server chooses a
task (``resultType: "task"``) for a held call when the request declares the
extension; ``tasks/get`` carries the result once ended (a refusal is a ``completed``
task whose result is a tool error: ``failed`` is for JSON-RPC errors) and, while
the approval is pending, a URL elicitation to the console's page as its input
request; ``tasks/update`` is acknowledged and changes nothing; there is no
tasks/result or tasks/list.

Nothing a client sends moves a task: only the approvals store (an approver in the
console, the CLI or the API) decides, and the approved call runs through the same
path as a plain retry (``Gateway.held``), so it takes effect once whichever of
tasks/get, tasks/result or a repeated ``tools/call`` gets there first.

A task belongs to the caller who made it (issuer, subject, client and agent, as the
session run does); anyone else is told there is no such task, and the attempt is
recorded. A held call's task lives as long as its approval request, in the database,
so it survives a restart and is the same in every gateway process; a finished-at-once
task is kept only in the process that answered it (its effect, if any, is in the
effect ledger: the same call made again gets the same result).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INVALID_PARAMS, INVALID_REQUEST

from tether.approvals import ApprovalError, ApprovalNotFound, ApprovalRequest
from tether.gateway._gateway import Gateway, Pending
from tether.gateway._identity import Caller
from tether.identity import Actor

_log = logging.getLogger("tether.gateway")
EXTENSION = "io.modelcontextprotocol/tasks"
TASK_REVISIONS = frozenset({"2025-11-25"})
"""The handshake revisions whose core has tasks (2026-07-28 has the extension)."""
RELATED_TASK = "io.modelcontextprotocol/related-task"
IMMEDIATE_RESPONSE = "io.modelcontextprotocol/model-immediate-response"
CAPABILITY = types.ServerTasksCapability(
    list=types.TasksListCapability(),
    cancel=types.TasksCancelCapability(),
    requests=types.ServerTasksRequestsCapability(
        tools=types.TasksToolsCapability(call=types.TasksCallCapability())
    ),
)
"""What the gateway declares: task-augmented ``tools/call``, ``tasks/list`` and
``tasks/cancel`` (the caller withdrawing a call that waits: :meth:`Tasks.cancel`)."""
POLL_INTERVAL_MS = 2000
_KEEP_MS = 3_600_000
"""How long a task decided at once is kept (at most), when the client asks no less."""
_REMEMBERED = 10_000
_PAGE = 50
_TERMINAL = frozenset({"completed", "failed", "cancelled"})


class _ExtensionTask(types.Result):
    """A task as the 2026-07-28 tasks extension writes it (the SDK has types for the
    2025-11-25 tasks only)."""

    task_id: str
    status: types.TaskStatus
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None
    poll_interval_ms: int | None = None


class CreatedTask(_ExtensionTask):
    """The extension's ``CreateTaskResult``: a ``tools/call`` answered with a task."""

    result_type: Literal["task"] = "task"


class DetailedTask(_ExtensionTask):
    """The extension's ``tasks/get`` answer: the task and what its status carries."""

    result_type: Literal["complete"] = "complete"
    input_requests: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class _Finished:
    """A task-augmented call that was decided at once: its answer, for tasks/result."""

    owner: str
    task: types.Task
    result: types.CallToolResult
    until: float
    """``time.monotonic()`` after which it is forgotten."""


class Tasks:
    """The task view of one gateway's calls."""

    def __init__(self, gateway: Gateway, *, wait_seconds: float = 1.0) -> None:
        self.gateway = gateway
        self.wait_seconds = wait_seconds
        """How often tasks/result asks the approvals store again while it waits."""
        self._finished: OrderedDict[str, _Finished] = OrderedDict()
        self._ended: OrderedDict[str, types.CallToolResult] = OrderedDict()
        self._running: dict[str, asyncio.Task[types.CallToolResult | Pending]] = {}

    # --- tools/call -----------------------------------------------------------------

    async def create(
        self, caller: Caller, params: types.CallToolRequestParams
    ) -> types.CreateTaskResult:
        """The call through the gate, answered as a task."""
        meta = dict(params.meta or {})
        outcome = await self.gateway.call_tool(caller, params.name, params.arguments, meta)
        if isinstance(outcome, Pending):
            task = self._held(outcome.request)
        else:
            task = self._finish(caller, params, outcome)
        return types.CreateTaskResult(task=task, _meta={IMMEDIATE_RESPONSE: _says(task)})

    def _finish(
        self, caller: Caller, params: types.CallToolRequestParams, result: types.CallToolResult
    ) -> types.Task:
        asked = params.task.ttl if params.task and params.task.ttl else _KEEP_MS
        ttl = max(1, min(asked, _KEEP_MS))
        now = _iso(self.gateway.service.clock())
        task = types.Task(
            task_id=f"gwt_{uuid.uuid4().hex}",
            status="failed" if result.is_error else "completed",
            status_message=_text_of(result) if result.is_error else None,
            created_at=now,
            last_updated_at=now,
            ttl=ttl,
        )
        self._forget_old()
        self._finished[task.task_id] = _Finished(
            owner=caller.key, task=task, result=result, until=time.monotonic() + ttl / 1000
        )
        return task

    def created(self, pending: Pending) -> CreatedTask:
        """A held call's task in the extension's shape (2026-07-28)."""
        return CreatedTask(**_extension_fields(self._held(pending.request)))

    # --- tasks/get, tasks/result, tasks/list, tasks/cancel ---------------------------

    async def get(self, caller: Caller, task_id: str) -> types.Task:
        finished = self._finished_of(caller, task_id)
        if finished is not None:
            return finished.task
        request = self._request_of(caller, task_id)
        if request.status == "approved" and request.id not in self._ended:
            self._start(caller, request)
            return self._held(request)
        if request.status != "pending" or self._expired(request):
            await self._settle(caller, request)
        return self._held(request)

    async def detailed(self, caller: Caller, task_id: str) -> DetailedTask:
        """``tasks/get`` under the extension (2026-07-28)."""
        task = await self.get(caller, task_id)
        fields = _extension_fields(task)
        ended = self._ended.get(task_id)
        finished = self._finished.get(task_id)
        if finished is not None:
            ended = finished.result
        if task.status in ("completed", "failed") and ended is not None:
            result = ended.model_dump(by_alias=True, mode="json", exclude_none=True)
            return DetailedTask(**{**fields, "status": "completed"}, result=result)
        url = self.gateway.approval_url(task_id)
        if task.status == "input_required" and url is None:  # nothing the client could open
            return DetailedTask(**{**fields, "status": "working"})
        if task.status == "input_required" and url is not None:
            asked = types.ElicitRequest(
                params=types.ElicitRequestURLParams(
                    message=task.status_message or "", url=url, elicitation_id=task_id
                )
            )
            dumped = asked.model_dump(by_alias=True, mode="json", exclude_none=True)
            return DetailedTask(**fields, input_requests={"approval": dumped})
        return DetailedTask(**fields)

    def update(self, caller: Caller, task_id: str) -> None:
        """``tasks/update`` (2026-07-28): acknowledged for the caller's own task, and
        ignored: an answer from the client is never the approver's decision."""
        if self._finished_of(caller, task_id) is None:
            self._request_of(caller, task_id)

    async def result(self, caller: Caller, task_id: str) -> types.CallToolResult:
        """The tool's result once the task has ended (waiting until it has)."""
        finished = self._finished_of(caller, task_id)
        if finished is not None:
            return _related(finished.result, task_id)
        request = self._request_of(caller, task_id)
        while True:
            outcome = await self._settle(caller, request)
            if not isinstance(outcome, Pending):
                return _related(outcome, task_id)
            await asyncio.sleep(self.wait_seconds)

    def list(self, caller: Caller, cursor: str | None) -> types.ListTasksResult:
        held = [
            self._held(request)
            for request in self.gateway.service.approvals(status=None, agent=caller.agent)
            if self._owns(caller, request)
        ]
        now = time.monotonic()
        done = [f.task for f in self._finished.values() if f.owner == caller.key and f.until > now]
        every = sorted([*held, *done], key=lambda task: task.created_at)
        start = _offset(cursor, len(every))
        page = every[start : start + _PAGE]
        more = start + _PAGE < len(every)
        return types.ListTasksResult(tasks=page, next_cursor=str(start + _PAGE) if more else None)

    def cancel(self, caller: Caller, task_id: str) -> types.Task:
        """The caller withdraws the call they made, still waiting for its approval: the
        request is cancelled and the call never runs. A call approved already, or
        ended, cannot be."""
        finished = self._finished_of(caller, task_id)
        task = finished.task if finished is not None else None
        if task is None:
            request = self._request_of(caller, task_id)
            task = self._held(request)
            if task.status == "input_required":
                who = Actor(account=caller.principal, surface="gateway", method=caller.method)
                try:
                    self.gateway.service.withdraw(request.id, by=who)
                except ApprovalError as exc:
                    raise MCPError(INVALID_REQUEST, f"Cannot cancel task: {exc.message}") from None
                return self._held(self.gateway.service.approval(request.id))
        if task.status in _TERMINAL:
            raise MCPError(
                INVALID_PARAMS, f"Cannot cancel task: already in terminal status {task.status!r}"
            )
        raise MCPError(
            INVALID_REQUEST,
            f"Cannot cancel task {task_id}: it was approved and is being executed",
        )

    # --- the approvals store's view -----------------------------------------------------

    def _held(self, request: ApprovalRequest) -> types.Task:
        """The task of a held call, as its approval request (and its end, if seen) says."""
        ended = self._ended.get(request.id)
        status, message = _status(request, ended, expired=self._expired(request))
        return types.Task(
            task_id=request.id,
            status=status,
            status_message=message if message else self._waiting(request),
            created_at=_iso(request.created_at),
            last_updated_at=_iso(request.decided_at or request.created_at),
            ttl=max(1, int((request.expires_at - request.created_at).total_seconds() * 1000)),
            poll_interval=POLL_INTERVAL_MS,
        )

    def _waiting(self, request: ApprovalRequest) -> str:
        url = self.gateway.approval_url(request.id)
        where = f"at {url}" if url else "in the tether console"
        return (
            f"Waiting for approval: request {request.id} is pending until "
            f"{request.expires_at.isoformat(timespec='minutes')}; an approver decides it "
            f"{where}. Nothing sent from this client decides it."
        )

    def _expired(self, request: ApprovalRequest) -> bool:
        return request.status == "pending" and request.expires_at <= self.gateway.service.clock()

    async def _settle(
        self, caller: Caller, request: ApprovalRequest
    ) -> types.CallToolResult | Pending:
        """The held call's end (executed once, if approved), or still :class:`Pending`."""
        ended = self._ended.get(request.id)
        if ended is not None:
            return ended
        outcome = await self.gateway.held(caller, request)
        if isinstance(outcome, types.CallToolResult):
            self._ended[request.id] = outcome
            while len(self._ended) > _REMEMBERED:
                self._ended.popitem(last=False)
        return outcome

    def _start(self, caller: Caller, request: ApprovalRequest) -> None:
        """Execute an approved call in the background (once: see ``Gateway.held``)."""
        if request.id in self._running:
            return
        running = asyncio.create_task(self._settle(caller, request))
        self._running[request.id] = running

        def done(finished: asyncio.Task[types.CallToolResult | Pending]) -> None:
            self._running.pop(request.id, None)
            if not finished.cancelled() and (error := finished.exception()) is not None:
                _log.error("executing approved request %s failed", request.id, exc_info=error)

        running.add_done_callback(done)

    # --- whose task ------------------------------------------------------------------

    def _request_of(self, caller: Caller, task_id: str) -> ApprovalRequest:
        if not task_id.startswith("apr_"):
            raise _not_found(task_id)
        try:
            request = self.gateway.service.approval(task_id)
        except ApprovalNotFound:
            raise _not_found(task_id) from None
        if not self._owns(caller, request):
            self._refused(caller, task_id)
            raise _not_found(task_id)
        return request

    def _finished_of(self, caller: Caller, task_id: str) -> _Finished | None:
        finished = self._finished.get(task_id)
        if finished is None:
            if task_id.startswith("gwt_"):
                raise _not_found(task_id)
            return None
        if finished.until <= time.monotonic():
            del self._finished[task_id]
            raise _not_found(task_id)
        if finished.owner != caller.key:
            self._refused(caller, task_id)
            raise _not_found(task_id)
        return finished

    def _owns(self, caller: Caller, request: ApprovalRequest) -> bool:
        return (
            request.agent == caller.agent
            and request.requested_by == caller.principal
            and self.gateway.sessions.owns(caller, request.run_id)
        )

    def _refused(self, caller: Caller, task_id: str) -> None:
        self.gateway.service.record_access_refusal(
            {
                "surface": "gateway",
                "reason": "task-of-another-caller",
                "task": task_id,
                "caller": caller.record(),
                "principal": caller.principal,
                "agent": caller.agent,
            }
        )

    def _forget_old(self) -> None:
        now = time.monotonic()
        for task_id in [k for k, f in self._finished.items() if f.until <= now]:
            del self._finished[task_id]
        while len(self._finished) > _REMEMBERED:
            self._finished.popitem(last=False)


def _status(
    request: ApprovalRequest, ended: types.CallToolResult | None, *, expired: bool
) -> tuple[types.TaskStatus, str | None]:
    """A held call's task status and message (None: the waiting message)."""
    if request.status == "cancelled":
        return "cancelled", f"Request {request.id} was cancelled: {request.comment or ''}".strip()
    if ended is not None:
        return ("failed", _text_of(ended)) if ended.is_error else ("completed", None)
    if request.status == "pending" and not expired:
        return "input_required", None
    if request.status == "approved":
        return "working", f"Approved: request {request.id}; the call is being executed."
    if request.status == "executed":
        return "working", f"Approved and executed: request {request.id}; ask tasks/result."
    said = f": {request.comment}" if request.comment else ""
    verdict = "was rejected" if request.status == "rejected" else "expired undecided"
    return "failed", f"Not executed: approval request {request.id} {verdict}{said}."


def _extension_fields(task: types.Task) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "status": task.status,
        "status_message": task.status_message,
        "created_at": task.created_at,
        "last_updated_at": task.last_updated_at,
        "ttl_ms": task.ttl,
        "poll_interval_ms": task.poll_interval,
    }


def _says(task: types.Task) -> str:
    return task.status_message or f"Task {task.task_id} is {task.status}."


def _text_of(result: types.CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _related(result: types.CallToolResult, task_id: str) -> types.CallToolResult:
    meta = {**(result.meta or {}), RELATED_TASK: {"taskId": task_id}}
    return result.model_copy(update={"meta": meta})


def _offset(cursor: str | None, total: int) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or int(cursor) > total:
        raise MCPError(INVALID_PARAMS, f"Invalid cursor {cursor!r} for tasks/list")
    return int(cursor)


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")


def _not_found(task_id: str) -> MCPError:
    return MCPError(INVALID_PARAMS, f"Failed to retrieve task: Task not found: {task_id}")
