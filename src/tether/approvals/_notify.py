"""Telling approvers a request waits for them: by email (SMTP) and by webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal

import httpx

from tether.approvals._model import ApprovalRequest

logger = logging.getLogger("tether.approvals")


def describe(request: ApprovalRequest) -> dict[str, Any]:
    """What approvers are told about a request: never the unredacted arguments."""
    return {
        "id": request.id,
        "run_id": request.run_id,
        "agent": request.agent,
        "requested_by": request.requested_by,
        "tool": request.tool,
        "args": request.shown_args,
        "preview": request.preview,
        "why": request.why,
        "rule": request.rule,
        "reason": request.reason,
        "approvers": list(request.approvers),
        "quorum": request.quorum,
        "expires_at": request.expires_at.isoformat(),
        "status": request.status,
        **(_break_glass(request) if request.break_glass else {}),
    }


def _break_glass(request: ApprovalRequest) -> dict[str, Any]:
    """Who broke glass, and their written reason."""
    vote = next(vote for vote in request.votes if vote.break_glass)
    return {"break_glass": {"by": vote.approver, "reason": vote.comment, "at": vote.at.isoformat()}}


@dataclass(frozen=True, kw_only=True)
class EmailNotifier:
    """Sends each approver an email through an SMTP server."""

    host: str
    port: int = 25
    sender: str = "tether@localhost"
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = None
    addresses: Callable[[str], str | None] = lambda user: None
    """The email address of a user id (from the policy's user attributes)."""
    console_url: str | None = None
    """Where the approval inbox is, for a link in the message."""
    timeout_seconds: float = 10.0

    def message(self, request: ApprovalRequest, to: Sequence[str]) -> EmailMessage:
        if request.break_glass:
            return self._break_glass_message(request, to)
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = f"[tether] {request.agent} asks to run {request.tool}"
        base = self.console_url.rstrip("/") if self.console_url else None
        lines = [
            f"{request.agent}, acting for {request.requested_by}, wants to run {request.tool}.",
            "",
            "What will happen:",
            request.preview,
            "",
            f"Why (the agent's words): {request.why or '-'}",
            f"Approval is required by {request.rule}: {request.reason}",
            f"Approvals needed: {request.quorum}. "
            f"Expires: {request.expires_at:%Y-%m-%d %H:%M} UTC.",
            "",
            f"Decide: tether approvals show {request.id}",
        ]
        if base:
            lines.append(f"Or in the console: {base}/approvals/{request.id}")
        message.set_content("\n".join(lines))
        return message

    def _break_glass_message(self, request: ApprovalRequest, to: Sequence[str]) -> EmailMessage:
        glass = _break_glass(request)["break_glass"]
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = (
            f"[tether] BREAK-GLASS: {glass['by']} approved {request.tool} for "
            f"{request.requested_by} without the usual approvers"
        )
        message["Importance"] = "high"
        message["X-Priority"] = "1"
        lines = [
            f"BREAK-GLASS APPROVAL by {glass['by']} at {glass['at']}.",
            f"Their written reason: {glass['reason']}",
            "",
            f"{request.agent}, acting for {request.requested_by}, will run {request.tool}:",
            request.preview,
            "",
            f"The rule was {request.rule} (approvers {', '.join(request.approvers)}, "
            f"quorum {request.quorum}); the emergency path replaced it.",
            f"Review: tether approvals show {request.id}",
        ]
        message.set_content("\n".join(lines))
        return message

    def notify(self, request: ApprovalRequest, recipients: Sequence[str]) -> None:
        to = [address for user in recipients if (address := self.addresses(user))]
        if not to:
            logger.warning("approval %s: no approver has an email address", request.id)
            return
        message = self.message(request, to)
        try:
            self._send(message)
        except (OSError, smtplib.SMTPException) as exc:
            logger.warning("approval %s: email to %s failed: %s", request.id, to, exc)

    def _send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
        with client:
            if self.security == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(message)


@dataclass(frozen=True, kw_only=True)
class WebhookNotifier:
    """POSTs each request as JSON; signed with HMAC-SHA256 when a secret is set.

    The signature is ``X-Tether-Signature: sha256=<hex>`` over the exact body, so the
    receiver can check that the call came from tether.
    """

    url: str
    secret: str | None = None
    timeout_seconds: float = 10.0
    headers: Mapping[str, str] | None = None
    transport: httpx.BaseTransport | None = None
    """For tests: an httpx transport (``httpx.MockTransport``) instead of the network."""

    def body(self, request: ApprovalRequest, recipients: Sequence[str]) -> bytes:
        payload = {
            "event": "approval.requested",
            "request": describe(request),
            "notify": list(recipients),
        }
        return json.dumps(payload, sort_keys=True).encode()

    def notify(self, request: ApprovalRequest, recipients: Sequence[str]) -> None:
        body = self.body(request, recipients)
        headers = {"content-type": "application/json", **(self.headers or {})}
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["x-tether-signature"] = f"sha256={digest}"
        try:
            with httpx.Client(timeout=self.timeout_seconds, transport=self.transport) as client:
                response = client.post(self.url, content=body, headers=headers)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            logger.warning("approval %s: webhook %s failed: %s", request.id, self.url, exc)
