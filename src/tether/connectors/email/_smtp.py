"""Talking SMTP: connect, secure, log in, and hand over one message whole or not at all."""

from __future__ import annotations

import smtplib

from tether.connectors.email import _local
from tether.connectors.email._errors import DeliveryUncertain, EmailError, describe
from tether.connectors.email._settings import EmailSettings


def deliver(
    settings: EmailSettings, *, tool: str, sender: str, recipients: list[str], data: bytes
) -> None:
    """Send ``data``; every recipient must be accepted before the message is handed over."""
    password = settings.password(settings.password_env)
    host, port = settings.smtp_host, settings.smtp_port_or_default
    where = f"SMTP server {host}:{port}"
    try:
        client = _connect_or_start_outbox(settings, tool=tool, where=where)
    except (OSError, smtplib.SMTPException) as exc:
        if _timed_out(exc):
            raise EmailError(
                tool,
                f"the {where} did not answer within {settings.timeout_seconds:g}s; nothing sent",
            ) from None
        raise EmailError(tool, f"cannot reach the {where}: {describe(exc)}; nothing sent") from None
    try:
        _session(settings, client, tool=tool, where=where, password=password)
        _envelope(client, tool=tool, where=where, sender=sender, recipients=recipients)
    except (OSError, smtplib.SMTPException) as exc:
        _close(client)
        if _timed_out(exc):
            raise EmailError(
                tool,
                f"the {where} stopped answering (timeout {settings.timeout_seconds:g}s)"
                "; nothing sent",
            ) from None
        raise EmailError(tool, f"the {where} failed: {describe(exc)}; nothing sent") from None
    except BaseException:
        _close(client)
        raise
    try:
        code, reply = client.data(data)
    except smtplib.SMTPDataError as exc:  # an explicit refusal: the message was not taken
        raise EmailError(tool, f"the {where} refused the message: {describe(exc)}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryUncertain(
            tool,
            f"the {where} failed while taking the message ({describe(exc)}); it may or may "
            "not have been sent, so it will not be sent again automatically",
        ) from None
    finally:
        _close(client)
    if code != 250:  # smtplib raises for these; be sure
        raise EmailError(tool, f"the {where} refused the message: {code} {_text(reply)}")


def _connect_or_start_outbox(settings: EmailSettings, *, tool: str, where: str) -> smtplib.SMTP:
    """Connect; with ``outbox`` set and nothing listening, start the outbox and retry once."""
    try:
        return _connect(settings)
    except ConnectionRefusedError:
        if settings.outbox is None:
            raise
    maildir = settings.path(settings.outbox)
    try:
        _local.on_demand(maildir, settings.smtp_port_or_default).ensure_running()
    except Exception as exc:
        raise EmailError(
            tool,
            f"nothing listens at the {where} and the local outbox (keeping mail in "
            f"{maildir}) could not be started there: {describe(exc)}; nothing sent",
        ) from None
    return _connect(settings)


def _connect(settings: EmailSettings) -> smtplib.SMTP:
    host, port = settings.smtp_host, settings.smtp_port_or_default
    timeout = settings.timeout_seconds
    if settings.security == "tls":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=settings.tls_context())
    return smtplib.SMTP(host, port, timeout=timeout)


def _session(
    settings: EmailSettings, client: smtplib.SMTP, *, tool: str, where: str, password: str | None
) -> None:
    client.ehlo()
    if settings.security == "starttls":
        if not client.has_extn("starttls"):
            raise EmailError(tool, f"the {where} does not offer STARTTLS; nothing sent")
        client.starttls(context=settings.tls_context())
        client.ehlo()
    if settings.username is not None:
        try:
            client.login(settings.username, password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise EmailError(
                tool,
                f"the {where} refused the login of {settings.username!r} "
                f"({exc.smtp_code}); check username and {settings.password_env}; nothing sent",
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise EmailError(
                tool, f"the {where} does not offer login (AUTH); nothing sent"
            ) from None


def _envelope(
    client: smtplib.SMTP, *, tool: str, where: str, sender: str, recipients: list[str]
) -> None:
    code, reply = client.mail(sender)
    if code != 250:
        client.rset()
        raise EmailError(tool, f"the {where} refused the sender {sender}: {code} {_text(reply)}")
    refused = []
    for recipient in recipients:
        code, reply = client.rcpt(recipient)
        if code not in (250, 251):
            refused.append(f"{recipient} ({code} {_text(reply)})")
    if refused:
        client.rset()
        raise EmailError(
            tool, f"the {where} refused {', '.join(refused)}; nothing was sent to anyone"
        )


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


def _timed_out(exc: BaseException) -> bool:
    # smtplib turns a read timeout into SMTPServerDisconnected; the cause stays attached.
    return isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
