"""A held call as an MCP task (2025-11-25), with the MCP SDK's own client over
Streamable HTTP: ``input_required`` until an approver decides in tether, executed
once as approved, the same result every time, and nobody else's to see."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import mcp_types as types
import pytest
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.shared.exceptions import MCPError

from tests.gateway.harness import OTHER_TOKEN, Running, serving, write_config
from tether.approvals import ApprovalClosed
from tether.identity import Actor

FIONA = Actor(account="fiona", surface="web", method="password")
RELATED = "io.modelcontextprotocol/related-task"


async def _as_task(
    client: Client, name: str, args: dict[str, Any], *, ttl: int | None = 600_000
) -> types.CreateTaskResult:
    request = types.CallToolRequest(
        params=types.CallToolRequestParams(
            name=name, arguments=args, task=types.TaskMetadata(ttl=ttl)
        )
    )
    return await client.session.send_request(request, types.CreateTaskResult)


async def _get(client: Client, task_id: str) -> types.GetTaskResult:
    request = types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id))
    return await client.session.send_request(request, types.GetTaskResult)


async def _result(client: Client, task_id: str) -> types.CallToolResult:
    request = types.GetTaskPayloadRequest(params=types.GetTaskPayloadRequestParams(task_id=task_id))
    return await client.session.send_request(request, types.CallToolResult)


async def _list(client: Client) -> types.ListTasksResult:
    return await client.session.send_request(types.ListTasksRequest(), types.ListTasksResult)


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


async def test_the_gateway_declares_tasks_and_offers_its_tools_as_optional_tasks(
    gateway: Running,
) -> None:
    async with gateway.client(mode="legacy") as client:
        capabilities = client.session.server_capabilities
        tools = (await client.list_tools()).tools
    assert capabilities is not None and capabilities.tasks is not None
    assert capabilities.tasks.requests is not None and capabilities.tasks.requests.tools
    assert capabilities.tasks.requests.tools.call is not None
    assert capabilities.tasks.list is not None
    assert capabilities.tasks.cancel is not None  # the caller may withdraw a held call
    assert {tool.execution.task_support for tool in tools if tool.execution} == {"optional"}
    assert len([tool for tool in tools if tool.execution]) == len(tools)


async def test_a_held_call_is_an_input_required_task_until_approved_then_runs_once(
    gateway: Running,
) -> None:
    args = {"to": "bob@acme.example", "body": "your refund"}
    async with gateway.client(mode="legacy") as client:
        created = await _as_task(client, "up.send_mail", args)
        task = created.task
        assert task.status == "input_required"
        assert task.task_id.startswith("apr_")
        request = gateway.service.approval(task.task_id)
        assert task.status_message is not None
        assert task.task_id in task.status_message
        assert f"http://127.0.0.1:8000/approvals/{task.task_id}" in task.status_message
        assert task.ttl == 3_600_000  # the approval's expiry (1h), not the 10 min asked for
        assert request.status == "pending"

        polled = await _get(client, task.task_id)
        assert (polled.status, polled.ttl) == ("input_required", 3_600_000)
        again = await _as_task(client, "up.send_mail", args)  # the same call: the same task
        assert again.task.task_id == task.task_id
        assert gateway.effects() == []

        edited = {"to": "bob@acme.example", "body": "your refund of 20 EUR"}
        gateway.service.approve(task.task_id, by=FIONA, edit=edited)  # in the console
        done = await _result(client, task.task_id)
        repeated = await _result(client, task.task_id)
        final = await _get(client, task.task_id)
        plain = await client.call_tool("up.send_mail", args)  # a retry without tasks
    assert not done.is_error and "sent to bob@acme.example" in _text(done)
    assert done.meta is not None and done.meta[RELATED] == {"taskId": task.task_id}
    assert _text(repeated) == _text(done)
    assert _text(plain) == _text(done)
    assert final.status == "completed"
    effects = gateway.effects()
    assert len(effects) == 1, effects
    assert effects[0]["body"] == "your refund of 20 EUR"  # as approved
    assert gateway.service.approval(task.task_id).status == "executed"
    assert gateway.service.verify().intact


async def test_tasks_result_waits_for_the_approvers_and_polling_sees_the_call_run(
    gateway: Running,
) -> None:
    args = {"to": "bob@acme.example", "body": "wait for it"}
    async with gateway.client(mode="legacy") as client:
        task = (await _as_task(client, "up.send_mail", args)).task
        waiting = asyncio.create_task(_result(client, task.task_id))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # blocks while the approval is pending
        gateway.service.approve(task.task_id, by=FIONA)
        done = await asyncio.wait_for(waiting, 30)
        states = {(await _get(client, task.task_id)).status}
    assert "sent to bob@acme.example" in _text(done)
    assert states == {"completed"}
    assert len(gateway.effects()) == 1


async def test_concurrent_results_polls_and_retries_of_an_approved_task_take_effect_once(
    gateway: Running,
) -> None:
    args = {"to": "bob@acme.example", "body": "all at once"}
    async with gateway.client(mode="legacy") as client:
        task = (await _as_task(client, "up.send_mail", args)).task
        gateway.service.approve(task.task_id, by=FIONA)
        answers = await asyncio.gather(
            _result(client, task.task_id),
            _result(client, task.task_id),
            _get(client, task.task_id),
            client.call_tool("up.send_mail", args),
            _result(client, task.task_id),
        )
    texts = {_text(a) for a in answers if isinstance(a, types.CallToolResult)}
    assert len(texts) == 1 and "sent to bob@acme.example" in texts.pop()
    assert len(gateway.effects()) == 1


async def test_polling_alone_executes_an_approved_task_once(gateway: Running) -> None:
    args = {"to": "bob@acme.example", "body": "polled"}
    async with gateway.client(mode="legacy") as client:
        task = (await _as_task(client, "up.send_mail", args)).task
        gateway.service.approve(task.task_id, by=FIONA)
        seen = [(await _get(client, task.task_id)).status]
        for _ in range(100):
            if seen[-1] not in ("working", "input_required"):
                break
            await asyncio.sleep(0.1)
            seen.append((await _get(client, task.task_id)).status)
        done = await _result(client, task.task_id)
    assert seen[0] == "working" and seen[-1] == "completed", seen
    assert "sent to" in _text(done)
    assert len(gateway.effects()) == 1


async def test_a_rejected_task_fails_with_the_reason_and_never_runs(gateway: Running) -> None:
    args = {"to": "bob@acme.example", "body": "no"}
    async with gateway.client(mode="legacy") as client:
        task = (await _as_task(client, "up.send_mail", args)).task
        gateway.service.reject(task.task_id, by=FIONA, comment="not this one")
        polled = await _get(client, task.task_id)
        answer = await _result(client, task.task_id)
    assert polled.status == "failed"
    assert polled.status_message is not None and "rejected" in polled.status_message
    assert answer.is_error and "not this one" in _text(answer)
    assert gateway.effects() == []


@pytest.fixture
def short_lived(tmp_path: Path, sqlite_url: str) -> Iterator[Running]:
    config = write_config(tmp_path / "desk", database=sqlite_url)
    policy = config.parent / "policy.yaml"
    policy.write_text(policy.read_text().replace("expires: 1h", "expires: 1s"))
    with serving(config) as running:
        yield running


async def test_a_task_whose_approval_expires_fails_as_expired(short_lived: Running) -> None:
    args = {"to": "bob@acme.example", "body": "too late"}
    async with short_lived.client(mode="legacy") as client:
        task = (await _as_task(client, "up.send_mail", args)).task
        assert task.ttl == 1000  # until the approval expires
        await asyncio.sleep(1.5)
        polled = await _get(client, task.task_id)
        answer = await _result(client, task.task_id)
    assert polled.status == "failed"
    assert polled.status_message is not None and "expired" in polled.status_message
    assert answer.is_error and "expired" in _text(answer)
    assert short_lived.effects() == []


async def test_another_callers_task_does_not_exist_for_them_and_the_attempt_is_recorded(
    gateway: Running,
) -> None:
    args = {"to": "bob@acme.example", "body": "mine"}
    async with gateway.client(mode="legacy") as client:
        task = (await _as_task(client, "up.send_mail", args)).task
        found = await _as_task(client, "up.lookup", {"customer": "c1"})
    async with gateway.client(OTHER_TOKEN, mode="legacy") as sam:
        for ask in (_get, _result):
            for task_id in (task.task_id, found.task.task_id):
                with pytest.raises(MCPError) as refused:
                    await ask(sam, task_id)
                assert refused.value.code == -32602 and "not found" in refused.value.message
        listed = await _list(sam)
    assert listed.tasks == []
    refusals = [e.event.details for e in gateway.service.events(type="access.refused")]
    assert [d["reason"] for d in refusals].count("task-of-another-caller") == 4
    assert gateway.service.approval(task.task_id).status == "pending"


async def test_the_requester_withdraws_a_held_task_which_never_runs(gateway: Running) -> None:
    args = {"to": "bob@acme.example", "body": "cancel me"}
    async with gateway.client(mode="legacy") as client:
        task = (await _as_task(client, "up.send_mail", args)).task
        request = types.CancelTaskRequest(
            params=types.CancelTaskRequestParams(task_id=task.task_id)
        )
        cancelled = await client.session.send_request(request, types.CancelTaskResult)
        with pytest.raises(MCPError) as again:
            await client.session.send_request(request, types.CancelTaskResult)
        with pytest.raises(ApprovalClosed, match="already cancelled"):
            gateway.service.approve(task.task_id, by=FIONA)
        later = await _get(client, task.task_id)
    assert cancelled.status == "cancelled" and later.status == "cancelled"
    assert again.value.code == -32602 and "terminal" in again.value.message
    assert gateway.effects() == []
    (decided,) = [
        e.event for e in gateway.service.events(type="approval.decided")
        if e.event.approval and e.event.approval["request_id"] == task.task_id
    ]  # fmt: skip
    assert decided.approval is not None and decided.approval["verdict"] == "withdrawn"
    assert decided.actor is not None and decided.actor["account"] == "alice"
    assert decided.actor["surface"] == "gateway"


async def test_an_approved_task_cannot_be_cancelled(gateway: Running) -> None:
    args = {"to": "bob@acme.example", "body": "too late"}
    async with gateway.client(mode="legacy") as client:
        task = (await _as_task(client, "up.send_mail", args)).task
        gateway.service.approve(task.task_id, by=FIONA)
        request = types.CancelTaskRequest(
            params=types.CancelTaskRequestParams(task_id=task.task_id)
        )
        with pytest.raises(MCPError) as refused:
            await client.session.send_request(request, types.CancelTaskResult)
    assert refused.value.code in (-32600, -32602)
    assert "approved" in refused.value.message or "terminal" in refused.value.message


async def test_a_call_decided_at_once_is_a_finished_task_and_tasks_are_listed(
    gateway: Running,
) -> None:
    async with gateway.client(mode="legacy") as client:
        found = await _as_task(client, "up.lookup", {"customer": "c1"})
        refused = await _as_task(client, "up.rm_rf", {"path": "/"})
        held = await _as_task(client, "up.send_mail", {"to": "bob@acme.example", "body": "l"})
        answer = await _result(client, found.task.task_id)
        denial = await _result(client, refused.task.task_id)
        listed = await _list(client)
    assert found.task.status == "completed" and "Ada Lovelace" in _text(answer)
    assert refused.task.status == "failed" and denial.is_error
    assert {task.task_id: task.status for task in listed.tasks} == {
        found.task.task_id: "completed",
        refused.task.task_id: "failed",
        held.task.task_id: "input_required",
    }


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_client_that_asks_for_no_task_gets_the_plain_pending_answer(
    gateway: Running, mode: str
) -> None:
    async with gateway.client(mode=mode) as client:
        held = await client.call_tool("up.send_mail", {"to": "bob@acme.example", "body": "p"})
    pending = held.structured_content["tether"]  # type: ignore[index]
    assert pending["status"] == "awaiting_approval"
    assert gateway.service.approval(pending["approval"]).status == "pending"


# --- 2026-07-28: the tasks extension -------------------------------------------------


class _CreatedTask(types.Result):
    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    status_message: str | None = None
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class _DetailedTask(types.Result):
    task_id: str
    status: str
    status_message: str | None = None
    ttl_ms: int | None = None
    input_requests: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


class _TasksExtension(ClientExtension):
    """A client of the tasks extension: polls tasks/get until the task ends, and
    lets the test act (as an approver, in tether) at each poll."""

    identifier = "io.modelcontextprotocol/tasks"

    def __init__(self, on_poll: Callable[[_DetailedTask], None]) -> None:
        self.on_poll = on_poll
        self.created: list[_CreatedTask] = []
        self.polled: list[_DetailedTask] = []

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=_CreatedTask, resolve=self.resolve)]

    async def resolve(self, created: _CreatedTask, ctx: ClaimContext) -> types.CallToolResult:
        self.created.append(created)
        request = types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=created.task_id))
        for _ in range(200):
            task = await ctx.session.send_request(request, _DetailedTask)
            self.polled.append(task)
            if task.status in ("completed", "failed", "cancelled"):
                assert task.result is not None, task
                return types.CallToolResult.model_validate(task.result, by_name=False)
            self.on_poll(task)
            await asyncio.sleep(0.05)
        raise AssertionError("the task never ended")


async def test_a_current_revision_client_with_the_tasks_extension_polls_until_approved(
    gateway: Running,
) -> None:
    def approve_in_console(task: _DetailedTask) -> None:
        if task.status == "input_required":
            gateway.service.approve(task.task_id, by=FIONA)

    extension = _TasksExtension(approve_in_console)
    args = {"to": "bob@acme.example", "body": "modern"}
    async with gateway.client(mode="2026-07-28", extensions=[extension]) as client:
        discovered = (await client.session.send_discover("2026-07-28"))["capabilities"]
        done = await client.call_tool("up.send_mail", args)
        again = await client.call_tool("up.send_mail", args)  # the same call: no new task
    assert "io.modelcontextprotocol/tasks" in discovered["extensions"]
    created = extension.created[0]
    assert created.status == "input_required" and created.ttl_ms == 3_600_000
    assert created.task_id.startswith("apr_") and created.task_id in str(created.status_message)
    first = extension.polled[0]
    assert first.input_requests is not None
    elicit = first.input_requests["approval"]
    assert elicit["method"] == "elicitation/create"
    assert elicit["params"]["url"] == f"http://127.0.0.1:8000/approvals/{created.task_id}"
    assert extension.polled[-1].status == "completed"
    assert "sent to bob@acme.example" in _text(done)
    assert _text(again) == _text(done)
    assert len(extension.created) == 1
    assert len(gateway.effects()) == 1


async def test_under_the_extension_a_rejection_is_a_completed_task_with_a_tool_error(
    gateway: Running,
) -> None:
    def reject_in_console(task: _DetailedTask) -> None:
        if task.status == "input_required":
            gateway.service.reject(task.task_id, by=FIONA, comment="no refunds today")

    extension = _TasksExtension(reject_in_console)
    async with gateway.client(mode="2026-07-28", extensions=[extension]) as client:
        answer = await client.call_tool("up.send_mail", {"to": "bob@acme.example", "body": "x"})
        task_id = extension.created[0].task_id
    assert answer.is_error and "no refunds today" in _text(answer)
    assert gateway.service.approval(task_id).status == "rejected"
    assert gateway.effects() == []


async def test_an_answer_sent_with_tasks_update_decides_nothing(gateway: Running) -> None:
    extension = _TasksExtension(lambda _task: None)
    async with gateway.client(mode="2026-07-28", extensions=[extension]) as client:
        created = await client.session.call_tool(
            "up.send_mail", {"to": "bob@acme.example", "body": "u"}, allow_claimed=True
        )
        assert isinstance(created, _CreatedTask)
        update = _UpdateTask(
            params=_UpdateTaskParams(
                task_id=created.task_id,
                input_responses={"approval": {"action": "accept"}},
            )
        )
        acknowledged = await client.session.send_request(update, types.EmptyResult)
        polled = await client.session.send_request(
            types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=created.task_id)),
            _DetailedTask,
        )
    assert acknowledged is not None
    assert polled.status == "input_required"
    assert gateway.service.approval(created.task_id).status == "pending"
    assert gateway.effects() == []


class _UpdateTaskParams(types.RequestParams):
    task_id: str
    input_responses: dict[str, Any] | None = None


class _UpdateTask(types.Request[_UpdateTaskParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    params: _UpdateTaskParams
