"""Two workers on one PostgreSQL database share the runs, and take over from each other.

Both are ``tether worker``-like subprocesses (tests/runtime/crash_worker.py) with
their own executor ids, writing heartbeats and calling ``recover_dead_workers``.
Every effect records the worker that performed it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.crash_tools import message_id
from tests.runtime.harness import (
    Harness,
    Worker,
    done_turn,
    harness,
    mail_turn,
    record_turn,
    slow_turn,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
STALE_AFTER = 3.0
"""A worker silent for this long is taken for dead (heartbeats every 0.25 s)."""


def start_worker(h: Harness, name: str, *, ready: bool = True) -> Worker:
    # No sweeps: a worker paused (SIGSTOP) inside one could hold a lock the other needs.
    return h.start_worker(
        name, ready=ready, concurrency=2, stale_after=STALE_AFTER, sweep_every=3600.0
    )


@pytest.fixture
def h(postgres_url: str, tmp_path: Path) -> Iterator[Harness]:
    yield from harness(postgres_url, tmp_path)


def start_two(h: Harness) -> dict[str, Worker]:
    workers = {name: start_worker(h, name, ready=False) for name in ("worker-a", "worker-b")}
    for worker in workers.values():
        worker.wait_ready()
    return workers


def test_a_run_parks_on_one_worker_and_resumes_on_the_other(h: Harness) -> None:
    workers = start_two(h)
    run = h.start_run([record_turn("order-5"), mail_turn("[approve] Order 5"), done_turn()])
    h.wait_status(run.id, {"waiting_approval"}, worker=None)
    ((first, _pid),) = h.desk("SELECT worker, pid FROM record")
    assert first in workers
    other = next(name for name in workers if name != first)

    # Hold the worker that ran the first segment still, so only the other can resume it.
    paused = workers[first]
    paused.process.send_signal(signal.SIGSTOP)
    try:
        (request,) = h.runtime.approvals.find(run_id=run.id)
        h.runtime.approve(request.id, by="lena")
        done = h.wait_finished(run.id, worker=workers[other])
    finally:
        paused.process.send_signal(signal.SIGCONT)
    assert done.status == "completed", done.error

    (mail_key,) = [
        e.idempotency_key for e in h.runtime.store.effects(run.id) if e.tool == "crash.send_mail"
    ]
    assert h.desk("SELECT worker FROM sent_log") == [(other,)]
    assert h.smtp.message_ids() == [message_id(mail_key)]
    assert h.smtp.messages[0]["X-Tether-Worker"] == other
    assert h.runtime.audit.verify().intact


def test_a_killed_worker_s_segment_is_recovered_by_the_other(h: Harness) -> None:
    workers = start_two(h)
    run = h.start_run([slow_turn("long job"), done_turn()])

    # The slow tool announces which worker holds it, then takes its time.
    h.wait_until(
        "the slow step to start",
        lambda: any(h.folder.glob("slow-*")),
        worker=None,
    )
    (holder_file,) = h.folder.glob("slow-*")
    holder = holder_file.read_text().split()[0]
    survivor = next(name for name in workers if name != holder)
    assert workers[holder].kill() == -signal.SIGKILL
    assert h.status(run.id) == "running"

    done = h.wait_finished(run.id, worker=workers[survivor])
    assert done.status == "completed", done.error
    assert f"recovered {holder}" in workers[survivor].output()

    # The step ran again on the survivor; its effect happened once, there.
    (effect,) = h.runtime.store.effects(run.id)
    assert (effect.tool, effect.status, effect.attempts) == ("crash.slow_task", "done", 2)
    assert h.desk("SELECT worker FROM attempt ORDER BY id") == [(holder,), (survivor,)]
    assert h.desk("SELECT name, worker FROM record") == [("long job", survivor)]
    executed = list(h.runtime.audit.events(run=run.id, type="call.executed"))
    assert len(executed) == 1

    # A worker restarted under the dead one's id simply joins again.
    back = start_worker(h, holder)
    again = h.start_run([record_turn("after the restart"), done_turn()])
    assert h.wait_finished(again.id, worker=back).status == "completed"
