"""Beginning and ending a segment are conditional writes: a segment run again (after a
crash, or enqueued twice) neither moves a run that has gone on nor records its end twice."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from tests.runtime.conftest import MakeRuntime
from tether.approvals._tables import approval_request
from tether.runtime import Runtime


def _ends(rt: Runtime, run_id: str) -> list[str]:
    events = rt.audit.events(run=run_id)
    return [s.event.type for s in events if s.event.type in ("run.finished", "run.stopped")]


def test_a_finished_segment_run_again_is_skipped_and_records_nothing(
    database_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(database_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    assert rt.wait(run.id).status == "waiting_approval"
    (request,) = rt.approvals.find(run_id=run.id)
    rt.approve(request.id, by="fiona")
    done = rt.wait(run.id)
    assert done.status == "completed" and done.segment == 2
    before = len(list(rt.audit.events(run=run.id)))

    # Both segments again: the first was parked and left behind, the second ended.
    assert asyncio.run(rt.run_segment(run.id, 1)) == "skipped"
    assert asyncio.run(rt.run_segment(run.id, 2)) == "skipped"

    after = rt.store.get(run.id)
    assert (after.status, after.segment, after.output) == ("completed", 2, done.output)
    assert len(list(rt.audit.events(run=run.id))) == before
    assert _ends(rt, run.id) == ["run.finished"]


def test_a_parked_run_is_not_begun_by_its_own_segment_again(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(sqlite_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    assert rt.wait(run.id).status == "waiting_approval"
    assert rt.store.begin_segment(run.id, 1) == (None, None)
    assert rt.store.get(run.id).status == "waiting_approval"


def test_ending_a_run_twice_records_one_end(
    database_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(database_url, launch=False)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    record = rt.store.get(run.id)
    assert rt.endings.finish(run.id, "cancelled", error="by olga", record=record) == "cancelled"
    # A second end (a replayed segment with the record it began with) changes nothing.
    assert rt.endings.finish(run.id, "completed", output="late", record=record) == "cancelled"
    assert rt.endings.finish(run.id, "stopped", error="again") == "cancelled"
    after = rt.store.get(run.id)
    assert (after.status, after.output, after.error) == ("cancelled", None, "by olga")
    assert _ends(rt, run.id) == ["run.stopped"]
    assert rt.audit.verify().intact


def test_a_stopped_agent_ends_the_segment_as_it_begins(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(sqlite_url, launch=False)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    rt.store.stop(agent="support-desk", by="olga", reason="incident")
    assert asyncio.run(rt.run_segment(run.id, 1)) == "stopped"
    after = rt.store.get(run.id)
    assert after.status == "stopped"
    assert after.error == "support-desk stopped by olga: incident"
    assert _ends(rt, run.id) == ["run.stopped"]


def test_decided_calls_waits_for_every_call(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(sqlite_url)
    run = rt.start("billing", "Refund the cancelled contract", principal="fiona")
    rt.wait(run.id)
    (request,) = rt.approvals.find(run_id=run.id)
    approvals = rt.approvals
    assert approvals.decided_calls(run.id, [request.call_id]) is None  # pending
    assert approvals.decided_calls(run.id, [request.call_id, "other"]) is None  # no request
    assert approvals.decided_calls(run.id, []) == {}
    rt.approve(request.id, by="frank")  # one of a quorum of two
    assert approvals.decided_calls(run.id, [request.call_id]) is None
    assert rt.store.get(run.id).status == "waiting_approval"
    rt.approve(request.id, by="grace")
    decided = approvals.decided_calls(run.id, [request.call_id])
    assert decided is not None and decided[request.call_id].status in ("approved", "executed")
    assert [vote.approver for vote in decided[request.call_id].votes] == ["frank", "grace"]


def test_the_sweep_finds_the_waiting_runs_with_nothing_pending(
    database_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(database_url, launch=False)
    now = dt.datetime.now(dt.UTC)
    statuses = {
        "r-decided": ["approved"],
        "r-pending": ["pending"],
        "r-both": ["approved", "pending"],
    }
    for run_id in statuses:
        rt.store.create(
            run_id=run_id, agent="billing", agent_version="1", principal="fiona", task="t"
        )
        rt.store.update(run_id, status="waiting_approval")
    with rt.engine.begin() as conn:
        for run_id, requests in statuses.items():
            for n, status in enumerate(requests):
                conn.execute(
                    approval_request.insert().values(
                        id=f"apr-{run_id}-{n}", run_id=run_id, call_id=f"c{n}", agent="billing",
                        requested_by="fiona", tool="erp.create_credit_note", args={}, args_hash="h",
                        shown_args={}, preview="p", why="w", rule="r", reason="r", approvers=[],
                        quorum=1, policy_version="v", status=status, created_at=now,
                        expires_at=now + dt.timedelta(days=1), escalate_to=[], escalated=False,
                    )
                )  # fmt: skip
    assert rt.resumer.decided_waiting_runs() == ["r-decided"]
