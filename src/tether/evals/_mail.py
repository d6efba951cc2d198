"""Email as a scenario's system: a Maildir inbox and a local outbox, fresh per trial.

For a configuration with an ``email`` connector, each runner process keeps three
Maildirs (inbox, outbox, sent) and runs tether's outbox (an SMTP server on a free
loopback port). Its copy of the configuration points every email connector's outgoing
mail at that outbox (``outbox``, ``smtp_port``), files sent mail in the runner's Sent
folder, and, when the scenario gives ``state.mailbox``, reads the inbox Maildir. Before
each trial the three are emptied and the scenario's messages written to the inbox.
"""

from __future__ import annotations

import email.policy
import email.utils
import os
import time
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from tether.evals._scenario import MailboxMessage

_FOLDERS = ("inbox", "outbox", "sent")


class MailSystem:
    """The runner's Maildirs and outbox server."""

    def __init__(self, folder: Path) -> None:
        from tether.connectors.email import Outbox

        self.folder = folder
        for name in _FOLDERS:
            for sub in ("cur", "new", "tmp"):
                (folder / name / sub).mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(folder / "outbox").start()

    @property
    def port(self) -> int:
        return self.outbox.port

    def path(self, name: str) -> Path:
        return self.folder / name

    def reset(self, mailbox: list[MailboxMessage] | None, recipient: str) -> None:
        """Empty the Maildirs; put ``mailbox`` in the inbox, oldest first."""
        for name in _FOLDERS:
            for sub in ("cur", "new", "tmp"):
                for file in (self.folder / name / sub).iterdir():
                    file.unlink(missing_ok=True)
        start = time.time() - len(mailbox or [])
        for index, message in enumerate(mailbox or [], start=1):
            file = self.folder / "inbox" / "new" / f"{index}.eval"
            file.write_bytes(_message_bytes(message, recipient, index))
            stamp = start + index
            os.utime(file, (stamp, stamp))

    def sent(self) -> list[dict[str, Any]]:
        """What reached the outbox, oldest first: ``to`` (To and Cc), subject, body."""
        files = [
            file
            for sub in ("new", "cur")
            for file in (self.folder / "outbox" / sub).iterdir()
            if file.is_file()
        ]
        files.sort(key=lambda file: (file.stat().st_mtime_ns, file.name))
        return [_summary(file.read_bytes()) for file in files]

    def close(self) -> None:
        self.outbox.stop()


def _message_bytes(message: MailboxMessage, recipient: str, index: int) -> bytes:
    mail = EmailMessage()
    mail["From"] = message.from_
    to = message.to if message.to is not None else recipient
    mail["To"] = ", ".join(to) if isinstance(to, list) else to
    mail["Subject"] = message.subject
    mail["Date"] = email.utils.formatdate(localtime=False)
    mail["Message-ID"] = f"<{index}.scenario@tether-eval>"
    mail.set_content(message.body)
    return mail.as_bytes(policy=email.policy.SMTP)


def _summary(data: bytes) -> dict[str, Any]:
    message = BytesParser(policy=email.policy.default).parsebytes(data)
    headers = [str(value) for key in ("To", "Cc") for value in message.get_all(key, [])]
    recipients = [address for _, address in email.utils.getaddresses(headers) if address]
    part = message.get_body(preferencelist=("plain", "html")) if message.is_multipart() else None
    source = part if part is not None else message
    try:
        body = source.get_content() if isinstance(source, EmailMessage) else ""
    except (LookupError, KeyError):
        body = ""
    return {
        "to": recipients,
        "subject": " ".join(str(message.get("Subject", "")).split()),
        "body": str(body).rstrip("\n").replace("\r\n", "\n"),
    }
