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
from typing import TYPE_CHECKING, Any

from tether.lazy import lazy_exports

if TYPE_CHECKING:
    from tether.connectors._net import free_port
    from tether.connectors.email._errors import DeliveryUncertain, EmailError
    from tether.connectors.email._local import OnDemandOutbox, on_demand
    from tether.connectors.email._message import Address
    from tether.connectors.email._outbox import Outbox, OutboxEntry, list_outbox
    from tether.connectors.email._parse import Attachment, InboundMessage, InboxEntry
    from tether.connectors.email._settings import EmailSettings
    from tether.connectors.email._tools import SentMessage
    from tether.tools import Toolset

_WHERE: dict[str, str] = {
    "Address": "tether.connectors.email._message",
    "Attachment": "tether.connectors.email._parse",
    "DeliveryUncertain": "tether.connectors.email._errors",
    "EmailError": "tether.connectors.email._errors",
    "EmailSettings": "tether.connectors.email._settings",
    "InboundMessage": "tether.connectors.email._parse",
    "InboxEntry": "tether.connectors.email._parse",
    "OnDemandOutbox": "tether.connectors.email._local",
    "Outbox": "tether.connectors.email._outbox",
    "OutboxEntry": "tether.connectors.email._outbox",
    "SentMessage": "tether.connectors.email._tools",
    "free_port": "tether.connectors._net",
    "list_outbox": "tether.connectors.email._outbox",
    "on_demand": "tether.connectors.email._local",
}
"""Where each public name lives: imported when first used (a policy's toolset that
types an address with :class:`Address` loads neither the outbox nor the parser)."""


def toolset(settings: Mapping[str, Any]) -> Toolset:
    """The email tools for these settings (see :class:`EmailSettings`)."""
    from tether.connectors.email._settings import EmailSettings
    from tether.connectors.email._tools import read_tools, send_tool
    from tether.tools import Toolset

    parsed = EmailSettings.parse(settings)
    return Toolset([send_tool(parsed), *read_tools(parsed)])


def outbox_service(settings: Mapping[str, Any]) -> OnDemandOutbox | None:
    """This process's on-demand local outbox for the settings' ``outbox``, or None."""
    from tether.connectors.email._local import on_demand
    from tether.connectors.email._settings import EmailSettings

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

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
