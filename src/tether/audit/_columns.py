"""The query columns of ``tether_audit_event``: copies of body fields that indexes use.

A column holds what a database can store: no NUL character (PostgreSQL refuses it in
text; SQLite's functions stop at it), no lone surrogate (not UTF-8), and no more than
the column's width. :func:`column_value` makes that copy from the body's value, and
verification compares each column with the same function applied to the hashed
record, so a value that had to be changed on the way in still verifies, and a
column changed afterwards does not.
"""

from __future__ import annotations

import re
from typing import Any

COLUMNS = ("type", "run_id", "call_id", "agent", "principal", "tool", "at", "schema_version")
"""The query columns, in the order :data:`BODY_KEYS` names their body fields."""
BODY_KEYS = ("type", "run", "call", "agent", "principal", "tool", "at", "v")
WIDTHS = {"type": 40, "run_id": 200, "call_id": 200, "agent": 200, "principal": 200,
          "tool": 200, "at": 32}  # fmt: skip
"""The width of each text column (``db/_tables.py``)."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def column_value(column: str, value: Any) -> Any:
    """What ``column`` stores for a body field holding ``value``."""
    if not isinstance(value, str):
        return value
    if _UNSTORABLE.search(value):
        value = _UNSTORABLE.sub("\ufffd", value)
    width = WIDTHS.get(column)
    return value[:width] if width is not None and len(value) > width else value


def columns_of(body: Any) -> list[Any]:
    """The column values a record's body should have, in :data:`COLUMNS` order."""
    return [
        column_value(column, body.get(key)) for column, key in zip(COLUMNS, BODY_KEYS, strict=True)
    ]
