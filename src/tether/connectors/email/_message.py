"""Composing an outgoing message: the same bytes for the preview and for the wire."""

from __future__ import annotations

import datetime as _dt
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Annotated

from pydantic import AfterValidator

# 7bit on the wire: every server takes it, and the preview is plain ASCII text.
WIRE = email.policy.SMTP.clone(cte_type="7bit")
MAX_RECIPIENTS = 50
PREVIEW_DATE = "(set when sent)"
PREVIEW_MESSAGE_ID = "(set when sent, from the call's idempotency key)"
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
)
_PLACEHOLDER_DATE = "Thu, 01 Jan 1970 00:00:00 +0000"
_PLACEHOLDER_ID = "<preview@tether.invalid>"


@dataclass(frozen=True, kw_only=True)
class Draft:
    """What the model asked to send, checked."""

    sender: str
    """The From address."""
    to: tuple[str, ...]
    """Primary recipients."""
    cc: tuple[str, ...]
    """Copied recipients."""
    subject: str
    """The subject line, one line."""
    body: str
    """Plain-text body."""
    in_reply_to: str | None
    """Message-ID of the message this answers, if any."""

    @property
    def recipients(self) -> list[str]:
        return list(dict.fromkeys([*self.to, *self.cc]))


def check_address(value: str, *, field: str | None) -> str:
    address = value.strip()
    if not _ADDRESS.match(address):
        where = f"{field}: " if field else ""
        raise ValueError(
            f"{where}{value!r} is not a plain email address like name@example.com "
            "(one address: no display names, commas, spaces or non-ASCII characters)"
        )
    return address


def _plain_address(value: str) -> str:
    return check_address(value, field=None)


Address = Annotated[str, AfterValidator(_plain_address)]
"""One plain email address (``name@example.com``), checked when a call's arguments are:
a policy condition then sees exactly one address per item, never a crafted string
(``"a@evil.example, b@acme.example"`` ends with ``@acme.example`` too)."""


def make_draft(
    *,
    sender: str,
    to: list[str],
    cc: list[str] | None,
    subject: str,
    body: str,
    in_reply_to: str | None,
    max_body_chars: int,
) -> Draft:
    """Check the arguments; a ValueError names what is wrong and sends nothing."""
    # The tool's schema says the same, but check here too: this is the last gate before the wire.
    if not to:
        raise ValueError("to: give at least one recipient")
    if len(to) + len(cc or ()) > MAX_RECIPIENTS:
        raise ValueError(f"to, cc: at most {MAX_RECIPIENTS} recipients in all")
    if not subject.strip():
        raise ValueError("subject: must not be empty")
    if "\r" in subject or "\n" in subject:
        raise ValueError("subject: must be one line (no line breaks)")
    if len(body) > max_body_chars:
        raise ValueError(f"body: {len(body)} characters; at most {max_body_chars} may be sent")
    if "\x00" in body:
        raise ValueError("body: contains a NUL character; send text only")
    reply = in_reply_to.strip() if in_reply_to else None
    if reply is not None and not re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", reply):
        raise ValueError(f"in_reply_to: {in_reply_to!r} is not a Message-ID like <id@host>")
    return Draft(
        sender=check_address(sender, field="sender"),
        to=tuple(check_address(item, field="to") for item in to),
        cc=tuple(check_address(item, field="cc") for item in cc or ()),
        subject=subject,
        body=body,
        in_reply_to=reply,
    )


def message_id_for(key: str, sender: str) -> str:
    """The Message-ID a call with this idempotency key sends: the same on every retry."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}.tether@{sender.rpartition('@')[2]}>"


def render(draft: Draft, *, message_id: str, date: _dt.datetime) -> bytes:
    """The message exactly as it goes on the wire (CRLF line ends, 7bit)."""
    message = EmailMessage(policy=WIRE)
    message["From"] = draft.sender
    message["To"] = ", ".join(draft.to)
    if draft.cc:
        message["Cc"] = ", ".join(draft.cc)
    message["Subject"] = draft.subject
    message["Date"] = email.utils.format_datetime(date)
    message["Message-ID"] = message_id
    if draft.in_reply_to:
        message["In-Reply-To"] = draft.in_reply_to
        message["References"] = draft.in_reply_to
    message.set_content(draft.body)
    return message.as_bytes(policy=WIRE)


def preview(draft: Draft) -> str:
    """The message as it will be sent; only Date and Message-ID are filled in at sending."""
    epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    text = render(draft, message_id=_PLACEHOLDER_ID, date=epoch).decode("ascii")
    text = text.replace("\r\n", "\n")
    text = text.replace(f"Date: {_PLACEHOLDER_DATE}\n", f"Date: {PREVIEW_DATE}\n", 1)
    return text.replace(
        f"Message-ID: {_PLACEHOLDER_ID}\n", f"Message-ID: {PREVIEW_MESSAGE_ID}\n", 1
    )
