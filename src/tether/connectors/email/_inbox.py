"""Where inbound mail comes from: a Maildir folder or an IMAP mailbox (read-only)."""

from __future__ import annotations

import contextlib
import imaplib
import re
from pathlib import Path
from typing import Protocol

from tether.connectors.email._errors import EmailError, describe
from tether.connectors.email._settings import EmailSettings

_HEADER_BYTES = 64 * 1024
_MAILDIR_ID = re.compile(r"^[A-Za-z0-9._,=+-]+$")


class Inbox(Protocol):
    def headers(self, limit: int) -> list[tuple[str, bytes, int | None]]:
        """The newest ``limit`` messages: (id, header bytes, size)."""
        ...

    def message(self, message_id: str) -> bytes:
        """One whole message, or LookupError."""
        ...


class MaildirInbox:
    """A Maildir (``new/`` and ``cur/``), newest first; reading changes nothing."""

    def __init__(self, path: Path, *, tool: str) -> None:
        self.path = path
        self.tool = tool

    def _files(self) -> list[Path]:
        if not (self.path / "cur").is_dir() and not (self.path / "new").is_dir():
            raise EmailError(self.tool, f"the inbox Maildir {self.path} does not exist")
        files = [f for sub in ("new", "cur") for f in (self.path / sub).glob("*") if f.is_file()]
        return sorted(files, key=lambda f: (f.stat().st_mtime, f.name), reverse=True)

    def headers(self, limit: int) -> list[tuple[str, bytes, int | None]]:
        found: list[tuple[str, bytes, int | None]] = []
        for file in self._files()[:limit]:
            with file.open("rb") as handle:
                head = handle.read(_HEADER_BYTES)
            found.append((file.name.partition(":")[0], _head(head), file.stat().st_size))
        return found

    def message(self, message_id: str) -> bytes:
        if not _MAILDIR_ID.match(message_id):
            raise LookupError(f"no message with id {message_id!r} in the inbox")
        for sub in ("new", "cur"):
            for file in (self.path / sub).glob(f"{message_id}*"):
                if file.name.partition(":")[0] == message_id:
                    return file.read_bytes()
        raise LookupError(f"no message with id {message_id!r} in the inbox")


class ImapInbox:
    """An IMAP mailbox, opened read-only (nothing is marked read); ids are UIDs."""

    def __init__(self, settings: EmailSettings, *, tool: str) -> None:
        self.settings = settings
        self.tool = tool

    @property
    def _where(self) -> str:
        return f"IMAP server {self.settings.imap_host}:{self.settings.imap_port_or_default}"

    def _open(self) -> imaplib.IMAP4:
        s = self.settings
        host, port, timeout = s.imap_host or "", s.imap_port_or_default, s.timeout_seconds
        username = s.imap_username or s.username
        password = s.password(s.imap_password_env or s.password_env)
        try:
            if s.imap_security == "tls":
                client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    host, port, ssl_context=s.tls_context(), timeout=timeout
                )
            else:
                client = imaplib.IMAP4(host, port, timeout=timeout)
        except TimeoutError:
            raise EmailError(
                self.tool, f"the {self._where} did not answer in {timeout:g}s"
            ) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise EmailError(
                self.tool, f"cannot reach the {self._where}: {describe(exc)}"
            ) from None
        try:
            if s.imap_security == "starttls":
                client.starttls(ssl_context=s.tls_context())
            if username is not None:
                try:
                    client.login(username, password or "")
                except imaplib.IMAP4.error:
                    raise EmailError(
                        self.tool, f"the {self._where} refused the login of {username!r}"
                    ) from None
            status, _ = client.select(s.imap_mailbox, readonly=True)
            if status != "OK":
                raise EmailError(self.tool, f"no mailbox {s.imap_mailbox!r} on the {self._where}")
        except EmailError:
            _logout(client)
            raise
        except (OSError, imaplib.IMAP4.error) as exc:
            _logout(client)
            raise EmailError(self.tool, f"the {self._where} failed: {describe(exc)}") from None
        except BaseException:
            _logout(client)
            raise
        return client

    def headers(self, limit: int) -> list[tuple[str, bytes, int | None]]:
        client = self._open()
        try:
            status, data = client.uid("SEARCH", "ALL")
            _expect(status, self.tool, self._where, "search")
            uids = (data[0] or b"").split() if data else []
            found: list[tuple[str, bytes, int | None]] = []
            for uid in reversed(uids[-limit:]):
                status, data = client.uid("FETCH", uid.decode(), "(RFC822.SIZE BODY.PEEK[HEADER])")
                _expect(status, self.tool, self._where, "fetch")
                head, size = _fetched(data)
                found.append((uid.decode(), head, size))
            return found
        except (OSError, imaplib.IMAP4.error) as exc:
            raise EmailError(self.tool, f"the {self._where} failed: {describe(exc)}") from None
        finally:
            _logout(client)

    def message(self, message_id: str) -> bytes:
        if not message_id.isdigit():
            raise LookupError(f"no message with id {message_id!r}: IMAP ids are numbers")
        client = self._open()
        try:
            status, data = client.uid("FETCH", message_id, "(BODY.PEEK[])")
            _expect(status, self.tool, self._where, "fetch")
            body, _ = _fetched(data)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise EmailError(self.tool, f"the {self._where} failed: {describe(exc)}") from None
        finally:
            _logout(client)
        if not body:
            raise LookupError(f"no message with id {message_id!r} in the inbox")
        return body


def _head(data: bytes) -> bytes:
    """The header block of a message's first bytes."""
    ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
    if not ends:
        return data
    at, size = min(ends)
    return data[: at + size]


def _expect(status: str, tool: str, where: str, what: str) -> None:
    if status != "OK":
        raise EmailError(tool, f"the {where} refused to {what}: {status}")


def _fetched(data: list[object]) -> tuple[bytes, int | None]:
    """The literal and RFC822.SIZE of a FETCH answer."""
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            prefix, literal = item
            match = re.search(rb"RFC822\.SIZE (\d+)", prefix if isinstance(prefix, bytes) else b"")
            size = int(match.group(1)) if match else None
            return (literal if isinstance(literal, bytes) else b""), size
    return b"", None


def _logout(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (OSError, imaplib.IMAP4.error):
        with contextlib.suppress(OSError):
            client.shutdown()
