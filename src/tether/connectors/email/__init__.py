"""The email connector: send over SMTP, read inbound mail from a Maildir or IMAP.

```yaml
connectors:
  - type: email
    settings:
      smtp_host: smtp.acme.example
      security: starttls
      username: agent@acme.example
      password_env: SMTP_PASSWORD      # the variable's name, never the password
      sender: agent@acme.example
      imap_host: imap.acme.example     # or inbox_maildir: mail/inbox
```

Tools (``prefix`` defaults to ``email``): ``email.send`` (communicate; its preview is
the message as it will be sent; one message per idempotency key),
``email.read_inbox`` and ``email.read_message`` (read; untrusted output). The local
outbox (:class:`Outbox`, ``tether outbox``) is an SMTP server that keeps every message;
with the ``outbox`` setting (a Maildir) the connector starts it itself when nothing
listens, and stops it when the process exits. See ``docs/connectors/email.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.connectors._net import free_port
from tether.connectors.email._errors import DeliveryUncertain, EmailError
from tether.connectors.email._local import OnDemandOutbox, on_demand
from tether.connectors.email._message import Address
from tether.connectors.email._outbox import Outbox, OutboxEntry, list_outbox
from tether.connectors.email._parse import Attachment, InboundMessage, InboxEntry
from tether.connectors.email._settings import EmailSettings
from tether.connectors.email._tools import SentMessage, read_tools, send_tool
from tether.tools import Toolset


def toolset(settings: Mapping[str, Any]) -> Toolset:
    """The email tools for these settings (see :class:`EmailSettings`)."""
    parsed = EmailSettings.parse(settings)
    return Toolset([send_tool(parsed), *read_tools(parsed)])


def outbox_service(settings: Mapping[str, Any]) -> OnDemandOutbox | None:
    """This process's on-demand local outbox for the settings' ``outbox``, or None."""
    parsed = EmailSettings.parse(settings)
    if parsed.outbox is None:
        return None
    return on_demand(parsed.path(parsed.outbox), parsed.smtp_port_or_default)


__all__ = [
    "Address",
    "Attachment",
    "DeliveryUncertain",
    "EmailError",
    "EmailSettings",
    "InboundMessage",
    "InboxEntry",
    "OnDemandOutbox",
    "Outbox",
    "OutboxEntry",
    "SentMessage",
    "free_port",
    "list_outbox",
    "on_demand",
    "outbox_service",
    "toolset",
]
