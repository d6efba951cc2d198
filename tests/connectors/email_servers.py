"""Real mail servers on loopback for the email connector's tests.

- :func:`self_signed` makes a certificate for 127.0.0.1/localhost with ``cryptography``;
- :class:`ImapServer` is a minimal IMAP4rev1 server (LOGIN, STARTTLS, EXAMINE, UID
  SEARCH/FETCH, LOGOUT) serving messages from memory, over TLS or plain text. No
  pure-Python IMAP server is packaged on PyPI that we could rely on, so the client is
  tested against this one.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(folder: Path) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        config = self.server.imap
        if config.implicit_tls:
            self._wrap()
        self._send(b"* OK tether test IMAP ready")
        authenticated = False
        while line := self.rfile.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                caps = "IMAP4rev1" + ("" if config.implicit_tls else " STARTTLS")
                self._send(f"* CAPABILITY {caps}".encode())
                self._ok(tag)
            elif command == "STARTTLS":
                self._ok(tag)
                self._wrap()
            elif command == "LOGIN":
                user, password = (part.strip('"') for part in args.split(" ", 1))
                authenticated = config.users.get(user) == password
                self._send(f"{tag} {'OK' if authenticated else 'NO'} LOGIN".encode())
            elif command == "LOGOUT":
                self._send(b"* BYE")
                self._ok(tag)
                return
            elif not authenticated:
                self._send(f"{tag} NO log in first".encode())
            elif command in ("SELECT", "EXAMINE"):
                self._send(f"* {len(config.messages)} EXISTS".encode())
                self._ok(tag)
            elif command == "UID":
                self._uid(tag, args)
            else:
                self._send(f"{tag} BAD unknown command".encode())

    def _uid(self, tag: str, args: str) -> None:
        messages = self.server.imap.messages
        if args.upper().startswith("SEARCH"):
            self._send(("* SEARCH " + " ".join(str(uid) for uid in messages)).encode())
            return self._ok(tag)
        match = re.match(r"FETCH (\d+) \((.*)\)", args, re.I)
        if match is None:
            return self._send(f"{tag} BAD".encode())
        uid = int(match.group(1))
        if uid in messages:
            data = messages[uid]
            if "HEADER" in match.group(2).upper():
                head, _, _ = data.partition(b"\r\n\r\n")
                literal, item = head + b"\r\n\r\n", f"RFC822.SIZE {len(data)} BODY[HEADER]"
            else:
                literal, item = data, "BODY[]"
            self.wfile.write(f"* {uid} FETCH (UID {uid} {item} {{{len(literal)}}}\r\n".encode())
            self.wfile.write(literal + b")\r\n")
        return self._ok(tag)

    def _wrap(self) -> None:
        self.wfile.flush()
        tls = self.server.imap.tls.wrap_socket(self.request, server_side=True)
        self.request = tls
        self.rfile = tls.makefile("rb")
        self.wfile = socketserver._SocketWriter(tls)  # type: ignore[attr-defined]

    def _send(self, line: bytes) -> None:
        self.wfile.write(line + b"\r\n")

    def _ok(self, tag: str) -> None:
        self._send(f"{tag} OK done".encode())

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.rfile.close()
            if isinstance(self.request, ssl.SSLSocket):
                self.request.close()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    imap: ImapServer


class ImapServer:
    """An IMAP server on 127.0.0.1 serving ``messages`` (uid → bytes with CRLF)."""

    def __init__(
        self,
        messages: dict[int, bytes],
        *,
        tls: ssl.SSLContext,
        implicit_tls: bool = True,
        users: dict[str, str] | None = None,
    ) -> None:
        self.messages = messages
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.users = users or {"agent": "s3cret"}
        self._server = _Server(("127.0.0.1", 0), _Session)
        self._server.imap = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> ImapServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class Silent:
    """A TCP port that accepts connections and never says a word (for timeouts)."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self.port: int = self._socket.getsockname()[1]

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *_: object) -> None:
        self._socket.close()
