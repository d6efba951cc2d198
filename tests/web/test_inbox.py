"""The approval inbox over real runs: what an approver sees, and deciding it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient

from tests.web.conftest import StartRun, log_in
from tether.runtime import Runtime


def credit_notes(desk: Path) -> list[tuple[int, float]]:
    with sqlite3.connect(desk) as db:
        return db.execute("SELECT invoice_id, amount FROM credit_note").fetchall()


def test_inbox_shows_what_an_approver_needs(client: TestClient, pending: StartRun) -> None:
    request = pending()
    log_in(client, "fiona")
    page = client.get("/")
    assert page.status_code == 200
    card = page.text.split(f'id="{request.id}"')[1].split("</article>")[0]
    for shown in (
        "erp.create_credit_note",
        "irreversible",  # the effect class
        "support-desk",  # the agent…
        "alice",  # …and the principal it acts for
        "finance lead",  # the why
        "refund.approval",  # the rule that required approval
        "role:finance-lead",
        "0 of 1 approval",  # quorum progress
        "expires in 23h 59m",  # the time left
        "Review and decide",
    ):
        assert shown in card, shown
    assert "invoice_id = 101" in card  # the preview of the call


def test_approve_with_an_edited_argument_runs_the_edited_call(
    client: TestClient, pending: StartRun, runtime: Runtime, desk: Path
) -> None:
    request = pending()
    csrf = log_in(client, "fiona")
    form = client.get(f"/approvals/{request.id}")
    assert 'name="arg.amount"' in form.text and 'value="1000.0"' in form.text
    before = credit_notes(desk)
    response = client.post(
        f"/approvals/{request.id}/approve",
        data={
            "csrf_token": csrf,
            "args_hash": request.args_hash,
            "edit": "yes",
            "arg.invoice_id": "101",
            "arg.amount": "640",
            "arg.reason": request.args["reason"],
            "comment": "only the second charge",
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/runs/{request.run_id}"
    assert runtime.wait(request.run_id).status == "completed"
    assert credit_notes(desk) == [*before, (101, 640.0)]
    run_page = client.get(f"/runs/{request.run_id}")
    assert "You approved erp.create_credit_note with amount changed" in run_page.text
    decided = [
        stored.event.approval
        for stored in runtime.audit.events(run=request.run_id, type="approval.decided")
    ]
    assert decided[0] is not None
    assert decided[0]["by"] == "fiona"
    assert decided[0]["edited_args"]["amount"] == 640.0
    assert decided[0]["comment"] == "only the second charge"
