"""Two workers on one PostgreSQL database share the runs, and take over from each other.

Both are ``tether worker``-like subprocesses (tests/runtime/crash_worker.py) with
their own executor ids, writing heartbeats and calling ``recover_dead_workers``.
Every effect records the worker that performed it. The heartbeat bookkeeping itself
is also checked in one process, on SQLite.
"""

from __future__ import annotations

import datetime
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.runtime.conftest import MakeRuntime
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
from tether.runtime._tables import worker as worker_table
from tether.runtime._workers import dead_workers, heartbeat, recover_dead_workers

pytestmark = pytest.mark.slow
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


@pytest.mark.postgres
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


@pytest.mark.postgres
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


def test_heartbeats_and_takeover_bookkeeping(sqlite_url: str, make_runtime: MakeRuntime) -> None:
    rt = make_runtime(sqlite_url)  # launched (it announced itself): recovery needs DBOS
    heartbeat(rt)  # beats again: still one row
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    with rt.engine.begin() as conn:
        conn.execute(
            worker_table.insert().values(
                executor_id="ghost", heartbeat_at=long_ago, started_at=long_ago
            )
        )
    with rt.engine.connect() as conn:
        ids = conn.execute(sa.select(worker_table.c.executor_id)).scalars().all()
    assert sorted(ids) == sorted([rt.executor_id, "ghost"])

    assert dead_workers(rt, 60) == ["ghost"]
    assert recover_dead_workers(rt, 60) == ["ghost"]  # it had nothing in flight
    assert dead_workers(rt, 60) == []
    assert recover_dead_workers(rt, 60) == []  # taken over once
    assert dead_workers(rt, 1e-6) == []  # never itself, however stale
    with pytest.raises(ValueError, match="positive"):
        recover_dead_workers(rt, 0)


def test_who_else_runs_under_an_executor_id(sqlite_url: str, make_runtime: MakeRuntime) -> None:
    import os
    import socket
    import subprocess
    import sys

    from tether.runtime._workers import other_live_worker

    rt = make_runtime(sqlite_url)  # launched: it beats under its own id, as this process
    assert other_live_worker(rt, 60) is None  # this process is not "another worker"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with rt.engine.begin() as conn:
            conn.execute(
                worker_table.update()
                .where(worker_table.c.executor_id == rt.executor_id)
                .values(pid=other.pid, host=socket.gethostname())
            )
        assert f"process {other.pid} on {socket.gethostname()}" in (other_live_worker(rt, 60) or "")
        assert other_live_worker(rt, 1e-6) is None  # its heartbeat is stale: it is dead
    finally:
        other.kill()
        other.wait()
    assert other_live_worker(rt, 60) is None  # a dead process of this host (a restart)
    with rt.engine.begin() as conn:
        conn.execute(worker_table.update().values(host="elsewhere", pid=os.getpid()))
    assert "on elsewhere" in (other_live_worker(rt, 60) or "")
