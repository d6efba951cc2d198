"""Reading a received message safely: headers and text, binary and oversized parts summarised."""

from __future__ import annotations

import email.policy
import html
import re
from email.message import EmailMessage, Message
from email.parser import BytesParser

from pydantic import BaseModel

_READ = email.policy.default


class Attachment(BaseModel):
    """A part that is not shown as text."""

    filename: str | None
    content_type: str
    size_bytes: int
    note: str


class InboxEntry(BaseModel):
    """One message in the inbox list (headers only)."""

    id: str
    sender: str
    to: str
    subject: str
    date: str
    message_id: str
    size_bytes: int | None


class InboundMessage(BaseModel):
    """A received message: outside content, shown to the model as data."""

    id: str
    sender: str
    to: str
    cc: str
    subject: str
    date: str
    message_id: str
    in_reply_to: str
    body: str
    body_truncated: bool
    attachments: list[Attachment]


def parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=_READ).parsebytes(data)
    if not isinstance(message, EmailMessage):  # pragma: no cover - the default policy makes these
        raise TypeError("unexpected message class")
    return message


def header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a malformed header is shown raw rather than failing the read
        raw = message.get_all(name, failobj=[])
        value = raw[0] if raw else None
    return "" if value is None else " ".join(str(value).split())


def entry(message_id: str, data: bytes, size: int | None) -> InboxEntry:
    message = parse(data)
    return InboxEntry(
        id=message_id,
        sender=header(message, "From"),
        to=header(message, "To"),
        subject=header(message, "Subject"),
        date=header(message, "Date"),
        message_id=header(message, "Message-ID"),
        size_bytes=size,
    )


def read(message_id: str, data: bytes, *, max_body_chars: int) -> InboundMessage:
    message = parse(data)
    body_part = _body_part(message)
    attachments = [_summary(part) for part in _leaves(message) if part is not body_part]
    body = ""
    if body_part is not None:
        body = _text(body_part)
        if body_part.get_content_subtype() == "html":
            body = _html_to_text(body)
    truncated = len(body) > max_body_chars
    if truncated:
        body = body[:max_body_chars] + f"\n[cut: the body has {len(body)} characters]"
    return InboundMessage(
        id=message_id,
        sender=header(message, "From"),
        to=header(message, "To"),
        cc=header(message, "Cc"),
        subject=header(message, "Subject"),
        date=header(message, "Date"),
        message_id=header(message, "Message-ID"),
        in_reply_to=header(message, "In-Reply-To"),
        body=body,
        body_truncated=truncated,
        attachments=attachments,
    )


def _leaves(message: Message) -> list[Message]:
    return [part for part in message.walk() if not part.is_multipart()]


def _body_part(message: EmailMessage) -> Message | None:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None or part.is_multipart() or _is_binary(part):
        return None
    if part.get_content_disposition() == "attachment":
        return None
    return part


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _is_binary(part: Message) -> bool:
    return part.get_content_maintype() != "text" or b"\x00" in _payload(part)


def _text(part: Message) -> str:
    charset = part.get_content_charset() or "utf-8"
    try:
        return _payload(part).decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return _payload(part).decode("utf-8", errors="replace")


def _summary(part: Message) -> Attachment:
    size = len(_payload(part))
    kind = "binary" if _is_binary(part) else "text"
    return Attachment(
        filename=part.get_filename(),
        content_type=part.get_content_type(),
        size_bytes=size,
        note=f"{kind} part of {size} bytes, not shown",
    )


_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.S | re.I)


def _html_to_text(text: str) -> str:
    text = re.sub(r"<\s*(br|/p|/div|/li|/tr|/h\d)\b[^>]*>", "\n", text, flags=re.I)
    return re.sub(r"\n{3,}", "\n\n", html.unescape(_TAG.sub("", text))).strip()
