"""The JSON API mirrors the CLI: approvals, runs, audit, stop, evaluations; with tokens."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.web.conftest import StartRun, bearer
from tether.runtime import Runtime


def test_the_openapi_document_lists_the_api(client: TestClient) -> None:
    document = client.get("/api/openapi.json", headers=bearer("vic")).json()
    assert document["info"]["title"] == "tether console"
    paths = set(document["paths"])
    assert {
        "/api/approvals",
        "/api/approvals/{request_id}",
        "/api/approvals/{request_id}/approve",
        "/api/approvals/{request_id}/reject",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/cancel",
        "/api/audit/events",
        "/api/audit/verify",
        "/api/audit/export",
        "/api/stop",
        "/api/stop/lift",
        "/api/evals",
        "/api/evals/{name}",
    } <= paths
    assert not any(path.startswith(("/login", "/approvals", "/runs")) for path in paths)


def test_approve_through_the_api_with_an_edit(
    client: TestClient, pending: StartRun, runtime: Runtime
) -> None:
    request = pending()
    mine = client.get("/api/approvals", params={"mine": True}, headers=bearer("fiona")).json()
    assert request.id in [item["id"] for item in mine]
    assert request.id not in [
        item["id"]
        for item in client.get("/api/approvals?mine=true", headers=bearer("alice")).json()
    ]
    shown = client.get(f"/api/approvals/{request.id}", headers=bearer("fiona")).json()
    assert shown["effect"] == "irreversible"
    assert shown["rule"] == "refund.approval"
    assert shown["schema"]["properties"]["amount"]["type"] == "number"
    assert shown["may_decide"] is True
    answer = client.post(
        f"/api/approvals/{request.id}/approve",
        json={"edit": {"amount": 300.0}, "comment": "partial", "args_hash": shown["args_hash"]},
        headers=bearer("fiona"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "approved" and body["approved_by"] == ["fiona"]
    assert body["args"]["amount"] == 300.0
    assert runtime.wait(request.run_id).status == "completed"
    run = client.get(f"/api/runs/{request.run_id}", headers=bearer("vic")).json()
    assert run["status"] == "completed"
    assert [
        call["args"].get("amount")
        for call in run["calls"]
        if call["tool"] == "erp.create_credit_note"
    ] == [300.0]
    decided = [entry for entry in run["timeline"] if entry["kind"] == "approval.decided"]
    assert decided[0]["by"] == "fiona"


def test_reject_through_the_api(client: TestClient, pending: StartRun, runtime: Runtime) -> None:
    request = pending()
    answer = client.post(
        f"/api/approvals/{request.id}/reject",
        json={"comment": "a different order"},
        headers=bearer("grace"),
    )
    assert answer.status_code == 200 and answer.json()["status"] == "rejected"
    done = runtime.wait(request.run_id)
    assert done.status == "completed" and done.history and "a different order" in done.history
    missing = client.post(
        "/api/approvals/apr_nope/reject", json={"comment": "x"}, headers=bearer("grace")
    )
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_runs_list_and_filter(client: TestClient, pending: StartRun) -> None:
    request = pending()
    waiting = client.get("/api/runs?status=waiting_approval", headers=bearer("vic")).json()
    assert request.run_id in [run["id"] for run in waiting]
    assert all(run["status"] == "waiting_approval" for run in waiting)
    bad = client.get("/api/runs?status=sleeping", headers=bearer("vic"))
    assert bad.status_code == 400 and "no run status 'sleeping'" in bad.json()["message"]


def test_audit_events_verify_and_export(client: TestClient, pending: StartRun) -> None:
    request = pending()
    events = client.get(
        "/api/audit/events", params={"run": request.run_id}, headers=bearer("vic")
    ).json()
    assert [event["type"] for event in events][:2] == ["run.started", "call.proposed"]
    assert {event["run"] for event in events} == {request.run_id}
    decided = client.get(
        "/api/audit/events",
        params={"run": request.run_id, "decision": "needs_approval"},
        headers=bearer("vic"),
    ).json()
    assert [event["tool"] for event in decided] == ["erp.create_credit_note"]
    assert decided[0]["decision"]["rules"]
    assert client.get("/api/audit/verify", headers=bearer("vic")).json()["intact"] is True
    assert client.get("/api/audit/export", headers=bearer("vic")).status_code == 403
    export = client.get(
        "/api/audit/export", params={"run": request.run_id}, headers=bearer("audrey")
    )
    assert export.status_code == 200
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert len(lines) == len(events)
    assert {"body", "hash", "prev", "seq"} <= set(lines[0])
    bad = client.get("/api/audit/events?since=yesterday", headers=bearer("vic"))
    assert bad.status_code == 400


def test_stop_needs_confirmation_and_an_operator(
    client: TestClient, pending: StartRun, runtime: Runtime
) -> None:
    request = pending("billing", "fiona")
    unconfirmed = client.post("/api/stop", json={"agent": "billing"}, headers=bearer("olga"))
    assert unconfirmed.status_code == 400
    assert runtime.store.stopped("billing") is None
    unknown = client.post(
        "/api/stop", json={"agent": "nobody", "confirm": True}, headers=bearer("olga")
    )
    assert unknown.status_code == 404
    stopped = client.post(
        "/api/stop",
        json={"agent": "billing", "reason": "drill", "confirm": True},
        headers=bearer("olga"),
    )
    assert stopped.status_code == 200
    assert stopped.json()["halted_runs"] == [request.run_id]
    assert runtime.store.get(request.run_id).status == "stopped"
    assert runtime.approvals.get(request.id).status == "cancelled"
    switches = {row["agent"]: row for row in client.get("/api/stop", headers=bearer("vic")).json()}
    assert switches["billing"]["stopped"] == "billing stopped by olga: drill"
    assert switches["support-desk"]["stopped"] is None
    lifted = client.post("/api/stop/lift", json={"agent": "billing"}, headers=bearer("olga"))
    assert lifted.json() == {"agent": "billing", "lifted": 1}
    assert runtime.store.stopped("billing") is None
