"""The connector's errors: failed calls the model is told about in plain words."""

from __future__ import annotations

import smtplib
import ssl

from tether.errors import ToolCallError


class EmailError(ToolCallError):
    """Sending or reading mail failed; ``message`` says why and whether anything was sent."""


class DeliveryUncertain(EmailError):
    """The connection failed while the server was taking the message: it may have been sent."""


def describe(exc: BaseException) -> str:
    """A network or protocol error in a few words, with a hint where one helps."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message}); set tls_ca_file"
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
