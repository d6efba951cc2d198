"""Following a run without polling, and segments started at once where they can run.

The queue is polled only every 60 s here: a run that starts or resumes within
seconds did not wait for the queue (it was started in the deciding process, or a
worker was woken by a notification).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.runtime.conftest import EXAMPLE
from tether.agents import Agent
from tether.approvals import ApprovalRequest, Notifier
from tether.policy import load_policy
from tether.runtime import RunNotFound, Runtime
from tether.runtime._tables import worker as worker_table

SLOW_POLL = 60.0
FAST_ENOUGH = 20.0
"""Well under the queue's polling interval, and generous for a loaded machine."""


@pytest.fixture
def runtimes(tmp_path: Path, desk: Path) -> Iterator[list[Runtime]]:
    made: list[Runtime] = []
    yield made
    for runtime in reversed(made):
        runtime.close()


def build(
    made: list[Runtime],
    tmp_path: Path,
    database: str,
    *,
    executor_id: str,
    notifiers: Sequence[Notifier] = (),
) -> Runtime:
    policy = load_policy(EXAMPLE / "policy.yaml")
    agent = Agent(
        name="support-desk",
        policy=policy,
        model=f"scripted:{EXAMPLE / 'scripts' / 'refund-request.yaml'}",
    )
    runtime = Runtime(
        policy=policy,
        agents=[agent],
        database=database,
        keys=str(tmp_path / "keys"),
        poll_seconds=SLOW_POLL,
        executor_id=executor_id,
        notifiers=notifiers,
    )
    made.append(runtime)
    return runtime


def test_a_handle_follows_a_run_to_its_approval_and_its_end(
    database_url: str, runtimes: list[Runtime], tmp_path: Path
) -> None:
    rt = build(runtimes, tmp_path, database_url, executor_id="here")
    rt.launch()
    started = time.monotonic()
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    handle = rt.handle(run.id)
    request = handle.next_approval(timeout_seconds=FAST_ENOUGH)
    assert request is not None, handle.record()
    parked = handle.record()
    assert parked.status == "waiting_approval"
    assert parked.approval_request_ids == (request.id,)
    assert parked.summary()["approval_requests"] == [request.id]
    assert [r.id for r in rt.approvals.find(run_id=run.id)] == [request.id]

    rt.approve(request.id, by="fiona")
    done = asyncio.run(handle.result(timeout_seconds=FAST_ENOUGH))
    assert done.status == "completed", done.error
    assert done.approval_request_ids == ()
    assert handle.next_approval(timeout_seconds=1) is None  # it ended
    # Started and resumed in this process, not by the queue's next poll.
    assert time.monotonic() - started < SLOW_POLL


def test_an_unknown_run_has_no_handle(
    sqlite_url: str, runtimes: list[Runtime], tmp_path: Path
) -> None:
    rt = build(runtimes, tmp_path, sqlite_url, executor_id="here")
    with pytest.raises(RunNotFound):
        rt.handle("run_nope")


def test_a_decision_elsewhere_wakes_a_worker_and_closing_a_client_spares_it(
    postgres_url: str, runtimes: list[Runtime], tmp_path: Path
) -> None:
    """A runtime that only decides (the console, the CLI) wakes the worker by NOTIFY;
    its handle hears the run end by LISTEN; closing it leaves the worker's DBOS be."""
    worker = build(runtimes, tmp_path, postgres_url, executor_id="worker")
    worker.launch()
    client = build(runtimes, tmp_path, postgres_url, executor_id="client")
    started = time.monotonic()
    run = client.start("support-desk", "Acme was charged twice", principal="alice")
    handle = client.handle(run.id)
    request = handle.next_approval(timeout_seconds=FAST_ENOUGH)
    assert request is not None, handle.record()
    client.approve(request.id, by="fiona")
    done = handle.wait(timeout_seconds=FAST_ENOUGH)
    assert done.status == "completed", done.error
    assert time.monotonic() - started < SLOW_POLL

    client.close()
    runtimes.remove(client)
    again = worker.start("support-desk", "Acme was charged twice", principal="alice")
    assert worker.handle(again.id).wait(timeout_seconds=FAST_ENOUGH).status == "waiting_approval"


def test_a_notification_nobody_hears_is_queued_by_the_next_sweep(
    postgres_url: str, runtimes: list[Runtime], tmp_path: Path
) -> None:
    """A worker looked alive but did not listen (an older release, or it died before
    hearing): the run stays queued, and a sweep puts it on the queue."""
    client = build(runtimes, tmp_path, postgres_url, executor_id="client")
    with client.engine.begin() as conn:  # a heartbeat, and nobody listening
        conn.execute(
            worker_table.insert().values(
                executor_id="deaf", heartbeat_at=sa.func.now(), started_at=sa.func.now()
            )
        )
    run = client.start("support-desk", "Acme was charged twice", principal="alice")
    segment = f"{run.id}/seg-1"
    assert client.durability.client.list_workflows(workflow_ids=[segment]) == []  # notified
    assert client.store.get(run.id).status == "queued"

    policy = load_policy(EXAMPLE / "policy.yaml")
    agent = Agent(
        name="support-desk",
        policy=policy,
        model=f"scripted:{EXAMPLE / 'scripts' / 'refund-request.yaml'}",
    )
    worker = Runtime(
        policy=policy,
        agents=[agent],
        database=postgres_url,
        keys=str(tmp_path / "keys"),
        executor_id="worker",
    )
    runtimes.append(worker)
    worker.launch()
    assert worker.sweep().queued == 1
    assert worker.wait(run.id, timeout_seconds=FAST_ENOUGH).status == "waiting_approval"


class _ApprovesAtOnce:
    """A notifier whose approver decides as the request is made, before the run parks."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.decided: list[str] = []

    def notify(self, request: ApprovalRequest, recipients: Sequence[str]) -> None:
        assert self.runtime is not None
        self.runtime.approve(request.id, by="fiona")
        self.decided.append(request.id)


def test_a_run_whose_approval_came_before_it_parked_resumes_at_once(
    sqlite_url: str, runtimes: list[Runtime], tmp_path: Path
) -> None:
    """The parking segment finds its call decided: the next segment starts here, now,
    not from the queue's next poll (60 s away), though it is started from inside the
    segment that parks."""
    approver = _ApprovesAtOnce()
    rt = build(runtimes, tmp_path, sqlite_url, executor_id="here", notifiers=[approver])
    approver.runtime = rt
    rt.launch(concurrency=1)  # even with room for one segment: the parking one is ending
    started = time.monotonic()
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    # Parked with its call decided already, it is still moving: the handle waits on.
    done = asyncio.run(rt.handle(run.id).result(timeout_seconds=FAST_ENOUGH))
    assert done.status == "completed", done.error
    assert len(approver.decided) == 1
    assert time.monotonic() - started < SLOW_POLL
