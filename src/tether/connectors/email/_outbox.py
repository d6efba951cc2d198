"""The local outbox: an SMTP server on loopback that keeps every message in a Maildir.

```python
with Outbox(".tether/outbox") as outbox:      # a free port on 127.0.0.1
    ...                                        # send to 127.0.0.1:outbox.port
```

Messages are stored byte for byte as received (no headers added), so what the
outbox keeps is exactly what was sent.
"""

from __future__ import annotations

import hmac
import os
import socket
import ssl
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tether.connectors._net import free_port
from tether.connectors.email._parse import entry, header, parse
from tether.private import private_dir, write_private


class OutboxEntry(BaseModel):
    """A message the outbox received."""

    id: str
    """Its file name in the Maildir (before the ``:2,`` flags)."""
    sender: str
    to: str
    cc: str = ""
    """The Cc header (copied recipients), empty when there is none."""
    subject: str
    date: str
    message_id: str


def _check_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class _MaildirHandler:
    def __init__(self, path: Path, *, require_auth: bool = False) -> None:
        self.path = path
        self.require_auth = require_auth
        for sub in ("cur", "new", "tmp"):
            private_dir(path / sub)
        path.chmod(0o700)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        name = f"{time.time_ns()}.{uuid.uuid4().hex[:12]}.tether-outbox"
        staging = self.path / "tmp" / name
        write_private(staging, data)
        os.replace(staging, self.path / "new" / name)
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, credentials: Mapping[str, str]) -> None:
        self.credentials = dict(credentials)

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode(errors="replace")
        password = auth_data.password.decode(errors="replace")
        expected = self.credentials.get(login)
        ok = expected is not None and hmac.compare_digest(expected.encode(), password.encode())
        return AuthResult(success=ok, handled=False)


class Outbox:
    """An aiosmtpd server on ``host:port`` storing what it receives in ``maildir``.

    ``tls_context`` offers STARTTLS (or, with ``implicit_tls``, speaks TLS from the
    first byte); ``credentials`` (login → password) turns on and requires AUTH
    PLAIN/LOGIN (offered only over TLS; ``auth_mechanisms`` narrows the offer).
    """

    def __init__(
        self,
        maildir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        credentials: Mapping[str, str] | None = None,
        auth_mechanisms: tuple[str, ...] = ("LOGIN", "PLAIN"),
    ) -> None:
        self.maildir = Path(maildir)
        self.host = host
        self.port = port or free_port(host)
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._credentials = credentials
        self._auth_mechanisms = auth_mechanisms
        self._controller: Any = None

    def start(self) -> Outbox:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ImportError(f"the outbox needs aiosmtpd (pip install aiosmtpd): {exc}") from None
        kwargs: dict[str, Any] = {"hostname": self.host, "port": self.port}
        kwargs["server_hostname"] = "tether-outbox"
        if self._tls_context is not None and self._implicit_tls:
            kwargs["ssl_context"] = self._tls_context
        elif self._tls_context is not None:
            kwargs["tls_context"] = self._tls_context
        if self._credentials is not None:
            kwargs["authenticator"] = _Authenticator(self._credentials)
            # aiosmtpd cannot tell implicit TLS from plain text: offer AUTH there too
            # and require it ourselves, before MAIL FROM.
            kwargs["auth_require_tls"] = not self._implicit_tls
            offered = {name.upper() for name in self._auth_mechanisms}
            kwargs["auth_exclude_mechanism"] = [m for m in ("LOGIN", "PLAIN") if m not in offered]
        handler = _MaildirHandler(self.maildir, require_auth=self._credentials is not None)
        _check_free(self.host, self.port)  # aiosmtpd would wait its whole ready timeout
        controller = Controller(handler, **kwargs)
        try:
            controller.start()
        except BaseException:
            controller.stop(no_assert=True)
            if not controller.loop.is_closed():
                controller.loop.close()
            raise
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Outbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def messages(self) -> list[bytes]:
        """Every message received so far, oldest first, as received."""
        return [path.read_bytes() for path in _files(self.maildir)]


def _files(maildir: Path) -> list[Path]:
    files = [f for sub in ("new", "cur") for f in (maildir / sub).glob("*") if f.is_file()]
    return sorted(files, key=lambda f: (f.stat().st_mtime_ns, f.name))


def list_outbox(maildir: str | Path) -> list[OutboxEntry]:
    """What a Maildir (the outbox's, or the connector's Sent folder) holds, oldest first."""
    found = []
    for path in _files(Path(maildir)):
        data = path.read_bytes()
        head = entry(path.name.partition(":")[0], data, path.stat().st_size)
        found.append(
            OutboxEntry(
                id=head.id,
                sender=head.sender,
                to=head.to,
                cc=header(parse(data), "Cc"),
                subject=head.subject,
                date=head.date,
                message_id=head.message_id,
            )
        )
    return found
