"""Make trytond usable offline: party emails are checked for syntax, not by DNS.

``pydantic[email]`` installs email-validator and dnspython, which turns on trytond's
deliverability check: without a network every party email would be rejected. The
local server and the template build import this module before trytond's modules.
"""

from __future__ import annotations

from typing import Any


def disable_email_deliverability_check() -> None:
    """Patch ``trytond.tools.email_.validate_email`` to never query DNS."""
    from trytond.tools import email_

    original = email_.validate_email
    if getattr(original, "_tether_patched", False):
        return

    def validate_email(email: str, check_deliverability: bool = True) -> Any:
        return original(email, check_deliverability=False)

    validate_email._tether_patched = True  # type: ignore[attr-defined]
    email_.validate_email = validate_email
