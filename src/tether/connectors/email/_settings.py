"""The email connector's settings, as ``tether.yaml`` gives them (strict: unknown keys fail)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.errors import ConfigurationError

Security = Literal["none", "starttls", "tls"]

_DEFAULT_PORTS = {"none": 8025, "starttls": 587, "tls": 465}
_SECRETS = {
    "password": "password_env",
    "smtp_password": "password_env",
    "imap_password": "imap_password_env",
}
_DEFAULT_IMAP_PORTS = {"none": 143, "starttls": 143, "tls": 993}
_LOOPBACK = ("127.0.0.1", "localhost")


class EmailSettings(BaseModel):
    """Settings of the ``email`` connector. Secrets are named by environment variable."""

    model_config = ConfigDict(extra="forbid")

    base_dir: str = "."
    """Folder that relative paths are resolved against (tether sets it to tether.yaml's)."""
    prefix: str = Field(default="email", pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    """Tool names start with it: ``email.send``, ``email.read_inbox``…"""
    sender: str = "tether@localhost"
    """The From address of every message sent."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    """Connect and per-command timeout for SMTP and IMAP."""
    max_body_chars: int = Field(default=20_000, ge=100)
    """Longer message bodies are cut when read (and refused when sent)."""
    tls_ca_file: str | None = None
    """A CA bundle (PEM) to trust instead of the system's, e.g. for a private server."""

    smtp_host: str = "127.0.0.1"
    """The SMTP server (default: the local outbox, ``tether outbox``)."""
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    """Default: 8025 (none: the local outbox), 587 (starttls), 465 (tls)."""
    security: Security = "none"
    """``none`` (plain, for the local outbox), ``starttls`` or ``tls`` (implicit TLS)."""
    username: str | None = None
    """SMTP login; the password is read from ``password_env``."""
    password_env: str | None = None
    """Name of the environment variable holding the SMTP password (never the password)."""
    sent_maildir: str = ".tether/email/sent"
    """Maildir where every sent message is kept; also the idempotency log."""
    outbox: str | None = Field(default=None, min_length=1)
    """The SMTP server is tether's local outbox keeping mail in this Maildir: when nothing
    listens at ``smtp_host:smtp_port``, this process starts it (and stops it at exit)."""

    inbox_maildir: str | None = None
    """Read inbound mail from this Maildir…"""
    imap_host: str | None = None
    """…or from this IMAP server."""
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    """Default: 993 (tls), else 143."""
    imap_security: Security = "tls"
    """``tls`` (IMAPS), ``starttls`` or ``none``."""
    imap_username: str | None = None
    """IMAP login (default: ``username``)."""
    imap_password_env: str | None = None
    """Environment variable with the IMAP password (default: ``password_env``)."""
    imap_mailbox: str = "INBOX"
    """The IMAP mailbox to read (opened read-only)."""

    @model_validator(mode="after")
    def _one_inbox(self) -> EmailSettings:
        if self.inbox_maildir and self.imap_host:
            raise ValueError("set inbox_maildir or imap_host, not both")
        if self.password_env and not self.username:
            raise ValueError("password_env is set but username is not")
        if self.outbox is not None:
            self._check_outbox()
        return self

    def _check_outbox(self) -> None:
        if self.smtp_host not in _LOOPBACK:
            raise ValueError(
                f"outbox (tether's local outbox) needs smtp_host 127.0.0.1 or localhost, "
                f"not {self.smtp_host!r}; remove outbox to send through that server"
            )
        if self.security != "none":
            raise ValueError(
                f"outbox (tether's local outbox) speaks plain SMTP: set security: none, "
                f"not {self.security!r}"
            )
        if self.username is not None:
            raise ValueError("outbox (tether's local outbox) takes no login: remove username")

    @classmethod
    def parse(cls, settings: Mapping[str, Any]) -> EmailSettings:
        for key, instead in _SECRETS.items():
            if key in settings:
                raise ConfigurationError(
                    f"email connector settings: {key!r} is not accepted; put the password in "
                    f"an environment variable and name it: {instead}: VARIABLE"
                )
        try:
            return cls.model_validate(dict(settings))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigurationError(f"email connector settings are invalid: {problems}") from None

    def path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    @property
    def smtp_port_or_default(self) -> int:
        return self.smtp_port or _DEFAULT_PORTS[self.security]

    @property
    def imap_port_or_default(self) -> int:
        return self.imap_port or _DEFAULT_IMAP_PORTS[self.imap_security]

    def password(self, env: str | None) -> str | None:
        """The secret from the environment, read at call time, never stored."""
        if env is None:
            return None
        value = os.environ.get(env)
        if value is None:
            raise ConfigurationError(
                f"the email password variable {env} is not set; export it before starting tether"
            )
        return value

    def tls_context(self) -> ssl.SSLContext:
        cafile = str(self.path(self.tls_ca_file)) if self.tls_ca_file else None
        return ssl.create_default_context(cafile=cafile)
