"""Every refusal: the right status, a clear message, and a record in the audit trail."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import StartRun, bearer, csrf_of, log_in
from tether.approvals import ApprovalRequest
from tether.runtime import Runtime
from tether.web import _approvals, _audit, _evals, _login, _runs, _stop


def refusals(runtime: Runtime, since: int) -> list[dict[str, Any]]:
    """What the audit trail recorded of refusals after event ``since``."""
    found = []
    for stored in runtime.audit.events(since=None):
        event = stored.event
        if stored.seq <= since or event.type not in (
            "access.refused",
            "approval.refused",
            "login.refused",
        ):
            continue
        found.append(dict(event.approval or event.details or {}))
    return found


def last_seq(runtime: Runtime) -> int:
    events = list(runtime.audit.events(limit=1, newest=True))
    return events[0].seq if events else 0


@pytest.fixture
def mark(runtime: Runtime) -> int:
    return last_seq(runtime)


def approve_form(request: ApprovalRequest, csrf: str | None, **extra: str) -> dict[str, str]:
    data = {"args_hash": request.args_hash, "comment": "ok", **extra}
    if csrf is not None:
        data["csrf_token"] = csrf
    return data


def test_unauthenticated_requests_are_refused_401(
    client: TestClient, pending: StartRun, runtime: Runtime, mark: int
) -> None:
    request = pending()
    page = client.get("/")
    assert page.status_code == 401
    assert "Log in" in page.text and "log in to use the console" in page.text
    posted = client.post(f"/approvals/{request.id}/approve", data={"csrf_token": "x"})
    assert posted.status_code == 401
    api = client.get("/api/approvals")
    assert api.status_code == 401
    assert api.headers["www-authenticate"] == "Bearer"
    assert api.json() == {
        "error": "unauthenticated",
        "message": "send an API token: Authorization: Bearer TOKEN",
    }
    wrong = client.get("/api/approvals", headers={"Authorization": "Bearer tt_not-a-token"})
    assert wrong.status_code == 401 and wrong.json()["message"] == "the API token is not valid"
    assert client.get("/api/openapi.json").status_code == 401
    # Anyone can send these: each client and reason is recorded once in a window, and
    # the others counted (tests/web/test_abuse.py shows the counts).
    recorded = refusals(runtime, mark)
    assert [item["refusal"] for item in recorded] == ["unauthenticated", "unknown_credential"]
    assert recorded[0]["path"] == "/" and recorded[0]["client"] == "testclient"
    assert runtime.approvals.get(request.id).status == "pending"


def test_a_wrong_password_is_refused_and_recorded(
    client: TestClient, runtime: Runtime, mark: int
) -> None:
    csrf = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"username": "fiona", "password": "guess", "csrf_token": csrf}
    )
    assert response.status_code == 401
    assert "unknown user or wrong password" in response.text
    assert [item["refusal"] for item in refusals(runtime, mark)] == ["bad_login"]


def test_the_wrong_role_is_refused_403(
    client: TestClient, pending: StartRun, runtime: Runtime, mark: int
) -> None:
    request = pending()
    csrf = log_in(client, "vic")  # a viewer
    assert client.get("/").status_code == 200  # may read…
    response = client.post(f"/approvals/{request.id}/approve", data=approve_form(request, csrf))
    assert response.status_code == 403  # …not decide
    assert "vic needs the approver role to decide approvals" in response.text
    api = client.post(f"/api/approvals/{request.id}/approve", json={}, headers=bearer("vic"))
    assert api.status_code == 403
    stop = client.post("/stop", data={"csrf_token": csrf, "agent": "*", "confirm": "yes"})
    assert stop.status_code == 403
    assert client.get("/audit/export.jsonl").status_code == 403
    assert [item["refusal"] for item in refusals(runtime, mark)] == ["forbidden"] * 4
    assert runtime.store.stopped("support-desk") is None


def test_an_approver_who_is_not_of_the_rule_is_refused_403(
    client: TestClient, pending: StartRun, runtime: Runtime, mark: int
) -> None:
    request = pending()
    csrf = log_in(client, "bob")  # an approver in the console, not a finance lead
    page = client.get(f"/approvals/{request.id}")
    assert "you may not decide this request" in page.text
    response = client.post(f"/approvals/{request.id}/approve", data=approve_form(request, csrf))
    assert response.status_code == 403
    assert "bob is not an approver for refund.approval" in response.text
    assert refusals(runtime, mark) == [
        {
            "request_id": request.id,
            "by": "bob",
            "refusal": "not_an_approver",
            "message": "bob is not an approver for refund.approval (needs role:finance-lead)",
        }
    ]


def test_self_approval_is_refused_403(
    client: TestClient, pending: StartRun, runtime: Runtime, mark: int
) -> None:
    request = pending()  # alice asked for it
    csrf = log_in(client, "alice")
    response = client.post(f"/approvals/{request.id}/approve", data=approve_form(request, csrf))
    assert response.status_code == 403
    assert "alice asked for this action and cannot approve it" in response.text
    api = client.post(f"/api/approvals/{request.id}/approve", json={}, headers=bearer("alice"))
    assert api.status_code == 403 and api.json()["error"] == "self_approval"
    assert [item["refusal"] for item in refusals(runtime, mark)] == ["self_approval"] * 2
    assert runtime.approvals.get(request.id).status == "pending"


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_missing_or_wrong_csrf_token_is_refused_403(
    client: TestClient, pending: StartRun, runtime: Runtime, mark: int, token: str | None
) -> None:
    request = pending()
    log_in(client, "fiona")
    response = client.post(f"/approvals/{request.id}/approve", data=approve_form(request, token))
    assert response.status_code == 403
    expected = (
        "carries no CSRF token"
        if not token
        else "CSRF token of the form does not match this session"
    )
    assert expected in response.text
    (recorded,) = refusals(runtime, mark)
    assert recorded["refusal"] == ("csrf_missing" if not token else "csrf_invalid")
    assert recorded["by"] == "fiona" and recorded["request_id"] == request.id
    assert runtime.approvals.get(request.id).status == "pending"


def test_every_form_checks_its_csrf_token(client: TestClient) -> None:
    log_in(client, "olga")
    posts = [
        route.path.replace("{request_id}", "apr_x")
        .replace("{run_id}", "run_x")
        .replace("{credential_id}", "ses_x")
        for module in (_login, _approvals, _runs, _audit, _stop, _evals)
        for route in module.pages.routes
        if "POST" in getattr(route, "methods", ())
    ]
    assert len(posts) == 10
    for path in posts:
        response = client.post(path, data={"agent": "*", "confirm": "yes"})
        assert response.status_code == 403, path
        assert "carries no CSRF token" in response.text


def test_replaying_an_approval_is_refused_409(
    client: TestClient, pending: StartRun, runtime: Runtime
) -> None:
    request = pending()
    csrf = log_in(client, "fiona")
    first = client.post(f"/approvals/{request.id}/approve", data=approve_form(request, csrf))
    assert first.status_code == 303
    mark = last_seq(runtime)
    replay = client.post(f"/approvals/{request.id}/approve", data=approve_form(request, csrf))
    assert replay.status_code == 409
    # approved, or already executed if the run went on meanwhile (a loaded machine)
    assert "the request is already approved" in replay.text or (
        "the request is already executed" in replay.text
    )
    api = client.post(f"/api/approvals/{request.id}/approve", json={}, headers=bearer("frank"))
    assert api.status_code == 409 and api.json()["error"] == "closed"
    assert [item["refusal"] for item in refusals(runtime, mark)] == ["closed", "closed"]
    runtime.wait(request.run_id)


def test_editing_a_request_another_approver_just_decided_is_refused_409(
    client: TestClient, pending: StartRun, runtime: Runtime
) -> None:
    request = pending()
    csrf = log_in(client, "fiona")
    client.get(f"/approvals/{request.id}")  # fiona opens the form…
    runtime.approve(request.id, by="grace")  # …grace decides meanwhile
    mark = last_seq(runtime)
    response = client.post(
        f"/approvals/{request.id}/approve",
        data=approve_form(request, csrf, edit="yes", **{"arg.amount": "10"}),
    )
    assert response.status_code == 409
    # grace's approval resumes the run at once: by now it may have executed the call
    assert "already approved" in response.text or "already executed" in response.text
    assert [item["refusal"] for item in refusals(runtime, mark)] == ["closed"]
    runtime.wait(request.run_id)


def test_deciding_arguments_another_approver_has_edited_is_refused_409(
    client: TestClient, pending: StartRun, runtime: Runtime
) -> None:
    request = pending("billing", "fiona")  # quorum 2: an edit leaves it pending
    csrf = log_in(client, "frank")
    runtime.approve(request.id, by="grace", edit={"amount": 4000.0})
    mark = last_seq(runtime)
    response = client.post(f"/approvals/{request.id}/approve", data=approve_form(request, csrf))
    assert response.status_code == 409
    assert "another approver edited this request after you opened it" in response.text
    assert [item["refusal"] for item in refusals(runtime, mark)] == ["changed"]
    assert runtime.approvals.get(request.id).approvals == ("grace",)
    runtime.cancel(request.run_id, by="test")


def test_a_stale_form_after_expiry_is_refused_410(
    client: TestClient, pending: StartRun, runtime: Runtime
) -> None:
    request = pending()
    csrf = log_in(client, "fiona")
    later = request.expires_at + _dt.timedelta(seconds=1)
    runtime.approvals.clock = lambda: later
    try:
        mark = last_seq(runtime)
        response = client.post(f"/approvals/{request.id}/approve", data=approve_form(request, csrf))
        assert response.status_code == 410
        assert "the request expired at" in response.text
        again = client.post(
            f"/api/approvals/{request.id}/reject", json={"comment": "no"}, headers=bearer("frank")
        )
        assert again.status_code == 410  # still gone, now that it is marked expired
    finally:
        runtime.approvals.clock = lambda: _dt.datetime.now(_dt.UTC)
    assert [item["refusal"] for item in refusals(runtime, mark)] == ["expired", "closed"]
    assert runtime.approvals.get(request.id).status == "expired"
    runtime.resume_if_ready(request.run_id)
    runtime.wait(request.run_id)


def test_an_edit_the_policy_refuses_is_refused_422(
    client: TestClient, pending: StartRun, runtime: Runtime
) -> None:
    request = pending()
    csrf = log_in(client, "fiona")
    over = client.post(
        f"/approvals/{request.id}/approve",
        data=approve_form(request, csrf, edit="yes", **{"arg.amount": "1200"}),
    )
    assert over.status_code == 422
    assert "refused by the policy" in over.text
    typo = client.post(
        f"/approvals/{request.id}/approve",
        data=approve_form(request, csrf, edit="yes", **{"arg.amount": "lots"}),
    )
    assert typo.status_code == 422 and "&#39;lots&#39; is not a number" in typo.text
    empty = client.post(
        f"/approvals/{request.id}/reject",
        data={"csrf_token": csrf, "args_hash": request.args_hash, "comment": " "},
    )
    assert empty.status_code == 422 and "a rejection needs a comment" in empty.text
    assert runtime.approvals.get(request.id).status == "pending"
    runtime.cancel(request.run_id, by="test")
