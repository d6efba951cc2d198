"""Approvers hear of a request by email (a real SMTP server) and by webhook (real HTTP)."""

from __future__ import annotations

import datetime as _dt
import email
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tether.approvals import ApprovalRequest, EmailNotifier, WebhookNotifier
from tether.connectors.email import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


REQUEST = ApprovalRequest(
    id="apr_1",
    run_id="run_1",
    call_id="call-3",
    agent="support-desk",
    requested_by="alice",
    tool="erp.create_credit_note",
    args={"amount": 500.0, "token": "tok-secret"},
    args_hash="x",
    shown_args={"amount": 500.0, "token": "[REDACTED]"},
    preview="erp.create_credit_note(\n  amount = 500.0\n)",
    why="Duplicate charge.",
    rule="refund.approval",
    reason="approval required when args.amount > 200.0",
    approvers=("role:finance-lead",),
    quorum=1,
    policy_version="sha256:1",
    status="pending",
    created_at=_dt.datetime(2026, 11, 25, 9, tzinfo=_dt.UTC),
    expires_at=_dt.datetime(2026, 11, 26, 9, tzinfo=_dt.UTC),
    escalate_at=None,
    escalate_to=(),
    escalated=False,
    decided_at=None,
    comment=None,
)
ADDRESSES = {"fiona": "fiona@acme.example", "frank": "frank@acme.example"}


def test_email_reaches_each_approver_with_the_preview(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    notifier = EmailNotifier(
        host="127.0.0.1",
        port=port,
        sender="tether@acme.example",
        addresses=ADDRESSES.get,
        console_url="http://127.0.0.1:8000",
    )
    notifier.notify(REQUEST, ["fiona", "frank", "nobody"])
    ((sender, recipients, raw),) = inbox.messages
    assert sender == "tether@acme.example"
    assert recipients == ["fiona@acme.example", "frank@acme.example"]
    message = email.message_from_bytes(raw)
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert message["Subject"] == "[tether] support-desk asks to run erp.create_credit_note"
    assert "amount = 500.0" in body
    assert "Duplicate charge." in body
    assert "tether approvals show apr_1" in body
    assert "http://127.0.0.1:8000/approvals/apr_1" in body
    assert "tok-secret" not in body


def test_email_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    notifier = EmailNotifier(
        host="127.0.0.1", port=free_port(), addresses=ADDRESSES.get, timeout_seconds=1
    )
    notifier.notify(REQUEST, ["fiona"])  # nothing listens there
    assert "apr_1: email to ['fiona@acme.example'] failed" in caplog.text


class Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Hook.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[str]:
    Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/approvals"
    server.shutdown()
    server.server_close()


def test_webhook_posts_a_signed_request(webhook: str) -> None:
    WebhookNotifier(url=webhook, secret="s3cret").notify(REQUEST, ["fiona"])
    ((headers, body),) = Hook.received
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["x-tether-signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["event"] == "approval.requested"
    assert payload["request"]["id"] == "apr_1"
    assert payload["request"]["args"]["token"] == "[REDACTED]"
    assert payload["notify"] == ["fiona"]
    assert b"tok-secret" not in body
