"""Break-glass: the policy's emergency path for a named role approves alone, with a
written reason, after a login; it is recorded as such, everyone concerned is emailed
at once (a real SMTP server), and it shows as break-glass in the console and the CLI.
Without the role, the reason or a login it is refused, and the refusal recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.runtime.harness import SmtpSink
from tests.web.served import SERVED_PASSWORDS, Served, serve
from tether.approvals import ApprovalRequest
from tether.cli import app

pytestmark = pytest.mark.slow
REASON = "incident 4711: the customer is double-charged right now and finance is offline"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, desk: Path, smtp: SmtpSink
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("glass")
    notify = {"email": {"host": "127.0.0.1", "port": smtp.port, "sender": "tether@acme.example"}}
    with serve(folder, notify=notify) as made:
        yield made


def token(served: Served, name: str) -> dict[str, str]:
    answer = httpx.post(
        f"{served.url}/api/login",
        json={"username": name, "password": SERVED_PASSWORDS[name], "client": "api"},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def parked(served: Served) -> ApprovalRequest:
    rt = served.runtime
    run = rt.start("billing", "Refund the cancelled contract", principal="grace")
    assert rt.wait(run.id).status == "waiting_approval"
    (request,) = rt.approvals.find(run_id=run.id)
    return request


def glass(served: Served, request: ApprovalRequest, who: str, reason: str) -> httpx.Response:
    return httpx.post(
        f"{served.url}/api/approvals/{request.id}/break-glass",
        json={"reason": reason},
        headers=token(served, who),
        timeout=30,
    )


def decided(served: Served, request_id: str, kind: str = "approval.decided") -> list[Any]:
    return [
        stored.event
        for stored in served.runtime.audit.events(type=kind)
        if (stored.event.approval or {}).get("request_id") == request_id
    ]


def test_break_glass_approves_alone_recorded_loudly_and_shown_everywhere(
    served: Served, smtp: SmtpSink
) -> None:
    request = parked(served)  # quorum 2 of the finance leads
    sent = len(smtp.messages)
    answer = glass(served, request, "irene", REASON)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "approved" and answer.json()["break_glass"] is True
    (event,) = decided(served, request.id)
    assert event.approval["break_glass"] is True and event.approval["comment"] == REASON
    assert event.actor["break_glass"] is True and event.actor["method"] == "password"
    # Loudly: the rule's approvers and the path's list are emailed at once.
    loud = [m for m in smtp.messages[sent:] if "BREAK-GLASS" in str(m["Subject"])]
    assert loud and loud[0]["Importance"] == "high"
    assert {"fiona@acme.example", "frank@acme.example"} <= set(
        address.strip() for address in str(loud[0]["To"]).split(",")
    )
    assert REASON in loud[0].get_payload(decode=True).decode().replace("\r\n", "\n")
    # Shown as such: the request, the run's timeline, the CLI.
    with httpx.Client(base_url=served.url) as browser:
        page = browser.get("/login")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        browser.post(
            "/login",
            data={"username": "vic", "password": SERVED_PASSWORDS["vic"], "csrf_token": csrf},
        )
        assert "BREAK-GLASS" in browser.get(f"/approvals/{request.id}").text
        assert "BREAK-GLASS, api, password" in browser.get(f"/runs/{request.run_id}").text
    shown = CliRunner().invoke(
        app, ["approvals", "show", request.id, "--json", "-c", str(served.config)]
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["break_glass"] is True
    text = CliRunner().invoke(app, ["approvals", "show", request.id, "-c", str(served.config)])
    assert "BREAK-GLASS: approved alone by irene" in text.output and REASON in text.output
    served.runtime.wait(request.run_id)


@pytest.mark.parametrize(
    ("who", "reason", "refusal", "message"),
    [
        ("irene", "urgent", "break_glass_refused", "at least 20 characters"),
        ("fiona", REASON, "break_glass_refused", "may not break glass"),
    ],
)
def test_break_glass_is_refused_without_the_role_or_a_reason(
    served: Served, who: str, reason: str, refusal: str, message: str
) -> None:
    request = parked(served)
    answer = glass(served, request, who, reason)
    assert answer.status_code == 403 and message in answer.json()["message"]
    assert served.runtime.approvals.get(request.id).status == "pending"
    (refused,) = decided(served, request.id, "approval.refused")
    assert refused.approval["refusal"] == refusal
    served.runtime.cancel(request.run_id, by="irene")


def test_break_glass_needs_a_login(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_CREDENTIALS", str(tmp_path / "none.json"))
    request = parked(served)
    result = CliRunner().invoke(
        app,
        ["approvals", "approve", request.id, "--break-glass", "--comment", REASON,
         "--as", "irene", "-c", str(served.local_config)],
    )  # fmt: skip
    assert result.exit_code == 1 and "break-glass needs a login" in result.output
    assert served.runtime.approvals.get(request.id).status == "pending"
    served.runtime.cancel(request.run_id, by="irene")
