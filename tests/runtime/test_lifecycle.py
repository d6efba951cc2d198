"""A run's life: start, park for approval, decide, finish; on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.runtime.conftest import MakeRuntime, write_script
from tether.approvals import EditRefused, NotAnApprover, SelfApproval


def credit_notes(desk: Path) -> list[tuple[int, float, int]]:
    with sqlite3.connect(desk) as db:
        return db.execute("SELECT invoice_id, amount, voided FROM credit_note").fetchall()


def mails(desk: Path) -> list[tuple[str]]:
    with sqlite3.connect(desk) as db:
        return db.execute("SELECT recipients FROM sent_mail").fetchall()


def test_run_waits_for_approval_then_completes(
    database_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(database_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    parked = rt.wait(run.id)
    assert parked.status == "waiting_approval"
    assert credit_notes(desk) == []  # nothing happened yet
    (request,) = rt.approvals.find(run_id=run.id)
    assert request.tool == "erp.create_credit_note"
    assert request.requested_by == "alice"
    assert "Let me" not in request.why and "finance lead" in request.why

    with pytest.raises(SelfApproval):
        rt.approve(request.id, by="alice")
    with pytest.raises(NotAnApprover):
        rt.approve(request.id, by="bob")
    assert rt.store.get(run.id).status == "waiting_approval"

    rt.approve(request.id, by="fiona", comment="checked the bank statement")
    done = rt.wait(run.id)
    assert done.status == "completed"
    assert done.output == "Refunded the duplicate charge and told Acme."
    assert credit_notes(desk) == [(101, 1000.0, 0)]
    assert mails(desk) == [("billing@acme.example",)]

    events = list(rt.audit.events(run=run.id))
    kinds = [stored.event.type for stored in events]
    assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
    decided = [s.event for s in events if s.event.type == "approval.decided"]
    assert decided[0].approval is not None and decided[0].approval["by"] == "fiona"
    refused = [s.event.approval for s in events if s.event.type == "approval.refused"]
    assert [r["refusal"] for r in refused if r] == ["self_approval", "not_an_approver"]
    assert rt.audit.verify().intact


def test_rejection_reaches_the_model_and_nothing_happens(
    database_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(database_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    rt.wait(run.id)
    (request,) = rt.approvals.find(run_id=run.id)
    rt.reject(request.id, by="grace", comment="the second charge was a different order")
    done = rt.wait(run.id)
    assert done.status == "completed"
    assert credit_notes(desk) == []
    assert done.history is not None
    assert "the second charge was a different order" in done.history
    # The script goes on to mail the customer: allowed, so it happened.
    assert mails(desk) == [("billing@acme.example",)]


def test_approval_with_edited_arguments_runs_the_edited_call(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(sqlite_url)
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    rt.wait(run.id)
    (request,) = rt.approvals.find(run_id=run.id)
    with pytest.raises(EditRefused, match="refused by the policy"):
        rt.approve(request.id, by="fiona", edit={"amount": 1200.0})  # over alice's own limit
    rt.approve(request.id, by="fiona", edit={"amount": 625.0})
    assert rt.wait(run.id).status == "completed"
    assert credit_notes(desk) == [(101, 625.0, 0)]
    assert rt.store.effects(run.id)[2].args["amount"] == 625.0


def test_quorum_of_two_finance_leads(
    database_url: str, make_runtime: MakeRuntime, desk: Path
) -> None:
    rt = make_runtime(database_url)
    run = rt.start("billing", "Refund the cancelled contract", principal="fiona")
    rt.wait(run.id)
    (request,) = rt.approvals.find(run_id=run.id)
    with pytest.raises(SelfApproval):
        rt.approve(request.id, by="fiona")
    rt.approve(request.id, by="frank")
    assert rt.store.get(run.id).status == "waiting_approval"
    rt.approve(request.id, by="grace")
    assert rt.wait(run.id).status == "completed"
    assert credit_notes(desk) == [(103, 4200.0, 0)]


def test_expired_request_is_rejected_and_the_run_goes_on(
    sqlite_url: str, make_runtime: MakeRuntime, desk: Path, tmp_path: Path
) -> None:
    policy_text = Path(__file__).resolve().parents[2] / "examples/support-desk/policy.yaml"
    short = tmp_path / "policy.yaml"
    short.write_text(policy_text.read_text().replace("expires: 24h", "expires: 1s"))
    rt = make_runtime(
        sqlite_url,
        policy_path=short,
        models={
            "support-desk": f"scripted:{policy_text.parent / 'scripts/refund-request.yaml'}",
        },
    )
    run = rt.start("support-desk", "Acme was charged twice", principal="alice")
    rt.wait(run.id)
    import time

    time.sleep(1.2)
    counts = rt.sweep()
    assert counts.expired == 1
    done = rt.wait(run.id)
    assert done.status == "completed"
    assert credit_notes(desk) == []
    (request,) = rt.approvals.find(run_id=run.id, status=None)
    assert request.status == "expired"


def test_unknown_agent_or_principal_is_refused(sqlite_url: str, make_runtime: MakeRuntime) -> None:
    from tether.errors import ConfigurationError

    rt = make_runtime(sqlite_url, launch=False)
    with pytest.raises(ConfigurationError, match="unknown agent 'nope'"):
        rt.start("nope", "x", principal="alice")
    with pytest.raises(ConfigurationError, match="unknown principal 'mallory'"):
        rt.start("support-desk", "x", principal="mallory")
    with pytest.raises(ConfigurationError, match="may not act for sam"):
        rt.start("support-desk", "x", principal="sam")
    assert rt.store.find() == []


def test_a_model_that_fails_fails_the_run(
    sqlite_url: str, make_runtime: MakeRuntime, tmp_path: Path
) -> None:
    missing = write_script(tmp_path / "s.yaml", "turns: [{text: hi}]")
    rt = make_runtime(sqlite_url, models={"support-desk": missing})
    run = rt.start("support-desk", "x", principal="alice", model="openai-compatible:bad")
    done = rt.wait(run.id)
    assert done.status == "failed"
    assert "openai-compatible:MODEL@BASE_URL" in (done.error or "")


def test_a_runtime_launched_when_needed_launches_with_the_segment_it_resumes(
    sqlite_url: str, make_runtime: MakeRuntime
) -> None:
    """How an embedded ``tether approvals approve`` runs: DBOS is launched only when a
    decision resumes a run, not for a refused one."""
    parker = make_runtime(sqlite_url)
    run = parker.start("support-desk", "Acme was charged twice", principal="alice")
    assert parker.wait(run.id).status == "waiting_approval"
    (request,) = parker.approvals.find(run_id=run.id)
    parker.close()

    rt = make_runtime(sqlite_url, launch=False)
    rt.launch(when_needed=True)
    with pytest.raises(NotAnApprover):
        rt.approve(request.id, by="bob")
    assert not rt.durability.launched
    rt.approve(request.id, by="fiona")
    assert rt.durability.launched
    assert rt.wait(run.id).status == "completed"
